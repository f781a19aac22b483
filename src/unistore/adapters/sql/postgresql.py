"""PostgreSQL through the ADBC driver: binary COPY straight into Arrow.

Every read is one ``REPEATABLE READ, READ ONLY`` transaction: the snapshot
(``pg_current_snapshot()``, WAL LSN) is captured by the transaction's first
statement, so it is exactly the state the data query sees, and the server
itself refuses any write. Batches stream from ``COPY ... TO STDOUT (FORMAT
binary)`` as the caller consumes them (ADBC's reader holds about one batch).

A read can also be planned (:meth:`PostgreSQLSource.plan`, ``partitions=N``):
a planner transaction exports its snapshot (``pg_export_snapshot()``) and cuts
the table into heap block (``ctid``) ranges or integer key ranges; each split
imports that snapshot (``SET TRANSACTION SNAPSHOT``) on a connection of its
own, in this process or another, so the splits together are one consistent
read however busy the table is. The planner's transaction stays open until
the plan is released, because an exported snapshot lives only as long as it.

Credentials go to libpq in the connection URI and nowhere else: messages
are scrubbed of the password and name the source in redacted form.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import weakref
from collections.abc import Iterator
from typing import Any, NamedTuple
from urllib.parse import quote, urlencode

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.engine.interfaces import BindTyping

from ...adapter import Connection, ReadPlan, Scan, Split, check_max_splits
from ...errors import (AuthenticationError, BadSpecError, QueryError, ReadOnlyError, SnapshotUnavailableError,
                       SourceNotFoundError, SourceUnavailableError)
from ...errormap import ErrorTable, Rule, mapped_errors
from ...location import Location
from ...provenance import Dataset
from ...registry import require
from ...snapshot import Snapshot
from ...spec import ReadSpec
from .base import KeyRange, Session, SQLSource, key_ranges, planned_piece, record_query
from .pool import IdlePool
from .types import text_to_decimal

DEFAULT_PORT = 5432
DEFAULT_CONNECT_TIMEOUT = 10
#: how long a split waits for its lock on the table. The planner holds one until the plan is released, so a
#: schema change (ALTER TABLE, TRUNCATE) queued behind it would make a split wait for the change and the change
#: for the plan: the split gives up instead, and the change goes ahead once the read has failed
SPLIT_LOCK_TIMEOUT = "10s"
_SNAPSHOT_ID = re.compile(r"^[0-9A-Fa-f-]+$")
#: the type catalog's state: ADBC decodes with the catalog its database loaded when it opened, so a type
#: created since (an enum, a domain, an extension's type) would come back as opaque binary
CATALOG_STATE = "SELECT count(*) || ':' || max(oid::int8) FROM pg_catalog.pg_type"
_CATALOG_STATE = re.compile(r"^([0-9]+):([0-9]+)$")
#: the error a read's BEGIN raises on a connection whose catalog lacks a type the read's snapshot sees
STALE_CATALOG = "unistore: stale type catalog"
#: how many times a read starts again on a new database when the catalog keeps changing under it
CATALOG_RETRIES = 3


class _TextBind(sa.String):
    """A string bind rendered as ``$n::VARCHAR``.

    The ADBC driver sometimes declares an Arrow string parameter as ``refcursor``
    instead of ``text``. Both types share ``textrecv``, and which one it picks
    follows the order the server returned ``pg_type`` in. A parallel plan (cheap
    parallel settings on a role) shuffles that order, and then ``col = $1``
    failed with "operator does not exist: text = refcursor". An explicit cast
    reads either.
    """

    render_bind_cast = True


class _Compiler(pg_dialect.dialect.statement_compiler):  # type: ignore[misc,valid-type,name-defined]
    """Renders the bind casts of strings only (the other types keep the Arrow type ADBC binds)."""

    def render_bind_cast(self, type_: Any, dbapi_type: Any, sqltext: str) -> str:
        if isinstance(type_, sa.String):
            return super().render_bind_cast(type_, dbapi_type, sqltext)
        return sqltext


#: catalog and set_config statements take their string parameters this way too (see :class:`_TextBind`)
TEXT_PARAM = "::text"


class _Dialect(pg_dialect.dialect):  # type: ignore[misc,valid-type]
    """PostgreSQL SQL with libpq's ``$1`` placeholders; only string binds get a rendered cast.

    ADBC binds each parameter with its Arrow type (int64 -> bigint, Decimal ->
    numeric, aware datetime -> timestamptz), so ``$1::INTEGER`` casts, which
    would overflow for large integers, are not wanted. Strings are the exception
    (:class:`_TextBind`).
    """

    bind_typing = BindTyping.RENDER_CASTS
    colspecs = {**pg_dialect.dialect.colspecs, sa.String: _TextBind}
    statement_compiler = _Compiler

    def __init__(self, **kw: Any):
        super().__init__(paramstyle="numeric_dollar", **kw)


def _adbc() -> Any:
    return require("adbc_driver_postgresql.dbapi", extra="postgresql", what="reading PostgreSQL")


class PostgreSQLSource(SQLSource):
    """A PostgreSQL database; connections are reused across reads of one source."""

    system = "postgresql"
    default_schema = "public"
    sql_dialect = "postgres"

    def __init__(self, location: Location, *, connect_timeout: float | int | None = None,
                 connect_args: dict[str, Any] | None = None, driver: str | None = None,
                 **unsupported: Any):
        if unsupported:
            raise BadSpecError(f"option(s) {', '.join(sorted(unsupported))} do not apply to PostgreSQL")
        super().__init__(location, _Dialect())
        self._shared_snapshot: str | None = None
        if driver not in (None, "adbc"):
            raise BadSpecError("PostgreSQL is read through ADBC; driver must be 'adbc'")
        _adbc()
        self.host = location.netloc_host or "127.0.0.1"
        self.port = location.port or DEFAULT_PORT
        self.database = location.path.strip("/") or (location.username or "postgres")
        timeout = DEFAULT_CONNECT_TIMEOUT if connect_timeout is None else connect_timeout
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise BadSpecError(f"connect_timeout must be a positive number of seconds, got {timeout!r}")
        params = dict(location.query)
        params.update({k: str(v) for k, v in (connect_args or {}).items()})
        params["connect_timeout"] = str(max(1, int(round(timeout))))
        params.setdefault("application_name", "unistore")
        self._libpq_uri = _libpq_uri(location, self.host, self.port, self.database, params)
        self._database: _SharedDatabase | None = None
        self._catalogs: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()  # conn -> its catalog
        self._pool = IdlePool(self._connect)
        # fail early (wrong password, unknown database, server down): the connection is kept for the first read
        self._pool.release(self._connect())

    # -- connections -----------------------------------------------------------
    def _connect(self, catalog: str | None = None) -> Any:
        """A connection on the shared database; on a new database (which loads the type catalog afresh) if
        ``catalog`` names a catalog state the shared one does not decode, or there is none yet."""
        with mapped_errors(CONNECT_ERRORS, f"PostgreSQL at {self.host}:{self.port}", self.location.secrets,
                           uri=self.uri, database=self.database, user=self.location.username):
            shared = self._database
            if shared is not None and shared.open and catalog in (None, shared.catalog):
                conn = shared.connect()
                self._catalogs[conn] = shared.catalog
                return conn
            conn = _adbc().connect(self._libpq_uri, autocommit=True)
            with contextlib.closing(conn.cursor()) as cur:  # what the catalog just loaded holds, counted right after
                cur.execute(CATALOG_STATE)
                state = str(cur.fetchone()[0])
            self._catalogs[conn] = state
            database = _SharedDatabase.of(conn, state)
            if database is not None:  # later connections open on the newest catalog
                if shared is not None:
                    shared.close()
                self._database = database
            return conn

    def catalog_check(self, conn: Any) -> str:
        """A statement that fails with :data:`STALE_CATALOG` if the read's snapshot sees a type the catalog
        ``conn`` decodes with lacks: one with a higher oid, or more of them up to its highest (a snapshot
        older than the catalog sees fewer, which decode all the same). Sent with BEGIN: no round trip."""
        match = _CATALOG_STATE.match(self._catalogs.get(conn) or "")
        stale = "true"
        if match:
            count, top = match.groups()
            stale = (f"EXISTS (SELECT 1 FROM pg_catalog.pg_type WHERE oid::int8 > {top}) OR "
                     f"(SELECT count(*) FROM pg_catalog.pg_type WHERE oid::int8 <= {top}) > {count}")
        return f"DO $$BEGIN IF {stale} THEN RAISE EXCEPTION '{STALE_CATALOG}'; END IF; END$$"

    def close(self) -> None:
        self._pool.close()
        if self._database is not None:
            self._database.close()

    def session(self, snapshot_id: str | None = None) -> "PostgreSQLSession":
        return PostgreSQLSession(self, snapshot_id or self._shared_snapshot)

    @contextlib.contextmanager
    def shared_snapshot(self) -> Iterator[str]:
        """Every read of this source started inside the block sees one state: a snapshot exported by a
        transaction held open until the block ends (cross-silo SQL reads several tables this way)."""
        with self.session() as holder:
            self._shared_snapshot = holder.export_snapshot()
            try:
                yield self._shared_snapshot
            finally:
                self._shared_snapshot = None

    # -- naming ---------------------------------------------------------------------
    def dataset(self, parts: tuple[str, ...] | None) -> Dataset:
        """OpenLineage naming: namespace ``postgres://host:port``, name ``database.schema.table``
        (a one-part name is in ``public``, which is kept); a query names the database."""
        namespace = f"postgres://{self.host}:{self.port}"
        if parts is None:
            name = self.database
        else:
            full = parts if len(parts) == 3 else (self.database, *(parts if len(parts) == 2 else ("public", *parts)))
            name = ".".join(full)
        return Dataset(system="postgresql", uri=self.uri, namespace=namespace, name=name)

    def tables(self) -> list[str]:
        """Tables, views, materialized views and foreign tables; ``schema.name`` outside ``public``."""
        with self.session() as s:
            rows = s.rows(
                "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c "
                "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p') "
                "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' "
                "AND has_table_privilege(c.oid, 'SELECT') ORDER BY 1, 2")
        return [name if schema == "public" else f"{schema}.{name}" for schema, name in rows]

    def schemas(self) -> list[str]:
        """Schemas the user can see (system schemas left out)."""
        with self.session() as s:
            rows = s.rows("SELECT nspname FROM pg_catalog.pg_namespace WHERE nspname NOT IN "
                          "('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg_toast%' "
                          "AND nspname NOT LIKE 'pg_temp%' ORDER BY 1")
        return [r[0] for r in rows]

    # -- the read ---------------------------------------------------------------------
    def check(self, spec: ReadSpec) -> None:
        """Validate the read options without any catalog query."""
        super().check(spec)
        if spec.options.get("partition_on") is not None and spec.options.get("partitions") is None:
            raise BadSpecError("partition_on= needs partitions=N")

    def plan(self, spec: ReadSpec, max_splits: int) -> ReadPlan:
        """Cut a table read into at most ``max_splits`` ranges that all read one exported snapshot.

        Heap block (``ctid``) ranges where the server scans TID ranges (14+:
        tables and materialized views) and the table has a block per split;
        else ranges of ``partition_on=`` or of the single-column integer
        primary key. A query, a read with a limit, one split, or a table too
        small to cut is one split, read like a plain read. The planner's
        transaction stays open until the plan is released: the exported
        snapshot lives only as long as it, and its lock on the table keeps
        ``TRUNCATE`` (not MVCC-safe) from emptying the table under the splits.
        """
        check_max_splits(max_splits)
        self.check(spec)
        if spec.table is None or spec.limit is not None or max_splits == 1:
            return Connection.plan(self, spec, max_splits)  # one split (not SQLSource's key ranges)
        parts = self.table_parts(spec.table)
        session = self.session()
        try:
            snapshot = session.snapshot()  # the first statement: the transaction's snapshot is taken here
            # its lock on the table, held until release, keeps TRUNCATE & co. from emptying it under the splits
            table_schema = session.table_schema(parts)
            spec.check_columns(table_schema, f"table {'.'.join(parts)}")
            relation = session.relation(parts)
            on, bounds = self._cut_on(session, parts, spec, relation, max_splits)
            ranges = key_ranges(*bounds, max_splits)
            if len(ranges) > 1:
                return self._planned(spec, parts, snapshot, session, on, bounds, ranges, relation, table_schema)
        except BaseException:
            session.close()
            raise
        session.close()
        return Connection.plan(self, spec, max_splits)

    def _cut_on(self, session: "PostgreSQLSession", parts: tuple[str, ...], spec: ReadSpec, relation: "_Relation",
                max_splits: int) -> tuple[str, tuple[Any, Any]]:
        """What to cut on (``"ctid"``: heap blocks, or a key column) and the first and last value to cut."""
        named = spec.options.get("partition_on")
        if named is None and relation.blocks is not None and relation.blocks >= max_splits:
            return "ctid", (0, relation.blocks - 1)
        key = self._split_key(session, parts, named)  # a small table or a view: its key cuts finer
        if key is not None:
            return key, self._key_bounds(session, parts, key)
        if relation.blocks is not None:
            return "ctid", (0, max(relation.blocks - 1, 0))
        raise BadSpecError(f"{'.'.join(parts)} has no single-column integer primary key (and is not a plain table "
                           "on PostgreSQL 14+); name the column to split on with partition_on=")

    def _planned(self, spec: ReadSpec, parts: tuple[str, ...], snapshot: Snapshot, session: "PostgreSQLSession",
                 on: str, bounds: tuple[Any, Any], ranges: list[tuple[int | None, int | None]],
                 relation: "_Relation", table_schema: pa.Schema) -> ReadPlan:
        """The plan of ``ranges``: the planner's snapshot exported, ``session`` kept open until release."""
        snapshot_id = session.export_snapshot()
        self._pool.keep(len(ranges) + 1)  # the planner's connection and the splits': kept for the next plan
        first, last = int(bounds[0]), int(bounds[1]) + 1
        splits = []
        for i, (start, stop) in enumerate(ranges):
            share = ((last if stop is None else stop) - (first if start is None else start)) / (last - first)
            piece = _Exported(snapshot_id, KeyRange(on, start, stop, nulls=i == 0 and on != "ctid", pinned=snapshot),
                              table_schema)
            splits.append(Split(index=i, payload=piece, covers={on: [start, stop]},
                                rows=None if relation.rows is None else round(relation.rows * share),
                                bytes=None if relation.bytes is None else round(relation.bytes * share)))
        stmt = self._table_select(parts, spec)
        sql, params = self.compile(sa.union_all(*(stmt.where(s.payload.condition()) for s in splits)))
        return ReadPlan(
            splits=tuple(splits), snapshot=snapshot, consistent=True,
            method="ctid ranges" if on == "ctid" else "key ranges",
            consistency="one exported snapshot: every split imports the planner's transaction snapshot "
                        "(pg_export_snapshot), so together they read exactly the state the plan recorded",
            query=record_query(sql, params, spec), release=session.close)

    def scan_split(self, spec: ReadSpec, split: Split) -> Scan:
        """Read one range of :meth:`plan` under the plan's exported snapshot, on a connection of its own.

        Runs in any thread or process with a source for the same database, as
        long as the plan is not released; after that the snapshot is gone and
        this raises :class:`~unistore.errors.SnapshotUnavailableError`.
        """
        piece = planned_piece(split, _Exported, spec, "a range of a PostgreSQL table read")
        if piece is None:  # the one split of a read planned in one piece
            return self.scan(spec)
        parts = self.table_parts(spec.table)
        table_schema = piece.schema  # the planner's: no catalog query before the data query
        spec.check_columns(table_schema, f"table {'.'.join(parts)}")
        wanted = pa.schema([table_schema.field(c) for c in spec.columns]) if spec.columns else table_schema
        session = self.session(piece.snapshot_id)
        try:
            sql, params = self.compile(self._table_select(parts, spec).where(piece.condition()))
            schema, batches = session.execute(sql, params, spec.batch_size, wanted)
        except BaseException:
            session.close()
            raise
        return Scan(schema=schema, batches=batches, snapshot=piece.range.pinned, dataset=self.dataset(parts),
                    query=record_query(sql, params, spec), close=session.close)


