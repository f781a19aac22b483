"""SQLite (through ADBC and through the sqlite3 fallback) and DuckDB files."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3

import duckdb
import pyarrow as pa
import pytest

from stores import Loader, SeriesCase, Store, StoreCase

_SQL = frozenset({"reference", "ordered", "exact_types", "mutable"})
STORES = {
    "sqlite": Store("sqlite:///shop.db", _SQL, {"driver": "adbc"}),
    "sqlite-stdlib": Store("sqlite:///shop.db", _SQL, {"driver": "sqlite3"}),
    "duckdb": Store("duckdb:///shop.duckdb", _SQL | {"timeseries"}),  # the series as a table read with time_column=
}

SQLITE_DDL = ("CREATE TABLE {t} (id INTEGER NOT NULL, kind TEXT, amount REAL, price NUMERIC(10,2), "
              "active BOOLEAN, day DATE, ts DATETIME, ts_tz TIMESTAMPTZ, payload BLOB)")
DUCKDB_DDL = ("CREATE TABLE {t} (id BIGINT NOT NULL, kind VARCHAR, amount DOUBLE, price DECIMAL(10,2), "
              "active BOOLEAN, day DATE, ts TIMESTAMP, ts_tz TIMESTAMPTZ, payload BLOB)")


def _sqlite_value(v):
    """How applications usually store values in SQLite: ISO text, 0/1, REAL."""
    if isinstance(v, dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return v.isoformat(sep=" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, bool):
        return int(v)
    if hasattr(v, "as_tuple"):  # Decimal
        return float(v)
    return v


class SQLiteLoader(Loader):
    def __init__(self, name: str, path: str, driver: str):
        self.name, self.path, self.driver = name, path, driver

    def load(self, name: str, table: pa.Table) -> StoreCase:
        with sqlite3.connect(self.path) as con:
            con.execute(SQLITE_DDL.format(t=f'"{name}"'))
            cols = table.schema.names
            con.executemany(f'INSERT INTO "{name}" VALUES ({", ".join("?" * len(cols))})',
                            [tuple(_sqlite_value(r[c]) for c in cols) for r in table.to_pylist()])

        def mutate() -> None:
            with sqlite3.connect(self.path) as con:
                con.execute(f'UPDATE "{name}" SET amount = coalesce(amount, 0) + 1000 WHERE id = 2')

        return StoreCase(uri=f"sqlite:///{self.path}", table=name, expected=table,
                         options={"driver": self.driver}, query=f'SELECT * FROM "{name}"', mutate=mutate)


class DuckDBLoader(Loader):
    name = "duckdb"

    def __init__(self, path: str):
        self.path = path

    def load(self, name: str, table: pa.Table) -> StoreCase:
        con = duckdb.connect(self.path)
        try:
            con.execute(DUCKDB_DDL.format(t=f'"{name}"'))
            con.register("incoming", table)
            con.execute(f'INSERT INTO "{name}" SELECT * FROM incoming')
        finally:
            con.close()

        def mutate() -> None:
            c = duckdb.connect(self.path)
            try:
                c.execute(f'UPDATE "{name}" SET amount = coalesce(amount, 0) + 1000 WHERE id = 2')
            finally:
                c.close()

        return StoreCase(uri=f"duckdb:///{self.path}", table=name, expected=table,
                         query=f'SELECT * FROM "{name}"', mutate=mutate)

    def load_series(self) -> SeriesCase:
        from stores.timeseries import series_table

        con = duckdb.connect(self.path)
        try:
            con.register("incoming", series_table())
            con.execute("CREATE TABLE temp AS SELECT * FROM incoming")
        finally:
            con.close()
        return SeriesCase(self.name, f"duckdb:///{self.path}", "temp", {"time_column": "timestamp"})


@pytest.fixture(scope="session")
def loader_sqlite(tmp_path_factory):
    return SQLiteLoader("sqlite", str(tmp_path_factory.mktemp("sqlite") / "shop.db"), "adbc")


@pytest.fixture(scope="session")
def loader_sqlite_stdlib(tmp_path_factory):
    return SQLiteLoader("sqlite-stdlib", str(tmp_path_factory.mktemp("sqlite3") / "shop.db"), "sqlite3")


@pytest.fixture(scope="session")
def loader_duckdb(tmp_path_factory):
    return DuckDBLoader(str(tmp_path_factory.mktemp("duckdb") / "shop.duckdb"))


assert os  # paths are absolute: sqlite:/// + /abs/path
