#!/usr/bin/env bash
# VictoriaMetrics (loaded through /api/v1/import) from the Debian package `victoria-metrics`.
# Only the binaries are needed: the test session starts its own server on a free
# loopback port with a temporary data directory (tests/stores/timeseries.py) and
# stops it at the end, so the package's system service is kept from starting.
set -euo pipefail
. "$(dirname "$0")/_lib.sh"

if [ ! -x /usr/bin/victoria-metrics ]; then
  # policy-rc.d exit 101 = "do not start services" while the package installs
  created_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && created_policy=1
  fi
  apt_install victoria-metrics
  if [ "$created_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
fi
# a service started anyway (systemd machines) would hold the default ports: stop and disable it
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet victoria-metrics 2>/dev/null; then
  systemctl stop victoria-metrics || true
  systemctl disable victoria-metrics >/dev/null 2>&1 || true
fi
/usr/bin/victoria-metrics --version >/dev/null 2>&1 || /usr/bin/victoria-metrics version >/dev/null 2>&1 || test -x /usr/bin/victoria-metrics
echo "   victoria-metrics installed: /usr/bin/victoria-metrics (servers are started by the test session)"
