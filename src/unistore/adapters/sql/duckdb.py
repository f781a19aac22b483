"""DuckDB files, opened read-only, read through DuckDB's own Arrow export.

Every read runs in one transaction (DuckDB's MVCC snapshot) with the session
time zone set to UTC, so TIMESTAMPTZ columns come back as
``timestamp[us, tz=UTC]`` whatever the machine's zone.

The connection is the second guard behind :mod:`unistore.sqlguard`: the
database file the user named is opened (read-only) first, then external
access is switched off and the configuration locked, so no statement can
read or write any other file (``read_text``, ``COPY ... TO``, ``EXPORT
DATABASE``, ``ATTACH``, ``INSTALL``) or switch that back on. Those settings
belong to the database instance DuckDB shares between the connections of one
process to one file, so the first connection sets them and the others check them.

A planned read (``partitions=N``) is cut into ``rowid`` ranges (``partition_on=``
names an integer column instead; views have no rowid and stay in one piece).
While the planner's read-only connection is open no process can write the
file (DuckDB locks it; a writer in this process is refused a connection with
another configuration), so every split reads the state the plan recorded, and
checks it: a split run after the file changed raises
:class:`~unistore.errors.SnapshotUnavailableError`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

import duckdb
import pyarrow as pa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine.interfaces import BindTyping

from ...errormap import ErrorTable, Rule, mapped_errors
from ...errors import QueryError, ReadOnlyError, SourceNotFoundError, SourceUnavailableError
from ...location import Location
from ...provenance import Dataset
from ...snapshot import Snapshot
from .base import Session, SQLSource
from .filedb import database_path, file_snapshot

#: opening the file (where: its path)
OPEN_ERRORS = ErrorTable(
    Rule(SourceUnavailableError, "cannot open DuckDB database {where} read-only: {text}", classes=("duckdb.IOException",)),
    Rule(QueryError, "cannot open DuckDB database {where}: {text}", classes=("duckdb.Error",)),
)
#: looking a table up: only a missing table is named, anything else is the engine's to report
SCHEMA_ERRORS = ErrorTable(
    Rule(SourceNotFoundError, "table {table} does not exist in {where}", classes=("duckdb.CatalogException",)),
)
#: running the query
QUERY_ERRORS = ErrorTable(
    Rule(ReadOnlyError, "DuckDB refused to reach outside the database: {first_line}",
         classes=("duckdb.PermissionException",)),
    Rule(QueryError, "DuckDB rejected the query: {first_line}", classes=("duckdb.Error",)),
)


class _DuckDBDialect(postgresql.dialect):  # type: ignore[misc,valid-type]
    """PostgreSQL's SQL compiler with DuckDB's ``?`` placeholders."""

    positional = True
    paramstyle = "qmark"
    bind_typing = BindTyping.NONE  # no "?::INTEGER" casts: DuckDB types the parameters itself

    def __init__(self, **kw: Any):
        super().__init__(paramstyle="qmark", **kw)


#: connections of one process to one file share one database instance: one of them configures it at a time
_CONFIGURING = threading.Lock()


class DuckDBSource(SQLSource):
    system = "duckdb"
    default_schema = "main"
    sql_dialect = "duckdb"
    pins_splits = True
    split_consistency = ("one state of the file: the planner's read-only connection stays open until the read "
                         "ends, so no process can write the file meanwhile, and every split checks that it finds "
                         "the planner's snapshot")

    def __init__(self, location: Location, *, threads: int | None = None):
        super().__init__(location, _DuckDBDialect())
        self.path = database_path(location, "DuckDB")
        if not os.path.isfile(self.path):
            raise SourceNotFoundError(f"DuckDB database {self.path} does not exist")
        self.threads = threads

    def session(self) -> "DuckDBSession":
        return DuckDBSession(self.path, self.threads)

    def dataset(self, parts: tuple[str, ...] | None) -> Dataset:
        name = self.path if parts is None else f"{self.path}/{'.'.join(parts)}"
        return Dataset(system="duckdb", uri=self.uri, namespace="file", name=name)

    def tables(self) -> list[str]:
        with self.session() as s:
            rows = s.con.execute(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_catalog = current_database() ORDER BY 1, 2").fetchall()
        return [name if schema == "main" else f"{schema}.{name}" for schema, name in rows]


class DuckDBSession(Session):
    def __init__(self, path: str, threads: int | None):
        self.path = path
        config: dict[str, Any] = {}
        if threads:
            config["threads"] = threads
        with _CONFIGURING:
            with mapped_errors(OPEN_ERRORS, path):
                self.con = duckdb.connect(path, read_only=True, config=config)
            try:
                self._configure()
            except BaseException:
                self.con.close()
                raise
        self.con.execute("BEGIN TRANSACTION")

    def _configure(self) -> None:
        """Lock the instance down, or check that the connection that opened it did."""
        (locked, external, zone), = self.con.execute(
            "SELECT current_setting('lock_configuration'), current_setting('enable_external_access'), "
            "current_setting('TimeZone')").fetchall()
        if not locked:
            # GLOBAL: the instance's later connections start in UTC too (ICU is built into the wheel)
            self.con.execute("SET GLOBAL TimeZone = 'UTC'")
            self.con.execute("SET enable_external_access = false")  # the named file is already open
            self.con.execute("SET lock_configuration = true")
        elif external or zone != "UTC":
            raise SourceUnavailableError(f"DuckDB database {self.path} is open elsewhere in this process with "
                                         "its configuration locked (external access on, or another time zone); "
                                         "unistore cannot read it safely")

    def split_key(self, parts: tuple[str, ...], schema: pa.Schema) -> str | None:
        """``rowid`` for a base table (unless a column has that name); views have none."""
        return "rowid" if self._table_info(parts, "count(*)") and "rowid" not in schema.names else None

    def row_estimate(self, parts: tuple[str, ...]) -> int | None:
        return self._table_info(parts, "max(estimated_size)")

    def _table_info(self, parts: tuple[str, ...], what: str) -> Any:
        """``what`` over the base table ``parts`` in ``duckdb_tables()`` (one-part names: schema main)."""
        database, schema = (parts[:-2] or (None,))[0], (parts[-2] if len(parts) >= 2 else "main")
        with mapped_errors(QUERY_ERRORS, self.path):
            (value,), = self.con.execute(
                f"SELECT {what} FROM duckdb_tables() WHERE database_name = coalesce(?, current_database()) "
                "AND schema_name = ? AND table_name = ?", [database, schema, parts[-1]]).fetchall()
        return value

    def table_schema(self, parts: tuple[str, ...]) -> pa.Schema:
        quoted = ".".join('"' + p.replace('"', '""') + '"' for p in parts)
        with mapped_errors(SCHEMA_ERRORS, self.path, table=".".join(parts)):
            return self.con.sql(f"SELECT * FROM {quoted} LIMIT 0").to_arrow_table().schema

    def execute(self, sql: str, params: Any, batch_size: int,
                schema: pa.Schema | None = None) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        with mapped_errors(QUERY_ERRORS, self.path):
            reader = self.con.sql(sql, params=params or None).to_arrow_reader(batch_size)
        return reader.schema, iter(reader)

    def snapshot(self) -> Snapshot:
        return file_snapshot("duckdb.file", self.path, self.path + ".wal")

    def close(self) -> None:
        con = getattr(self, "con", None)
        if con is None:
            return
        self.con = None
        try:
            con.execute("ROLLBACK")
        except duckdb.Error:
            pass
        con.close()
