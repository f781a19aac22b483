"""MySQL and MariaDB: one consistent-snapshot, read-only transaction per read.

Every read opens ``START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY`` on
a pymysql connection and captures the snapshot there: MariaDB reports the
binlog file/position *consistent with that snapshot* (``binlog_snapshot_file``
/ ``binlog_snapshot_position``), recorded with ``@@gtid_binlog_pos``; MySQL
records ``@@gtid_executed`` read inside the transaction.

Two transports deliver the rows, and the choice never weakens the snapshot:

- **ConnectorX** (``arrow_stream``, Rust, about 4x faster here) for MariaDB
  reads without bound parameters. ConnectorX opens its own connection, so it
  runs the statement in its *own* ``WITH CONSISTENT SNAPSHOT, READ ONLY``
  transaction: one InnoDB read view, so its rows are one state. Which state:

  - binary log on: the recorded snapshot names the state exactly (the
    position), so ConnectorX's must be that one. Once its first batch has
    arrived (its snapshot exists), the current binlog position is compared
    with the recorded one: unchanged means no binlogged transaction committed
    or was committing in between (a binlogged commit writes the binary log
    before InnoDB makes it visible, and both snapshots are taken under the
    lock that orders those commits), so both see the same state. If a commit
    slipped in, the ConnectorX stream is dropped and the rows are read through
    pymysql inside the recorded transaction instead.
  - binary log off: no position names any state, and none can be compared.
    InnoDB's ``Innodb_max_trx_id`` counter looks like one, but it moves when a
    commit is *numbered*, not when it becomes visible (``trx_t::commit_low``:
    ``trx_serialise`` takes the number, ``commit_in_memory`` makes the commit
    visible later), so a commit numbered before a first reading can become
    visible between the two snapshots with the counter unchanged. The record
    therefore claims no more than is true: its snapshot names no state
    (``gtid:none``, ``binlog: off`` in the pins) and the rows are ConnectorX's
    own read view, one consistent state, used as they come.

- **pymysql** otherwise (bound parameters, MySQL, a failed binlog check, a
  ``DECIMAL`` wider than ConnectorX's 28 digits, ``transport="pymysql"``): an
  unbuffered cursor streams ``fetchmany`` batches inside the recorded
  transaction; values arrive as protocol text and Arrow's C++ casts parse
  whole columns (no per-value Python converters).

A planned read (``partitions=N``) is cut into ranges of the single-column
integer primary key (or ``partition_on=``); each split is its own
``WITH CONSISTENT SNAPSHOT`` transaction on its own connection, with the
transport chosen as above. InnoDB cannot share one read view between
connections, and the ways to line several up (``FLUSH TABLES WITH READ LOCK``;
Percona's ``... FROM SESSION``) block writers or are not in MariaDB, so the
splits are not pinned to one state and their snapshots say so.

Values are never rendered into SQL text: a read with parameters always
takes the pymysql path. The session time zone is UTC, so ``TIMESTAMP``
columns come back as ``timestamp[us, tz=UTC]``; ``DATETIME`` stays naive.
Both transports return the same Arrow types (those of the column
definitions, see :func:`field_type`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.dialects import mysql as mysql_dialect

from ...errormap import ErrorTable, Rule, mapped_errors
from ...errors import (AuthenticationError, BadSpecError, QueryError, ReadOnlyError, SourceNotFoundError,
                       SourceUnavailableError)
from ...location import Location
from ...provenance import Dataset
from ...registry import require
from ...snapshot import Snapshot
from .base import Session, SQLSource
from .pool import IdlePool

DEFAULT_PORT = 3306
DEFAULT_CONNECT_TIMEOUT = 10

# protocol type codes (pymysql.constants.FIELD_TYPE)
DECIMAL, TINY, SHORT, LONG, FLOAT, DOUBLE, NULL, TIMESTAMP, LONGLONG, INT24 = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9
DATE, TIME, DATETIME, YEAR, NEWDATE, VARCHAR, BIT = 10, 11, 12, 13, 14, 15, 16
JSON, NEWDECIMAL, ENUM, SET = 245, 246, 247, 248
TINY_BLOB, MEDIUM_BLOB, LONG_BLOB, BLOB, VAR_STRING, STRING, GEOMETRY = 249, 250, 251, 252, 253, 254, 255
UNSIGNED_FLAG = 32
BINARY_CHARSET = 63
_TEXT = {VARCHAR, JSON, ENUM, SET, TINY_BLOB, MEDIUM_BLOB, LONG_BLOB, BLOB, VAR_STRING, STRING}

#: the digits rust_decimal (ConnectorX's decimal) holds exactly, and the type ConnectorX gives every DECIMAL
CX_DECIMAL_DIGITS = 28
CX_DECIMAL = pa.decimal128(38, 10)
#: seconds ConnectorX's statement waits for a metadata lock before the read falls back to pymysql
CX_LOCK_WAIT_S = 2
#: the record's words for what the rows of each path are (``pushed_down["transport"]``, the snapshot's pins)
CX_VERIFIED = "connectorx (snapshot verified by binlog position)"
CX_OWN_SNAPSHOT = "connectorx (its own consistent snapshot; binary log off, so not compared with the recorded one)"
BINLOG_OFF = ("off: no position names this state; the rows are still one consistent InnoDB read view (ConnectorX's "
              "own or this transaction's, see the transport)")


def _error_code(exc: BaseException) -> int | None:
    """pymysql's server or client error number (``args[0]``)."""
    return exc.args[0] if exc.args and isinstance(exc.args[0], int) else None


