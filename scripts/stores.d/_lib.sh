# Shared helpers for scripts/stores.d/*.sh (sourced, not run).
APT_UPDATED_MARK=/tmp/.unistore-apt-updated
apt_install() {
  # apt_install PKG...: install the missing ones (one apt-get update per machine boot)
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
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