class _SharedDatabase:
    """The ADBC database of a source's first connection, on which its later connections are opened.

    Opening an ADBC database loads the server's type catalog (two catalog
    queries, about 100 ms on a loaded two-core machine); a connection opened on
    an existing database reuses it and costs little more than the libpq
    handshake. So the splits of a partitioned read, and reads running side by
    side, do not each pay for the catalog. A read checks, at its own snapshot,
    that the catalog it sees is the one its connection's database loaded
    (``catalog``); if not, it starts again on a new database, which later
    connections then share.
    """

    def __init__(self, holder: Any, database: Any, catalog: str):
        self._holder, self._database, self.catalog = holder, database, catalog

    @classmethod
    def of(cls, conn: Any, catalog: str) -> "_SharedDatabase | None":
        """The database ``conn`` holds, whose catalog is ``catalog``, kept open until :meth:`close` (None:
        this ADBC cannot share one, and every connection opens its own database)."""
        holder = getattr(conn, "_db", None)  # adbc_driver_manager's reference-counted holder (1.x)
        if not (callable(getattr(holder, "clone", None)) and callable(getattr(holder, "close", None))):
            return None
        return cls(holder.clone(), conn.adbc_database, catalog)

    @property
    def open(self) -> bool:
        return self._holder is not None

    def connect(self) -> Any:
        """A new connection (autocommit: reads run their own transactions) on the shared database."""
        import adbc_driver_manager
        import adbc_driver_manager.dbapi

        conn = adbc_driver_manager.AdbcConnection(self._database)
        return adbc_driver_manager.dbapi.Connection(self._holder, conn, autocommit=True)

    def close(self) -> None:
        """Give up the source's hold: the database closes with the last connection still open on it."""
        holder, self._holder = self._holder, None
        if holder is not None:
            with contextlib.suppress(Exception):
                holder.close()


