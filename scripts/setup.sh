#!/usr/bin/env bash
# Installs everything the demo, the tests and the gates need. Safe to run again: each step is skipped when done.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v java >/dev/null 2>&1 || need_apt+=(openjdk-17-jre-headless)
command -v make >/dev/null 2>&1 || need_apt+=(make)
# The AWS CLI v2 the tests drive the local stack with (any other `aws` on PATH may be a v1).
dpkg -s awscli >/dev/null 2>&1 || need_apt+=(awscli)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  elif command -v sudo >/dev/null 2>&1; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "Missing: ${need_apt[*]}. Install them with: sudo apt-get install ${need_apt[*]}" >&2
    exit 1
  fi
fi
# A packaged redis-server starts a system instance; ours start on their own ports, so that one is not needed.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet redis-server 2>/dev/null; then
  systemctl stop redis-server || true
fi

# venv <dir> <requirements file>: a Python venv with exactly those pins, rebuilt when the file changes.
venv() {
  if [ ! -x "$1/bin/python" ] || ! cmp -s "$2" "$1/.requirements" 2>/dev/null; then
    python3 -m venv "$1"
    "$1/bin/pip" install -q --upgrade pip
    "$1/bin/pip" install -q -r "$2"
    cp "$2" "$1/.requirements"
  fi
}
venv .venv requirements-dev.txt
# The SAM CLI pins boto3 to another version than checkov does: it gets a venv of its own.
venv .venv-sam requirements-sam.txt
# The AWS CLI v1 from PyPI beside Debian's v2: the runbook's start-message-move-task is newer than Debian's v2.
venv .venv-awscli requirements-awscli.txt
# Schemathesis fuzzes the local trading API from docs/openapi.yaml; its pins clash with neither, but stay apart.
venv .venv-schemathesis requirements-schemathesis.txt

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # The lock file lists every platform's optional binaries (biome, esbuild, unrs-resolver), and npm ci installs
  # this platform's. It runs no install scripts: package.json's allowScripts lists the two packages that have
  # them, both denied (their prebuilt binaries come as optional dependencies).
  npm ci
fi
