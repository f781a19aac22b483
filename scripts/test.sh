#!/usr/bin/env bash
# The one command that installs everything and runs the whole test suite.
# On a fresh Debian machine it also installs and starts PostgreSQL, MariaDB and the
# other test stores. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
bash scripts/stores.sh
echo "== ruff check (pyflakes + syntax)"
.venv/bin/ruff check --quiet src tests benchmarks
exec .venv/bin/python -m pytest "$@"
