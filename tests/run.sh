#!/usr/bin/env bash
# The test command (README, .ci/run): install kg with its test extras into .venv, install the system
# packages the tests need (Virtuoso), then run the whole suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
bash tests/setup/system-packages.sh
exec .venv/bin/python -m pytest -q "$@"
