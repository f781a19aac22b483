#!/usr/bin/env bash
# MariaDB on 127.0.0.1:3306 (where the tests connect: root with no password over TCP, database test):
# install on a fresh Debian machine, start the server as the mysql user if nothing listens on 3306,
# turn the binary log on (the GTID snapshot unistore records), and create the test database and users.
# A mariadbd counts as this machine's when its root directory is ours (same device and inode, by stat):
# a mariadbd of another container may be visible, and readlink of its /proc/PID/root prints / too.
# Idempotent: a running server with the binary log on is left running.
set -euo pipefail
. "$(dirname "$0")/_lib.sh"
PORT=3306

[ -x /usr/sbin/mariadbd ] || apt_install mariadb-server mariadb-client
starting || exit 0
RUN=/run/mysqld SOCK=/run/mysqld/mysqld.sock PIDFILE=/run/mysqld/mysqld.pid
datadir=$(/usr/sbin/mariadbd --print-defaults | tr ' ' '\n' | sed -n 's/^--datadir=//p' | tail -n 1)
datadir=${datadir:-/var/lib/mysql}
errlog=/var/log/mysql/unistore-tests.err
as_admin() { mariadb --protocol=socket -S "$SOCK" -uroot "$@"; }  # root through the socket (unix_socket auth)

# the binary log gives each read a GTID position; a conf.d file on Debian, my.cnf on other layouts
if [ -d /etc/mysql/mariadb.conf.d ]; then cnf=/etc/mysql/mariadb.conf.d/60-unistore-tests.cnf; else cnf=/etc/mysql/my.cnf; fi
if ! grep -qs "unistore-tests" "$cnf"; then
  printf '\n[mysqld]\n# unistore-tests: GTID / binlog position for read snapshots\nlog_bin = mariadb-bin\nbinlog_format = ROW\nserver_id = 1\n' >> "$cnf"
fi

running_servers() {
  # pids of this machine's mariadbd processes, whoever started them (one booting has no pid file or port yet);
  # a process whose root is not ours belongs to another container; compared by device:inode, since
  # readlink of /proc/PID/root prints / for a process in another mount namespace too; a pid whose root
  # cannot be stat-ed (gone, or not ours to look at) is skipped
  local pid root ours
  ours=$(stat -c %d:%i /)
  for pid in $(pgrep -x mariadbd || true); do
    root=$(stat -L -c %d:%i "/proc/$pid/root" 2>/dev/null) || continue
    [ "$root" = "$ours" ] && echo "$pid"
  done
  return 0
}
wait_server_up() {
  # wait_server_up SECONDS: the server answers on the socket and on 127.0.0.1:$PORT
  local i
  for i in $(seq 1 $(($1 * 5))); do
    port_open "$PORT" && mariadb-admin --protocol=socket -S "$SOCK" -uroot ping >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}
start_server() {
  mkdir -p "$RUN" "$(dirname "$errlog")" && chown mysql:mysql "$RUN" "$(dirname "$errlog")"
  local pids; pids=$(running_servers)
  if [ -n "$pids" ]; then
    # a server is still starting (the machine's own, at boot): wait for it, never start a second on one datadir
    echo "   mariadbd $pids is starting; waiting for it"
    wait_server_up 60 && return 0
    echo "   mariadbd $pids did not answer on 127.0.0.1:$PORT within 60 s" >&2
    return 1
  fi
  rm -f "$PIDFILE"  # stale: its process is gone
  if [ ! -d "$datadir/mysql" ]; then
    echo "   mariadb-install-db --user=mysql --datadir=$datadir"
    mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db >/dev/null
  fi
  # --exec with --pidfile: start-stop-daemon refuses to match on a pid file owned by mysql alone
  start-stop-daemon --start --oknodo --background --pidfile "$PIDFILE" --exec /usr/sbin/mariadbd -- \
    --user=mysql --datadir="$datadir" --socket="$SOCK" --pid-file="$PIDFILE" \
    --bind-address=127.0.0.1 --port="$PORT" --log-error="$errlog"
  wait_server_up 60 && return 0
  echo "   MariaDB did not come up on 127.0.0.1:$PORT; the end of $errlog:" >&2
  tail -n 20 "$errlog" >&2 || true
  return 1
}

if ! port_open "$PORT"; then
  start_server
elif ! wait_server_up 30; then  # a server that just opened its port answers within seconds
  echo "   127.0.0.1:$PORT is taken by a server that is not this machine's MariaDB (no answer on $SOCK)" >&2
  exit 1
fi
if [ "$(as_admin -Nse 'SELECT @@log_bin')" != "1" ]; then
  echo "   restarting MariaDB with the binary log on"
  mariadb-admin --protocol=socket -S "$SOCK" -uroot shutdown
  wait_port_closed "$PORT" 60
  for _ in $(seq 1 300); do [ -z "$(running_servers)" ] && break; sleep 0.2; done  # its process has exited
  start_server
fi

# Debian's root@localhost authenticates through the unix socket only, so TCP from 127.0.0.1 gets
# "Access denied": the tests connect as root with no password over TCP, so allow that on loopback
if ! mariadb -uroot -h127.0.0.1 -P"$PORT" -e 'SELECT 1' >/dev/null 2>&1; then
  echo "   root over TCP on 127.0.0.1: unix_socket or no password"
  as_admin -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('');
    CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
    GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;"
fi
as_admin -e "CREATE DATABASE IF NOT EXISTS test;
  CREATE USER IF NOT EXISTS 'unistore_auth'@'%' IDENTIFIED BY 'unistore-Secret-pw';
  CREATE USER IF NOT EXISTS 'unistore_auth'@'localhost' IDENTIFIED BY 'unistore-Secret-pw';
  GRANT ALL ON *.* TO 'unistore_auth'@'%'; GRANT ALL ON *.* TO 'unistore_auth'@'localhost';"
mariadb -uroot -h127.0.0.1 -P"$PORT" -D test -e 'SELECT 1' >/dev/null || {
  echo "   root cannot reach database test over TCP on 127.0.0.1:$PORT" >&2; exit 1; }
echo "   MariaDB on 127.0.0.1:$PORT"