def _error_text(exc: BaseException) -> str:
    """pymysql's message without the number (``args[1]``)."""
    return str(exc.args[1] if len(exc.args) > 1 else exc)


_DRIVER = ("pymysql.err.MySQLError",)
#: opening a connection (where: "<scheme> server at host:port")
CONNECT_ERRORS = ErrorTable(
    Rule(AuthenticationError, "{where} refused the credentials of user {user!r}", classes=_DRIVER, codes=(1045, 1698)),
    Rule(SourceNotFoundError, "database {database!r} does not exist on {where}", classes=_DRIVER, codes=(1049,)),
    Rule(SourceUnavailableError, "cannot connect to {where} ({uri}): {text}", classes=_DRIVER),
    code=_error_code, text=_error_text,
)
#: running a statement and streaming its rows, through pymysql or ConnectorX (where: the source's URI)
QUERY_ERRORS = ErrorTable(
    Rule(SourceNotFoundError, "{text} ({where})", classes=_DRIVER, codes=(1146,)),
    Rule(ReadOnlyError, "the server refused a write in the read-only transaction: {text}", classes=_DRIVER,
         codes=(1792, 1290)),
    Rule(SourceUnavailableError, "lost the connection to {where}: {text}", classes=_DRIVER,
         codes=(0, 2006, 2013, 2003, 1927, 4031)),
    Rule(SourceUnavailableError, "lost the connection to {where}: {text}", classes=("pymysql.err.InterfaceError",)),
    Rule(QueryError, "{flavour} rejected the query: {text}", classes=(*_DRIVER, "pyarrow.lib.ArrowException")),
    code=_error_code, text=_error_text,
)


def _pymysql() -> Any:
    module = require("pymysql", extra="mysql", what="reading MySQL / MariaDB")
    global _ENCODERS_ONLY
    # pymysql keys encoders by Python type and decoders by field type code: keep only the encoders
    _ENCODERS_ONLY = {k: v for k, v in module.converters.conversions.items() if not isinstance(k, int)}
    return module


_ENCODERS_ONLY: dict[Any, Any] = {}


