"""What every SQL source shares: naming, query building, read-only checks.

A dialect module supplies a :class:`Session` (one connection inside one
read-only transaction, so the schema probe, the snapshot capture and the data
query all see the same state) and names its datasets. Query text is built
with SQLAlchemy Core: identifiers always quoted, values always bound.

:meth:`SQLSource.plan` cuts a table read into ranges of an integer key
(``partition_on=``, else the dialect's row id or single-column integer primary
key), each read by :meth:`SQLSource.scan_split` in a transaction of its own.
How far those transactions see one state is the dialect's to say
(:attr:`SQLSource.pins_splits`, :attr:`SQLSource.split_consistency`).
"""

from __future__ import annotations

import abc
import dataclasses
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.sql import quoted_name

from ...adapter import Capabilities, Connection, ReadPlan, Scan, Split, check_max_splits
from ...errors import BadSpecError, SnapshotUnavailableError, SourceNotFoundError
from ...location import Location
from ...provenance import Dataset, Query
from ...snapshot import Snapshot
from ...spec import ReadSpec
from ...sqlguard import classify

SUBQUERY_ALIAS = "unistore_q"
#: quoted string literals, quoted identifiers and dollar-quoted bodies (where a colon is not a parameter)
QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`|\$\$.*?\$\$", re.DOTALL)


class Session(abc.ABC):
    """One connection in one read-only transaction, for one read."""

    @abc.abstractmethod
    def table_schema(self, parts: tuple[str, ...]) -> pa.Schema:
        """Arrow schema of a table or view; raise :class:`SourceNotFoundError` if it is missing."""

    @abc.abstractmethod
    def execute(self, sql: str, params: Any, batch_size: int,
                schema: pa.Schema | None = None) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        """Run ``sql``; ``schema`` (when known) gives the Arrow types to return."""

    @abc.abstractmethod
    def snapshot(self) -> Snapshot:
        """The state this transaction sees, captured inside it."""

    @abc.abstractmethod
    def close(self) -> None:
        """End the transaction (rolled back: nothing was written) and release the connection."""

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def query_schema(self, sql: str, params: Any) -> pa.Schema:
        """The result schema of ``sql`` (the statement wraps it with ``LIMIT 0``)."""
        schema, batches = self.execute(sql, params, 1)
        for _ in batches:
            pass
        return schema

    def first_row(self, sql: str, params: Any) -> tuple:
        """The first row of ``sql``'s result (the rest is read and dropped)."""
        schema, batches = self.execute(sql, params, 1)
        table = pa.Table.from_batches(list(batches), schema=schema)
        return tuple(column[0].as_py() for column in table.columns)

    def split_key(self, parts: tuple[str, ...], schema: pa.Schema) -> str | None:
        """What a table read is cut on when ``partition_on=`` names nothing: the table's row id
        (SQLite, DuckDB) or its single-column primary key (checked to be an integer by the caller);
        None when there is neither, and the read stays in one piece."""
        return None

    def row_estimate(self, parts: tuple[str, ...]) -> int | None:
        """The table's row count as the catalog estimates it, when that is cheap (None: unknown)."""
        return None


@dataclass(frozen=True)
class KeyRange:
    """One split of a table read (its payload): the rows whose ``key`` lies in ``[start, stop)``.

    ``None`` leaves a side open, so the first and last ranges also take keys
    outside the bounds the planner saw; ``nulls`` adds the rows whose key is
    NULL (the first range). ``pinned`` is the plan's snapshot the split must
    find when it starts (None: it reads the state it finds).
    """

    key: str
    start: int | None
    stop: int | None
    nulls: bool = False
    pinned: Snapshot | None = None

    def condition(self) -> Any:
        """The range as a WHERE condition. The bounds are integers the planner computed, not caller
        values, so they are written inline: a statement without parameters keeps MariaDB's
        ConnectorX transport."""
        key = sa.column(quoted_name(self.key, quote=True))
        bounds = []
        if self.start is not None:
            bounds.append(key >= sa.literal_column(str(int(self.start))))
        if self.stop is not None:
            bounds.append(key < sa.literal_column(str(int(self.stop))))
        if not bounds:
            return sa.true()
        return sa.or_(sa.and_(*bounds), key.is_(None)) if self.nulls else sa.and_(*bounds)


@dataclass(frozen=True)
class Compiled:
    """A statement compiled already: its SQL text and its parameters (bound values, already converted)."""

    sql: str
    params: tuple[Any, ...] | dict[str, Any]


#: compiled table SELECTs a source keeps
MAX_COMPILED = 128


def key_ranges(low: Any, high: Any, n: int) -> list[tuple[int | None, int | None]]:
    """At most ``n`` contiguous ranges ``[start, stop)`` over the keys ``low..high`` (inclusive), as even as
    integers allow; the first starts and the last stops open. No bounds (no rows): one open range."""
    if low is None or high is None:
        return [(None, None)]
    low, high = int(low), int(high)
    n = max(1, min(n, high - low + 1))
    step = (high - low + 1) / n
    edges: list[int | None] = [None, *(low + round(step * i) for i in range(1, n)), None]
    return [(edges[i], edges[i + 1]) for i in range(n)]


class SQLSource(Connection):
    """Tables, views and queries of one database."""

    capabilities: ClassVar[Capabilities] = Capabilities(queries=True, params=True, listing=True, write_protection=True,
                                                        splits=True)
    #: ``partition_on="col"``: the integer column a planned table read is cut on
    read_options: ClassVar[frozenset[str]] = frozenset({"partition_on"})
    #: ``db.system.name`` of the semantic conventions
    system: ClassVar[str] = "sql"
    #: schema a one-part table name lives in
    default_schema: ClassVar[str | None] = None
    #: the dialect :func:`unistore.sqlguard.classify` parses ``query=`` text in
    sql_dialect: ClassVar[str] = "generic"
    #: whether a plan pins one state: the planner's transaction stays open until the plan is released, and
    #: every split checks that it finds the planner's snapshot (the stores whose snapshot names the state exactly)
    pins_splits: ClassVar[bool] = False
    #: what the splits of a plan see, in one sentence for the record and the docs
    split_consistency: ClassVar[str] = ("each split reads in a read-only transaction of its own, begun when the "
                                        "split starts: a write committed meanwhile may be seen by some splits only")

    def __init__(self, location: Location, dialect: sa.engine.Dialect):
        super().__init__(location)
        self.dialect = dialect
        self._selects: dict[tuple[Any, ...], Compiled] = {}

    # -- what dialects implement -------------------------------------------
    @abc.abstractmethod
    def session(self) -> Session:
        """Open a connection and start a read-only transaction."""

    @abc.abstractmethod
    def dataset(self, parts: tuple[str, ...] | None) -> Dataset:
        """The OpenLineage-style name of a table (or of the database, for a query)."""

    # -- naming ------------------------------------------------------------
    def table_parts(self, table: str | tuple[str, ...]) -> tuple[str, ...]:
        """``"a.b"`` -> ``("a", "b")``; a tuple is taken as given (for names with dots)."""
        parts = table if isinstance(table, tuple) else tuple(table.split("."))
        if not all(parts) or len(parts) > 3:
            raise BadSpecError(f"table name {'.'.join(parts)!r} must be [catalog.][schema.]table")
        return parts

    def quote(self, parts: tuple[str, ...]) -> str:
        q = self.dialect.identifier_preparer.quote_identifier
        return ".".join(q(p) for p in parts)

    # -- the read ------------------------------------------------------------
    def check(self, spec: ReadSpec) -> None:
        """The shape of ``partition_on=`` (its column is checked against the table when the read is planned)."""
        column = spec.options.get("partition_on")
        if column is None:
            return
        if not isinstance(column, str) or not column:
            raise BadSpecError("partition_on must be a column name")
        if spec.options.get("partitions") is None:
            raise BadSpecError("partition_on= needs partitions=N")
        if spec.table is None:
            raise BadSpecError("partition_on= applies to table reads; a query= is read in one piece")

    def scan(self, spec: ReadSpec) -> Scan:
        return self._scan(spec, None)

    def scan_split(self, spec: ReadSpec, split: Split) -> Scan:
        """Read the key range ``split`` covers, in a transaction of its own (any thread or process)."""
        part = planned_piece(split, KeyRange, spec, f"a key range of a table read of {self.uri}")
        return self.scan(spec) if part is None else self._scan(spec, part)

    def _scan(self, spec: ReadSpec, part: KeyRange | None) -> Scan:
        """The read of ``spec``, or of its rows in the key range ``part``."""
        self.check(spec)
        ordered = False
        if spec.query is not None:
            # before anything is sent: one statement, read-only at every node, no side-effecting function
            statement = classify(spec.query, self.sql_dialect)
            # a wrapped query (columns, filter, limit) no longer promises its inner ORDER BY
            ordered = statement.ordered and not (spec.columns or spec.filter is not None or spec.limit is not None)
            if spec.params is not None and not isinstance(spec.params, Mapping):
                raise BadSpecError("SQL query parameters are named: write :name in the query and pass params={'name': ...}")
        elif spec.table is None:
            raise BadSpecError(f"name a table (table=...) or pass query= to read from {self.uri}")
        session = self.session()
        try:
            snapshot = session.snapshot()
            if part is not None:
                snapshot = self._split_snapshot(snapshot, part)
            if spec.table is not None:
                parts = self.table_parts(spec.table)
                table_schema = session.table_schema(parts)
                spec.check_columns(table_schema, f"table {'.'.join(parts)}")
                stmt = self._table_select(parts, spec) if part is not None else self._cached_select(parts, spec)
                if part is not None:
                    stmt = stmt.where(part.condition())
                wanted = pa.schema([table_schema.field(c) for c in spec.columns]) if spec.columns else table_schema
            else:
                parts = None
                stmt, wanted = self._query_select(session, spec)
            sql, params, schema, batches, pushed = self._execute(session, stmt, spec, parts, wanted)
        except BaseException:
            session.close()
            raise
        return Scan(schema=schema, batches=batches, snapshot=snapshot, dataset=self.dataset(parts),
                    query=record_query(sql, params, spec, **pushed), close=session.close, ordered=ordered)

    def _split_snapshot(self, snapshot: Snapshot, part: KeyRange) -> Snapshot:
        """The snapshot a split records: the plan's, once checked to be the state found; else its own, marked
        as one of several."""
        if part.pinned is None:
            return dataclasses.replace(snapshot, consistent=False,
                                       pins={**snapshot.pins, "split": "each split of the read has its own"})
        if snapshot != part.pinned:
            raise SnapshotUnavailableError(
                f"{self.uri} changed after the read was planned (the plan saw {part.pinned.value!r}, this split "
                f"finds {snapshot.value!r}): its splits would not read one state; read again")
        return part.pinned

    # -- plans ----------------------------------------------------------------
    def plan(self, spec: ReadSpec, max_splits: int) -> ReadPlan:
        """Cut a table read into at most ``max_splits`` ranges of an integer key.

        The key is ``partition_on=``, else the dialect's :meth:`Session.split_key`;
        its smallest and largest values in the table are cut into even ranges
        (NULL keys go to the first). A query, a read with a limit, a table with
        no key to cut on, or one with too few keys is one split: the whole read.
        """
        check_max_splits(max_splits)
        self.check(spec)
        if spec.table is None or spec.limit is not None or max_splits == 1:
            return super().plan(spec, max_splits)
        parts = self.table_parts(spec.table)
        session = self.session()
        try:
            snapshot = session.snapshot()
            named = spec.options.get("partition_on")
            key = self._split_key(session, parts, named)
            ranges = key_ranges(*self._key_bounds(session, parts, key), max_splits) if key else [(None, None)]
            if key is None or len(ranges) == 1:
                session.close()
                return super().plan(spec, max_splits)
            rows = session.row_estimate(parts)
            sql, params = self.compile(self._table_select(parts, spec))
        except BaseException:
            session.close()
            raise
        pinned = snapshot if self.pins_splits else None
        if pinned is None:
            session.close()  # each split takes its own snapshot: nothing to hold
        splits = tuple(
            # a row id or primary key is never NULL (and SQLite would scan the table for an "OR rowid IS NULL")
            Split(index=i, payload=KeyRange(key, start, stop, nulls=i == 0 and named is not None, pinned=pinned),
                  covers={key: [start, stop]},
                  rows=None if rows is None else round(rows / len(ranges)))
            for i, (start, stop) in enumerate(ranges))
        return ReadPlan(splits=splits, snapshot=pinned, consistent=pinned is not None, method="key ranges",
                        consistency=self.split_consistency, query=record_query(sql, params, spec),
                        release=None if pinned is None else session.close)

    def _split_key(self, session: Session, parts: tuple[str, ...], named: str | None) -> str | None:
        """The integer column (or row id) to cut ``parts`` on; None: the read stays in one piece."""
        schema = session.table_schema(parts)
        key = named or session.split_key(parts, schema)
        if key is None:
            return None
        if key not in schema.names:
            if named:
                raise BadSpecError(f"partition_on column {named!r} is not in table {'.'.join(parts)}")
            return key  # a row id: no column of the table
        if not pa.types.is_integer(schema.field(key).type):
            if named:
                raise BadSpecError(f"partition_on column {named!r} must be an integer column")
            return None
        return key

    def _key_bounds(self, session: Session, parts: tuple[str, ...], key: str) -> tuple[Any, Any]:
        """The smallest and largest key in the table, each its own subquery (SQLite and MySQL answer
        a lone ``min``/``max`` from the index without a scan)."""
        table = sa.text(self.quote(parts))
        column = sa.column(quoted_name(key, quote=True))
        stmt = sa.select(sa.select(sa.func.min(column)).select_from(table).scalar_subquery(),
                         sa.select(sa.func.max(column)).select_from(table).scalar_subquery())
        sql, params = self.compile(stmt)
        low, high = session.first_row(sql, params)
        return low, high

    def _execute(self, session: Session, stmt: Any, spec: ReadSpec, parts: tuple[str, ...] | None,
                 wanted: pa.Schema | None) -> tuple[str, Any, pa.Schema, Iterator[pa.RecordBatch], dict[str, Any]]:
        """Send the data query: (SQL text, params, schema, batches, extra ``pushed_down`` entries).

        Dialects override this to pick how the rows travel (MySQL: ConnectorX or pymysql).
        """
        sql, params = self.compile(stmt)
        schema, batches = session.execute(sql, params, spec.batch_size, wanted)
        return sql, params, schema, batches, {}

    def _table_select(self, parts: tuple[str, ...], spec: ReadSpec) -> sa.Select:
        columns = _columns(spec.columns) if spec.columns else [sa.literal_column("*")]
        stmt = sa.select(*columns).select_from(sa.text(self.quote(parts)))
        return _narrow(stmt, spec)

    def _cached_select(self, parts: tuple[str, ...], spec: ReadSpec) -> "Compiled | sa.Select":
        """The compiled SELECT of a table read without a filter, built once per (table, columns, limit):
        building and compiling it costs as much as a tiny read itself. A filtered read is built each time
        (its values are bound parameters, but an ``IN`` list renders one per value)."""
        if spec.filter is not None:
            return self._table_select(parts, spec)
        key = (parts, spec.columns, spec.limit)
        compiled = self._selects.get(key)
        if compiled is None:
            sql, params = self.compile(self._table_select(parts, spec))
            compiled = Compiled(sql, tuple(params) if isinstance(params, list) else dict(params))
            if len(self._selects) >= MAX_COMPILED:
                self._selects.clear()
            self._selects[key] = compiled
        return compiled

    def _query_select(self, session: Session, spec: ReadSpec) -> tuple[Any, pa.Schema | None]:
        text = self._text(spec)
        if not (spec.columns or spec.filter is not None or spec.limit is not None):
            return text, None
        inner = text.columns().subquery(SUBQUERY_ALIAS)
        probe_sql, probe_params = self.compile(sa.select(sa.literal_column("*")).select_from(inner).limit(0))
        probe = session.query_schema(probe_sql, probe_params)
        spec.check_columns(probe, "the query's result")
        columns = _columns(spec.columns) if spec.columns else [sa.literal_column("*")]
        stmt = _narrow(sa.select(*columns).select_from(inner), spec)
        wanted = pa.schema([probe.field(c) for c in spec.columns]) if spec.columns else probe
        return stmt, wanted

    def _text(self, spec: ReadSpec) -> sa.TextClause:
        assert spec.query is not None
        text = sa.text(escape_literal_colons(spec.query))
        if spec.params:
            try:
                text = text.bindparams(**dict(spec.params))
            except sa.exc.ArgumentError as exc:
                raise BadSpecError(f"query parameters do not match the query: {exc}") from None
        missing = [name for name, bp in text._bindparams.items() if bp.value is None and name not in (spec.params or {})]
        if missing:
            raise BadSpecError(f"the query needs parameter(s) {', '.join(sorted(missing))}; pass them in params=")
        return text

    def compile(self, stmt: Any) -> tuple[str, Any]:
        """SQL text in the driver's paramstyle, and its parameters (list or dict)."""
        if isinstance(stmt, Compiled):
            return stmt.sql, list(stmt.params) if isinstance(stmt.params, tuple) else dict(stmt.params)
        compiled = stmt.compile(dialect=self.dialect, compile_kwargs={"render_postcompile": True})
        params = compiled.params
        if self.dialect.positional:
            return str(compiled), [self.bind_value(params[name]) for name in compiled.positiontup]
        return str(compiled), {k: self.bind_value(v) for k, v in params.items()}

    def bind_value(self, value: Any) -> Any:
        """Convert a bound value to what the driver accepts (dialects override)."""
        return value

    # -- discovery -----------------------------------------------------------
    def schema(self, table: str | tuple[str, ...]) -> pa.Schema:
        session = self.session()
        try:
            return session.table_schema(self.table_parts(table))
        finally:
            session.close()


def planned_piece(split: Split, kind: type, spec: ReadSpec, what: str) -> Any:
    """The payload of a split this dialect's :meth:`SQLSource.plan` made for ``spec`` (None: the read in one
    piece); anything else is refused before a connection is opened."""
    piece = split.payload
    if piece is not None and (not isinstance(piece, kind) or spec.table is None):
        raise BadSpecError(f"split {split.index} is not {what}: plan the read with the same spec")
    return piece


def escape_literal_colons(sql: str) -> str:
    """Protect colons inside quoted literals and identifiers (``'{"a":1}'``, ``'12:30'``) so that only
    ``:name`` outside quotes is a parameter; SQLAlchemy's text() would bind them all."""
    return QUOTED.sub(lambda m: m.group(0).replace(":", "\\:"), sql)


def _columns(names: tuple[str, ...]) -> list[sa.ColumnClause]:
    return [sa.column(quoted_name(n, quote=True)) for n in names]


def _narrow(stmt: sa.Select, spec: ReadSpec) -> sa.Select:
    if spec.filter is not None:
        cols = {n: sa.column(quoted_name(n, quote=True)) for n in spec.filter.columns}
        stmt = stmt.where(spec.filter.to_sqlalchemy(cols))
    if spec.limit is not None:
        stmt = stmt.limit(spec.limit)
    return stmt


def record_query(sql: str, params: Any, spec: ReadSpec, **pushed: Any) -> Query:
    """The record's query for ``sql`` as built from ``spec`` (the engine adds request, columns and filter)."""
    return Query(language="sql", text=sql, params=_json_params(params),
                 pushed_down={"columns": True, "filter": spec.filter is not None, "limit": spec.limit is not None,
                              **pushed})


def _json_params(params: Any) -> Any:
    from ...provenance import jsonable

    if isinstance(params, dict):
        return {k: v if isinstance(v, (int, float, str, bool, type(None))) else jsonable(v) for k, v in params.items()} or None
    if isinstance(params, list):
        return [v if isinstance(v, (int, float, str, bool, type(None))) else jsonable(v) for v in params] or None
    return None


def not_found(what: str) -> SourceNotFoundError:
    return SourceNotFoundError(what)