class _StaleCatalog(Exception):
    """A read's connection decodes with a type catalog older than the read's snapshot."""


def _libpq_uri(location: Location, host: str, port: int, database: str, params: dict[str, str]) -> str:
    user = quote(location.username, safe="") if location.username else ""
    password = quote(location.password, safe="") if location.password else ""
    userinfo = user + (f":{password}" if password else "") + ("@" if user else "")
    hostpart = f"[{host}]" if ":" in host else host
    return f"postgresql://{userinfo}{hostpart}:{port}/{quote(database, safe='')}?{urlencode(params)}"


def _first_line(text: str) -> str:
    text = text.replace("IO: [libpq] ", "").strip()
    return " ".join(text.split("\n")[:2]).strip()


_DRIVER = ("adbc_driver_manager.Error", "pyarrow.lib.ArrowException")  # a stream's errors come through Arrow
_AUTH_FAILED = ("password authentication failed", "no password supplied", "authentication failed")

#: opening a connection (where: "PostgreSQL at host:port")
CONNECT_ERRORS = ErrorTable(
    Rule(AuthenticationError, "{where} refused the credentials of user {user!r}", classes=_DRIVER,
         when=lambda text: any(s in text for s in _AUTH_FAILED)),
    Rule(SourceNotFoundError, "database {database!r} does not exist on {where}", classes=_DRIVER,
         when=lambda text: re.search(r'database ".*" does not exist', text) is not None),
    Rule(AuthenticationError, "{where}: role {user!r} does not exist", classes=_DRIVER,
         when=lambda text: re.search(r'role ".*" does not exist', text) is not None),
    Rule(SourceUnavailableError, "cannot connect to {where} ({uri}): {first_line}", classes=_DRIVER),
    brief=_first_line,
)
#: running a statement and streaming its rows (where: the source's URI)
QUERY_ERRORS = ErrorTable(
    Rule(ReadOnlyError, "PostgreSQL refused a write in the read-only transaction: {first_line}",
         classes=_DRIVER, codes=("25006",)),
    Rule(ReadOnlyError, "PostgreSQL refused a write in the read-only transaction: {first_line}",
         classes=_DRIVER, when=lambda text: "read-only transaction" in text),
    Rule(SourceUnavailableError, "lost the connection to {where}: {first_line}", classes=_DRIVER, codes=("08", "57P")),
    Rule(SourceUnavailableError, "lost the connection to {where}: {first_line}", classes=_DRIVER,
         when=lambda text: "server closed the connection" in text or "terminating connection" in text),
    # a split importing the snapshot of a plan whose transaction has ended (SQLSTATE 22023 is broader)
    Rule(SnapshotUnavailableError, "{where}: the read plan's exported snapshot no longer exists (the plan was "
         "released or its transaction ended); plan the read again: {first_line}", classes=_DRIVER,
         when=lambda text: "invalid snapshot identifier" in text),
    Rule(SourceUnavailableError, "{where}: PostgreSQL gave up waiting for a lock on the table ({first_line}): a "
         "schema change (ALTER TABLE, TRUNCATE, VACUUM FULL) holds it or waits for it; read again once it is done",
         classes=_DRIVER, codes=("55P03",)),
    Rule(QueryError, "PostgreSQL rejected the query: {first_line}", classes=_DRIVER),
    code=lambda exc: getattr(exc, "sqlstate", None),
    brief=_first_line,
)


