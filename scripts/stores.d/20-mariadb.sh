#!/usr/bin/env bash
# MariaDB on 127.0.0.1:3306: install on a fresh Debian machine, start if down,
# and create the test database and a password-protected test user.
set -euo pipefail
. "$(dirname "$0")/_lib.sh"

[ -x /usr/sbin/mariadbd ] || apt_install mariadb-server mariadb-client
if ! (exec 3<>/dev/tcp/127.0.0.1/3306) 2>/dev/null; then
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --bind-address=127.0.0.1 \
    || start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
fi
wait_port 3306 60
# the binary log gives each read a GTID position (the snapshot unistore records); turn it on once
cnf=/etc/mysql/my.cnf
if [ -f "$cnf" ] && ! grep -q "unistore-tests" "$cnf"; then
  printf '\n[mysqld]\n# unistore-tests: GTID / binlog position for read snapshots\nlog_bin = mariadb-bin\nbinlog_format = ROW\nserver_id = 1\n' >> "$cnf"
fi
if [ "$(mariadb -uroot -h127.0.0.1 -Nse 'SELECT @@log_bin')" != "1" ]; then
  mariadb-admin -uroot -h127.0.0.1 shutdown
  for _ in $(seq 1 300); do pgrep -x mariadbd >/dev/null || break; sleep 0.2; done  # until it has exited
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  wait_port 3306 60
fi
mariadb -uroot -h127.0.0.1 -e "CREATE DATABASE IF NOT EXISTS test;
  CREATE USER IF NOT EXISTS 'unistore_auth'@'%' IDENTIFIED BY 'unistore-Secret-pw';
  CREATE USER IF NOT EXISTS 'unistore_auth'@'localhost' IDENTIFIED BY 'unistore-Secret-pw';
  GRANT ALL ON *.* TO 'unistore_auth'@'%'; GRANT ALL ON *.* TO 'unistore_auth'@'localhost';"
echo "   MariaDB on 127.0.0.1:3306"
