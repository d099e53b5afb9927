#!/usr/bin/env bash
# System packages the test suite needs besides the Python ones: Virtuoso (tests/servers.py starts a real
# one); Chromium, ChromeDriver and Graphviz for kg report and its browser tests (tests/browser.py); and
# axe-core from npm for the accessibility scan (into .cache/npm/; npm itself from Debian when missing).
# Idempotent and quiet: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
else
    SUDO="sudo"
fi

missing=()
command -v virtuoso-t >/dev/null 2>&1 || missing+=(virtuoso-opensource-7-bin)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
command -v dot >/dev/null 2>&1 || missing+=(graphviz)
command -v npm >/dev/null 2>&1 || missing+=(npm)  # Debian's (with its nodejs), only when there is none

if [ ${#missing[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
command -v virtuoso-t >/dev/null
command -v dot >/dev/null
[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]

AXE_VERSION=4.14.1
if [ ! -f .cache/npm/node_modules/axe-core/axe.min.js ] \
    || ! grep -q "\"version\": \"$AXE_VERSION\"" .cache/npm/node_modules/axe-core/package.json; then
    npm install --prefix .cache/npm --no-save --no-audit --no-fund --silent "axe-core@$AXE_VERSION"
fi
