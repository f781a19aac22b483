"""Any other SQLAlchemy dialect with a DB-API driver: the generic fallback.

SQLAlchemy builds the SQL and connects; rows are fetched with ``fetchmany``
from a server-side cursor where the dialect supports one
(``stream_results``) and turned into Arrow column by column — never through
pandas. Types come from the reflected table (``Inspector.get_columns``) for
table reads and from the values themselves (with the cursor description's
precision and scale for decimals) for queries.

What it can guarantee depends on the dialect. A read-only transaction is
opened where the dialect has a statement for it (see :data:`READ_ONLY`);
elsewhere only unistore's keyword check stands between a query and a write,
and the snapshot says ``consistent: false``. There is no store-specific
snapshot position: replay verifies by fingerprint. A planned read is cut into
ranges of the single-column integer primary key (or ``partition_on=``), each
split in a transaction of its own: the splits are not pinned to one state.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from ...errormap import ErrorTable, Rule, mapped_errors
from ...errors import (AuthenticationError, BadSpecError, QueryError, ReadOnlyError, SourceNotFoundError,
                       SourceUnavailableError, UnknownSchemeError)
from ...location import Location
from ...provenance import Dataset
from ...snapshot import Snapshot
from ...spec import MAX_PARTITIONS
from ...sqlguard import ALIASES as GUARD_ALIASES
from ...sqlguard import DIALECTS as GUARD_DIALECTS
from .base import Session, SQLSource


def _driver_text(exc: BaseException) -> str:
    """The DBAPI driver's own message (SQLAlchemy's wrapper adds the statement and a link)."""
    return str(getattr(exc, "orig", exc))


def _whole_first_line(text: str) -> str:
    return text.splitlines()[0] if text.splitlines() else ""


_DBAPI = ("sqlalchemy.exc.DBAPIError",)
#: opening a connection: the drivers behind SQLAlchemy share no codes, so their messages decide
CONNECT_ERRORS = ErrorTable(
    Rule(AuthenticationError, "{where} refused the credentials", classes=_DBAPI,
         when=lambda text: any(s in text.lower() for s in ("password", "access denied", "authentication"))),
    Rule(SourceNotFoundError, "{where}: {first_line}", classes=_DBAPI,
         when=lambda text: "does not exist" in text or "Unknown database" in text),
    Rule(SourceUnavailableError, "cannot connect to {where}: {first_line}", classes=_DBAPI),
    text=_driver_text, brief=_whole_first_line,
)
#: looking a table up
SCHEMA_ERRORS = ErrorTable(
    Rule(SourceNotFoundError, "table {table} does not exist in {where}", classes=("sqlalchemy.exc.NoSuchTableError",)),
)
#: running the query
QUERY_ERRORS = ErrorTable(
    Rule(ReadOnlyError, "the database refused a write in the read-only transaction: {text}", classes=_DBAPI,
         when=lambda text: "read-only" in text.lower() or "read only" in text.lower()),
    Rule(QueryError, "{dialect} rejected the query: {first_line}", classes=_DBAPI),
    text=_driver_text, brief=_whole_first_line,
)

#: dialect name -> statements that make the transaction read-only (and as consistent as the dialect allows)
READ_ONLY: dict[str, tuple[str, ...]] = {
    "postgresql": ("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",),
    "mysql": ("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
              "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"),
    "mariadb": ("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
                "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"),
    "oracle": ("SET TRANSACTION READ ONLY",),
    "sqlite": ("PRAGMA query_only = ON",),
}


class DBAPISource(SQLSource):
    """A database reached through SQLAlchemy's own driver for its URL."""

    system = "sql"

    def __init__(self, location: Location, *, connect_timeout: float | int | None = None,
                 connect_args: dict[str, Any] | None = None, driver: str | None = None,
                 **unsupported: Any):
        if unsupported:
            raise BadSpecError(f"option(s) {', '.join(sorted(unsupported))} do not apply to the generic SQL path")
        try:
            url = sa.engine.make_url(location.raw)
        except Exception:
            raise BadSpecError(f"{location.redacted()} is not a SQLAlchemy URL") from None
        connect_args = dict(connect_args or {})
        if connect_timeout is not None:  # the DB-API drivers that take a timeout mostly call it this
            connect_args.setdefault("connect_timeout", connect_timeout)
        try:
            # one connection kept idle; a partitioned read opens one per split
            engine = sa.create_engine(url, poolclass=sa.pool.StaticPool if url.get_backend_name() == "sqlite" else
                                      sa.pool.QueuePool, pool_size=1, max_overflow=MAX_PARTITIONS,
                                      connect_args=connect_args)
        except sa.exc.NoSuchModuleError:
            from . import DIALECTS

            raise UnknownSchemeError(location.scheme, sorted(DIALECTS)) from None
        except ImportError as exc:
            from ...errors import MissingExtraError

            raise MissingExtraError(f"reading {url.get_backend_name()} databases", None, exc.name or "driver") from None
        super().__init__(location, engine.dialect)
        self.engine = engine
        self.system = engine.dialect.name  # type: ignore[misc]
        name = engine.dialect.name
        self.sql_dialect = name if name in GUARD_DIALECTS or name in GUARD_ALIASES else "generic"  # type: ignore[misc]
        self.url = url

    def close(self) -> None:
        self.engine.dispose()

    def session(self) -> "DBAPISession":
        return DBAPISession(self)

    def dataset(self, parts: tuple[str, ...] | None) -> Dataset:
        host = self.url.host or ""
        namespace = f"{self.dialect.name}://{host}" + (f":{self.url.port}" if self.url.port else "")
        database = self.url.database or ""
        name = database if parts is None else ".".join(([database] if database and len(parts) < 3 else []) + list(parts))
        return Dataset(system=self.dialect.name, uri=self.uri, namespace=namespace, name=name)

    def tables(self) -> list[str]:
        with self.session() as s:
            inspector = sa.inspect(s.conn)
            return sorted(inspector.get_table_names() + inspector.get_view_names())


