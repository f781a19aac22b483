#!/usr/bin/env bash
# InfluxDB 1.x from the Debian package `influxdb`.
# Only the binaries are needed: the test session starts its own server on a free
# loopback port with a temporary data directory (tests/stores/timeseries.py) and
# stops it at the end, so the package's system service is kept from starting.
set -euo pipefail
. "$(dirname "$0")/_lib.sh"

if [ ! -x /usr/bin/influxd ]; then
  # policy-rc.d exit 101 = "do not start services" while the package installs
  created_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && created_policy=1
  fi
  apt_install influxdb
  if [ "$created_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
fi
# a service started anyway (systemd machines) would hold the default ports: stop and disable it
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet influxdb 2>/dev/null; then
  systemctl stop influxdb || true
  systemctl disable influxdb >/dev/null 2>&1 || true
fi
/usr/bin/influxd --version >/dev/null 2>&1 || /usr/bin/influxd version >/dev/null 2>&1 || test -x /usr/bin/influxd
echo "   influxdb installed: /usr/bin/influxd (servers are started by the test session)"
