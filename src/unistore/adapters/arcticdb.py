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
"""

from __future__ import annotations

import datetime as dt
import os
import threading
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
from ..adapter import Adapter, Capabilities, Connection, Scan
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

    capabilities: ClassVar[Capabilities] = Capabilities(queries=False, listing=True, as_of=True, replay_exact=True)
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
        return _clean(self._read(symbol, None, row_range=(0, 0))).schema

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

    def scan(self, spec: ReadSpec) -> Scan:
        window = ts.time_range(spec.options)
        symbol = self._symbol(spec.table)
        version = self._version(symbol, spec)
        full = _clean(self._read(symbol, version, row_range=(0, 0))).schema
        index = full.names[0] if full.names and pa.types.is_timestamp(full.field(0).type) else None
        if window.shape == "long":
            spec.check_columns(full, f"symbol {symbol}")
        kwargs: dict[str, Any] = {}
        if window.start is not None or window.end is not None:
            if index is None:
                raise BadSpecError(f"symbol {symbol!r} has no time index, so start=/end= cannot apply")
            kwargs["date_range"] = _date_range(window, full.field(0).type)
        needed = spec.needed_columns if window.shape == "long" and spec.columns else None
        if needed is not None:
            kwargs["columns"] = [c for c in full.names if c in needed and c != index]
        table = _clean(self._read(symbol, version, **kwargs))
        if window.end is not None and index is not None and table.num_rows:
            table = table.filter(pc.less(table.column(index), pa.scalar(window.end).cast(table.schema.field(0).type)))
        residual = spec.filter
        if window.shape == "wide":
            if index is None:
                raise BadSpecError(f"shape='wide' needs a time index; symbol {symbol!r} has none")
            if residual is not None:
                table = table.filter(residual.to_arrow())
                residual = None
            table = _wide(table, index, spec.options.get("labels"), symbol)
        return Scan(
            schema=table.schema,
            batches=table.to_batches(max_chunksize=spec.batch_size),
            snapshot=Snapshot(kind="arcticdb.version", value=version, consistent=True, replayable=True,
                              pins={"library": self.library_name, "symbol": symbol, "version": version,
                                    **({"as_of": str(spec.as_of)} if spec.as_of is not None else {})}),
            dataset=Dataset(system="arcticdb", uri=self.uri, namespace=f"arcticdb+lmdb://{self.path}",
                            name=f"{self.library_name}.{symbol}"),
            query=Query(
                language="arcticdb",
                text=f"read {symbol} version {version}"
                     + (f" date_range {kwargs['date_range'][0]} .. {kwargs['date_range'][1]}" if "date_range" in kwargs else "")
                     + (f" columns {', '.join(kwargs['columns'])}" if "columns" in kwargs else ""),
                pushed_down={"columns": "columns" in kwargs, "filter": False, "limit": False,
                             "time_range": "date_range" in kwargs, "shape": window.shape},
            ),
            residual=residual,
        )


def _date_range(window: ts.TimeRange, index_type: pa.DataType) -> tuple[Any, Any]:
    """ArcticDB's inclusive date_range for the half-open [start, end) (the end is trimmed after the read)."""
    import pandas as pd

    def stamp(value: dt.datetime | None):
        if value is None:
            return None
        return pd.Timestamp(value) if index_type.tz else pd.Timestamp(value.replace(tzinfo=None))

    return stamp(window.start), stamp(window.end)


def _clean(table: pa.Table) -> pa.Table:
    """Drop the pandas metadata and keep plain (not large) strings (a zero-copy cast otherwise)."""
    return table.cast(pa.schema([f.with_type(pa.string()) if pa.types.is_large_string(f.type) else f
                                 for f in table.schema]))


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