@functools.cache
def _connection_class() -> type:
    """pymysql's connection, with its default TLS context made once (see :func:`_preferred_tls`)."""
    pymysql = _pymysql()

    class Connection(pymysql.connections.Connection):  # type: ignore[misc, name-defined]
        def _create_ssl_ctx(self, sslp: Any) -> Any:
            # {} is pymysql's PREFERRED mode (no ssl option given); anything the caller configured is built as asked
            return _preferred_tls() if isinstance(sslp, dict) and not sslp else super()._create_ssl_ctx(sslp)

    return Connection


@functools.cache
def _preferred_tls() -> Any:
    """The context of pymysql's PREFERRED mode: TLS if the server offers it, its certificate not verified.

    pymysql builds it on every connect with ``ssl.create_default_context()``, which loads the system's
    CA bundle (20-90 ms here) only for pymysql to turn verification off: the same settings without that load.
    """
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class MySQLSource(SQLSource):
    """A MySQL or MariaDB database (``mysql://``, ``mariadb://``, ``mysql+pymysql://``)."""

    system = "mysql"
    sql_dialect = "mysql"
    split_consistency = ("each split reads in its own START TRANSACTION WITH CONSISTENT SNAPSHOT on its own "
                         "connection, begun when the split starts (InnoDB cannot share one snapshot between "
                         "connections): a write committed meanwhile may be seen by some splits only")

    def __init__(self, location: Location, *, connect_timeout: float | int | None = None,
                 connect_args: dict[str, Any] | None = None, driver: str | None = None,
                 transport: str | None = None, **unsupported: Any):
        if unsupported:
            raise BadSpecError(f"option(s) {', '.join(sorted(unsupported))} do not apply to MySQL / MariaDB")
        super().__init__(location, mysql_dialect.dialect(paramstyle="format"))
        if driver not in (None, "pymysql"):
            raise BadSpecError("MySQL / MariaDB is read through pymysql; driver must be 'pymysql'")
        if transport not in (None, "auto", "pymysql", "connectorx"):
            raise BadSpecError("transport must be 'auto', 'connectorx' (MariaDB, when the snapshot allows it) or "
                               "'pymysql'")
        self.transport = transport or "auto"
        _pymysql()
        self.host = location.netloc_host or "127.0.0.1"
        self.port = location.port or DEFAULT_PORT
        self.database = location.path.strip("/") or None
        timeout = DEFAULT_CONNECT_TIMEOUT if connect_timeout is None else connect_timeout
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise BadSpecError(f"connect_timeout must be a positive number of seconds, got {timeout!r}")
        self._timeout = timeout
        self._connect_args = dict(connect_args or {})
        self.system = "mariadb" if location.base_scheme == "mariadb" else "mysql"  # type: ignore[misc]
        self._pool = IdlePool(self._connect)
        conn = self._connect()
        self.flavour = "mariadb" if "mariadb" in (conn.get_server_info() or "").lower() else "mysql"
        self._pool.release(conn)

    # -- connections ------------------------------------------------------------
    def _connect(self) -> Any:
        pymysql = _pymysql()
        with mapped_errors(CONNECT_ERRORS, f"{self.location.base_scheme} server at {self.host}:{self.port}",
                           self.location.secrets, uri=self.uri, database=self.database,
                           user=self.location.username):
            options = {"read_timeout": self._timeout, **self._connect_args}
            conn = _connection_class()(
                host=self.host, port=self.port, user=self.location.username or "root",
                password=self.location.password or "", database=self.database,
                connect_timeout=self._timeout, autocommit=True, charset="utf8mb4",
                conv=_ENCODERS_ONLY,  # values stay protocol text: Arrow parses whole columns (see module doc)
                cursorclass=pymysql.cursors.SSCursor, **options)
        # pymysql's connect_timeout bounds only the TCP connect: a server that accepts and never answers held the
        # handshake forever. The read timeout bounded it; reads of data may take as long as they take (unless the
        # caller asked for a read_timeout), and pymysql applies the new value at its next read.
        if "read_timeout" not in self._connect_args:
            conn._read_timeout = None
        return conn

    def close(self) -> None:
        self._pool.close()

    def session(self) -> "MySQLSession":
        return MySQLSession(self)

    # -- naming -------------------------------------------------------------------
    def dataset(self, parts: tuple[str, ...] | None) -> Dataset:
        namespace = f"mysql://{self.host}:{self.port}"
        if parts is None:
            name = self.database or ""
        else:
            name = ".".join(parts) if len(parts) > 1 or not self.database else f"{self.database}.{parts[0]}"
        return Dataset(system=self.system, uri=self.uri, namespace=namespace, name=name)

    def table_parts(self, table: str | tuple[str, ...]) -> tuple[str, ...]:
        parts = super().table_parts(table)
        if len(parts) > 2:
            raise BadSpecError(f"MySQL table names are [database.]table, not {'.'.join(parts)!r}")
        return parts

    def _execute(self, session: Session, stmt: Any, spec: Any, parts: tuple[str, ...] | None,
                 wanted: pa.Schema | None) -> tuple[str, Any, pa.Schema, Iterator[pa.RecordBatch], dict[str, Any]]:
        sql, params = self.compile(stmt)
        assert isinstance(session, MySQLSession)
        if self.transport != "pymysql" and not params:
            fast = session.connectorx(sql, spec.batch_size, wanted)
            if fast is not None:
                schema, batches, how = fast
                return sql, params, schema, batches, {"transport": how}
        schema, batches = session.execute(sql, params, spec.batch_size, wanted)
        return sql, params, schema, batches, {"transport": "pymysql"}

    def connectorx_uri(self) -> str:
        """The URI ConnectorX connects with (credentials included: never recorded or shown)."""
        from urllib.parse import quote

        user = quote(self.location.username or "root", safe="")
        password = quote(self.location.password, safe="") if self.location.password else ""
        auth = user + (f":{password}" if password else "")
        return f"mysql://{auth}@{self.host}:{self.port}/{quote(self.database or '', safe='')}"

    def bind_value(self, value: Any) -> Any:
        if isinstance(value, dt.datetime) and value.tzinfo is not None:  # the session speaks UTC
            return value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value

    def tables(self) -> list[str]:
        """Tables and views of the URI's database (``db.table`` for others when no database is named)."""
        with self.session() as s:
            if self.database:
                rows = s.rows("SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() "
                              "ORDER BY 1")
                return [r[0] for r in rows]
            rows = s.rows("SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema "
                          "NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys') ORDER BY 1, 2")
            return [f"{a}.{b}" for a, b in rows]

    def schemas(self) -> list[str]:
        """Databases (MySQL's schemas) the user can see."""
        with self.session() as s:
            return [r[0] for r in s.rows("SELECT schema_name FROM information_schema.schemata ORDER BY 1")]


