"""SQLite: read-only file connections, declared types -> Arrow.

The ADBC SQLite driver (extra ``unistore[sqlite]``) fetches straight into
Arrow; without it the standard library's sqlite3 is used and each batch is
built column by column. Either way the connection is opened with
``mode=ro`` (and ``query_only``) so the file cannot be written, and a read
transaction pins the state. The ADBC driver runs only the first statement of
a text and silently drops the rest, so :mod:`unistore.sqlguard` refuses any
text that is not exactly one read-only statement before it is sent. The
snapshot is the file's identity: size, mtime, inode, the header's change
counter and, in WAL mode (where that counter stays put), the WAL index
header, which changes with every commit.

A planned read (``partitions=N``) is cut into rowid ranges (``partition_on=``
names another integer column). Each split is a connection of its own, so the
plan pins the state instead: the planner keeps its read transaction open
until the read ends (in rollback-journal mode no writer can commit meanwhile)
and each split checks, inside its own read transaction, that the file's
state equals the planner's; a split that finds a change raises
:class:`~unistore.errors.SnapshotUnavailableError` rather than read another state.
"""

from __future__ import annotations

import datetime as dt
import decimal
import os
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from sqlalchemy.dialects import sqlite as sqlite_dialect

from ...errormap import ErrorTable, Rule, mapped_errors
from ...errors import BadSpecError, QueryError, SourceNotFoundError, SourceUnavailableError
from ...location import Location
from ...provenance import Dataset
from ...snapshot import Snapshot
from .base import Compiled, Session, SQLSource
from .filedb import database_path, stat_snapshot
from .sqlitelink import KEPT, Link
from .types import cast_batch, declared_to_arrow

_DRIVER = ("sqlite3.Error", "adbc_driver_manager.Error", "pyarrow.lib.ArrowException")
#: opening the file (where: its path)
OPEN_ERRORS = ErrorTable(Rule(QueryError, "cannot open SQLite database {where}: {text}", classes=_DRIVER))
#: running a statement
QUERY_ERRORS = ErrorTable(Rule(QueryError, "SQLite rejected the query: {text}", classes=_DRIVER))


#: compiled table SELECTs (SQLite's default dialect, no per-source state): shared by every SQLite source
_SELECTS: dict[tuple[Any, ...], Compiled] = {}
#: the dialect only compiles statements and quotes names (no per-source state): one for every source
_DIALECT = sqlite_dialect.dialect()


class SQLiteSource(SQLSource):
    system = "sqlite"
    default_schema = "main"
    sql_dialect = "sqlite"
    pins_splits = True
    split_consistency = ("one state of the file: the planner's read transaction stays open until the read ends "
                         "(in rollback-journal mode no writer can commit meanwhile) and every split checks that "
                         "it finds the planner's snapshot (change counter, WAL index, file identity), else fails")

    def __init__(self, location: Location, *, driver: str | None = None):
        super().__init__(location, _DIALECT)
        self.path = database_path(location, "SQLite")
        if not os.path.isfile(self.path):
            raise SourceNotFoundError(f"SQLite database {self.path} does not exist")
        if driver not in (None, "adbc", "sqlite3"):
            raise BadSpecError("driver must be 'adbc' or 'sqlite3'")
        self.driver = driver or ("adbc" if _has_adbc() else "sqlite3")
        # the SQL of a table read depends on nothing but the dialect: every SQLite source shares it
        self._selects = _SELECTS

    def session(self) -> "SQLiteSession":
        return SQLiteSession(self.path, self.driver)

    def dataset(self, parts: tuple[str, ...] | None) -> Dataset:
        name = self.path if parts is None else f"{self.path}/{'.'.join(parts)}"
        return Dataset(system="sqlite", uri=self.uri, namespace="file", name=name)

    def bind_value(self, value: Any) -> Any:
        # SQLite keeps dates and times as ISO-8601 text, booleans as 0/1, decimals as REAL
        if isinstance(value, dt.datetime):
            if value.tzinfo is not None:
                value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
            return value.isoformat(sep=" ")
        if isinstance(value, (dt.date, dt.time)):
            return value.isoformat()
        if isinstance(value, decimal.Decimal):
            return float(value)
        if isinstance(value, bool):
            return int(value)
        return value

    def tables(self) -> list[str]:
        with self.session() as s:
            return s.names()


def _has_adbc() -> bool:
    try:
        import adbc_driver_sqlite.dbapi  # noqa: F401
    except ImportError:
        return False
    return True


