#!/usr/bin/env bash
# The test command (README, .ci/run): install kg (install.sh), its test extras, and the system packages the
# tests need (Virtuoso, Chromium, axe-core: tests/setup/system-packages.sh), then run the whole suite.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash install.sh
.venv/bin/python -m pip install --quiet -e '.[test]'
bash tests/setup/system-packages.sh
exec .venv/bin/python -m pytest -q "$@"
