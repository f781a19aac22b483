"""What to read: one validated request that every adapter receives.

The spec is checked for shape here, before any store is touched; adapters
then check it against the target's schema (:meth:`ReadSpec.check_columns`)
before sending the data query, so a misspelt column never reaches a server.
"""

from __future__ import annotations

import datetime as dt
import decimal
import difflib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from .errors import BadSpecError
from .filters import Filter, FilterLike, as_filter, short
from .snapshot import Snapshot

DEFAULT_BATCH_SIZE = 65_536
#: the largest batch a read may ask for: drivers size buffers from it (2**40 aborted the MySQL
#: driver, 2**62 made ADBC panic), and more rows than this in one batch buys no speed
MAX_BATCH_SIZE = 2**24
#: a limit must fit a signed 64-bit integer, the widest every store's LIMIT takes
MAX_LIMIT = 2**63 - 1
#: the most splits ``partitions=`` may ask for (each may hold a connection of its own)
MAX_PARTITIONS = 64
#: the read options every source takes, as keyword arguments of :meth:`ReadSpec.build`;
#: ``partitions`` (read the plan's splits in parallel, see unistore.executor) stays in ``options``
COMMON_OPTIONS = frozenset({"table", "query", "columns", "filter", "limit", "params", "as_of", "batch_size",
                            "partitions"})


@dataclass(frozen=True)
class ReadSpec:
    """A read request. ``table`` or ``query`` names the target; the rest narrows it.

    ``table`` may be a name (``"events"``, ``"shop.public.events"``), a tuple of
    name parts (never split again, for names containing dots), a file path or
    glob relative to the source. ``as_of`` pins a version, snapshot id or
    timestamp where the store supports it.
    """

    table: str | tuple[str, ...] | None = None
    query: str | None = None
    columns: tuple[str, ...] | None = None
    filter: Filter | None = None
    limit: int | None = None
    params: Mapping[str, Any] | Sequence[Any] | None = None
    as_of: Any = None
    batch_size: int = DEFAULT_BATCH_SIZE
    options: Mapping[str, Any] = field(default_factory=dict)
    #: set by :func:`unistore.replay`: the recorded snapshot to read again
    pin: Snapshot | None = None
    #: set by the engine for ``scan``: the caller consumes batch by batch, so adapters bound their
    #: read-ahead (memory) rather than maximise throughput as for a whole-table ``read``; not recorded
    streamed: bool = False

    @classmethod
    def build(
        cls,
        table: str | Sequence[str] | None = None,
        *,
        query: str | None = None,
        columns: Sequence[str] | None = None,
        filter: FilterLike = None,
        limit: int | None = None,
        params: Mapping[str, Any] | Sequence[Any] | None = None,
        as_of: Any = None,
        batch_size: int | None = None,
        **options: Any,
    ) -> "ReadSpec":
        if table is not None and query is not None:
            raise BadSpecError("pass either table= or query=, not both")
        if table is not None:
            if isinstance(table, (list, tuple)):
                if not table or not all(isinstance(p, str) and p for p in table):
                    raise BadSpecError("table parts must be non-empty strings")
                table = tuple(table)
            elif not isinstance(table, str) or not table.strip():
                raise BadSpecError(f"table must be a non-empty string, got {short(table)}")
        if query is not None and (not isinstance(query, str) or not query.strip()):
            raise BadSpecError("query must be a non-empty string")
        if params is not None and query is None:
            raise BadSpecError("params= only applies to query=; use filter= for table reads")
        if params is not None and not isinstance(params, (Mapping, list, tuple)):
            raise BadSpecError("params must be a mapping (named) or a list (positional)")
        if columns is not None:
            if isinstance(columns, str):
                raise BadSpecError("columns must be a list of names, not a single string")
            if not isinstance(columns, Iterable):
                raise BadSpecError(f"columns must be a list of names, got {type(columns).__name__}")
            columns = tuple(columns)
            if not columns or not all(isinstance(c, str) and c for c in columns):
                raise BadSpecError("columns must be a non-empty list of non-empty strings")
            if len(set(columns)) != len(columns):
                raise BadSpecError(f"columns has duplicates: {short(sorted(c for c, n in Counter(columns).items() if n > 1))}")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                                  or not 0 <= limit <= MAX_LIMIT):
            raise BadSpecError(f"limit must be an integer from 0 to 2**63-1, got {short(limit)}")
        if batch_size is None:
            batch_size = DEFAULT_BATCH_SIZE
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 0 < batch_size <= MAX_BATCH_SIZE:
            raise BadSpecError(f"batch_size must be an integer from 1 to 2**24 ({MAX_BATCH_SIZE}), "
                               f"got {short(batch_size)}")
        if as_of is not None and not isinstance(as_of, (int, str, dt.datetime, dt.date)):
            raise BadSpecError("as_of must be a version number, a snapshot id or a datetime")
        partitions = options.get("partitions")
        if partitions is not None and (isinstance(partitions, bool) or not isinstance(partitions, int)
                                       or not 1 <= partitions <= MAX_PARTITIONS):
            raise BadSpecError(f"partitions must be an integer from 1 to {MAX_PARTITIONS} (splits read in "
                               f"parallel), got {short(partitions)}")
        return cls(
            table=table,
            query=query,
            columns=columns,
            filter=None if filter is None else as_filter(filter),
            limit=limit,
            params=params,
            as_of=as_of,
            batch_size=batch_size,
            options=dict(options),
        )

    @property
    def target(self) -> str | None:
        """The table name as one string (dotted), for messages and provenance."""
        if isinstance(self.table, tuple):
            return ".".join(self.table)
        return self.table

    @property
    def needed_columns(self) -> set[str]:
        """Columns the read touches: the projection plus the filter's columns."""
        cols = set(self.columns or ())
        if self.filter is not None:
            cols |= self.filter.columns
        return cols

    def check_columns(self, schema: pa.Schema, where: str) -> None:
        """Raise :class:`BadSpecError` if the projection or filter names a column ``schema`` lacks."""
        known = set(schema.names)
        missing = sorted(self.needed_columns - known)
        if missing:
            close = [m for name in missing[:5] for m in difflib.get_close_matches(name, schema.names, n=1)]
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise BadSpecError(
                f"unknown column(s) {short(', '.join(map(short, missing)), 300)}{hint} in {where}; "
                f"available: {short(', '.join(schema.names), 300)}"
            )

    # -- recording the request, so a replay can issue it again -------------
    def to_record(self) -> dict[str, Any]:
        """The request as JSON-safe data with typed values (see :func:`encode_value`)."""
        return {
            "table": list(self.table) if isinstance(self.table, tuple) else self.table,
            "query": self.query,
            "columns": list(self.columns) if self.columns else None,
            "filter": None if self.filter is None else [
                [[c, op, encode_value(v)] for c, op, v in clause] for clause in self.filter.to_dnf()],
            "limit": self.limit,
            "params": encode_value(self.params),
            "as_of": encode_value(self.as_of),
            "options": encode_value(dict(self.options)),
        }

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> "ReadSpec":
        table = data.get("table")
        filt = data.get("filter")
        return cls.build(
            tuple(table) if isinstance(table, list) else table,
            query=data.get("query"),
            columns=data.get("columns"),
            filter=None if filt is None else [
                [tuple([c, op] + ([] if op in ("is null", "is not null") else [decode_value(v)])) for c, op, v in clause]
                for clause in filt],
            limit=data.get("limit"),
            params=decode_value(data.get("params")),
            as_of=decode_value(data.get("as_of")),
            **(decode_value(data.get("options")) or {}),
        )


