#!/usr/bin/env bash
# Install kg on this machine: the system programs `kg build` calls (Graphviz's dot for the report's picture;
# a Java 17 JDK for the HermiT reasoner, if no javac is on PATH) and kg itself, editable, into .venv.
# Idempotent: installs only what is missing. README: `bash install.sh && .venv/bin/kg build`.
set -euo pipefail
cd "$(dirname "$0")"

apt_install() {
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -q
    $sudo apt-get install -y -q --no-install-recommends "$@"
}

missing=()
command -v dot >/dev/null 2>&1 || missing+=(graphviz)
# HermiT runs in a long-lived JVM whose small driver (kg/java/) is compiled on first use: a JDK, not just a JRE.
command -v javac >/dev/null 2>&1 || missing+=(openjdk-17-jdk-headless)
if [ ${#missing[@]} -gt 0 ]; then
    apt_install "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
    if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "install.sh: kg needs Python 3.11 or newer as python3 (found: $(python3 --version 2>&1))" >&2
        exit 1
    fi
    # Debian's Python makes a venv only with python3-venv (ensurepip) installed
    if ! python3 -m venv .venv >/dev/null 2>&1; then
        rm -rf .venv
        apt_install python3-venv "python3.$(python3 -c 'import sys; print(sys.version_info[1])')-venv"
        python3 -m venv .venv
    fi
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