class DBAPISession(Session):
    def __init__(self, source: DBAPISource):
        self.source = source
        with mapped_errors(CONNECT_ERRORS, source.uri, source.location.secrets):
            self.conn = source.engine.connect()
        self.read_only = source.dialect.name in READ_ONLY
        try:
            for statement in READ_ONLY.get(source.dialect.name, ()):
                self.conn.exec_driver_sql(statement)
        except Exception:
            self.close()
            raise

    def table_schema(self, parts: tuple[str, ...]) -> pa.Schema:
        inspector = sa.inspect(self.conn)
        schema = parts[-2] if len(parts) >= 2 else None
        with mapped_errors(SCHEMA_ERRORS, self.source.uri, table=".".join(parts)):
            columns = inspector.get_columns(parts[-1], schema=schema)
        if not columns:
            raise SourceNotFoundError(f"table {'.'.join(parts)} does not exist in {self.source.uri}")
        return pa.schema([pa.field(c["name"], sqlalchemy_to_arrow(c["type"])) for c in columns])

    def split_key(self, parts: tuple[str, ...], schema: pa.Schema) -> str | None:
        """The single-column primary key, as the dialect reflects it."""
        with mapped_errors(SCHEMA_ERRORS, self.source.uri, table=".".join(parts)):
            key = sa.inspect(self.conn).get_pk_constraint(parts[-1], schema=parts[-2] if len(parts) >= 2 else None)
        columns = key.get("constrained_columns") or []
        return columns[0] if len(columns) == 1 else None

    def execute(self, sql: str, params: Any, batch_size: int,
                schema: pa.Schema | None = None) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        with mapped_errors(QUERY_ERRORS, self.source.uri, self.source.location.secrets,
                           dialect=self.source.dialect.name):
            result = self.conn.exec_driver_sql(
                sql, tuple(params) if isinstance(params, list) else (params or ()),
                execution_options={"stream_results": True, "max_row_buffer": batch_size})
        description = result.cursor.description if result.cursor is not None else []
        names = [d[0] for d in description]
        if schema is None or len(schema) != len(names) or any(pa.types.is_null(f.type) for f in schema):
            hinted = [_description_type(d) for d in description]
            if schema is not None and len(schema) == len(names):
                hinted = [f.type if not pa.types.is_null(f.type) else h for f, h in zip(schema, hinted)]
            first = result.fetchmany(batch_size)
            head = _build(first, names, hinted)
            schema = head.schema
            return schema, _rest(head, result, schema, batch_size)
        return schema, _rest(None, result, schema, batch_size)

    def snapshot(self) -> Snapshot:
        return Snapshot(kind=f"{self.source.dialect.name}.transaction", value="unpinned",
                        consistent=self.read_only, replayable=False,
                        pins={"read_only_transaction": self.read_only,
                              "note": "generic DB-API path: no snapshot position; replay verifies by fingerprint"})

    def close(self) -> None:
        conn = getattr(self, "conn", None)
        if conn is None:
            return
        self.conn = None
        with contextlib.suppress(Exception):
            conn.rollback()
        with contextlib.suppress(Exception):
            conn.close()


