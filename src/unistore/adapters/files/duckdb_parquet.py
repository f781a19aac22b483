"""Parquet read through DuckDB, returning exactly what the pyarrow path returns.

DuckDB's Parquet reader is leaner than pyarrow.dataset's (on a selective read it
decodes the other columns only for rows the filter keeps, and it reads no further
ahead than it must), so the files adapter reads Parquet through it when
``engine="duckdb"`` asks, or when ``"auto"`` finds it the better of the two
(:func:`auto_prefers_duckdb`). Whichever engine reads, the caller gets the same table:

- the files: exactly the snapshot's objects, never a new listing. Local files are
  named to DuckDB by path; objects anywhere else are served by :class:`SnapshotFiles`,
  an fsspec file system that knows only those objects (at their pinned versions when
  the read is exact) and answers DuckDB's glob and stat calls from the snapshot. The
  in-process database can reach nothing else: external access is off except for those
  paths, no extension is installed or loaded, and the configuration is locked.
- the types: every batch is cast to the schema pyarrow gives. A column DuckDB cannot
  return exactly (nanosecond timestamps, which may be stored as INT96; decimals wider
  than 38 digits; float16; dictionaries; maps; extension types) keeps the read on
  pyarrow (:func:`inexact_columns`).
- the partition values: taken from pyarrow's hive partitioning of the paths and bound
  as a list per column, which each row indexes by its file's position (DuckDB's own
  hive parsing decodes and types values its own way).
- the filter: a predicate goes to DuckDB, as bound parameters and quoted identifiers,
  when DuckDB evaluates it as pyarrow does for that column and value type; any other
  predicate is applied afterwards by the read engine (the residual). On floating
  columns DuckDB's NaN handling differs (:func:`_loose`): the rows it keeps with a
  NaN that the filter rejects are dropped afterwards.
- the order: DuckDB keeps the files' row order (``preserve_insertion_order``), so a
  limit keeps the same rows and an ordered digest is the same.
"""

from __future__ import annotations

import datetime as dt
import decimal
import posixpath
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.dataset as ds

from ...errors import BadSpecError
from ...filters import Filter, Predicate, short
from . import duckdb_databases as databases

ENGINES = ("auto", "pyarrow", "duckdb")
#: the protocol :class:`SnapshotFiles` is registered under in a read's own DuckDB database
PROTOCOL = "unistore-snapshot"
#: characters DuckDB expands in a file name (a local path holding one is served by SnapshotFiles instead)
GLOB_CHARACTERS = frozenset("*?[]{}\\")


def engine_option(options: Any) -> str:
    """The ``engine`` read option (None: ``"auto"``), checked before anything is read."""
    value = options.get("engine")
    if value is None:
        return "auto"
    if not isinstance(value, str) or value not in ENGINES:
        raise BadSpecError(f"engine must be one of {', '.join(map(repr, ENGINES))}, got {short(value)}")
    return value


#: ``"auto"``: below this many bytes of Parquet, a read's own DuckDB database (15-20 ms to open) costs
#: more than DuckDB saves
AUTO_MIN_BYTES = 8 * 2**20


def auto_prefers_duckdb(spec: Any, size: int) -> bool:
    """Whether ``"auto"`` reads through DuckDB, as benchmarks/bench_embedded.py and bench_object_stores.py measured.

    DuckDB wins when a read narrows: on local disk (420 MB, 10 M rows) a projection took it 0.63x
    the time of pyarrow's fastest path (``Table.from_batches(scanner.to_batches())``), a
    selective filter 0.45x, hive partitions filtered 0.64x, each with less memory. A whole
    read is pyarrow's: DuckDB took 1.2x its time flat and 1.9x over hive partitions (with
    0.6x and 0.85x its peak memory). On S3 (a moto server, 588 MB) pyarrow's native client
    read whole files in 3.4 s, where DuckDB, asking the fsspec client for one column chunk at
    a time, took 24 s; a projection or a filter took 25 s through DuckDB and 68 s through pyarrow.
    A ``limit=`` stops DuckDB's scan where pyarrow's scanner has read far ahead (100 rows of
    630 MB: 195 MB peak against 476 MB).
    """
    narrowed = spec.filter is not None or spec.columns is not None or spec.limit is not None
    return size >= AUTO_MIN_BYTES and narrowed


