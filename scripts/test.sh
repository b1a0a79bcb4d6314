#!/usr/bin/env bash
# Quick start, command 2: installs what the tests need (scripts/install-test-deps.sh), then runs pytest
# from the checkout root, once per database engine. Arguments go to pytest (paths relative to the
# checkout); none means the whole suite. The exit code is pytest's worst, and collecting no tests at all
# is a failure too.
#
# Each pass runs its test modules on APPLIANCE_TEST_WORKERS (default 2) pytest-xdist workers, a module
# per worker at a time (--dist loadfile: a module's servers and worlds start once, its tests keep their
# order); the real clients' tests wait on their clients much of the time, which the other worker fills.
# APPLIANCE_TEST_WORKERS=0 runs each pass in one process.
#
# APPLIANCE_TEST_DATABASES=both (default) | sqlite | postgresql picks the engines. With both and no
# arguments, the SQLite pass runs the whole suite and the PostgreSQL pass runs everything but the real
# clients' tests (tests/clients, tests/readme), except those of POSTGRESQL_CLIENT_TESTS: the clients talk HTTP and the
# engine under the appliance changes nothing they see, while the in-process and live-server tests cover
# every query. With arguments, each pass runs them. The PostgreSQL pass needs a server that trusts
# 127.0.0.1 (APPLIANCE_TEST_POSTGRESQL, default postgresql://postgres@127.0.0.1:5432/postgres); every
# test database is made and dropped by the tests, with a random name.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash scripts/install-test-deps.sh

POSTGRESQL_CLIENT_TESTS=(tests/clients/test_npm_publish_install.py tests/clients/test_maven_deploy_resolve.py)

case "${APPLIANCE_TEST_DATABASES:-both}" in
    both) engines=(sqlite postgresql) ;;
    sqlite) engines=(sqlite) ;;
    postgresql) engines=(postgresql) ;;
    *) echo "test.sh: APPLIANCE_TEST_DATABASES must be both, sqlite or postgresql" >&2; exit 2 ;;
esac

status=0
for engine in "${engines[@]}"; do
    if [ "$#" -gt 0 ]; then
        args=("$@")
    elif [ "$engine" = sqlite ]; then
        args=(-q tests/)
    else
        mapfile -t files < <(find tests -name 'test_*.py' -not -path 'tests/clients/*' -not -path 'tests/readme/*' | sort)
        args=(-q "${files[@]}" "${POSTGRESQL_CLIENT_TESTS[@]}")
    fi
    if [ "$engine" = postgresql ]; then
        server=${APPLIANCE_TEST_POSTGRESQL:-postgresql://postgres@127.0.0.1:5432/postgres}
        if ! .venv/bin/python -c "import psycopg2, sys; psycopg2.connect(sys.argv[1]).close()" "$server"; then
            echo "test.sh: no PostgreSQL server answers at $server (APPLIANCE_TEST_DATABASES=sqlite skips it)" >&2
            status=1
            continue
        fi
    fi
    workers=${APPLIANCE_TEST_WORKERS:-2}
    parallel=()
    if [ "$workers" != 0 ]; then
        parallel=(-n "$workers" --dist loadfile)
    fi
    echo "test.sh: running the tests on $engine"
    started=$SECONDS
    pass=0
    APPLIANCE_TEST_DATABASE=$engine .venv/bin/python -m pytest "${parallel[@]}" "${args[@]}" || pass=$?
    echo "test.sh: the $engine pass took $((SECONDS - started)) s"
    if [ "$pass" -eq 5 ]; then
        echo "test.sh: pytest collected no tests on $engine (arguments: ${args[*]}); that counts as a failure" >&2
        pass=1
    fi
    if [ "$pass" -ne 0 ] && [ "$status" -eq 0 ]; then
        status=$pass
    fi
done
exit "$status"
