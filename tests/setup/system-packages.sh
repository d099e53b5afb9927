#!/usr/bin/env bash
# System packages the test suite needs besides the Python ones: Virtuoso (tests/servers.py starts a real
# one). Idempotent: does nothing when virtuoso-t is already on PATH.
set -euo pipefail

if command -v virtuoso-t >/dev/null 2>&1; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
else
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends virtuoso-opensource-7-bin
command -v virtuoso-t >/dev/null