# -- what DuckDB returns exactly ---------------------------------------------------

def _exact(t: pa.DataType) -> bool:
    """Whether DuckDB returns a Parquet column pyarrow reads as ``t`` with the same values (cast back to ``t``)."""
    if pa.types.is_timestamp(t):
        return t.unit != "ns"  # INT96 is read as nanoseconds by pyarrow, as microseconds by DuckDB
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _exact(t.value_type)
    if pa.types.is_struct(t):
        return t.num_fields > 0 and all(_exact(t.field(i).type) for i in range(t.num_fields))
    return (pa.types.is_integer(t) or t in (pa.float32(), pa.float64(), pa.bool_(), pa.date32())
            or pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t)
            or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t) or pa.types.is_time(t)
            or pa.types.is_decimal128(t))


def inexact_columns(schema: pa.Schema, names: Sequence[str]) -> list[str]:
    """The columns of ``names`` whose values DuckDB cannot return exactly as pyarrow does, each with why."""
    problems = [f"{n} ({schema.field(n).type})" for n in names if not _exact(schema.field(n).type)]
    folded: dict[str, str] = {}
    for name in schema.names:  # DuckDB matches names case-insensitively
        if name.lower() in folded:
            problems.append(f"{folded[name.lower()]} and {name} (names differing only in case)")
        folded.setdefault(name.lower(), name)
    return problems


# -- the filter ----------------------------------------------------------------------

_INT64 = (-(2**63), 2**63 - 1)


def _sendable(t: pa.DataType, value: Any, op: str) -> bool:
    """Whether DuckDB compares a ``t`` column with ``value`` as pyarrow does (else pyarrow applies it)."""
    if isinstance(value, bool):
        return pa.types.is_boolean(t)
    if isinstance(value, int):
        return (pa.types.is_integer(t) or pa.types.is_floating(t)) and _INT64[0] <= value <= _INT64[1]
    if isinstance(value, float):  # pyarrow refuses a set of floats for an integer column
        return pa.types.is_floating(t) or (pa.types.is_integer(t) and op not in ("in", "not in"))
    if isinstance(value, decimal.Decimal):
        return pa.types.is_decimal(t) and value.is_finite()
    if isinstance(value, str):
        return pa.types.is_string(t) or pa.types.is_large_string(t)
    if isinstance(value, bytes):
        return pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t)
    if isinstance(value, dt.datetime):  # pyarrow compares only within one time zone (or none)
        return pa.types.is_timestamp(t) and pa.scalar(value).type.tz == t.tz
    if isinstance(value, dt.date):
        return pa.types.is_date32(t)
    if isinstance(value, dt.time):
        return pa.types.is_time(t) and value.tzinfo is None
    return False


def quoted(name: str) -> str:
    """``name`` as a DuckDB identifier (never spliced in unquoted)."""
    return '"' + name.replace('"', '""') + '"'