# -- one read-only transaction -----------------------------------------------------

class PostgreSQLSession(Session):
    """One connection in one ``REPEATABLE READ, READ ONLY`` transaction."""

    def __init__(self, source: PostgreSQLSource, snapshot_id: str | None = None):
        self.source = source
        self._cursors: list[Any] = []
        self._streams: list[pa.RecordBatchReader] = []  # data streams not yet read to their end
        self._resolved: dict[tuple[str, ...], tuple[str, str, int]] = {}  # names this transaction looked up
        if snapshot_id is not None and not _SNAPSHOT_ID.match(snapshot_id):
            raise BadSpecError(f"not a PostgreSQL snapshot id: {snapshot_id!r}")

        statements = ["BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"]
        if snapshot_id is not None:
            statements += [f"SET TRANSACTION SNAPSHOT '{snapshot_id}'", f"SET LOCAL lock_timeout = '{SPLIT_LOCK_TIMEOUT}'"]
        # a synchronized scan may start mid-table: without it, rows come back in heap order every time
        statements.append("SET LOCAL synchronize_seqscans = off")
        start = "; ".join(statements)

        def begin(conn: Any) -> None:
            self.conn = conn
            self._close_cursors()
            try:
                self._script(f"{start}; {source.catalog_check(conn)}")
            except QueryError as exc:
                if STALE_CATALOG not in str(exc):
                    raise
                raise _StaleCatalog from None

        try:
            try:
                self.conn = source._pool.begin(begin)  # a pooled connection found dead is replaced once
            except _StaleCatalog:  # discarded by the pool: start again on a database that loads the catalog anew
                self.conn = self._begin_fresh(begin)
        except BaseException:
            self._close_cursors()
            self.conn = None
            raise

    def _begin_fresh(self, begin: Any) -> Any:
        """A connection on a new database on which ``begin`` found the catalog current (a catalog that keeps
        changing between the load and the read's snapshot is retried a few times, then refused)."""
        for _ in range(CATALOG_RETRIES):
            conn = self.source._connect(catalog="")  # "" matches no database: a new one
            try:
                begin(conn)
                return conn
            except _StaleCatalog:
                self.source._pool.discard(conn)
            except BaseException:
                self.source._pool.discard(conn)
                raise
        raise QueryError(f"{self.source.uri}: the type catalog kept changing while the read started; read again")

    def _run(self, sql: str, params: Any = None, batch_bytes: int | None = None) -> Any:
        cur = self.conn.cursor()
        self._cursors.append(cur)  # an ADBC stream dies with its cursor: keep it until close()
        with self._mapped():
            if batch_bytes:
                cur.adbc_statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(batch_bytes)})
            cur.execute(sql, parameters=params or None)
        return cur

    def _script(self, sql: str) -> None:
        """Statements without results, sent together in one round trip (the simple query protocol; a
        statement through :meth:`_run` takes two or three: prepare, describe, execute)."""
        cur = self.conn.cursor()
        self._cursors.append(cur)
        with self._mapped():
            cur.executescript(sql)

    def _mapped(self) -> mapped_errors:
        """Driver errors of this session's statements and streams as unistore errors."""
        return mapped_errors(QUERY_ERRORS, self.source.uri, self.source.location.secrets)

    def rows(self, sql: str, params: Any = None) -> list[tuple]:
        return self._run(sql, params).fetchall()

    def _close_cursors(self) -> None:
        for cur in self._cursors:
            with contextlib.suppress(Exception):
                cur.close()
        self._cursors.clear()

    # -- catalog --------------------------------------------------------------------
    def resolve(self, parts: tuple[str, ...]) -> tuple[str, str, int]:
        """(schema, name, oid) of a relation; one-part names follow the search_path. Looked up once per
        transaction (a planner asks for the schema, the size and the key of one table)."""
        if parts not in self._resolved:
            self._resolved[parts] = self._resolve(parts)
        return self._resolved[parts]

    def _resolve(self, parts: tuple[str, ...]) -> tuple[str, str, int]:
        if len(parts) == 3:
            if parts[0] != self.source.database:
                raise SourceNotFoundError(
                    f"table {'.'.join(parts)}: this source reads database {self.source.database!r}")
            parts = parts[1:]
        quoted = ".".join('"' + p.replace('"', '""') + '"' for p in parts)
        found = self.rows(  # a string parameter: cast (see _TextBind)
            "SELECT n.nspname, c.relname, c.oid::int8 FROM pg_catalog.pg_class c "
            f"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1{TEXT_PARAM})",
            [quoted])
        if not found:
            raise SourceNotFoundError(f"table {'.'.join(parts)} does not exist in {self.source.uri}")
        return found[0]

    def table_schema(self, parts: tuple[str, ...]) -> pa.Schema:
        schema, name, _ = self.resolve(parts)
        quoted = f'"{schema.replace(chr(34), chr(34) * 2)}"."{name.replace(chr(34), chr(34) * 2)}"'
        reader = self._run(f"SELECT * FROM {quoted} LIMIT 0").fetch_record_batch()
        return arrow_schema(reader.schema)

    def relation(self, parts: tuple[str, ...]) -> "_Relation":
        """Heap blocks (where TID ranges can cut the relation) and size estimates, for a plan."""
        _, _, oid = self.resolve(parts)
        relkind, blocks, block_size, reltuples, relpages, version = self.rows(
            "SELECT c.relkind::text, pg_relation_size(c.oid) / current_setting('block_size')::int8, "
            "current_setting('block_size')::int8, c.reltuples::float8, c.relpages::int8, "
            "current_setting('server_version_num')::int FROM pg_catalog.pg_class c WHERE c.oid = $1::int8::oid",
            [oid])[0]
        heap = relkind in ("r", "m")
        # rows per page as of the last VACUUM / ANALYZE, times the pages now (the planner's own estimate)
        rows = reltuples / relpages * blocks if heap and reltuples >= 0 and relpages > 0 else None
        return _Relation(blocks=int(blocks) if heap and version >= 140000 else None,
                         rows=rows, bytes=int(blocks * block_size) if heap else None)

    def split_key(self, parts: tuple[str, ...], schema: pa.Schema) -> str | None:
        """The table's single-column primary key (the planner checks that it is an integer)."""
        _, _, oid = self.resolve(parts)
        rows = self.rows(
            "SELECT a.attname::text FROM pg_catalog.pg_index i JOIN pg_catalog.pg_attribute a "
            "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
            "WHERE i.indrelid = $1::int8::oid AND i.indisprimary", [oid])
        return rows[0][0] if len(rows) == 1 else None

    def export_snapshot(self) -> str:
        """This transaction's snapshot, for others to import while it stays open."""
        return self.rows("SELECT pg_export_snapshot()")[0][0]

    # -- the read -------------------------------------------------------------------------
    def execute(self, sql: str, params: Any, batch_size: int,
                schema: pa.Schema | None = None) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        sql, params = self._params_as_settings(sql, params)
        reader = self._run(sql, params, _batch_bytes(batch_size, schema)).fetch_record_batch()
        target = arrow_schema(reader.schema)
        self._streams.append(reader)
        return target, _converted(reader, target, self._mapped, self._streams.remove)

    def _params_as_settings(self, sql: str, params: Any) -> tuple[str, Any]:
        """Keep a parameterised read streaming.

        ADBC streams only what it can read with binary ``COPY``, and ``COPY``
        takes no parameters: a statement with ``$n`` would be fetched whole
        into libpq's memory first. So each value is bound (never formatted into
        SQL) into a transaction-local setting with ``set_config($1, $2, true)``,
        and ``$n`` becomes ``(SELECT current_setting('unistore.pn')::type)``.
        Values of types without a text form here keep ordinary binding.

        The scalar subquery is evaluated once per statement (an InitPlan, usable
        as an index key like a literal); a bare ``current_setting()`` is stable,
        not constant, so a scan evaluated it for every row it filtered: twice
        the server time of a literal on a 1.5 M-row sequential scan.
        """
        if not params:
            return sql, params
        markers = _PLACEHOLDER.findall(sql)
        typed = [_setting_type(v) for v in params]
        if "$$" in sql or sorted({int(m) for m in markers}) != list(range(1, len(params) + 1)) or None in typed:
            return sql, params
        names = [f"unistore.p{i}" for i in range(1, len(params) + 1)]
        calls = ", ".join(f"set_config(${2 * i + 1}{TEXT_PARAM}, ${2 * i + 2}{TEXT_PARAM}, true)"
                          for i in range(len(params)))
        flat: list[Any] = []
        for name, value in zip(names, params):
            flat += [name, _setting_text(value)]
        self._run(f"SELECT {calls}", flat).fetchall()
        rewritten = _PLACEHOLDER.sub(
            lambda m: f"(SELECT current_setting('{names[int(m.group(1)) - 1]}')::{typed[int(m.group(1)) - 1]})",
            sql)
        return rewritten, None

    def query_schema(self, sql: str, params: Any) -> pa.Schema:
        return arrow_schema(self._run(sql, params).fetch_record_batch().schema)

    def snapshot(self) -> Snapshot:
        xid, lsn, database, in_recovery = self.rows(
            "SELECT pg_current_snapshot()::text, "
            "(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END)::text, "
            "current_database(), pg_is_in_recovery()")[0]
        return Snapshot(kind="postgresql.xid_snapshot", value=xid, consistent=True, replayable=False,
                        pins={"wal_lsn": lsn, "database": database, "isolation": "repeatable read",
                              "standby": bool(in_recovery)})

    def close(self, reuse: bool = True) -> None:
        """End the transaction and give the connection back, or discard it.

        A stream closed before its end is cancelled on the server (closing it
        as is would read the rest of the COPY first), and its connection is
        closed, never pooled: a late cancel could hit the next read on it.
        """
        conn = getattr(self, "conn", None)
        if conn is None:
            return
        self.conn = None
        if self._streams:
            reuse = False
            with contextlib.suppress(Exception):
                conn.adbc_cancel()
            for stream in self._streams:
                with contextlib.suppress(Exception):
                    stream.close()
            self._streams.clear()
        self._close_cursors()
        self.source._pool.give_back(conn, _reset, reuse)


