"""PostgreSQL and MariaDB servers on loopback (started by scripts/stores.d/10-postgresql.sh, 20-mariadb.sh).

Tables are created with fresh names in the ``test`` database; nothing is cleaned up
(the database exists for tests). The ``secret`` case reads through the
password-protected ``unistore_auth`` role / user.
"""

from __future__ import annotations

import itertools
import os
import uuid

import pyarrow as pa
import pytest

from stores import Attempt, Loader, Store, StoreCase, missing_store, wait_for_port

_SERVER = frozenset({"reference", "ordered", "exact_types", "mutable", "secret", "server"})
STORES = {
    "postgresql": Store("postgresql://127.0.0.1/test", _SERVER | {"timeout"}),
    "mariadb": Store("mysql://127.0.0.1/test", _SERVER | {"timeout"}),
    #: the generic DB-API fallback (SQLAlchemy + psycopg), run through the same suite on the same server
    "postgresql-dbapi": Store("postgresql+psycopg://127.0.0.1/test", _SERVER | {"timeout"}, {"driver": "dbapi"}),
}

PG_PORT = int(os.environ.get("UNISTORE_PG_PORT", "5432"))
MY_PORT = int(os.environ.get("UNISTORE_MARIADB_PORT", "3306"))
PG_URI = f"postgresql://postgres@127.0.0.1:{PG_PORT}/test"
MY_URI = f"mysql://root@127.0.0.1:{MY_PORT}/test"
SECRET = "unistore-Secret-pw"
PG_SECRET_URI = f"postgresql://unistore_auth:{SECRET}@127.0.0.1:{PG_PORT}/test"
MY_SECRET_URI = f"mariadb://unistore_auth:{SECRET}@127.0.0.1:{MY_PORT}/test"
#: a second MariaDB with the binary log off (scripts/stores.d/21-mariadb-nobinlog.sh)
MY_NOBINLOG_PORT = int(os.environ.get("UNISTORE_MARIADB_NOBINLOG_PORT", "3307"))
MY_NOBINLOG_URI = f"mysql://root@127.0.0.1:{MY_NOBINLOG_PORT}/test"

PG_DDL = ("CREATE TABLE {t} (id BIGINT NOT NULL PRIMARY KEY, kind TEXT, amount DOUBLE PRECISION, "
          "price NUMERIC(10,2), active BOOLEAN, day DATE, ts TIMESTAMP, ts_tz TIMESTAMPTZ, payload BYTEA)")
MY_DDL = ("CREATE TABLE {t} (id BIGINT NOT NULL PRIMARY KEY, kind TEXT, amount DOUBLE, price DECIMAL(10,2), "
          "active BOOLEAN, day DATE, ts DATETIME(6), ts_tz TIMESTAMP(6) NULL, payload BLOB) ENGINE=InnoDB")

_counter = itertools.count()


def unique(name: str) -> str:
    """A table name no other load (or earlier test run) has used."""
    return f"{name}_{uuid.uuid4().hex[:8]}_{next(_counter)}"


def pg_connect(dbname: str = "test"):
    """A plain psycopg connection for setting up data (autocommit)."""
    import psycopg

    return psycopg.connect(host="127.0.0.1", port=PG_PORT, user="postgres", dbname=dbname, autocommit=True)


def my_connect(port: int = MY_PORT):
    """A plain pymysql connection for setting up data (autocommit, UTC session)."""
    import pymysql

    con = pymysql.connect(host="127.0.0.1", port=port, user="root", database="test", autocommit=True,
                          init_command="SET time_zone = '+00:00'")
    return con


def pg_available() -> bool:
    return wait_for_port("127.0.0.1", PG_PORT, timeout=5)


def my_available() -> bool:
    return wait_for_port("127.0.0.1", MY_PORT, timeout=5)


