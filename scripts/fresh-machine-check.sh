#!/usr/bin/env bash
# Prove the README's two commands on a bare Debian machine (issue 17): build a minimal Debian bookworm
# root with debootstrap, clone the committed HEAD of this checkout into it, and run there, with a clean
# environment and in a PID namespace of its own:
#   1. ./scripts/demo.sh                                   (network: pip installs unistore)
#   2. ./scripts/test.sh, in two halves:
#      a. its install steps: scripts/install.sh and the Debian packages of scripts/stores.sh (network)
#      b. UNISTORE_SKIP_INSTALL=1 ./scripts/test.sh: stores started, ruff, pytest, inside a network
#         namespace holding only loopback, so its servers cannot collide with the host's on 5432/3306.
# Prints PASS/FAIL and the time of each step, and pytest's counts. Needs root and debootstrap.
#
#   scripts/fresh-machine-check.sh [--keep] [--prepare] [-- PYTEST_ARGS...]
#     --keep     leave the root (and its logs) in place for a look afterwards
#     --prepare  only build the cached base root (/var/cache/unistore-fresh) and exit
# The package indexes are the host's own: its apt sources, apt/pip/npm configuration and extra CA
# certificates are copied into the root, so the check reaches what the machine reaches, nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
SUITE=bookworm
CACHE=/var/cache/unistore-fresh
BASE_TAR=$CACHE/$SUITE-base.tar
INCLUDE=python3,python3-venv,git,ca-certificates
KEEP=0 PREPARE=0 PYTEST_ARGS=()
while [ $# -gt 0 ]; do
  case $1 in
    --keep) KEEP=1 ;;
    --prepare) PREPARE=1 ;;
    --) shift; PYTEST_ARGS=("$@"); break ;;
    *) echo "usage: $0 [--keep] [--prepare] [-- PYTEST_ARGS...]" >&2; exit 2 ;;
  esac
  shift
done
[ "$(id -u)" = 0 ] || { echo "fresh-machine-check: needs root (debootstrap, chroot, namespaces)" >&2; exit 2; }

say() { printf '%s\n' "$*"; }
RESULTS=()
record() { RESULTS+=("$(printf '%-50s %-4s %5ss  %s' "$1" "$2" "$3" "$4")"); say "-- $1: $2 (${3}s) $4"; }

host_mirror() {
  # The Debian mirror the host's apt uses for $SUITE (deb822 .sources or one-line sources.list).
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v suite="$SUITE" 'BEGIN{RS=""} $0 ~ "Suites:[^\n]*[ \t]" suite "([ \t\n]|$)" {
      for (i = 1; i <= NF; i++) if ($i == "URIs:") { print $(i+1); exit } }' "$f"
  done | head -n 1 | grep . && return 0
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
    | awk -v suite="$SUITE" '$1 == "deb" && $0 ~ " " suite " " { for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) { print $i; exit } }'
}

build_base() {
  # A finished minimal root, kept as a tarball: later runs unpack it in seconds.
  [ -s "$BASE_TAR" ] && return 0
  command -v debootstrap >/dev/null || { apt-get update -qq; apt-get install -y -qq debootstrap >/dev/null; }
  local mirror tmp
  mirror=$(host_mirror)
  [ -n "$mirror" ] || { echo "fresh-machine-check: no Debian $SUITE source in the host's apt configuration" >&2; exit 1; }
  mkdir -p "$CACHE"
  tmp=$(mktemp -d "$CACHE/base.XXXXXX")
  say "== debootstrap $SUITE (minbase + $INCLUDE), the host's mirror"
  if ! debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$tmp/root" "$mirror" >"$tmp/debootstrap.log" 2>&1; then
    tail -n 20 "$tmp/debootstrap.log" >&2; rm -rf "$tmp"; exit 1
  fi
  rm -f "$tmp/root/etc/apt/sources.list"    # replaced by the host's configuration in each run
  tar -C "$tmp/root" -cf "$BASE_TAR.part" . && mv "$BASE_TAR.part" "$BASE_TAR"
  rm -rf "$tmp"
}

