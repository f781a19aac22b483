#!/usr/bin/env bash
# Object stores for the tests: moto's S3 server comes with the Python test extra
# (moto[server]); Azure Blob Storage is emulated by Azurite from the npm registry.
# The servers themselves are started by the pytest session fixtures on loopback ports.
set -euo pipefail
. "$(dirname "$0")/_lib.sh"
AZURITE=3.35.0  # the version the tests were verified with; newer releases declare Node 22, Debian 12 has 18
if ! command -v azurite-blob >/dev/null 2>&1; then
  installing || { echo "   azurite-blob missing: npm install -g azurite@$AZURITE" >&2; exit 1; }
  command -v npm >/dev/null 2>&1 || apt_install nodejs npm
  echo "   npm install -g azurite@$AZURITE"
  npm install -g --no-fund --no-audit "azurite@$AZURITE" >/dev/null
fi
azurite-blob --version >/dev/null