def _reset(conn: Any) -> None:
    """End a read's transaction on a pooled connection (one round trip)."""
    cur = conn.cursor()
    try:
        # no session lock outlives a read on a pooled connection (the classifier refuses them; a
        # function the user calls might still take one)
        cur.executescript("ROLLBACK; SELECT pg_advisory_unlock_all()")
    finally:
        cur.close()


def _batch_bytes(batch_size: int, schema: pa.Schema | None) -> int:
    """ADBC's batch size hint (bytes) for about ``batch_size`` rows: the memory one batch takes."""
    width = 0
    for f in schema or []:
        try:
            width += max(1, f.type.bit_width // 8)
        except ValueError:  # variable width: a guess
            width += 32
    width = width or 64
    return int(min(16 * 2**20, max(2**20, batch_size * width)))


# -- parameters as settings -----------------------------------------------------------

_PLACEHOLDER = re.compile(r"\$(\d+)\b")


def _setting_type(value: Any) -> str | None:
    """The PostgreSQL type a bound value is read back as (None: keep ordinary binding)."""
    import datetime as dt
    import decimal
    import uuid

    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "bigint" if -2**63 <= value < 2**63 else "numeric"
    if isinstance(value, float):
        return "double precision"
    if isinstance(value, decimal.Decimal):
        return "numeric"
    if isinstance(value, str):
        return "text" if "\x00" not in value else None
    if isinstance(value, dt.datetime):
        return "timestamptz" if value.tzinfo is not None else "timestamp"
    if isinstance(value, dt.date):
        return "date"
    if isinstance(value, dt.time):
        return "time" if value.tzinfo is None else None
    if isinstance(value, (bytes, bytearray)):
        return "bytea"
    if isinstance(value, uuid.UUID):
        return "uuid"
    return None


def _setting_text(value: Any) -> str:
    import datetime as dt

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value).replace("inf", "Infinity").replace("nan", "NaN")
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return "\\x" + bytes(value).hex()
    return str(value)