class MySQLSession(Session):
    """One connection in one ``WITH CONSISTENT SNAPSHOT, READ ONLY`` transaction."""

    def __init__(self, source: MySQLSource):
        self.source = source
        self._cursors: list[Any] = []
        self._binlog: tuple[str, int] | None = None  # the snapshot's binlog position (MariaDB, binlog on)
        self._log_bin: bool | None = None  # whether the server writes a binary log (MariaDB, known after snapshot())
        self._streams: list[Any] = []  # data cursors / readers not yet read to their end

        def begin(conn: Any) -> None:
            self.conn = conn
            self._cursors.clear()
            self._run("SET SESSION time_zone = '+00:00'")
            self._run("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            self._run("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")

        try:
            self.conn = source._pool.begin(begin)  # a pooled connection found dead is replaced once
        except BaseException:
            self._cursors.clear()
            self.conn = None
            raise

    def _run(self, sql: str, params: Any = None) -> Any:
        """Run ``sql``; compiled statements pass a list (``%%`` is then unescaped), internal ones None."""
        self._drain()
        cur = self.conn.cursor()
        self._cursors.append(cur)
        with self._mapped():
            cur.execute(sql, params)
        return cur

    def _drain(self) -> None:
        """An unbuffered cursor must be read to the end before the connection runs anything else."""
        for cur in self._cursors:
            with contextlib.suppress(Exception):
                cur.close()
        self._cursors.clear()

    def _mapped(self) -> mapped_errors:
        """Driver errors of this session's statements and streams as unistore errors."""
        return mapped_errors(QUERY_ERRORS, self.source.uri, self.source.location.secrets, flavour=self.source.flavour)

    def rows(self, sql: str, params: Any = None) -> list[tuple]:
        cur = self._run(sql, params)
        rows = [tuple(_text(v) for v in r) for r in cur.fetchall()]
        return rows

    def table_schema(self, parts: tuple[str, ...]) -> pa.Schema:
        quoted = ".".join("`" + p.replace("`", "``") + "`" for p in parts)
        cur = self._run(f"SELECT * FROM {quoted} LIMIT 0")
        schema = description_schema(cur)
        cur.fetchall()
        return schema

    def split_key(self, parts: tuple[str, ...], schema: pa.Schema) -> str | None:
        """The single-column primary key (MySQL shows a table's first unique NOT NULL key as one without)."""
        rows = self.rows("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = "
                         "COALESCE(%s, DATABASE()) AND TABLE_NAME = %s AND COLUMN_KEY = 'PRI'", _schema_and_name(parts))
        return rows[0][0] if len(rows) == 1 else None

    def row_estimate(self, parts: tuple[str, ...]) -> int | None:
        """InnoDB's estimate from its index statistics (0 until they are first computed)."""
        rows = self.rows("SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = "
                         "COALESCE(%s, DATABASE()) AND TABLE_NAME = %s", _schema_and_name(parts))
        return int(rows[0][0]) if rows and rows[0][0] is not None and int(rows[0][0]) > 0 else None

    def execute(self, sql: str, params: Any, batch_size: int,
                schema: pa.Schema | None = None) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        cur = self._run(sql, params if params is not None else [])
        target = description_schema(cur)
        self._streams.append(cur)
        return target, _batches(cur, target, batch_size, self._mapped, self._streams.remove)

    def query_schema(self, sql: str, params: Any) -> pa.Schema:
        cur = self._run(sql, params if params is not None else [])
        schema = description_schema(cur)
        cur.fetchall()
        return schema

    def snapshot(self) -> Snapshot:
        if self.source.flavour == "mariadb":
            status = dict(self.rows("SHOW STATUS LIKE 'binlog_snapshot_%'"))
            (gtid, log_bin), = self.rows("SELECT @@gtid_binlog_pos, @@log_bin")
            file, pos = status.get("Binlog_snapshot_file") or "", status.get("Binlog_snapshot_position") or "0"
            self._log_bin = bool(int(log_bin))
            self._binlog = (file, int(pos)) if file else None
            value = f"{file}:{pos}" if file else f"gtid:{gtid or 'none'}"
            pins = {"binlog_file": file or None, "binlog_position": int(pos) if file else None,
                    "gtid_binlog_pos": gtid or None, "server": "mariadb"}
            if not self._log_bin:
                pins["binlog"] = BINLOG_OFF
            return Snapshot(kind="mariadb.binlog_position", value=value, consistent=True, replayable=False, pins=pins)
        (gtid,), = self.rows("SELECT @@global.gtid_executed")
        return Snapshot(kind="mysql.gtid_executed", value=gtid or "none", consistent=True, replayable=False,
                        pins={"server": "mysql", "note": "gtid_executed is read inside the snapshot transaction"})

    # -- the ConnectorX transport ------------------------------------------------------
    def _binlog_now(self) -> tuple[str, int] | None:
        rows = self._run("SHOW MASTER STATUS").fetchall()
        return (_text(rows[0][0]), int(_text(rows[0][1]))) if rows else None

    def connectorx(self, sql: str, batch_size: int,
                   wanted: pa.Schema | None) -> tuple[pa.Schema, Iterator[pa.RecordBatch], str] | None:
        """The read through ConnectorX, with the record's note on its snapshot; None: read it through pymysql.

        ConnectorX reads in a consistent snapshot of its own. With the binary log on it must be this
        transaction's (compared by binlog position once its first batch has arrived); with it off, no
        position names either, and its own read view is the read's (see the module docstring).
        """
        cx = _connectorx()
        if cx is None or self.source.flavour != "mariadb" or self._log_bin is None:
            return None
        if self._log_bin and self._binlog is None:
            return None  # cannot happen (the binary log on gives every snapshot a position): nothing to compare
        text = sql % ()  # no parameters: undo the paramstyle's %% escaping
        target = wanted if wanted is not None and not any(pa.types.is_null(f.type) for f in wanted) else None
        if target is None:
            target = self.query_schema(f"SELECT * FROM ({sql}) AS unistore_probe LIMIT 0", [])
        if any(pa.types.is_decimal(f.type) and not _lossless(CX_DECIMAL, f.type) for f in target):
            return None  # a DECIMAL ConnectorX cannot carry: not even started (its threads read at once)
        # This transaction holds the table's metadata lock (it read the schema): a DDL statement waiting for it
        # would make ConnectorX's SELECT queue behind the DDL until lock_wait_timeout (a day by default), with
        # ConnectorX holding the GIL. Waiting briefly instead lets the read fall back to this transaction.
        text = f"SET STATEMENT lock_wait_timeout={CX_LOCK_WAIT_S} FOR {text}"
        try:
            reader = cx.read_sql(self.source.connectorx_uri(), text, return_type="arrow_stream",
                                 batch_size=batch_size, pre_execution_query=[
                                     "SET SESSION time_zone = '+00:00'",
                                     "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"])
        except Exception:
            return None  # the pymysql path reports the error in the recorded transaction
        if len(reader.schema) != len(target) or not all(
                _lossless(f.type, t.type) for f, t in zip(reader.schema, target)):
            reader.close()
            return None
        try:
            # the first batch exists only after ConnectorX's transaction has taken its snapshot
            first: pa.RecordBatch | None = reader.read_next_batch()
        except StopIteration:
            first = None
        except Exception:
            reader.close()
            return None
        if self._binlog is not None and self._binlog_now() != self._binlog:
            reader.close()  # something committed since the recorded snapshot: read inside it instead
            return None
        self._streams.append(reader)
        how = CX_VERIFIED if self._binlog is not None else CX_OWN_SNAPSHOT
        return target, _cx_batches(reader, first, target, self._mapped, self._streams.remove), how

    def close(self, reuse: bool = True) -> None:
        """End the transaction and give the connection back, or discard it.

        A stream closed before its end is not drained (an unbuffered cursor
        would read every remaining row first): its connection is closed, and
        the server stops the statement when it finds the socket gone.
        """
        conn = getattr(self, "conn", None)
        if conn is None:
            return
        self.conn = None
        if self._streams:
            streams, self._streams = self._streams, []
            for stream in streams + self._cursors:
                if not hasattr(stream, "fetchmany"):  # a ConnectorX reader on its own connection
                    with contextlib.suppress(Exception):
                        stream.close()
                elif getattr(stream, "_result", None) is not None:  # pymysql would drain it when freed
                    stream._result.unbuffered_active = False
                    stream._result = None
            self._cursors.clear()
            with contextlib.suppress(Exception):
                conn.close()
            return
        self.source._pool.give_back(conn, self._reset, reuse)

    def _reset(self, conn: Any) -> None:
        self._drain()
        with conn.cursor() as cur:
            cur.execute("ROLLBACK")
            # no named lock outlives a read on a pooled connection (the classifier refuses GET_LOCK;
            # a function the user calls might still take one)
            cur.execute("DO RELEASE_ALL_LOCKS()")


def _schema_and_name(parts: tuple[str, ...]) -> list[str | None]:
    """``[database or None, table]`` for catalog queries (None: the connection's database)."""
    return [parts[0] if len(parts) == 2 else None, parts[-1]]


def _connectorx() -> Any:
    try:
        import connectorx
    except ImportError:
        return None
    return connectorx


def _lossless(got: pa.DataType, want: pa.DataType) -> bool:
    """Whether ConnectorX's type casts to the column's type without changing any value."""
    if got == want:
        return True
    if pa.types.is_boolean(want):
        return pa.types.is_integer(got)
    if pa.types.is_binary(want):
        return pa.types.is_large_binary(got) or pa.types.is_binary(got)
    if pa.types.is_string(want):
        return pa.types.is_large_string(got)
    if pa.types.is_timestamp(want):
        return pa.types.is_timestamp(got) and got.unit == want.unit and got.tz is None  # session zone is UTC
    if pa.types.is_decimal(want):
        # ConnectorX parses into rust_decimal, which holds 28 digits: more integer digits than fit beside its
        # scale would be rounded (and make it panic), so such columns are read through pymysql
        return (pa.types.is_decimal(got) and got.scale >= want.scale
                and want.precision - want.scale <= min(got.precision, CX_DECIMAL_DIGITS) - got.scale)
    if pa.types.is_integer(want):
        return pa.types.is_integer(got) and pa.types.is_signed_integer(got) == pa.types.is_signed_integer(want) \
            and got.bit_width <= want.bit_width
    return False


def _cx_batches(reader: pa.RecordBatchReader, first: pa.RecordBatch | None, target: pa.Schema,
                mapped: Any, ended: Any) -> Iterator[pa.RecordBatch]:
    def convert(batch: pa.RecordBatch) -> pa.RecordBatch:
        if batch.schema == target:
            return batch
        columns = []
        for c, f in zip(batch.columns, target):
            if c.type == f.type:
                columns.append(c)
            elif pa.types.is_boolean(f.type):
                columns.append(pc.not_equal(c, 0))
            elif pa.types.is_decimal128(f.type):
                columns.append(_rescaled(c, f.type))
            else:
                columns.append(c.cast(f.type))  # checked: fails rather than lose a digit
        return pa.RecordBatch.from_arrays(columns, schema=target)

    try:
        with mapped():
            if first is not None:
                yield convert(first)
                for batch in reader:
                    yield convert(batch)
            ended(reader)
    finally:
        with contextlib.suppress(Exception):
            reader.close()


def _rescaled(column: pa.Array, want: pa.DataType) -> pa.Array:
    """A ConnectorX decimal column (``decimal128(38, 10)``) at the column's own precision and scale, exactly.

    Arrow's checked cast divides each 128-bit value on its own: the largest cost unistore added to a
    ConnectorX read of a table with a DECIMAL column. When every value fits 64 bits (below 922337203.0
    in magnitude, at scale 10), numpy makes the same division a column at a time, with the same checks
    (no digit dropped, every value within the precision); anything else goes through Arrow's cast.
    """
    import numpy as np

    got, n = column.type, len(column)
    if not pa.types.is_decimal128(got) or column.offset or n == 0:
        return column.cast(want)
    words = np.frombuffer(column.buffers()[1], dtype=np.int64, count=2 * n).reshape(n, 2)
    low, high = words[:, 0], words[:, 1]
    quotient, remainder = np.divmod(low, 10 ** (got.scale - want.scale))
    limit = 10 ** want.precision if want.precision <= 18 else None  # an int64 is within any wider precision
    if (not np.array_equal(high, low >> 63) or remainder.any()
            or (limit is not None and ((quotient >= limit) | (quotient <= -limit)).any())):
        return column.cast(want)  # checked: fails rather than lose a digit
    values = np.empty((n, 2), dtype=np.int64)
    values[:, 0] = quotient
    values[:, 1] = quotient >> 63
    return pa.Array.from_buffers(want, n, [column.buffers()[0], pa.py_buffer(values)], column.null_count)


def _text(v: Any) -> Any:
    return v.decode() if isinstance(v, (bytes, bytearray)) else v


# -- types: the protocol's column description -> Arrow ------------------------------------

def description_schema(cur: Any) -> pa.Schema:
    """Arrow types from the result's column definitions (type code, length, scale, flags, charset)."""
    fields = cur._result.fields if cur._result is not None else []
    return pa.schema([pa.field(f.name, field_type(f)) for f in fields])


def field_type(f: Any) -> pa.DataType:
    code, unsigned = f.type_code, bool(f.flags & UNSIGNED_FLAG)
    if code == TINY:
        return pa.bool_() if f.length == 1 and not unsigned else (pa.uint8() if unsigned else pa.int8())
    ints = {SHORT: (pa.int16(), pa.uint16()), INT24: (pa.int32(), pa.uint32()), LONG: (pa.int32(), pa.uint32()),
            LONGLONG: (pa.int64(), pa.uint64()), YEAR: (pa.int16(), pa.int16())}
    if code in ints:
        return ints[code][unsigned]
    if code == FLOAT:
        return pa.float32()
    if code == DOUBLE:
        return pa.float64()
    if code in (DECIMAL, NEWDECIMAL):
        scale = f.scale
        precision = f.length - (1 if scale > 0 else 0) - (0 if unsigned else 1)
        precision = max(precision, scale, 1)
        return pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)
    if code in (DATE, NEWDATE):
        return pa.date32()
    if code == DATETIME:
        return pa.timestamp("us")
    if code == TIMESTAMP:
        return pa.timestamp("us", "UTC")
    if code == TIME:
        return pa.time64("us")
    if code == NULL:
        return pa.null()
    if code in (BIT, GEOMETRY):
        return pa.binary()
    if code in _TEXT:
        return pa.binary() if f.charsetnr == BINARY_CHARSET and code != JSON else pa.string()
    return pa.string()


