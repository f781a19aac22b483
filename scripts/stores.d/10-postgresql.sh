#!/usr/bin/env bash
# PostgreSQL on 127.0.0.1:5432: install on a fresh Debian machine, start if down,
# and create the test database and a password-protected test role.
set -euo pipefail
. "$(dirname "$0")/_lib.sh"

if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
  apt_install postgresql postgresql-client
fi
version=$(ls /etc/postgresql | sort -V | tail -n 1)
conf=/etc/postgresql/$version/main
# listen on loopback; the test role authenticates with its password, the rest as configured
grep -qE "^listen_addresses" "$conf/postgresql.conf" || echo "listen_addresses = '127.0.0.1'" >> "$conf/postgresql.conf"
if ! grep -q "unistore-tests" "$conf/pg_hba.conf"; then
  # password roles first (checked top-down): the redaction and wrong-password tests need real auth
  sed -i "1i host all unistore_auth 127.0.0.1/32 scram-sha-256 # unistore-tests\nhost all all 127.0.0.1/32 trust # unistore-tests" "$conf/pg_hba.conf"
  pg_ctlcluster --skip-systemctl-redirect "$version" main reload 2>/dev/null || true
fi
if ! pg_lsclusters -h | awk '{print $4}' | grep -q online; then
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
fi
wait_port 5432 60
psql_su() { su postgres -c "psql -v ON_ERROR_STOP=1 -qAt -h 127.0.0.1 -d postgres -c \"$1\""; }
psql_su "SELECT 1 FROM pg_database WHERE datname='test'" | grep -q 1 || psql_su "CREATE DATABASE test"
psql_su "SELECT 1 FROM pg_roles WHERE rolname='unistore_auth'" | grep -q 1 || \
  psql_su "CREATE ROLE unistore_auth LOGIN PASSWORD 'unistore-Secret-pw' SUPERUSER"
echo "   PostgreSQL $version on 127.0.0.1:5432"