# -- types --------------------------------------------------------------------------

def arrow_schema(fetched: pa.Schema) -> pa.Schema:
    """The schema unistore returns for what the driver sends: driver metadata dropped,
    ``numeric(p,s)`` as ``decimal128(p,s)`` and other opaque types as their storage type."""
    return pa.schema([pa.field(f.name, _arrow_type(f)) for f in fetched])  # nullability: as other stores, always nullable


def _arrow_type(f: pa.Field) -> pa.DataType:
    typ = f.type
    if isinstance(typ, pa.BaseExtensionType) and typ.extension_name == "arrow.opaque":
        meta = f.metadata or {}
        if meta.get(b"POSTGRESQL:type") == b"numeric":
            typmod = int(meta.get(b"POSTGRESQL:typmod", b"-1"))
            if typmod >= 4:
                precision, scale = ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF
                if 0 <= scale <= precision:
                    return pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)
        return typ.storage_type
    return typ


def _converted(reader: pa.RecordBatchReader, target: pa.Schema, mapped: Any,
               ended: Any) -> Iterator[pa.RecordBatch]:
    """The driver's batches as ``target``; ``ended(reader)`` once the stream is read to its end."""
    fetched = reader.schema
    plain = all(f.type == t.type for f, t in zip(fetched, target))
    try:
        with mapped():
            for batch in reader:
                if plain:
                    yield pa.RecordBatch.from_arrays(batch.columns, schema=target)
                else:
                    # The driver's batch is released as a whole: holding any of its columns would keep
                    # the replaced numeric text alive too. So kept columns are copied and the batch
                    # freed, into the heap the driver uses (malloc), so the next batches reuse that memory.
                    yield pa.RecordBatch.from_arrays(
                        [_cast(c, t.type, t.name) if c.type != t.type else pa.concat_arrays([c], memory_pool=_HEAP)
                         for c, t in zip(batch.columns, target)], schema=target)
            ended(reader)
    finally:
        with contextlib.suppress(Exception):
            reader.close()


