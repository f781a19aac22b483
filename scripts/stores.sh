#!/usr/bin/env bash
# Install (Debian packages) and start the servers the tests read from, on loopback only.
# Each store family has its own script in scripts/stores.d/; all are idempotent.
# Servers that run inside the test session (moto, VictoriaMetrics, ...) are started by
# the pytest fixtures; the scripts here only make sure their binaries are installed.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
for script in scripts/stores.d/[0-9]*.sh; do
  echo "== $(basename "$script")"
  bash "$script"
done
