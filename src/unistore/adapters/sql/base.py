"""What every SQL source shares: naming, query building, read-only checks.

A dialect module supplies a :class:`Session` (one connection inside one
read-only transaction, so the schema probe, the snapshot capture and the data
query all see the same state) and names its datasets. Query text is built
with SQLAlchemy Core: identifiers always quoted, values always bound.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.sql import quoted_name

from ...errors import BadSpecError, SourceNotFoundError
from ...location import Location
from ...provenance import Dataset, Query
from ...snapshot import Snapshot
from ...adapter import Capabilities, Connection, Scan
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


class SQLSource(Connection):
    """Tables, views and queries of one database."""

    capabilities: ClassVar[Capabilities] = Capabilities(queries=True, params=True, listing=True, write_protection=True)
    #: ``db.system.name`` of the semantic conventions
    system: ClassVar[str] = "sql"
    #: schema a one-part table name lives in
    default_schema: ClassVar[str | None] = None
    #: the dialect :func:`unistore.sqlguard.classify` parses ``query=`` text in
    sql_dialect: ClassVar[str] = "generic"

    def __init__(self, location: Location, dialect: sa.engine.Dialect):
        super().__init__(location)
        self.dialect = dialect

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
    def scan(self, spec: ReadSpec) -> Scan:
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
            if spec.table is not None:
                parts = self.table_parts(spec.table)
                table_schema = session.table_schema(parts)
                spec.check_columns(table_schema, f"table {'.'.join(parts)}")
                stmt = self._table_select(parts, spec)
                wanted = pa.schema([table_schema.field(c) for c in spec.columns]) if spec.columns else table_schema
            else:
                parts = None
                stmt, wanted = self._query_select(session, spec)
            sql, params, schema, batches, pushed = self._execute(session, stmt, spec, parts, wanted)
        except BaseException:
            session.close()
            raise
        return Scan(
            schema=schema,
            batches=batches,
            snapshot=snapshot,
            dataset=self.dataset(parts),
            query=Query(
                language="sql",
                text=sql,
                params=_json_params(params),
                pushed_down={"columns": True, "filter": spec.filter is not None, "limit": spec.limit is not None,
                             **pushed},
            ),
            close=session.close,
            ordered=ordered,
        )

    def _execute(self, session: Session, stmt: Any, spec: ReadSpec, parts: tuple[str, ...] | None,
                 wanted: pa.Schema | None) -> tuple[str, Any, pa.Schema, Iterator[pa.RecordBatch], dict[str, Any]]:
        """Send the data query: (SQL text, params, schema, batches, extra ``pushed_down`` entries).

        Dialects override this to run a read differently (PostgreSQL splits it
        into partitions read under one exported snapshot).
        """
        sql, params = self.compile(stmt)
        schema, batches = session.execute(sql, params, spec.batch_size, wanted)
        return sql, params, schema, batches, {}

    def _table_select(self, parts: tuple[str, ...], spec: ReadSpec) -> sa.Select:
        columns = _columns(spec.columns) if spec.columns else [sa.literal_column("*")]
        stmt = sa.select(*columns).select_from(sa.text(self.quote(parts)))
        return _narrow(stmt, spec)

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


def _json_params(params: Any) -> Any:
    from ...provenance import jsonable

    if isinstance(params, dict):
        return {k: v if isinstance(v, (int, float, str, bool, type(None))) else jsonable(v) for k, v in params.items()} or None
    if isinstance(params, list):
        return [v if isinstance(v, (int, float, str, bool, type(None))) else jsonable(v) for v in params] or None
    return None


def not_found(what: str) -> SourceNotFoundError:
    return SourceNotFoundError(what)
