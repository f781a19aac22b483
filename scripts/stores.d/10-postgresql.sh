#!/usr/bin/env bash
# PostgreSQL on 127.0.0.1:5432 (where the tests connect, as postgres with trust auth): install on a
# fresh Debian machine, create or move the cluster onto 5432, start it if down, and create the test
# database and a password-protected test role. Idempotent: a running cluster on 5432 is left running.
set -euo pipefail
. "$(dirname "$0")/_lib.sh"
PORT=5432

if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
  apt_install postgresql postgresql-client
fi
starting || exit 0
version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
conf=/etc/postgresql/$version/main
# status and port of the cluster this script manages ("online"/"down"; empty if it does not exist)
cluster_field() { pg_lsclusters -h | awk -v v="$version" -v f="$1" '$1 == v && $2 == "main" { print $f }'; }

if [ -z "$(cluster_field 4)" ]; then
  port_open "$PORT" && { echo "   127.0.0.1:$PORT is taken by another server: the tests expect PostgreSQL $version there" >&2; exit 1; }
  pg_createcluster --port "$PORT" "$version" main >/dev/null
fi
# pg_createcluster (also the package's own, at install time) takes the next free port when 5432 is
# in use: the tests connect to 5432, so a cluster that is down moves there
if [ "$(cluster_field 3)" != "$PORT" ] && [ "$(cluster_field 4)" != online ]; then
  port_open "$PORT" && { echo "   127.0.0.1:$PORT is taken by another server: the tests expect PostgreSQL $version there" >&2; exit 1; }
  sed -i -E "s/^#?port *=.*/port = $PORT/" "$conf/postgresql.conf"
fi
[ "$(cluster_field 3)" = "$PORT" ] || {
  echo "   PostgreSQL $version main runs on port $(cluster_field 3), the tests expect $PORT: stop it (pg_ctlcluster $version main stop) and rerun" >&2
  exit 1; }

# listen on loopback; the test role authenticates with its password, the rest (on 127.0.0.1) with trust
grep -qE "^listen_addresses" "$conf/postgresql.conf" || echo "listen_addresses = '127.0.0.1'" >> "$conf/postgresql.conf"
if ! grep -q "unistore-tests" "$conf/pg_hba.conf"; then
  # password roles first (checked top-down): the redaction and wrong-password tests need real auth
  sed -i "1i host all unistore_auth 127.0.0.1/32 scram-sha-256 # unistore-tests\nhost all all 127.0.0.1/32 trust # unistore-tests" "$conf/pg_hba.conf"
  [ "$(cluster_field 4)" = online ] && pg_ctlcluster --skip-systemctl-redirect "$version" main reload
fi
if [ "$(cluster_field 4)" != online ]; then
  port_open "$PORT" && { echo "   127.0.0.1:$PORT is taken by another server: the tests expect PostgreSQL $version there" >&2; exit 1; }
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
fi
wait_port "$PORT" 60
for _ in $(seq 1 150); do pg_isready -q -h 127.0.0.1 -p "$PORT" && break; sleep 0.2; done
pg_isready -q -h 127.0.0.1 -p "$PORT" || { echo "   PostgreSQL on 127.0.0.1:$PORT does not accept connections" >&2; exit 1; }
psql_su() { psql -v ON_ERROR_STOP=1 -qAt -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -c "$1"; }
psql_su "SELECT 1 FROM pg_database WHERE datname='test'" | grep -q 1 || psql_su "CREATE DATABASE test"
psql_su "SELECT 1 FROM pg_roles WHERE rolname='unistore_auth'" | grep -q 1 || \
  psql_su "CREATE ROLE unistore_auth LOGIN PASSWORD 'unistore-Secret-pw' SUPERUSER"
echo "   PostgreSQL $version on 127.0.0.1:$PORT"