class PostgreSQLLoader(Loader):
    name = "postgresql"

    def load(self, name: str, table: pa.Table) -> StoreCase:
        name = unique(name)
        cols = table.schema.names
        with pg_connect() as con:
            con.execute(PG_DDL.format(t=f'"{name}"'))
            with con.cursor() as cur:
                cur.executemany(f'INSERT INTO "{name}" VALUES ({", ".join(["%s"] * len(cols))})',
                                [tuple(r[c] for c in cols) for r in table.to_pylist()])

        def mutate() -> None:
            with pg_connect() as con:
                con.execute(f'UPDATE "{name}" SET amount = coalesce(amount, 0) + 1000 WHERE id = 2')

        return StoreCase(uri=PG_URI, table=name, expected=table, query=f'SELECT * FROM "{name}"',
                         mutate=mutate, secret_uri=PG_SECRET_URI, secret=SECRET)

    def unreachable(self, port: int) -> Attempt:
        return Attempt(f"postgresql://unistore_auth:{SECRET}@127.0.0.1:{port}/test", "x", secret=SECRET)

    def silent(self, address: str) -> Attempt:
        return Attempt(f"postgresql://postgres@{address}/test", "x", {"connect_timeout": 1}, match="timeout|timed out")


class PostgreSQLDBAPILoader(PostgreSQLLoader):
    """The same tables read through ``driver="dbapi"`` (SQLAlchemy's psycopg dialect)."""

    name = "postgresql-dbapi"

    def load(self, name: str, table: pa.Table) -> StoreCase:
        case = super().load(name, table)
        case.uri = case.uri.replace("postgresql://", "postgresql+psycopg://")
        case.secret_uri = case.secret_uri.replace("postgresql://", "postgresql+psycopg://")
        case.options = {"driver": "dbapi"}
        return case

    def unreachable(self, port: int) -> Attempt:
        attempt = super().unreachable(port)
        attempt.uri = attempt.uri.replace("postgresql://", "postgresql+psycopg://")
        attempt.options = {**attempt.options, "driver": "dbapi"}
        return attempt

    def silent(self, address: str) -> Attempt:
        attempt = super().silent(address)
        attempt.uri = attempt.uri.replace("postgresql://", "postgresql+psycopg://")
        attempt.options = {**attempt.options, "driver": "dbapi"}
        return attempt


class MariaDBLoader(Loader):
    name = "mariadb"

    def load(self, name: str, table: pa.Table) -> StoreCase:
        name = unique(name)
        cols = table.schema.names
        con = my_connect()
        try:
            with con.cursor() as cur:
                cur.execute(MY_DDL.format(t=f"`{name}`"))
                rows = [tuple(_my_value(r[c]) for c in cols) for r in table.to_pylist()]
                cur.executemany(f"INSERT INTO `{name}` VALUES ({', '.join(['%s'] * len(cols))})", rows)
        finally:
            con.close()

        def mutate() -> None:
            c = my_connect()
            try:
                with c.cursor() as cur:
                    cur.execute(f"UPDATE `{name}` SET amount = coalesce(amount, 0) + 1000 WHERE id = 2")
            finally:
                c.close()

        return StoreCase(uri=MY_URI, table=name, expected=table, query=f"SELECT * FROM `{name}`",
                         mutate=mutate, secret_uri=MY_SECRET_URI, secret=SECRET)

    def unreachable(self, port: int) -> Attempt:
        return Attempt(f"mysql://unistore_auth:{SECRET}@127.0.0.1:{port}/test", "x", {"connect_timeout": 2},
                       secret=SECRET)

    def silent(self, address: str) -> Attempt:
        return Attempt(f"mysql://root@{address}/test", "x", {"connect_timeout": 1}, match="timeout|timed out|lost")



def _my_value(v):
    """Aware datetimes go in as UTC wall time (the session time zone is UTC)."""
    import datetime as dt

    if isinstance(v, dt.datetime) and v.tzinfo is not None:
        return v.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return v


@pytest.fixture(scope="session")
def loader_postgresql():
    if not pg_available():
        missing_store(f"PostgreSQL on 127.0.0.1:{PG_PORT}")
    return PostgreSQLLoader()


@pytest.fixture(scope="session")
def loader_postgresql_dbapi():
    if not pg_available():
        missing_store(f"PostgreSQL on 127.0.0.1:{PG_PORT}")
    return PostgreSQLDBAPILoader()


@pytest.fixture(scope="session")
def loader_mariadb():
    if not my_available():
        missing_store(f"MariaDB on 127.0.0.1:{MY_PORT}")
    return MariaDBLoader()
