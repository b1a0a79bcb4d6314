#!/usr/bin/env bash
# Quick start, command 2: installs what the tests need (scripts/install-test-deps.sh), then runs pytest
# from the checkout root. Arguments go to pytest (paths relative to the checkout); none means `-q tests/`.
# The exit code is pytest's, except that collecting no tests at all is a failure too.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash scripts/install-test-deps.sh

if [ "$#" -eq 0 ]; then
    set -- -q tests/
fi
status=0
.venv/bin/python -m pytest "$@" || status=$?
if [ "$status" -eq 5 ]; then
    echo "test.sh: pytest collected no tests (arguments: $*); that counts as a failure" >&2
    exit 1
fi
exit "$status"