class SQLiteSession(Session):
    """One read on a kept read-only connection (:mod:`.sqlitelink`), or on a new one when none is waiting."""

    def __init__(self, path: str, driver: str):
        self.path = path
        self.driver = driver
        self._cursors: list[Any] = []
        #: bare ADBC statements and their streams (see _stream), closed stream first
        self._streams: list[tuple[Any, pa.RecordBatchReader | None]] = []
        self.link: Link | None = None
        with mapped_errors(OPEN_ERRORS, path):
            link = KEPT.take(path, driver)
            if link is not None:
                try:
                    self.version = link.begin()
                    if not link.unchanged():  # written to (or replaced) since: its caches may not hold
                        raise _Replaced
                except Exception:
                    link.close()
                    link = None
            for attempt in range(3) if link is None else ():
                link = Link(path, driver)
                try:
                    self.version = link.begin()
                    if link.unchanged():
                        break
                    if attempt == 2:  # replaced while connecting, three times in a row
                        raise SourceUnavailableError(f"{path} keeps being replaced while it is opened")
                except BaseException:
                    link.close()
                    raise
                link.close()
        self.link = link
        self.conn = link.conn

    def _run(self, sql: str, params: Any = None, batch_size: int | None = None) -> Any:
        cur = self.conn.cursor()
        self._cursors.append(cur)  # an ADBC stream dies with its cursor: keep it until close()
        if batch_size and self.driver == "adbc":
            cur.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(batch_size)})
        cur.execute(sql, params or ())
        return cur

    def _stream(self, sql: str, batch_size: int) -> pa.RecordBatchReader:
        """A statement without parameters on a bare ADBC statement: the DB-API cursor around it costs a
        third of a tiny read. The statement and its stream live until :meth:`close`."""
        import adbc_driver_manager

        statement = adbc_driver_manager.AdbcStatement(self.conn.adbc_connection)
        self._streams.append((statement, None))
        statement.set_options(**{"adbc.sqlite.query.batch_rows": str(batch_size)})
        statement.set_sql_query(sql)
        handle, _ = statement.execute_query()
        reader = pa.RecordBatchReader._import_from_c(handle.address)
        self._streams[-1] = (statement, reader)
        return reader

    def names(self) -> list[str]:
        cur = self._run("SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                        "AND name NOT LIKE 'sqlite_%' ORDER BY name")
        return [r[0] for r in cur.fetchall()]

    def _pragma(self, name: str, parts: tuple[str, ...]) -> list[tuple]:
        """``PRAGMA schema.name(table)`` for a ``[schema.]table`` name."""
        if len(parts) > 2:
            raise BadSpecError("SQLite table names are [schema.]table")
        schema = parts[0] if len(parts) == 2 else "main"
        q = lambda s: '"' + s.replace('"', '""') + '"'  # noqa: E731
        with mapped_errors(QUERY_ERRORS, self.path):
            return self._run(f"PRAGMA {q(schema)}.{name}({q(parts[-1])})").fetchall()

    def declared(self, parts: tuple[str, ...]) -> list[tuple[str, str]]:
        rows = self._pragma("table_info", parts)
        if not rows:
            raise SourceNotFoundError(f"table {'.'.join(parts)} does not exist in {self.path}")
        return [(r[1], r[2]) for r in rows]

    def split_key(self, parts: tuple[str, ...], schema: pa.Schema) -> str | None:
        """The rowid of an ordinary table (under a name no column shadows); a ``WITHOUT ROWID`` table's
        single-column primary key; nothing for a view."""
        kind = self._pragma("table_list", parts)  # (schema, name, type, ncol, without_rowid, strict)
        if not kind or kind[0][2] != "table":
            return None
        if not kind[0][4]:
            return next((n for n in ("rowid", "_rowid_", "oid") if n not in schema.names), None)
        keys = [r[1] for r in self._pragma("table_info", parts) if r[5]]
        return keys[0] if len(keys) == 1 else None

    def table_schema(self, parts: tuple[str, ...]) -> pa.Schema:
        """The declared types as Arrow; kept on the connection while the main schema's version stays put
        (types learnt from the data are not kept: the data may change without a schema change)."""
        assert self.link is not None
        key = (self.version, parts)
        cacheable = len(parts) == 1 or parts[0] == "main"  # the schema cookie read is main's
        if cacheable and key in self.link.schemas:
            return self.link.schemas[key]
        declared = self.declared(parts)
        fields = [pa.field(name, declared_to_arrow(decl) or pa.null()) for name, decl in declared]
        if any(pa.types.is_null(f.type) for f in fields):  # undeclared types: learn them from the data
            q = ".".join('"' + p.replace('"', '""') + '"' for p in parts)
            fetched, _ = self.execute(f"SELECT * FROM {q} LIMIT 1000", None, 1000)
            fields = [f if not pa.types.is_null(f.type) else fetched.field(f.name) for f in fields]
            return pa.schema(fields)
        schema = pa.schema(fields)
        if cacheable:
            self.link.remember_schema(key, schema)
        return schema

    def query_schema(self, sql: str, params: Any) -> pa.Schema:
        # an empty SQLite result has no types: report names only, the data decides the types
        with mapped_errors(QUERY_ERRORS, self.path):
            cur = self._run(sql, params)
        return pa.schema([pa.field(d[0], pa.null()) for d in cur.description])

    def execute(self, sql: str, params: Any, batch_size: int,
                schema: pa.Schema | None = None) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        if self.driver == "adbc" and not params:
            with mapped_errors(QUERY_ERRORS, self.path):
                reader = self._stream(sql, batch_size)
            fetched = reader.schema
            batches: Iterator[pa.RecordBatch] = iter(reader)
        elif self.driver == "adbc":
            with mapped_errors(QUERY_ERRORS, self.path):
                cur = self._run(sql, params, batch_size)
            reader = cur.fetch_record_batch()
            fetched = reader.schema
            batches = iter(reader)
        else:
            with mapped_errors(QUERY_ERRORS, self.path):
                cur = self._run(sql, params, batch_size)
            fetched, batches = _columnar(cur, batch_size, schema)
        if schema is None:
            return fetched, batches
        target = pa.schema([
            f if not pa.types.is_null(f.type) else fetched.field(i) for i, f in enumerate(schema)
        ])
        return target, (cast_batch(b, target) for b in batches)

    def snapshot(self) -> Snapshot:
        """The file's state under this read's lock: the stats :meth:`Link.unchanged` just took, the header
        and WAL index read through the link's descriptors (opening and closing the file would drop the lock)."""
        assert self.link is not None and self.link.state is not None
        header = self.link.header()
        counter = int.from_bytes(header[24:28], "big") if len(header) >= 28 else None
        wal = header[18:20] == b"\x02\x02"  # the file format versions say WAL mode
        pins = {"wal_index": self.link.wal_index()} if wal else {}
        main, log = self.link.state  # (st_dev, st_ino, size, mtime_ns, ctime_ns) of the file and its -wal
        return stat_snapshot("sqlite.file", self.path, main[2], main[3], main[1],
                             None if log is None else (log[2], log[3]), change_counter=counter, **pins)

    def close(self) -> None:
        """End the read (rolled back: nothing was written); the connection waits for the next read."""
        link, self.link = getattr(self, "link", None), None
        if link is None:
            return
        self.conn = None
        if link.pid != os.getpid():  # a read inherited over fork: its connection is the parent's
            self._cursors.clear()
            self._streams.clear()
            KEPT.orphan(link)
            return
        for statement, reader in self._streams:
            for thing in (reader, statement):
                if thing is not None:
                    try:
                        thing.close()
                    except Exception:
                        pass
        self._streams.clear()
        for cur in self._cursors:
            try:
                cur.close()
            except Exception:
                pass
        self._cursors.clear()
        try:
            link.run("ROLLBACK")
        except Exception:
            link.close()
            return
        KEPT.give(link)


class _Replaced(Exception):
    """A kept connection's file was replaced at its path."""


def _columnar(cur: Any, batch_size: int, schema: pa.Schema | None) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """Build Arrow batches from a DB-API cursor (the fallback path).

    Rows are converted in one pass as a struct array (C code, not a Python loop
    per value); the raw types come from the declared schema, or from the first
    batch for columns whose type is unknown.
    """
    names = [d[0] for d in cur.description]
    first = cur.fetchmany(batch_size)
    raw = [_raw_type(schema.field(i).type) if schema is not None else None for i in range(len(names))]
    if any(t is None for t in raw):
        columns = list(zip(*first)) if first else [()] * len(names)
        raw = [t if t is not None else pa.array(columns[i]).type for i, t in enumerate(raw)]
    row_type = pa.struct([pa.field(n, t) for n, t in zip(names, raw)])
    batch_schema = pa.schema(list(row_type))

    def build(rows: list[tuple]) -> pa.RecordBatch:
        try:
            return pa.RecordBatch.from_struct_array(pa.array(rows, type=row_type))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            # a value of another storage class (SQLite is dynamically typed): convert per column
            columns = list(zip(*rows))
            arrays = [pa.array(columns[i], type=t) if not pa.types.is_null(t) else pa.array(columns[i])
                      for i, t in enumerate(raw)]
            return pa.RecordBatch.from_arrays([_coerce(a, t) for a, t in zip(arrays, raw)], schema=batch_schema)

    head = build(first)

    def rest() -> Iterator[pa.RecordBatch]:
        yield head
        while True:
            rows = cur.fetchmany(batch_size)
            if not rows:
                return
            yield build(rows)

    return batch_schema, rest()


def _coerce(arr: pa.Array, raw: pa.DataType) -> pa.Array:
    if arr.type == raw or pa.types.is_null(raw):
        return arr
    try:
        return arr.cast(raw)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise QueryError(f"a column holds values of mixed storage classes ({arr.type} where {raw} was expected)") from None


def _raw_type(target: pa.DataType | None) -> pa.DataType | None:
    """The type SQLite hands back for a declared Arrow type (cast afterwards)."""
    if target is None or pa.types.is_null(target):
        return None
    if pa.types.is_boolean(target):
        return pa.int64()
    if pa.types.is_decimal(target):
        return pa.float64()  # stored as REAL or INTEGER; cast to the declared decimal afterwards
    if pa.types.is_temporal(target):
        return pa.string()
    return target
