#!/usr/bin/env bash
# Prometheus and promtool (data loaded offline with promtool tsdb create-blocks-from openmetrics) from the Debian package `prometheus`.
# Only the binaries are needed: the test session starts its own server on a free
# loopback port with a temporary data directory (tests/stores/timeseries.py) and
# stops it at the end, so the package's system service is kept from starting.
set -euo pipefail
. "$(dirname "$0")/_lib.sh"

if [ ! -x /usr/bin/promtool ]; then
  # policy-rc.d exit 101 = "do not start services" while the package installs
  created_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && created_policy=1
  fi
  apt_install prometheus
  if [ "$created_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
fi
# a service started anyway (systemd machines) would hold the default ports: stop and disable it
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
  systemctl stop prometheus || true
  systemctl disable prometheus >/dev/null 2>&1 || true
fi
/usr/bin/promtool --version >/dev/null 2>&1 || /usr/bin/promtool version >/dev/null 2>&1 || test -x /usr/bin/promtool
echo "   prometheus installed: /usr/bin/promtool (servers are started by the test session)"
