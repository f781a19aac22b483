#!/usr/bin/env bash
# The one command that installs everything and runs the whole test suite.
# On a fresh Debian machine it also installs and starts PostgreSQL, MariaDB and the
# other test stores. Extra arguments go to pytest.
# UNISTORE_SKIP_INSTALL=1 installs nothing (no network needed): it only starts the stores and
# tests, after an earlier install (scripts/fresh-machine-check.sh runs the tests that way).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${UNISTORE_SKIP_INSTALL:-0}" = 1 ]; then
  UNISTORE_STORES_PHASE=start bash scripts/stores.sh
else
  bash scripts/install.sh
  bash scripts/stores.sh
fi
echo "== ruff check (pyflakes + syntax)"
.venv/bin/ruff check --quiet src tests benchmarks
exec .venv/bin/python -m pytest "$@"