def check_read_options(options: Mapping[str, Any], accepted: frozenset[str], where: str) -> None:
    """Raise :class:`BadSpecError` for read options neither common nor ``accepted`` by the source.

    A misspelt option (``colums=``) must not pass silently; the message
    suggests the closest known name and lists them all.
    """
    from .timeseries import GENERIC_OPTIONS

    # a time-series store declares its own time options; on the others time_column/start/end
    # become a filter, and step= is let through to get its own message ("needs a time-series store")
    known = COMMON_OPTIONS | accepted | (frozenset() if "start" in accepted else GENERIC_OPTIONS)
    unknown = sorted(set(options) - known - ({"step"} if "start" not in accepted else set()), key=str)
    if not unknown:
        return
    hints = []
    for name in unknown[:5]:
        close = difflib.get_close_matches(str(name), sorted(known), n=1)
        hints.append(f"{short(name, 40)} (did you mean {close[0]}?)" if close else short(name, 40))
    more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
    raise BadSpecError(f"unknown read option(s) {', '.join(hints)}{more} for {where}; "
                       f"known: {', '.join(sorted(known))}")


_TYPED = {
    "date": (dt.date, dt.date.isoformat, dt.date.fromisoformat),
    "datetime": (dt.datetime, dt.datetime.isoformat, dt.datetime.fromisoformat),
    "time": (dt.time, dt.time.isoformat, dt.time.fromisoformat),
    "timedelta": (dt.timedelta, lambda v: v.total_seconds(), lambda s: dt.timedelta(seconds=s)),
    "decimal": (decimal.Decimal, str, decimal.Decimal),
    "bytes": (bytes, bytes.hex, bytes.fromhex),
}


def encode_value(value: Any) -> Any:
    """JSON-safe, lossless form of a filter value or parameter."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {"$map": {str(k): encode_value(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return [encode_value(v) for v in value]
    # datetime before date: datetime is a subclass of date
    for name in ("datetime", "date", "time", "timedelta", "decimal", "bytes"):
        typ, enc, _ = _TYPED[name]
        if isinstance(value, typ):
            return {"$" + name: enc(value)}
    return {"$str": str(value)}


def decode_value(value: Any) -> Any:
    if isinstance(value, list):
        return [decode_value(v) for v in value]
    if isinstance(value, dict) and len(value) == 1:
        (key, inner), = value.items()
        if key == "$map":
            return {k: decode_value(v) for k, v in inner.items()}
        if key == "$str":
            return inner
        if key.startswith("$") and key[1:] in _TYPED:
            return _TYPED[key[1:]][2](inner)
    return value
