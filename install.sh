#!/usr/bin/env bash
# Install kg on this machine: the system programs `kg build` calls (Graphviz's dot for the report's picture;
# a Java 17 JDK for the HermiT reasoner, if no javac is on PATH) and kg itself, editable, into .venv.
# Idempotent: installs only what is missing. README: `bash install.sh && .venv/bin/kg build`.
set -euo pipefail
cd "$(dirname "$0")"

missing=()
command -v dot >/dev/null 2>&1 || missing+=(graphviz)
# HermiT runs in a long-lived JVM whose small driver (kg/java/) is compiled on first use: a JDK, not just a JRE.
command -v javac >/dev/null 2>&1 || missing+=(openjdk-17-jdk-headless)
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