def sqlalchemy_to_arrow(typ: sa.types.TypeEngine) -> pa.DataType:
    """Arrow type for a reflected SQLAlchemy column type (null: decided by the data)."""
    if isinstance(typ, sa.Boolean):
        return pa.bool_()
    if isinstance(typ, sa.SmallInteger):
        return pa.int16()
    if isinstance(typ, sa.BigInteger):
        return pa.int64()
    if isinstance(typ, sa.Integer):
        name = type(typ).__name__.upper()
        if name == "TINYINT":
            return pa.bool_() if getattr(typ, "display_width", None) == 1 else pa.int8()
        return pa.int32() if name in ("INT", "INTEGER", "MEDIUMINT") else pa.int64()
    if isinstance(typ, sa.Numeric) and not isinstance(typ, sa.Float):
        if typ.precision is not None:
            scale = typ.scale or 0
            return pa.decimal128(typ.precision, scale) if typ.precision <= 38 else pa.decimal256(typ.precision, scale)
        return pa.null()
    if isinstance(typ, sa.Float):
        return pa.float32() if type(typ).__name__.upper() in ("REAL", "FLOAT4") else pa.float64()
    if isinstance(typ, sa.DateTime):
        return pa.timestamp("us", "UTC") if getattr(typ, "timezone", False) else pa.timestamp("us")
    if isinstance(typ, sa.Date):
        return pa.date32()
    if isinstance(typ, sa.Time):
        return pa.time64("us")
    if isinstance(typ, sa.Interval):
        return pa.duration("us")
    if isinstance(typ, (sa.LargeBinary, sa.types._Binary)):
        return pa.binary()
    if isinstance(typ, (sa.String, sa.Enum)):
        return pa.string()
    return pa.null()


def _description_type(d: tuple) -> pa.DataType | None:
    """A decimal's precision and scale from the cursor description, when the driver gives them."""
    precision, scale = (d[4], d[5]) if len(d) >= 6 else (None, None)
    if isinstance(precision, int) and isinstance(scale, int) and 0 < precision <= 76 and 0 <= scale <= precision:
        return None if scale == 0 and precision < 20 else (
            pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale))
    return None


def _build(rows: list, names: list[str], types: list[pa.DataType | None]) -> pa.RecordBatch:
    columns = list(zip(*rows)) if rows else [()] * len(names)
    arrays = []
    for values, typ, name in zip(columns, types, names):
        if typ is not None and pa.types.is_decimal(typ):  # drivers give precision/scale for other types too
            sample = next((v for v in values if v is not None), None)
            typ = typ if isinstance(sample, decimal.Decimal) else None
        arrays.append(_column(values, typ, name))
    return pa.RecordBatch.from_arrays(arrays, names=names)


def _column(values: tuple, typ: pa.DataType | None, name: str) -> pa.Array:
    try:
        if typ is not None and pa.types.is_time(typ):
            values = tuple(_as_time(v) for v in values)
        if typ is not None and pa.types.is_timestamp(typ) and typ.tz is not None:
            values = tuple(v.replace(tzinfo=dt.timezone.utc) if isinstance(v, dt.datetime) and v.tzinfo is None
                           else v for v in values)
        if typ is not None and pa.types.is_decimal(typ):
            values = tuple(decimal.Decimal(str(v)) if isinstance(v, float) else v for v in values)
        if typ is not None and pa.types.is_boolean(typ):  # BOOLEAN stored as a small integer (MySQL)
            values = tuple(bool(v) if isinstance(v, int) else v for v in values)
        return pa.array(values, type=typ)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
        raise QueryError(f"column {name!r} holds values that are not {typ}: {exc}") from None


def _as_time(v: Any) -> Any:
    if isinstance(v, dt.timedelta):  # MySQL drivers return TIME as a duration
        return (dt.datetime.min + v).time()
    return v


def _rest(head: pa.RecordBatch | None, result: Any, schema: pa.Schema, batch_size: int) -> Iterator[pa.RecordBatch]:
    try:
        if head is not None:
            yield head
        types = list(schema.types)
        while True:
            rows = result.fetchmany(batch_size)
            if not rows:
                return
            yield pa.RecordBatch.from_arrays(
                [_column(v, t, n) for v, t, n in zip(zip(*rows), types, schema.names)], schema=schema)
    finally:
        with contextlib.suppress(Exception):
            result.close()