WORK="" ROOT=""
cleanup() {
  local rc=$?
  if [ -n "$ROOT" ]; then
    # the namespaces' own mounts vanish with them; unmount anything that is still there, deepest first
    { findmnt -rn -o TARGET | grep -F "$ROOT/" || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  fi
  if [ -n "$WORK" ]; then
    if [ "$KEEP" = 1 ]; then say "kept: $ROOT (logs in $WORK/logs)"; else rm -rf --one-file-system "$WORK"; fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start=$(date +%s)
build_base
record "base root (debootstrap, cached)" PASS $(( $(date +%s) - start )) "$BASE_TAR"
[ "$PREPARE" = 1 ] && exit 0

WORK=$(mktemp -d /var/tmp/unistore-fresh.XXXXXX)
ROOT=$WORK/root
LOGS=$WORK/logs
mkdir -p "$ROOT" "$LOGS"
tar -C "$ROOT" -xf "$BASE_TAR"

# the host's package-index configuration (sources, apt/pip/npm settings, extra CAs), nothing else of it
copy_if() { local p; for p in "$@"; do [ -e "$p" ] && mkdir -p "$ROOT$(dirname "$p")" && cp -a "$p" "$ROOT$p"; done; return 0; }
copy_if /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
  /etc/apt/apt.conf.d/* /etc/apt/auth.conf.d/* /etc/apt/preferences.d/* /etc/apt/trusted.gpg \
  /etc/apt/trusted.gpg.d/* /etc/apt/keyrings/* /usr/local/share/ca-certificates/* \
  /etc/pip.conf /etc/xdg/pip/* /etc/npmrc
cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
chroot "$ROOT" update-ca-certificates >/dev/null 2>&1 || true
# no init runs in the root: packages must not start services while installing (the scripts start them)
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"; chmod +x "$ROOT/usr/sbin/policy-rc.d"

git clone -q --no-hardlinks "$REPO" "$ROOT/root/unistore"
CLONED=$(git -C "$ROOT/root/unistore" rev-parse --short HEAD)
say "== cloned $(git -C "$ROOT/root/unistore" log -1 --format='%h %s')"

CLEAN_ENV=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb CI=true)

in_root() {
  # in_root NET NAME COMMAND: run COMMAND in the root (bash, from the clone) in fresh PID and mount
  # namespaces, with a clean environment; NET=loopback adds a network namespace holding only lo.
  local net=$1 name=$2 cmd=$3 netflag=() t0 rc
  [ "$net" = loopback ] && netflag=(--net)
  t0=$(date +%s)
  set +e
  unshare --pid --fork --kill-child --mount-proc="$ROOT/proc" "${netflag[@]}" bash -c '
    set -e
    root=$1; net=$2; shift 2
    mount --rbind /dev "$root/dev"
    mount -t sysfs sysfs "$root/sys"
    mount -t tmpfs tmpfs "$root/run"
    mount -t tmpfs tmpfs "$root/tmp"
    [ "$net" = loopback ] && ip link set lo up
    exec chroot "$root" "$@"' _ "$ROOT" "$net" \
    "${CLEAN_ENV[@]}" bash -c "cd /root/unistore && $cmd" >"$LOGS/$name.log" 2>&1
  rc=$?
  set -e
  LAST_RC=$rc LAST_SECONDS=$(( $(date +%s) - t0 ))
}

summary_of() { grep -E '^(=+ )?[0-9]+ (passed|failed|error)|no tests ran' "$1" | tail -n 1 | sed 's/=//g; s/^ *//; s/ *$//'; }

overall=0
in_root host demo "./scripts/demo.sh"
if [ "$LAST_RC" = 0 ]; then record "./scripts/demo.sh" PASS "$LAST_SECONDS" ""
else record "./scripts/demo.sh" FAIL "$LAST_SECONDS" "exit $LAST_RC"; tail -n 30 "$LOGS/demo.log"; overall=1; fi

in_root host install "bash scripts/install.sh && UNISTORE_STORES_PHASE=install bash scripts/stores.sh"
if [ "$LAST_RC" = 0 ]; then record "./scripts/test.sh: install steps (network)" PASS "$LAST_SECONDS" ""
else record "./scripts/test.sh: install steps (network)" FAIL "$LAST_SECONDS" "exit $LAST_RC"; tail -n 30 "$LOGS/install.log"; overall=1; fi
rm -f "$ROOT/usr/sbin/policy-rc.d"

# the test run, then stop the servers it started (the PID namespace ends whatever is left)
printf -v pytest_args ' %q' "${PYTEST_ARGS[@]}"
[ ${#PYTEST_ARGS[@]} -eq 0 ] && pytest_args=""
in_root loopback test "rc=0; UNISTORE_SKIP_INSTALL=1 ./scripts/test.sh -q -p no:cacheprovider$pytest_args || rc=\$?
  for v in \$(ls /etc/postgresql 2>/dev/null); do pg_ctlcluster --skip-systemctl-redirect \"\$v\" main stop 2>/dev/null || true; done
  mariadb-admin --protocol=socket -S /run/mysqld/mysqld.sock -uroot shutdown 2>/dev/null || true
  exit \$rc"
counts=$(summary_of "$LOGS/test.log")
if [ "$LAST_RC" = 0 ]; then record "./scripts/test.sh: stores + tests (loopback only)" PASS "$LAST_SECONDS" "$counts"
else
  record "./scripts/test.sh: stores + tests (loopback only)" FAIL "$LAST_SECONDS" "exit $LAST_RC; $counts"
  grep -E '^(FAILED|ERROR) ' "$LOGS/test.log" | head -n 40 || tail -n 30 "$LOGS/test.log"
  grep -qE '^(FAILED|ERROR) ' "$LOGS/test.log" || tail -n 30 "$LOGS/test.log"
  overall=1
fi

say ""
say "== fresh-machine-check: Debian $SUITE minbase + $INCLUDE, clone of $CLONED"
printf '%s\n' "${RESULTS[@]}"
say "total $(( $(date +%s) - start ))s: $([ "$overall" = 0 ] && echo PASS || echo FAIL)"
# pytest's counts inside the root as a plain closing line (failures and errors together)
count() { grep -oE "[0-9]+ $1" <<<"$counts" | grep -oE '^[0-9]+' || echo 0; }
say "fresh-machine-check: $(count passed) passed, $(( $(count failed) + $(count error) )) failed"
exit "$overall"
