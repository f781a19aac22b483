# shellcheck shell=bash
# Shared helpers for scripts/stores.d/*.sh (sourced, not run).
# UNISTORE_STORES_PHASE splits the work for a machine whose test run has no network
# (scripts/fresh-machine-check.sh): "install" only installs packages, "start" installs nothing
# and only starts and configures; unset (the README's command) does both.
STORES_PHASE=${UNISTORE_STORES_PHASE:-all}
case $STORES_PHASE in all|install|start) ;; *) echo "UNISTORE_STORES_PHASE must be install or start" >&2; exit 2 ;; esac
installing() { [ "$STORES_PHASE" != start ]; }
starting() { [ "$STORES_PHASE" != install ]; }
APT_UPDATED_MARK=/tmp/.unistore-apt-updated
apt_install() {
  # apt_install PKG...: install the missing ones (one apt-get update per machine boot)
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! installing; then
    echo "   not installed: ${missing[*]} (UNISTORE_STORES_PHASE=start installs nothing)" >&2
    return 1
  fi
  if [ ! -e "$APT_UPDATED_MARK" ]; then apt-get update -qq && touch "$APT_UPDATED_MARK"; fi
  echo "   apt-get install ${missing[*]}"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
wait_port() {
  # wait_port PORT [SECONDS]: until 127.0.0.1:PORT accepts connections
  local port=$1 limit=${2:-60} i=0
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    i=$((i + 1)); [ "$i" -ge $((limit * 5)) ] && { echo "   nothing listens on 127.0.0.1:$port" >&2; return 1; }
    sleep 0.2
  done
}
install_binary_only() {
  # install_binary_only PKG SERVICE BINARY: install a Debian server package for its binary only.
  # The tests start their own server on a free loopback port with a temporary data directory,
  # so the package's service must neither start during the install nor hold the default ports.
  local pkg=$1 service=$2 binary=$3
  if [ ! -x "$binary" ] && installing; then
    local created_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then  # exit 101 = "do not start services" while installing
      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && created_policy=1
    fi
    apt_install "$pkg"
    if [ "$created_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
  fi
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$service" 2>/dev/null; then
    systemctl stop "$service" || true
    systemctl disable "$service" >/dev/null 2>&1 || true
  fi
  [ -x "$binary" ] || { echo "   $binary missing: apt-get install $pkg" >&2; return 1; }
  echo "   $pkg installed: $binary (servers are started by the test session)"
}

port_open() {
  # port_open PORT: something accepts connections on 127.0.0.1:PORT now
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
wait_port_closed() {
  # wait_port_closed PORT [SECONDS]: until nothing accepts connections on 127.0.0.1:PORT
  local port=$1 limit=${2:-60} i=0
  while port_open "$port"; do
    i=$((i + 1)); [ "$i" -ge $((limit * 5)) ] && { echo "   127.0.0.1:$port still open" >&2; return 1; }
    sleep 0.2
  done
}
