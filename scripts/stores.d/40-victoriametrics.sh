#!/usr/bin/env bash
# VictoriaMetrics (loaded through /api/v1/import by the tests) from the Debian package `victoria-metrics`.
# Binaries only: the test session starts its own server (tests/stores/timeseries.py).
set -euo pipefail
. "$(dirname "$0")/_lib.sh"
install_binary_only victoria-metrics victoria-metrics /usr/bin/victoria-metrics
