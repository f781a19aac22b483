#!/usr/bin/env bash
# Install unistore with every extra and the test tools into ./.venv (created if missing).
# Works on a fresh Debian machine: installs python3-venv first when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
  echo "== installing python3-venv (Debian)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq python3-venv python3-dev build-essential >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
PIP=".venv/bin/python -m pip"
$PIP install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
echo "== pip install -e .[all,test,arcticdb,bench] and the test plugin package"
# arcticdb (BUSL-1.1) is installed for its adapter's tests only; it is never a core dependency
$PIP install -q -c scripts/constraints.txt -e '.[all,test,arcticdb,bench]' ./tests/plugin_pkg 2>&1 | grep -v '^WARNING: Location' || true
$PIP check
