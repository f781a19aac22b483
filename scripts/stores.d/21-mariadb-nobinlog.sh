#!/usr/bin/env bash
# A second MariaDB on 127.0.0.1:3307 with the binary log off (root with no password over TCP, database test):
# the tests read it to check what a read gets without a binlog position (the server on 3306 has the binary
# log on). Its own data directory, socket and pid file; --no-defaults, so the machine's my.cnf (which turns
# the binary log on for 3306) does not apply; the rest of the settings are the defaults, as on 3306. Starts
# in about a second.
# Idempotent: a running server on 3307 with the binary log off is left running.
set -euo pipefail
. "$(dirname "$0")/_lib.sh"
PORT=3307

[ -x /usr/sbin/mariadbd ] || apt_install mariadb-server mariadb-client
starting || exit 0
RUN=/run/mysqld SOCK=/run/mysqld/mysqld-nobinlog.sock PIDFILE=/run/mysqld/mysqld-nobinlog.pid
datadir=/var/lib/mysql-nobinlog
errlog=/var/log/mysql/unistore-tests-nobinlog.err
as_admin() { mariadb --no-defaults --protocol=socket -S "$SOCK" -uroot "$@"; }

answers() { mariadb-admin --no-defaults --protocol=socket -S "$SOCK" -uroot ping >/dev/null 2>&1 && port_open "$PORT"; }
wait_up() {
  local i
  for i in $(seq 1 $(($1 * 5))); do answers && return 0; sleep 0.2; done
  return 1
}

if ! answers; then
  port_open "$PORT" && { echo "   127.0.0.1:$PORT is taken by another server (no answer on $SOCK)" >&2; exit 1; }
  mkdir -p "$RUN" "$(dirname "$errlog")" && chown mysql:mysql "$RUN" "$(dirname "$errlog")"
  if [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    echo "   mariadbd $(cat "$PIDFILE") ($datadir) is starting; waiting for it"
  else
    rm -f "$PIDFILE"
    if [ ! -d "$datadir/mysql" ]; then
      mkdir -p "$datadir" && chown mysql:mysql "$datadir"
      echo "   mariadb-install-db --datadir=$datadir"
      # root@localhost and root@127.0.0.1 without a password, as the tests connect
      mariadb-install-db --no-defaults --user=mysql --datadir="$datadir" --auth-root-authentication-method=normal \
        --skip-test-db --skip-name-resolve >/dev/null
    fi
    start-stop-daemon --start --oknodo --background --pidfile "$PIDFILE" --exec /usr/sbin/mariadbd -- \
      --no-defaults --user=mysql --datadir="$datadir" --socket="$SOCK" --pid-file="$PIDFILE" \
      --bind-address=127.0.0.1 --port="$PORT" --skip-log-bin --skip-name-resolve \
      --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
      --log-error="$errlog"
  fi
  wait_up 30 || {
    echo "   MariaDB did not come up on 127.0.0.1:$PORT; the end of $errlog:" >&2
    tail -n 20 "$errlog" >&2 || true
    exit 1; }
fi
[ "$(as_admin -Nse 'SELECT @@log_bin')" = "0" ] || {
  echo "   the MariaDB on 127.0.0.1:$PORT has the binary log on; the tests need it off" >&2; exit 1; }
as_admin -e "CREATE DATABASE IF NOT EXISTS test"
mariadb --no-defaults -uroot -h127.0.0.1 -P"$PORT" -D test -e 'SELECT 1' >/dev/null || {
  echo "   root cannot reach database test over TCP on 127.0.0.1:$PORT" >&2; exit 1; }
echo "   MariaDB (binary log off) on 127.0.0.1:$PORT"
