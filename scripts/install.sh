#!/usr/bin/env bash
# Quick start on Debian 12: installs the appliance from this checkout into .venv and starts it on the
# embedded default (SQLite and blobs on local disk under APPLIANCE_HOME, default ./var of the checkout).
# The first run creates the site admin `admin` and prints, for this address, a client configuration per
# format, the sign-in URL and the admin's password; later runs update the installation, apply pending
# migrations and just start it.
#
#   APPLIANCE_HOME      where the configuration, database and blobs live (default: CHECKOUT/var)
#   APPLIANCE_BIND      HOST:PORT to listen on (default: 0.0.0.0:8080)
#   APPLIANCE_HOSTNAME  the host name users reach it at, set on the first run only (default: localhost)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export APPLIANCE_HOME="${APPLIANCE_HOME:-$ROOT/var}"
BIND="${APPLIANCE_BIND:-0.0.0.0:8080}"
VENV="$ROOT/.venv"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "install.sh: need root (or sudo) to run: $*" >&2
        exit 1
    fi
}

# Debian keeps venv's ensurepip in python3-venv; python3 -m venv fails without it.
missing=()
python3 -c 'import ensurepip' >/dev/null 2>&1 || missing+=(python3 python3-venv python3-pip)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "Installing ${missing[*]} with apt-get"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -q update
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get -q install -y -o DPkg::Lock::Timeout=300 "${missing[@]}"
fi
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "install.sh: the appliance needs Python 3.11 or later; python3 is $(python3 -V 2>&1)" >&2
    exit 1
fi

# A venv left without pip by an interrupted run is made again.
if ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
    python3 -m venv --clear "$VENV"
fi

# Reinstall only when the declared dependencies change; the install is editable, so code needs none.
stamp="$VENV/.installed-appliance"
wanted=$(cat setup.cfg pyproject.toml | sha256sum)
if [ ! -x "$VENV/bin/appliance" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e .
    echo "$wanted" >"$stamp"
fi

if [ -f "$APPLIANCE_HOME/appliance.toml" ]; then
    "$VENV/bin/appliance" migrate
    host=$("$VENV/bin/appliance" config get hostname)
    echo "Sign in at http://$host:${BIND##*:}/login (the password appliance init printed on the first run)."
    echo "Tokens: $VENV/bin/appliance --home $APPLIANCE_HOME tokens create admin --scopes read:packages,write:packages"
else
    init_args=(--home "$APPLIANCE_HOME" --bind "$BIND")
    if [ -n "${APPLIANCE_HOSTNAME:-}" ]; then
        init_args+=(--hostname "$APPLIANCE_HOSTNAME")
    fi
    "$VENV/bin/appliance" init "${init_args[@]}"
fi

echo "Starting the appliance on $BIND (APPLIANCE_HOME=$APPLIANCE_HOME); Ctrl-C stops it. Run the commands"
echo "above in another terminal."
exec "$VENV/bin/appliance" serve --bind "$BIND"