_SQL_OPS = {"==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def _predicate_sql(p: Predicate, t: pa.DataType) -> tuple[str, list[Any]] | None:
    """``p`` as a DuckDB condition and its parameters, or None when DuckDB would judge it otherwise."""
    c = quoted(p.column)
    if p.op == "is null":
        return f"{c} IS NULL", []
    if p.op == "is not null":
        return f"{c} IS NOT NULL", []
    if pa.types.is_floating(t) and p.op in ("!=", "not in"):
        return None  # NaN passes these; DuckDB may drop it (see _loose)
    if p.op in ("in", "not in"):
        if not all(_sendable(t, v, p.op) for v in p.value):
            return None
        if not p.value:
            return ("false", []) if p.op == "in" else (f"{c} IS NOT NULL", [])
        marks = ", ".join("?" * len(p.value))
        return f"{c} {p.op.upper()} ({marks})", list(p.value)
    if not _sendable(t, p.value, p.op):
        return None
    return f"{c} {_SQL_OPS[p.op]} ?", [p.value]


def _loose(p: Predicate, t: pa.DataType) -> bool:
    """Whether DuckDB may keep a NaN row that ``p`` rejects (pyarrow judges NaN false for it).

    DuckDB ranks NaN above every number (NaN > 3), and judges whole row groups
    from Parquet statistics, which leave NaN out: ``< 3`` over a row group whose
    numbers are all below 3 returned its NaN rows, and ``isnan`` itself was judged
    false from them. On a floating column DuckDB's rows are therefore a superset
    for ``==``, ``<``, ``<=``, ``>``, ``>=`` and ``in`` (it never drops a number
    wrongly); ``!=`` and ``not in``, which NaN passes, are never sent.
    """
    return pa.types.is_floating(t) and p.op not in ("is null", "is not null")


@dataclass(frozen=True)
class Condition:
    """A filter split between DuckDB (``sql`` with ``params``) and the read engine (``residual``).

    ``unsent`` is the part of the filter DuckDB does not evaluate at all. In an
    AND of predicates, a NaN in a column of ``nan_dropped`` fails its predicate:
    those rows are dropped after DuckDB (:func:`_loose`); in an OR the whole
    filter is checked again instead (the residual).
    """

    sql: str | None
    params: tuple[Any, ...]
    residual: Filter | None
    columns: frozenset[str] = frozenset()  # the columns ``sql`` names
    unsent: Filter | None = None
    nan_dropped: tuple[str, ...] = ()

    @property
    def exact(self) -> bool:
        """Whether DuckDB's rows are the filter's rows, so that DuckDB can stop at a limit."""
        return self.residual is None and not self.nan_dropped


def condition(filter: Filter | None, types: dict[str, pa.DataType]) -> Condition:
    """The part of ``filter`` DuckDB evaluates exactly as pyarrow would, and the rest.

    An AND of predicates is split predicate by predicate; an OR goes to DuckDB
    whole or not at all (its clauses cannot be separated).
    """
    if filter is None:
        return Condition(None, (), None)
    sent = [[(p, _predicate_sql(p, types[p.column])) for p in clause] for clause in filter.clauses]
    if len(sent) > 1 and any(s is None for clause in sent for _, s in clause):
        return Condition(None, (), filter, unsent=filter)
    texts, params, columns = [], [], set()
    unsent: list[Predicate] = []
    loose: list[Predicate] = []
    for clause in sent:
        parts = []
        for p, sql in clause:
            if sql is None:
                unsent.append(p)
                continue
            parts.append(sql[0])
            params += sql[1]
            columns.add(p.column)
            if _loose(p, types[p.column]):
                loose.append(p)
        texts.append(" AND ".join(parts))
    if not columns:
        return Condition(None, (), filter, unsent=filter)
    if len(texts) > 1:
        return Condition(" OR ".join(f"({t})" for t in texts), tuple(params), filter if loose else None,
                         frozenset(columns))
    kept = Filter((tuple(unsent),)) if unsent else None
    return Condition(texts[0], tuple(params), kept, frozenset(columns), kept,
                     tuple(dict.fromkeys(p.column for p in loose)))


# -- the files ------------------------------------------------------------------------

@dataclass(frozen=True)
class SnapshotObject:
    """One object of the snapshot, as :class:`SnapshotFiles` serves it."""

    fs: fsspec.AbstractFileSystem  # the file system that reads it
    path: str                       # its name there (a pinned version's name when the read is exact)
    size: int | None
    mtime: dt.datetime


class SnapshotFiles(fsspec.AbstractFileSystem):
    """A read-only file system holding exactly a snapshot's objects, for DuckDB to read through.

    DuckDB globs, stats and opens every file it is given; the glob and the stat
    are answered from the snapshot (no listing, no request), the open goes to the
    store's own file system, by byte ranges (:class:`RangeFile`).
    """

    protocol = PROTOCOL
    cachable = False

    def __init__(self, objects: dict[str, SnapshotObject]):
        super().__init__(skip_instance_cache=True)
        self.objects = objects

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        return path[len(PROTOCOL) + 3:] if path.startswith(PROTOCOL + "://") else path

    def unstrip_protocol(self, name: str) -> str:
        return f"{PROTOCOL}://{self._strip_protocol(name)}"

    def _object(self, path: str) -> SnapshotObject:
        found = self.objects.get(self._strip_protocol(path))
        if found is None:
            raise FileNotFoundError(path)
        return found

    def glob(self, path: str, **kwargs: Any) -> list[str]:
        return [path] if self._strip_protocol(path) in self.objects else []

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        info = self.info(path)
        return [info] if detail else [info["name"]]

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        obj = self._object(path)
        return {"name": self.unstrip_protocol(path), "size": obj.size, "type": "file"}

    def modified(self, path: str) -> dt.datetime:
        return self._object(path).mtime

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> "RangeFile":
        if mode != "rb":
            raise PermissionError(f"{PROTOCOL}: read-only")
        return RangeFile(self._object(path))


class RangeFile:
    """An object read by byte ranges, with a position per thread.

    DuckDB shares one open file between its threads and reads by ``seek``
    then ``read``: on one position the threads' pairs interleave and read each
    other's bytes (a sum over a column came out as 1.9e280, with no error).
    Each thread keeps its own position here, and each read is one ranged
    request of the store's (``cat_file``): exactly the column chunks DuckDB
    asks for, concurrently, with no read-ahead.
    """

    def __init__(self, obj: SnapshotObject):
        self.obj = obj
        self.size = obj.size if obj.size is not None else obj.fs.size(obj.path)
        self.positions: dict[int, int] = {}
        self.closed = False

    def seek(self, offset: int, whence: int = 0) -> int:
        me = threading.get_ident()
        base = {0: 0, 1: self.positions.get(me, 0), 2: self.size}[whence]
        self.positions[me] = base + offset
        return base + offset

    def tell(self) -> int:
        return self.positions.get(threading.get_ident(), 0)

    def read(self, length: int = -1) -> bytes:
        me = threading.get_ident()
        start = self.positions.get(me, 0)
        end = self.size if length is None or length < 0 else min(self.size, start + length)
        if end <= start:
            return b""
        data = self.obj.fs.cat_file(self.obj.path, start=start, end=end)
        self.positions[me] = start + len(data)
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> "RangeFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def snapshot_name(index: int, path: str) -> str:
    """The name DuckDB reads the ``index``-th object by (its base name kept, for messages)."""
    base = posixpath.basename(path.split("?", 1)[0]) or "object"
    return f"{PROTOCOL}://{index}/{base}"


def native_name(path: str) -> bool:
    """Whether DuckDB can open the local ``path`` by its name (it would expand glob characters)."""
    return path.startswith("/") and not (GLOB_CHARACTERS & set(path))


# -- the read ---------------------------------------------------------------------------

_SQL_TYPES = {pa.int8(): "TINYINT", pa.int16(): "SMALLINT", pa.int32(): "INTEGER", pa.int64(): "BIGINT",
              pa.uint8(): "UTINYINT", pa.uint16(): "USMALLINT", pa.uint32(): "UINTEGER", pa.uint64(): "UBIGINT",
              pa.string(): "VARCHAR", pa.large_string(): "VARCHAR", pa.date32(): "DATE", pa.bool_(): "BOOLEAN"}


def partition_sql_type(t: pa.DataType) -> str | None:
    """The DuckDB type a partition column's values are bound as (None: keep the read on pyarrow)."""
    return _SQL_TYPES.get(t)


@dataclass(frozen=True)
class Partition:
    """A partition column: its type, and its value in each file of the read."""

    type: pa.DataType
    values: list[Any]


def partition_values(fragments: list[ds.Fragment], types: dict[str, pa.DataType]) -> dict[str, Partition]:
    """Each partition column's value in each file, in file order (None for null or absent), as pyarrow parsed them."""
    values: dict[str, list[Any]] = {p: [] for p in types}
    for fragment in fragments:
        keys = ds.get_partition_keys(fragment.partition_expression)
        for p in types:
            values[p].append(keys.get(p))
    return {p: Partition(types[p], values[p]) for p in types}


class DuckDBParquet:
    """One read's DuckDB database and the batches it streams, cast to pyarrow's types.

    ``names`` are the files as DuckDB reads them, in the snapshot's order;
    ``partitions`` holds, for each partition column the read touches, its value in
    each file, bound as a list that each row indexes by its file's position
    (``file_index``). ``schema`` is what pyarrow's scanner would return for the
    read (the output columns, then any column only the residual filter needs),
    followed by the columns only ``cond.nan_dropped`` needs, which are dropped
    before the batches leave (the first ``keep`` columns stay).
    """

    def __init__(self, names: list[str], partitions: dict[str, Partition], schema: pa.Schema, keep: int,
                 cond: Condition, limit: int | None, batch_size: int, *, allowed: list[str],
                 filesystem: SnapshotFiles | None):
        self.names, self.partitions, self.schema = names, partitions, schema
        self.output = pa.schema(list(schema)[:keep], metadata=schema.metadata)
        self.cond, self.limit, self.batch_size = cond, limit, batch_size
        self.drained = False  # every batch taken: nothing of the query is in use any more
        self.con = databases.take()
        try:
            self.con.execute("SET TimeZone = 'UTC'")  # a tz-aware bound value means the same instant everywhere
            self.con.execute("SET preserve_insertion_order = true")  # the files' row order, as pyarrow returns it
            if filesystem is not None:
                self.con.register_filesystem(filesystem)
                self.con.execute("SET allowed_directories = ?", [[f"{PROTOCOL}://"]])
            if allowed:
                self.con.execute("SET allowed_paths = ?", [allowed])
            self.con.execute("SET enable_external_access = false")
            self.con.execute("SET lock_configuration = true")
        except BaseException:
            self.con.close()
            raise

    def query(self) -> tuple[str, list[Any]]:
        """The SQL text and its parameters: values (file names, partition values, filter values) only ever
        as parameters, names only as quoted identifiers."""
        params: list[Any] = []
        wanted = list(self.schema.names) + sorted(self.cond.columns - set(self.schema.names))
        inner = [quoted(n) for n in wanted if n not in self.partitions]
        for name, part in self.partitions.items():
            inner.append(f"CAST(? AS {partition_sql_type(part.type)}[])[CAST(file_index AS BIGINT) + 1] "
                         f"AS {quoted(name)}")
            params.append(part.values)
        params.append(self.names)
        # a column missing from some files is null there, as pyarrow reads it
        union = ", union_by_name = true" if len(self.names) > 1 else ""
        sql = (f"SELECT {', '.join(map(quoted, self.schema.names))} "
               f"FROM (SELECT {', '.join(inner)} FROM read_parquet(?{union}))")
        if self.cond.sql is not None:
            sql += f" WHERE {self.cond.sql}"
            params += self.cond.params
        if self.limit is not None and self.cond.exact:
            sql += " LIMIT ?"
            params.append(self.limit)
        return sql, params

    def batches(self) -> Iterator[pa.RecordBatch]:
        """The rows in file order, as batches of ``output``.

        DuckDB hands over a batch per slice of about 32,000 rows it scanned: a
        selective filter leaves a few hundred rows in each, so small batches are
        joined into batches of up to ``batch_size`` rows (every batch costs the
        read engine the same, whatever its size).
        """
        small: list[pa.RecordBatch] = []
        rows = 0
        for batch in self._exact_batches():
            if batch.num_rows >= self.batch_size // 8:
                if small:
                    yield pa.concat_batches(small)
                    small, rows = [], 0
                yield batch
                continue
            small.append(batch)
            rows += batch.num_rows
            if rows >= self.batch_size:
                yield pa.concat_batches(small)
                small, rows = [], 0
        if small:
            yield pa.concat_batches(small)

    def _exact_batches(self) -> Iterator[pa.RecordBatch]:
        """DuckDB's batches with pyarrow's types, without the NaN rows the filter rejects."""
        import pyarrow.compute as pc

        if not self.names:  # every file pruned
            self.drained = True
            return
        sql, params = self.query()
        reader = self.con.sql(sql, params=params).to_arrow_reader(self.batch_size)
        casts = [None if have.type == want.type else want.type for have, want in zip(reader.schema, self.schema)]
        nan_checked = [self.schema.get_field_index(n) for n in self.cond.nan_dropped]
        keep = list(range(len(self.output)))
        for batch in reader:
            batch = pa.RecordBatch.from_arrays(
                [c if t is None else c.cast(t) for c, t in zip(batch.columns, casts)], schema=self.schema)
            nan = None
            for i in nan_checked:
                found = pc.is_nan(batch.column(i))
                nan = found if nan is None else pc.or_(nan, found)
            if nan is not None and pc.any(nan).as_py():
                batch = batch.filter(pc.invert(pc.fill_null(nan, False)))
            if batch.num_rows:
                yield batch if len(keep) == len(self.schema) else pa.RecordBatch.from_arrays(
                    [batch.column(i) for i in keep], schema=self.output)
        self.drained = True

    def close(self) -> None:
        if self.drained:
            databases.release(self.con)  # on another thread: the batches are Arrow's own memory
        else:  # stopped early: the query's stream may still be open, so the database goes now, here
            self.con.close()