def _batches(cur: Any, schema: pa.Schema, batch_size: int, mapped: Any, ended: Any) -> Iterator[pa.RecordBatch]:
    """Arrow batches from an unbuffered cursor; ``ended(cur)`` once it is read to its end."""
    try:
        with mapped():
            while True:
                rows = cur.fetchmany(batch_size)
                if not rows:
                    ended(cur)
                    return
                columns = zip(*rows)
                yield pa.RecordBatch.from_arrays(
                    [column_array(values, f.type, f.name) for values, f in zip(columns, schema)], schema=schema)
    finally:
        with contextlib.suppress(Exception):
            cur.close()


def column_array(values: tuple, target: pa.DataType, name: str) -> pa.Array:
    """One column from protocol text (str, or bytes for binary columns) to ``target``."""
    try:
        if pa.types.is_binary(target):
            return pa.array(values, pa.binary())
        if pa.types.is_null(target):
            return pa.nulls(len(values))
        text = pa.array(values, pa.string())
        if pa.types.is_string(target):
            return text
        if pa.types.is_boolean(target):
            return pc.not_equal(pc.cast(text, pa.int8()), 0)
        if pa.types.is_timestamp(target):
            naive = pc.cast(text, pa.timestamp("us"))
            return naive if target.tz is None else naive.cast(target)
        if pa.types.is_time(target):
            return pa.array([_micros(v) for v in values], pa.int64()).cast(target)
        return pc.cast(text, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, ValueError) as exc:
        raise QueryError(f"column {name!r} holds values that are not {target}: {exc}") from None


def _micros(v: str | None) -> int | None:
    """MySQL TIME text ``[-]HH:MM:SS[.ffffff]`` -> microseconds (within a day for Arrow time64)."""
    if v is None:
        return None
    sign = -1 if v.startswith("-") else 1
    hms, _, frac = v.lstrip("-").partition(".")
    h, m, s = (int(x) for x in hms.split(":"))
    micros = sign * (((h * 60 + m) * 60 + s) * 1_000_000 + int((frac + "000000")[:6]))
    if not 0 <= micros < 86_400_000_000:
        raise ValueError(f"TIME value {v!r} is outside 00:00:00-23:59:59 (Arrow time64); cast it in the query")
    return micros
