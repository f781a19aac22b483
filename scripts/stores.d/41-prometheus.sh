#!/usr/bin/env bash
# Prometheus and promtool (data loaded offline with promtool tsdb create-blocks-from openmetrics) from the Debian package `prometheus`.
# Binaries only: the test session starts its own server (tests/stores/timeseries.py).
set -euo pipefail
. "$(dirname "$0")/_lib.sh"
install_binary_only prometheus prometheus /usr/bin/promtool
