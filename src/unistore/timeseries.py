"""The time-series part of a read: a time range, a step and a result shape.

These read options mean the same on every store::

    start, end   the half-open range [start, end)  (a datetime, a date or an ISO-8601 string)
    step         the resolution of evaluated series (timedelta, seconds, or "15s", "5m", "1h", "1d")
    shape        "long": timestamp, one column per label/tag, value   (the default)
                 "wide": timestamp, one column per series
    time_column  for SQL tables and file data sets: the column the range applies to

Time zones: every bound is converted to UTC before anything is sent. A naive
datetime (no ``tzinfo``) is taken to be UTC — never the machine's local zone
— so the same call gives the same rows on every machine. Timestamps come back
as ``timestamp[.., tz=UTC]`` from the time-series stores.

Time-series stores (Prometheus, InfluxDB, ArcticDB) declare these options and
read them with :func:`time_range`; Prometheus and InfluxDB plan ``partitions=``
as :class:`TimeSlice` splits cut by :func:`time_cuts`. On every other source
:func:`unistore.timecolumn.bind_time_column` turns ``time_column``/``start``/``end`` into filter predicates
(``time_column >= start AND time_column < end``), which each adapter pushes
down like any other filter: bound parameters in SQL, dataset filters on files.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from .errors import BadSpecError
from .filters import short

UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
SHAPES = ("long", "wide")
#: read options of the time-series spec, declared by time-series sources
OPTIONS = frozenset({"start", "end", "step", "shape"})
#: options every source accepts through :func:`unistore.timecolumn.bind_time_column`
GENERIC_OPTIONS = frozenset({"time_column", "start", "end", "shape"})
TIMESTAMP = "timestamp"
VALUE = "value"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True)
class TimeRange:
    """A validated time-series request: UTC bounds, a step and a shape."""

    start: dt.datetime | None = None
    end: dt.datetime | None = None
    step: dt.timedelta | None = None
    shape: str = "long"

    @property
    def is_range(self) -> bool:
        return self.start is not None

    def steps(self) -> int:
        """Evaluation points of a range query: start, start+step, ... <= end."""
        assert self.start is not None and self.end is not None and self.step is not None
        return int((self.end - self.start) // self.step) + 1


def utc(value: Any, name: str) -> dt.datetime:
    """``value`` as an aware UTC datetime; naive datetimes are taken to be UTC."""
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError:
            raise BadSpecError(f"{name}={short(value)} is not an ISO-8601 date or time") from None
    elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    elif not isinstance(value, dt.datetime):
        # pandas.Timestamp and numpy.datetime64 are not accepted implicitly: their unit/zone rules differ
        raise BadSpecError(f"{name} must be a datetime, a date or an ISO-8601 string, got {type(value).__name__}")
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def duration(value: Any, name: str = "step") -> dt.timedelta:
    """A positive duration from a timedelta, a number of seconds or text like ``"30s"``/``"5m"``."""
    if isinstance(value, dt.timedelta):
        delta = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise BadSpecError(f"{name} must be finite, got {short(value)}")
        delta = dt.timedelta(seconds=value)
    elif isinstance(value, str):
        m = _DURATION.match(value)
        if not m:
            raise BadSpecError(f"{name}={short(value)}: write a duration like '15s', '5m', '1h', '1d' or pass a timedelta")
        delta = dt.timedelta(seconds=float(m.group(1)) * _UNIT_SECONDS[m.group(2)])
    else:
        raise BadSpecError(f"{name} must be a timedelta, seconds or a duration string, got {type(value).__name__}")
    if delta <= dt.timedelta(0):
        raise BadSpecError(f"{name} must be positive, got {short(value)}")
    if delta < dt.timedelta(milliseconds=1):
        raise BadSpecError(f"{name} must be at least 1 ms, got {short(value)}")
    return delta


def time_range(options: Mapping[str, Any], *, needs_step: bool = False, default_end: dt.datetime | None = None,
               where: str = "this source") -> TimeRange:
    """Validate the time-series options of a read (raises :class:`BadSpecError`)."""
    start = utc(options["start"], "start") if options.get("start") is not None else None
    end = utc(options["end"], "end") if options.get("end") is not None else None
    if end is None and start is not None and default_end is not None:
        end = default_end
    if start is not None and end is not None and end <= start:
        raise BadSpecError(f"end ({end.isoformat()}) must be after start ({start.isoformat()})")
    step = duration(options["step"]) if options.get("step") is not None else None
    if step is not None and start is None:
        raise BadSpecError("step= applies to a range: give start= as well (without start a read is instant)")
    if needs_step and start is not None and step is None:
        raise BadSpecError(f"a range read from {where} needs step= (e.g. step='1m')")
    shape = options.get("shape", "long") or "long"
    if shape not in SHAPES:
        raise BadSpecError(f"shape must be 'long' or 'wide', got {short(shape)}")
    return TimeRange(start, end, step, shape)


@dataclass(frozen=True)
class TimeSlice:
    """One split of a time-range read: its part ``[start, end)`` of the window pinned when the read was planned.

    ``window`` is the whole read's range with every default resolved (its
    ``end`` is the as-of bound all slices share, so each split records the
    same snapshot); ``start`` None leaves the first slice open below, like
    the read itself. ``keys`` are the columns the planner resolved once
    (label, tag or field names), so every slice returns the same schema even
    if the store learns a new key while the splits run.
    """

    window: TimeRange
    start: dt.datetime | None
    end: dt.datetime
    keys: Any = None

    def covers(self) -> dict[str, Any]:
        """The slice for people, in the record."""
        return {"start": rfc3339(self.start) if self.start is not None else None, "end": rfc3339(self.end)}


def time_slices(window: TimeRange, cuts: list[dt.datetime], keys: Any = None) -> list[TimeSlice]:
    """The slices ``[window.start, cut_1), [cut_1, cut_2), ... [cut_n, window.end)`` of a pinned window."""
    assert window.end is not None
    bounds = [window.start, *cuts, window.end]
    return [TimeSlice(window, lo, hi, keys) for lo, hi in zip(bounds, bounds[1:])]  # type: ignore[arg-type]


def time_cuts(start: dt.datetime, end: dt.datetime, pieces: int, unit: dt.timedelta,
              anchor: dt.datetime = EPOCH) -> list[dt.datetime]:
    """At most ``pieces - 1`` instants cutting ``[start, end)`` into near-equal slices ``[cut_i, cut_i+1)``.

    Every cut lies strictly inside the range and on the grid ``anchor + k * unit``,
    so no slice boundary falls inside what the store evaluates or groups per
    ``unit`` (a Prometheus evaluation point, an InfluxDB ``GROUP BY time``
    bucket): each one lands whole in one slice. Fewer cuts when the range
    holds fewer grid points.
    """
    tick = dt.timedelta(microseconds=1)
    u = unit // tick
    first = (start - anchor) // tick // u + 1   # the first grid index after start
    last = ((end - anchor) // tick - 1) // u    # the last grid index before end
    slots = last - first + 2                    # slices there can be: one more than the cut positions
    n = min(pieces, slots)
    return [anchor + (first - 1 + -(-i * slots // n)) * unit for i in range(1, n)]  # cut i after ceil(i*slots/n) slots


def rfc3339(value: dt.datetime) -> str:
    """UTC RFC 3339 text with a ``Z`` (what the stores' HTTP APIs expect)."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# -- shapes ------------------------------------------------------------------------------

def series_name(labels: Mapping[str, str]) -> str:
    """A series' column name in the wide shape: ``name{a="x",b="y"}`` like Prometheus prints it."""
    name = labels.get("__name__", "")
    rest = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__" and v not in (None, ""))
    if not rest:
        return name or VALUE
    return f"{name}{{{rest}}}"


def long_to_wide(table: pa.Table, time_col: str = TIMESTAMP, value_col: str = VALUE, *, metric: str = "",
                 runs: Sequence[int] | None = None) -> pa.Table:
    """Pivot a long table (time, label columns, value) into one column per series.

    Rows are the sorted union of timestamps; a series without a sample at a
    timestamp has a null there. Series columns are sorted by name, named by
    :func:`series_name` (``metric`` stands in for a missing ``__name__``).
    ``runs`` (row counts of consecutive series) saves the sort when the rows
    already come series by series.
    """
    import numpy as np
    import pyarrow.compute as pc

    labels = [n for n in table.column_names if n not in (time_col, value_col)]
    ttype = table.schema.field(time_col).type
    if not table.num_rows:
        return pa.table({time_col: pa.array([], ttype)})
    if runs is None:
        if labels:
            table = table.sort_by([(n, "ascending") for n in labels])
        starts = _run_starts(table, labels)
    else:
        starts = np.concatenate([[0], np.cumsum(np.asarray(runs, dtype=np.int64))[:-1]]).astype(np.int64)
    ends = np.append(starts[1:], table.num_rows)
    times = pc.unique(table.column(time_col)).sort()
    time_all, value_all = table.column(time_col), table.column(value_col)
    columns: dict[str, pa.Array] = {}
    for start, end in zip(starts.tolist(), ends.tolist()):
        if end <= start:
            continue
        part_values = value_all.slice(start, end - start)
        pos = pc.index_in(time_all.slice(start, end - start), value_set=times).to_numpy(zero_copy_only=False)
        out = np.full(len(times), np.nan, dtype=np.float64)
        present = np.zeros(len(times), dtype=bool)
        out[pos] = part_values.to_numpy(zero_copy_only=False)
        present[pos] = pc.is_valid(part_values).to_numpy(zero_copy_only=False)
        key = {n: table.column(n)[start].as_py() for n in labels}
        labels_of = {k: v for k, v in key.items() if v is not None}
        if metric and "__name__" not in labels_of:
            labels_of["__name__"] = metric
        columns[series_name(labels_of)] = pa.array(out, mask=~present)
    arrays = [times.cast(ttype)] + [columns[n] for n in sorted(columns)]
    return pa.Table.from_arrays(arrays, names=[time_col] + sorted(columns))


def _run_starts(table: pa.Table, labels: list[str]):
    """Row numbers where the label values change (the table is sorted by its labels)."""
    import numpy as np
    import pyarrow.compute as pc

    n = table.num_rows
    change = np.zeros(n, dtype=bool)
    change[0] = True
    for name in labels:
        column = table.column(name).combine_chunks()
        after, before = column.slice(1), column.slice(0, n - 1)
        differs = pc.not_equal(after, before)
        one_null = pc.xor(pc.is_null(after), pc.is_null(before))
        differs = pc.if_else(pc.is_null(differs), one_null, differs)
        change[1:] |= differs.to_numpy(zero_copy_only=False)
    return np.flatnonzero(change)
