#!/usr/bin/env bash
# Object stores for the tests: moto's S3 server comes with the Python test extra
# (moto[server]); Azure Blob Storage is emulated by Azurite from the npm registry.
# The servers themselves are started by the pytest session fixtures on loopback ports.
set -euo pipefail
. "$(dirname "$0")/_lib.sh"
if ! command -v azurite-blob >/dev/null 2>&1; then
  installing || { echo "   azurite-blob missing: npm install -g azurite@3" >&2; exit 1; }
  command -v npm >/dev/null 2>&1 || apt_install nodejs npm
  echo "   npm install -g azurite@3"
  npm install -g --no-fund --no-audit azurite@3 >/dev/null
fi
azurite-blob --version >/dev/null
