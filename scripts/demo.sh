#!/usr/bin/env bash
# Run the main job on embedded defaults: install unistore (core, and the catalog extra for the data-as-code
# part: PyYAML, jsonschema) into ./.venv and
# run `unistore demo`, which builds Parquet/CSV files, a SQLite and a DuckDB database in
# ./unistore-demo and reads across them. Nothing to start; no server needed.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  echo "== installing python3-venv (Debian)"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q '.[catalog]' 2>&1 | grep -v '^WARNING: Location' || true
exec .venv/bin/unistore demo "$@"
