#!/usr/bin/env bash
# Installs what the test suite needs: the Python test extras into .venv, and the real package clients
# the client tests drive. Installs only what is missing, so a second run changes nothing. Needs root (or
# sudo) only when a Debian package is missing; never asks a question (CI=true, no tty).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
VENV="$ROOT/.venv"
MAVEN_PLUGINS=/usr/share/maven-repo/org/apache/maven/plugins

# One line per need: a probe, then the Debian packages that satisfy it. A probe is a command on PATH,
# an absolute path that must exist, or py:MODULE that python3 must import. A new format adds its
# clients here, e.g. "gem ruby ruby-bundler", "mono mono-complete", "skopeo skopeo".
REQUIREMENTS=(
    "py:ensurepip                          python3 python3-venv python3-pip"
    "npm                                   nodejs npm"
    "unshare                               util-linux"
    "javac                                 openjdk-17-jdk-headless"
    "mvn                                   maven"
    "gradle                                gradle"
    "gem                                   ruby ruby-bundler"
    "bundle                                ruby-bundler"
    # mvn builds offline against Debian's packaged plugins (file:// mirror of Maven Central).
    "$MAVEN_PLUGINS/maven-compiler-plugin  libmaven-compiler-plugin-java"
    "$MAVEN_PLUGINS/maven-resources-plugin libmaven-resources-plugin-java"
    "$MAVEN_PLUGINS/maven-jar-plugin       libmaven-jar-plugin-java"
    "$MAVEN_PLUGINS/maven-install-plugin   libmaven-install-plugin-java"
    "$MAVEN_PLUGINS/maven-deploy-plugin    libmaven-deploy-plugin-java"
    # The compiler plugin's plexus-compiler-api imports junit-bom, which only junit5 packages.
    "/usr/share/maven-repo/org/junit/junit-bom junit5"
    # NuGet.exe runs under mono (the whole of it: nuget needs its System.* assemblies and certificates).
    "mono                                  mono-complete"
    "skopeo                                skopeo"
    # The Docker CLI tests start their own dockerd (no networking, vfs; tests/support/docker_cli.py).
    "dockerd                               docker.io"
    # scripts/bench_docker.py runs Debian's CNCF distribution beside the appliance.
    "docker-registry                       docker-registry"
    # LDAP tests start their own directory (tests/support/slapd.py) and fill it with ldapadd.
    "/usr/sbin/slapd                       slapd"
    "ldapadd                               ldap-utils"
    # The metrics test scrapes a live appliance with Debian's Prometheus.
    "prometheus                            prometheus"
    # The multi-node tests put nginx with a test CA in front (tests/support/nginx.py); the PostgreSQL
    # pass of scripts/test.sh needs a server on 127.0.0.1:5432 (APPLIANCE_TEST_POSTGRESQL says otherwise).
    "nginx                                 nginx"
    "openssl                               openssl"
    "psql                                  postgresql"
    # The kill -9 test tells which node serves a balanced upload by its connections' bytes (ss).
    "ss                                    iproute2"
    # The browser tests drive Debian's Chromium with Playwright (tests/support/browser.py).
    "/usr/bin/chromium                     chromium"
    # GitHub's own CLI drives the REST and GraphQL APIs (tests/clients/test_gh_api.py).
    "gh                                    gh"
)

present() {
    case "$1" in
        /*) [ -e "$1" ] ;;
        py:*) python3 -c "import ${1#py:}" >/dev/null 2>&1 ;;
        *) command -v "$1" >/dev/null 2>&1 ;;
    esac
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "install-test-deps.sh: need root (or sudo) to run: $*" >&2
        exit 1
    fi
}

unmet() {
    local line probe packages
    for line in "${REQUIREMENTS[@]}"; do
        read -r probe packages <<<"$line"
        present "$probe" || echo "$probe $packages"
    done
}

missing=()
while read -r probe packages; do
    read -ra names <<<"$packages"
    missing+=("${names[@]}")
done < <(unmet)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "Installing ${missing[*]} with apt-get"
    # slapd asks for a domain and admin password on install; the tests configure their own directories.
    echo "slapd slapd/no_configuration boolean true" | as_root debconf-set-selections
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -q update
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get -q install -y -o DPkg::Lock::Timeout=300 "${missing[@]}"
    still=$(unmet)
    if [ -n "$still" ]; then
        echo "install-test-deps.sh: still missing after apt-get install (probe, packages):" >&2
        echo "$still" >&2
        exit 1
    fi
fi

# A venv left without pip by an interrupted run is made again.
if ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
    python3 -m venv --clear "$VENV"
fi

# Reinstall only when the declared dependencies change; the install is editable, so code needs none.
stamp="$VENV/.installed-test"
wanted=$(cat setup.cfg pyproject.toml | sha256sum)
if [ ! -x "$VENV/bin/appliance" ] || ! "$VENV/bin/python" -c 'import pytest' >/dev/null 2>&1 ||
    [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[test]'
    echo "$wanted" >"$stamp"
fi

# NuGet.exe 5.8 from the npm registry (no Debian package has it), into the git-ignored .venv.
NUGET_DIR="$VENV/nuget"
if [ ! -f "$NUGET_DIR/node_modules/nuget-exe/nuget-5.8.0.exe" ]; then
    npm install --prefix "$NUGET_DIR" --no-audit --no-fund --loglevel=error nuget-exe@5.8.0
fi
