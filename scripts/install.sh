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
# The C kernels (src/unistore/_fphash.c: the content fingerprint; _numeric.c: decimal text) need a C compiler
# and Python's headers; without them they are not built, and the numpy code / Arrow's cast give the same
# results, only slower.
if ! command -v cc >/dev/null 2>&1 ||
   ! python3 -c 'import os, sysconfig, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "== installing a C compiler and Python headers for the fingerprint kernel (Debian)"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq build-essential python3-dev >/dev/null; } ||
      echo "   (could not install them: the fingerprint uses its numpy code)"
  else
    echo "== no C compiler or Python headers: the fingerprint kernel will not be built (the numpy code is used)"
  fi
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
PIP=".venv/bin/python -m pip"
$PIP install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
echo "== pip install -e .[all,test,arcticdb,bench,ray,dask(,torch)] and the test plugin package"
# arcticdb (BUSL-1.1) is installed for its adapter's tests only; it is never a core dependency
# PyTorch (extra "torch"): its CPU build (about 0.7 GB installed) where this machine's package sources offer
# it. PyPI has only the default wheel, which pulls several GB of CUDA libraries: then torch is left out (its
# tests say so when skipped) unless UNISTORE_TORCH=pypi asks for that wheel anyway.
EXTRAS="all,test,arcticdb,bench,ray,dask"
TORCH=()
if $PIP download -q --no-deps -d "$(mktemp -d)" "torch==2.13.0+cpu" >/dev/null 2>&1; then
  EXTRAS="$EXTRAS,torch" TORCH=("torch==2.13.0+cpu")
elif [ "${UNISTORE_TORCH:-}" = pypi ]; then
  EXTRAS="$EXTRAS,torch" TORCH=("torch==2.13.0")
else
  echo "== note: no CPU build of PyTorch here; torch is left out (UNISTORE_TORCH=pypi installs PyPI's CUDA wheel)"
fi
# the torch tests skip only where this file says torch was left out on purpose; anywhere else its absence fails
if [ ${#TORCH[@]} -eq 0 ]; then touch .venv/unistore-torch-left-out; else rm -f .venv/unistore-torch-left-out; fi
echo "== torch: ${TORCH[*]:-not installed}"
# a failed install fails this script (pipefail); only the grep finding nothing to print is forgiven
$PIP install -q -c scripts/constraints.txt -e ".[$EXTRAS]" "${TORCH[@]}" ./tests/plugin_pkg 2>&1 |
  { grep -v '^WARNING: Location' || true; }
$PIP check
if .venv/bin/python -c 'import unistore._fphash' 2>/dev/null; then
  echo "== fingerprint kernel built (unistore._fphash)"
else
  echo "== note: the fingerprint kernel unistore._fphash was not built; the numpy code is used (same digests, slower)"
fi
if .venv/bin/python -c 'import unistore._numeric' 2>/dev/null; then
  echo "== decimal text kernel built (unistore._numeric)"
else
  echo "== note: the decimal text kernel unistore._numeric was not built; Arrow's cast is used (same values, slower)"
fi
