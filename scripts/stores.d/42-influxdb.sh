#!/usr/bin/env bash
# InfluxDB 1.x from the Debian package `influxdb`.
# Binaries only: the test session starts its own server (tests/stores/timeseries.py).
set -euo pipefail
. "$(dirname "$0")/_lib.sh"
install_binary_only influxdb influxdb /usr/bin/influxd