_HEAP = pa.system_memory_pool()


def _cast(arr: pa.Array, target: pa.DataType, name: str) -> pa.Array:
    if arr.type == target:
        return arr
    storage = arr.storage if isinstance(arr, pa.ExtensionArray) else arr
    if storage.type == target:
        return storage
    try:
        if pa.types.is_decimal(target):
            return text_to_decimal(storage, target, memory_pool=_HEAP)
        return pc.cast(storage, target, memory_pool=_HEAP)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise QueryError(f"column {name!r} holds values that are not {target} (NaN or infinity in a numeric?): {exc}") from None


# -- read plans ------------------------------------------------------------------------------

class _Relation(NamedTuple):
    """What a plan needs to know of the relation it cuts."""

    blocks: int | None  # heap blocks, where TID range scans can cut it (tables, materialized views; 14+)
    rows: float | None  # estimated rows (catalog statistics), None when unknown
    bytes: int | None   # heap bytes


@dataclasses.dataclass(frozen=True)
class _Exported:
    """A split's payload: a range (``key`` ``"ctid"``: heap blocks) read under the exported snapshot
    ``snapshot_id``, the state ``range.pinned`` records. Plain values, so a split runs in another process.
    ``schema`` is the table's as the planner found it (columns checked): the planner's lock keeps it so
    while the plan lives, and a split that has it sends no catalog queries before its data query."""

    snapshot_id: str
    range: KeyRange
    schema: pa.Schema

    def condition(self) -> Any:
        """The range as a WHERE condition; block numbers are integers of the plan, written inline."""
        if self.range.key != "ctid":
            return self.range.condition()
        bounds = [sa.text(f"ctid {op} '({int(block)},0)'::tid")
                  for op, block in ((">=", self.range.start), ("<", self.range.stop)) if block is not None]
        return sa.and_(*bounds) if bounds else sa.true()
