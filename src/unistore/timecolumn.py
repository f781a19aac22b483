"""``time_column``/``start``/``end`` on any source: the time range becomes filter predicates.

A module of its own because binding needs both the request
(:mod:`unistore.spec`) and the time-series options (:mod:`unistore.timeseries`),
and the request itself validates with the latter: this way each of the three
imports only downward.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, Protocol

import pyarrow as pa

from .errors import BadSpecError
from .filters import Filter, Predicate, short
from .spec import ReadSpec
from .timeseries import GENERIC_OPTIONS, time_range

class TimedSource(Protocol):
    """What :func:`bind_time_column` asks of a connection (named here, so this module imports none)."""

    @property
    def uri(self) -> str: ...

    @property
    def read_options(self) -> frozenset[str]: ...

    def schema(self, table: str | tuple[str, ...]) -> pa.Schema: ...


def bind_time_column(source: TimedSource, spec: ReadSpec) -> ReadSpec:
    """Turn ``time_column``/``start``/``end`` into ``time_column >= start AND < end`` in the filter.

    Sources that understand the time-series options themselves (they list
    ``start`` in ``read_options``) get the spec unchanged. For the others the
    bounds are typed like the column: a naive timestamp column is compared
    with naive UTC bounds, an aware one with aware bounds, a date column with
    dates, so pyarrow and SQL engines compare like with like.
    """
    opts = dict(spec.options)
    if "start" in source.read_options:
        if "time_column" in opts and "time_column" not in source.read_options:
            raise BadSpecError(f"{source.uri} is a time-series store: start=/end= apply to its own time axis; "
                               "drop time_column=")
        return spec
    if not (GENERIC_OPTIONS & set(opts)) or "time_column" in source.read_options:
        return spec
    column = opts.pop("time_column", None)
    start, end, shape = opts.pop("start", None), opts.pop("end", None), opts.pop("shape", None)
    if "step" in opts:
        raise BadSpecError(f"step= needs a time-series store; {source.uri} returns stored rows (filter by time_column)")
    if shape not in (None, "long"):
        raise BadSpecError(f"shape={short(shape)} needs a time-series store; {source.uri} returns rows as stored")
    if column is None:
        if start is not None or end is not None:
            raise BadSpecError(f"start=/end= on {source.uri} need time_column= to say which column they bound")
        return dataclasses.replace(spec, options=opts)
    if not isinstance(column, str) or not column:
        raise BadSpecError(f"time_column must be a column name, got {short(column)}")
    bounds = time_range({"start": start, "end": end})
    if bounds.start is None and bounds.end is None:
        raise BadSpecError("time_column= needs start= and/or end=")
    kind = _column_kind(source, spec, column)
    preds = []
    if bounds.start is not None:
        preds.append(Predicate(column, ">=", _typed(bounds.start, kind)))
    if bounds.end is not None:
        preds.append(Predicate(column, "<", _typed(bounds.end, kind)))
    window = Filter((tuple(preds),))
    combined = window if spec.filter is None else spec.filter & window
    return dataclasses.replace(spec, filter=combined, options=opts)


def _column_kind(source: TimedSource, spec: ReadSpec, column: str) -> str:
    """"naive", "aware" or "date" for the time column of a table read ("aware" when unknown)."""
    if spec.query is not None:
        return "aware"  # the engine compares; SQL engines cast aware bounds to the column
    try:
        schema = source.schema(spec.table) if spec.table is not None else source.schema()  # type: ignore[call-arg]
    except (NotImplementedError, TypeError):
        return "aware"
    if column not in schema.names:
        raise BadSpecError(f"time_column {short(column)} is not a column of {spec.target}; available: {short(', '.join(schema.names), 300)}")
    typ = schema.field(column).type
    if pa.types.is_timestamp(typ):
        return "aware" if typ.tz else "naive"
    if pa.types.is_date(typ):
        return "date"
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        return "naive"  # ISO text sorts like the time it holds (SQLite)
    raise BadSpecError(f"time_column {short(column)} has type {typ}, not a timestamp or date")


def _typed(value: dt.datetime, kind: str) -> Any:
    if kind == "naive":
        return value.replace(tzinfo=None)
    if kind == "date":
        day = value.date()
        # [start, end) over whole days: an end inside a day still includes that day's start
        return day if value.time() == dt.time(0) else day + dt.timedelta(days=1)
    return value
