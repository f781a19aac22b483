"""ArcticDB libraries on LMDB: symbols as tables, every version readable again.

``arcticdb+lmdb:///path/to/store?library=name``. LMDB must not be opened
twice in one process, so unistore keeps one ``Arctic`` per path; a caller
that already has one passes it as ``arctic=``. ArcticDB is licensed
BUSL-1.1, which restricts production use: it is an optional extra
(``pip install 'unistore[arcticdb]'``), never a core dependency and never
the embedded default — check that your use is allowed before installing it.

A symbol reads as a table (its time index first, then its columns); numeric
columns pass from ArcticDB's frames to Arrow without copies. ``start``/``end``
become ArcticDB's ``date_range`` (half-open like every unistore range) and
the projection its ``columns``. ``as_of=`` takes a version number, a snapshot
name or a datetime; the snapshot recorded is the exact symbol version read,
so :func:`unistore.replay` reads that version again (replayable).

Floats that ArcticDB keeps as NaN (pandas' missing value) come back as nulls,
as ``pyarrow.Table.from_pandas`` gives them.

``partitions=N`` reads row ranges of the one version the plan pins
(:meth:`ArcticDBSource.plan`): consistent by construction, since a version
never changes.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from .. import timeseries as ts
from ..errormap import ErrorTable, Rule, mapped_errors
from ..errors import BadSpecError, QueryError, SnapshotUnavailableError, SourceNotFoundError
from ..location import Location
from ..provenance import Dataset, Query
from ..registry import require
from ..snapshot import Snapshot
from ..adapter import Adapter, Capabilities, Connection, ReadPlan, Scan, Split, check_max_splits
from ..spec import ReadSpec


_ARCTIC = ("arcticdb.exceptions.ArcticException",)
#: reading a symbol (where: the source's URI)
READ_ERRORS = ErrorTable(Rule(QueryError, "ArcticDB could not read {symbol!r}: {text}", classes=_ARCTIC))
#: finding the version an as_of names
VERSION_ERRORS = ErrorTable(Rule(SnapshotUnavailableError,
                                 "symbol {symbol!r} has no version matching as_of={as_of!r} in {where}: {text}",
                                 classes=_ARCTIC))

_lock = threading.Lock()
_instances: dict[str, Any] = {}


def _arctic(module: Any, path: str) -> Any:
    """One ``Arctic`` per LMDB directory per process: LMDB does not support opening a path twice."""
    with _lock:
        instance = _instances.get(path)
        if instance is None:
            instance = _instances[path] = module.Arctic(f"lmdb://{path}")
        return instance


class ArcticDBAdapter(Adapter):
    #: ``arctic``: an ``arcticdb.Arctic`` the caller already opened on the same LMDB path
    open_options: ClassVar[frozenset[str]] = frozenset({"arctic"})

    def open(self, location: Location, **options: Any) -> "ArcticDBSource":
        return ArcticDBSource(location, **options)


class ArcticDBSource(Connection):
    """One ArcticDB library in an LMDB directory."""

    capabilities: ClassVar[Capabilities] = Capabilities(queries=False, listing=True, as_of=True, replay_exact=True,
                                                        splits=True)
    read_options: ClassVar[frozenset[str]] = frozenset({"start", "end", "shape", "labels"})

    def __init__(self, location: Location, *, arctic: Any = None):
        super().__init__(location)
        self._arcticdb = require("arcticdb", extra="arcticdb", what="reading ArcticDB (BUSL-1.1, optional)")
        raw = location.raw.split("://", 1)[1].split("?", 1)[0]
        self.path = os.path.abspath(raw if raw.startswith("/") else raw)
        self.library_name = dict(location.query).get("library")
        if not self.library_name:
            raise BadSpecError(f"{location.redacted()} names no library; add ?library=NAME")
        if not os.path.isdir(self.path):  # never create a store by reading one
            raise SourceNotFoundError(f"no ArcticDB store at {self.path}")
        if arctic is not None and not isinstance(arctic, self._arcticdb.Arctic):
            raise BadSpecError(f"arctic= must be an arcticdb.Arctic, got {type(arctic).__name__}")
        self.arctic = arctic if arctic is not None else _arctic(self._arcticdb, self.path)
        if not self.arctic.has_library(self.library_name):
            raise SourceNotFoundError(f"no library {self.library_name!r} in the ArcticDB store at {self.path}")
        self.library = self.arctic.get_library(self.library_name)

    def tables(self) -> list[str]:
        return sorted(self.library.list_symbols())

    def schema(self, table: str | tuple[str, ...]) -> pa.Schema:
        symbol = self._symbol(table)
        return _clean(self._read(symbol, None, row_range=(0, 0)), _object_types(self._description(symbol, None))).schema

    # -- the read --------------------------------------------------------------------------
    def _symbol(self, table: str | tuple[str, ...] | None) -> str:
        if table is None:
            raise BadSpecError(f"name a symbol to read from {self.uri} (table=...)")
        symbol = ".".join(table) if isinstance(table, tuple) else table
        if not self.library.has_symbol(symbol):
            raise SourceNotFoundError(f"no symbol {symbol!r} in library {self.library_name} at {self.path}")
        return symbol

    def _read(self, symbol: str, version: int | None, **kwargs: Any) -> pa.Table:
        """Read through pandas and ``Table.from_pandas``: numeric columns pass zero-copy.

        ArcticDB's own Arrow output converts a UTC index with
        ``assume_timezone`` (about 2.5x slower on 10 M rows), so the pandas
        path is the fast one; it also turns NaN into null like pandas users expect.
        """
        with mapped_errors(READ_ERRORS, self.uri, self.location.secrets, symbol=symbol):
            frame = self.library.read(symbol, as_of=version, **kwargs).data
        table = pa.Table.from_pandas(frame, preserve_index=None)
        index = [n for n in (frame.index.names or []) if n is not None and n in table.column_names]
        if index:  # the time index first, as stored
            table = table.select(index + [n for n in table.column_names if n not in index])
        return table

    def _version(self, symbol: str, spec: ReadSpec) -> int:
        """The exact version to read: the replayed pin, the as_of= asked for, or the latest."""
        if spec.pin is not None and spec.pin.kind == "arcticdb.version":
            as_of: Any = int(spec.pin.value)
        else:
            as_of = spec.as_of
            if isinstance(as_of, dt.datetime):
                as_of = ts.utc(as_of, "as_of")
            elif isinstance(as_of, dt.date):
                raise BadSpecError("as_of for ArcticDB is a version number, a snapshot name or a datetime")
        with mapped_errors(VERSION_ERRORS, self.uri, self.location.secrets, symbol=symbol, as_of=as_of):
            return int(self.library.read_metadata(symbol, as_of=as_of).version)

    def _description(self, symbol: str, version: int | None) -> Any:
        with mapped_errors(READ_ERRORS, self.uri, self.location.secrets, symbol=symbol):
            return self.library.get_description(symbol, as_of=version)

    def _request(self, spec: ReadSpec, symbol: str, version: int, window: ts.TimeRange) -> "_Request":
        """What to ask ArcticDB for (``date_range``, ``columns``), the request checked against the symbol."""
        full = _clean(self._read(symbol, version, row_range=(0, 0))).schema
        index = full.names[0] if full.names and pa.types.is_timestamp(full.field(0).type) else None
        if window.shape == "long":
            spec.check_columns(full, f"symbol {symbol}")
        elif index is None:
            raise BadSpecError(f"shape='wide' needs a time index; symbol {symbol!r} has none")
        kwargs: dict[str, Any] = {}
        if window.start is not None or window.end is not None:
            if index is None:
                raise BadSpecError(f"symbol {symbol!r} has no time index, so start=/end= cannot apply")
            kwargs["date_range"] = _date_range(window, full.field(0).type)
        needed = spec.needed_columns if window.shape == "long" and spec.columns else None
        if needed is not None:
            kwargs["columns"] = [c for c in full.names if c in needed and c != index]
        return _Request(symbol, version, index, kwargs)

    def _prepare(self, spec: ReadSpec, version: int | None = None) -> tuple[ts.TimeRange, "_Request"]:
        """The time window and the request of a read of ``version`` (None: the one ``spec`` asks for)."""
        window = ts.time_range(spec.options)
        symbol = self._symbol(spec.table)
        return window, self._request(spec, symbol, self._version(symbol, spec) if version is None else version, window)

    def scan(self, spec: ReadSpec) -> Scan:
        return self._scan(spec, *self._prepare(spec))

    def plan(self, spec: ReadSpec, max_splits: int) -> ReadPlan:
        """Row ranges of the pinned version (of its rows in ``start``/``end``), sized from its row count.

        Versions are immutable, so the splits read one state by construction.
        The last range is open-ended: an estimate that is off (a time window's
        rows are estimated from its share of the symbol's time span) moves
        rows between splits but never loses one. The wide shape (one column
        per series of the whole range) is one split.
        """
        check_max_splits(max_splits)
        window, request = self._prepare(spec)
        rows = _rows_in(self._description(request.symbol, request.version), window)
        n = 1 if window.shape == "wide" else max(1, min(max_splits, rows))
        starts = [i * rows // n for i in range(n)]
        stops: list[int | None] = [*starts[1:], None]
        splits = tuple(Split(index=i, payload=_Rows(request.version, lo, hi), covers={"rows": [lo, hi]},
                             rows=(rows if hi is None else hi) - lo)
                       for i, (lo, hi) in enumerate(zip(starts, stops)))
        return ReadPlan(splits=splits, snapshot=_snapshot(spec, self.library_name, request), consistent=True,
                        method="row ranges", query=_query(request, window),
                        consistency=f"one state by construction: every split reads version {request.version} "
                                    f"of {request.symbol!r}, and an ArcticDB version never changes")

    def scan_split(self, spec: ReadSpec, split: Split) -> Scan:
        """The rows ``split`` covers, of the version the plan pinned."""
        part = split.payload
        if not isinstance(part, _Rows):
            return self.scan(spec)
        return self._scan(spec, *self._prepare(spec, part.version), part)

    def _scan(self, spec: ReadSpec, window: ts.TimeRange, request: "_Request", part: "_Rows | None" = None) -> Scan:
        """Read the request (``part``: only those rows, counted among the rows of the time window)."""
        symbol, index, kwargs = request.symbol, request.index, dict(request.kwargs)
        if part is not None and (part.start, part.stop) != (0, None):
            if "date_range" in kwargs:  # one range per read argument: the rows go through the query builder
                kwargs["query_builder"] = self._arcticdb.QueryBuilder().row_range((part.start, part.stop))
            else:
                kwargs["row_range"] = (part.start, part.stop)
        table = _clean(self._read(symbol, request.version, **kwargs),
                       _object_types(self._description(symbol, request.version)))
        if window.end is not None and index is not None and table.num_rows:
            table = table.filter(pc.less(table.column(index), pa.scalar(window.end).cast(table.schema.field(0).type)))
        residual = spec.filter
        if window.shape == "wide":
            assert index is not None
            if residual is not None:
                table = table.filter(residual.to_arrow())
                residual = None
            table = _wide(table, index, spec.options.get("labels"), symbol)
        return Scan(
            schema=table.schema,
            batches=table.to_batches(max_chunksize=spec.batch_size),
            snapshot=_snapshot(spec, self.library_name, request),
            dataset=Dataset(system="arcticdb", uri=self.uri, namespace=f"arcticdb+lmdb://{self.path}",
                            name=f"{self.library_name}.{symbol}"),
            query=_query(request, window, part),
            residual=residual,
        )


@dataclass(frozen=True)
class _Request:
    """One read of a symbol version, before it is sent: ``kwargs`` of ``Library.read`` (date_range, columns)."""

    symbol: str
    version: int
    index: str | None
    kwargs: dict[str, Any]


@dataclass(frozen=True)
class _Rows:
    """A split's payload: rows ``[start, stop)`` (None: to the end) of the read of ``version``."""

    version: int
    start: int
    stop: int | None


def _snapshot(spec: ReadSpec, library: str, request: _Request) -> Snapshot:
    """The exact symbol version read: replay reads it again."""
    return Snapshot(kind="arcticdb.version", value=request.version, consistent=True, replayable=True,
                    pins={"library": library, "symbol": request.symbol, "version": request.version,
                          **({"as_of": str(spec.as_of)} if spec.as_of is not None else {})})


def _query(request: _Request, window: ts.TimeRange, part: _Rows | None = None) -> Query:
    """The read as text for the record (``part``: the rows one split read)."""
    kwargs = request.kwargs
    text = f"read {request.symbol} version {request.version}"
    if "date_range" in kwargs:
        text += f" date_range {kwargs['date_range'][0]} .. {kwargs['date_range'][1]}"
    if "columns" in kwargs:
        text += f" columns {', '.join(kwargs['columns'])}"
    if part is not None:
        text += f" rows [{part.start}, {'end' if part.stop is None else part.stop})"
    return Query(language="arcticdb", text=text,
                 pushed_down={"columns": "columns" in kwargs, "filter": False, "limit": False,
                              "time_range": "date_range" in kwargs, "shape": window.shape})


def _rows_in(description: Any, window: ts.TimeRange) -> int:
    """The version's rows, or an estimate of those in the time window from its share of the indexed span."""
    rows = int(description.row_count or 0)
    if (window.start is None and window.end is None) or not rows:
        return rows
    first, last = (_ns(t) for t in description.date_range)
    if first is None or last is None:  # unsorted or not time-indexed: no span to take a share of
        return rows
    lo = max(first, _ns(window.start) if window.start is not None else first)
    hi = min(last + 1, _ns(window.end) if window.end is not None else last + 1)
    return -(-rows * (hi - lo) // (last + 1 - first)) if hi > lo else 0  # rounded up


def _ns(value: Any) -> int | None:
    """Nanoseconds since the epoch of a datetime or ArcticDB index bound (naive: UTC); None for NaT."""
    import pandas as pd

    stamp = pd.Timestamp(value)
    if stamp is pd.NaT:
        return None
    return (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp).value


def _date_range(window: ts.TimeRange, index_type: pa.DataType) -> tuple[Any, Any]:
    """ArcticDB's inclusive date_range for the half-open [start, end) (the end is trimmed after the read)."""
    import pandas as pd

    def stamp(value: dt.datetime | None):
        if value is None:
            return None
        return pd.Timestamp(value) if index_type.tz else pd.Timestamp(value.replace(tzinfo=None))

    return stamp(window.start), stamp(window.end)


def _clean(table: pa.Table, object_types: dict[str, pa.DataType] | None = None) -> pa.Table:
    """Drop the pandas metadata and keep plain (not large) strings (a zero-copy cast otherwise).

    pandas hands string, bytes and nullable boolean columns over as objects,
    typed by what they hold: ``object_types`` types a column holding only
    missing values (Arrow's null type otherwise), so every piece of a read has
    the same schema.
    """
    types = object_types or {}

    def typed(f: pa.Field) -> pa.Field:
        if pa.types.is_large_string(f.type):
            return f.with_type(pa.string())
        return f.with_type(types[f.name]) if pa.types.is_null(f.type) and f.name in types else f

    return table.cast(pa.schema([typed(f) for f in table.schema]))


#: ArcticDB data types (their names' stems) that pandas hands over as object columns, and their Arrow type
_OBJECT_STEMS = (("UTF", pa.string()), ("ASCII", pa.string()), ("BYTES", pa.binary()), ("BOOL_OBJECT", pa.bool_()))


def _object_types(description: Any) -> dict[str, pa.DataType]:
    """The Arrow type of each object column of a symbol version, from ArcticDB's description of it."""
    out = {}
    for column in description.columns:
        name = column.dtype.data_type().name
        for stem, arrow in _OBJECT_STEMS:
            if name.startswith(stem):
                out[column.name] = arrow
    return out


def _wide(table: pa.Table, index: str, labels: Any, symbol: str) -> pa.Table:
    """One column per (label values, value column); labels default to the string columns."""
    names = [n for n in table.column_names if n != index]
    if labels is None:
        labels = [n for n in names if pa.types.is_string(table.schema.field(n).type)]
    elif isinstance(labels, str) or not all(isinstance(n, str) for n in labels):
        raise BadSpecError("labels must be a list of column names")
    missing = sorted(set(labels) - set(names))
    if missing:
        raise BadSpecError(f"labels {missing} are not columns of {symbol!r}")
    values = [n for n in names if n not in labels and (pa.types.is_floating(table.schema.field(n).type)
                                                         or pa.types.is_integer(table.schema.field(n).type))]
    out = None
    for v in values:
        part = table.select([index, *labels, v]).rename_columns([ts.TIMESTAMP, *labels, ts.VALUE])
        part = part.set_column(part.num_columns - 1, ts.VALUE, part.column(ts.VALUE).cast(pa.float64()))
        part = part.filter(pc.is_valid(part.column(ts.VALUE)))
        wide = ts.long_to_wide(part, metric=symbol if len(values) == 1 else f"{symbol}.{v}")
        out = wide if out is None else out.join(wide, ts.TIMESTAMP, join_type="full outer")
    if out is None:
        raise BadSpecError(f"symbol {symbol!r} has no numeric columns to spread into series")
    return out.sort_by(ts.TIMESTAMP)
