"""Prometheus HTTP API servers: Prometheus, VictoriaMetrics, Thanos, Mimir...

``prometheus://host:port[/prefix]`` (``prometheus+https://`` for TLS). A read
is a PromQL query (``query=``) or a metric name (``table=``, whose filter's
label predicates become label matchers). With ``start``/``end``/``step`` it is
a range query evaluated at ``start, start+step, ...`` strictly before ``end``
(the half-open range every unistore store uses); without ``start`` it is an
instant query at ``end`` (default: now).

Prometheus refuses range queries over 11,000 points per series, so long
ranges are sent as several requests of at most ``max_points`` steps and
stitched back: each evaluates its own timestamps, so the result is the one a
single query would give. ``partitions=N`` cuts a metric's range read into N
time slices on evaluation points (:meth:`PrometheusSource.plan`), read in
parallel. VictoriaMetrics is always asked with ``nocache=1``, which stops it
shifting timestamps to suit its cache.

A metric's read returns the label columns the server lists for the metric
(its :meth:`~PrometheusSource.schema`), so every slice of a plan has the same
columns; a ``query=`` read returns the labels of its result.

The snapshot records the query and the resolved start/end/step; ``end`` is
the as-of bound. Nothing pins a server's state, so replay re-queries and
compares fingerprints: samples that arrived late show up as drift.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import timeseries as ts
from ..errormap import ErrorTable
from ..errors import BadSpecError, QueryError, SourceNotFoundError, SourceUnavailableError
from ..filters import Filter
from ..location import Location
from ..provenance import Dataset, Query
from ..registry import require
from ..snapshot import Snapshot
from ..adapter import Adapter, Capabilities, Connection, ReadPlan, Scan, Split, check_max_splits
from ..spec import ReadSpec
from ._http import TRANSPORT_RULES, HttpClient, server_address, status_of, status_rule, time_slice_plan

#: Prometheus' limit on points per series in one range query
MAX_POINTS = 11_000
TIME_TYPE = pa.timestamp("ms", "UTC")
#: the resolution of the HTTP API's times (and of every bound unistore sends it)
MS = dt.timedelta(milliseconds=1)

#: what a failed answer means: a gateway's 502-504 is the server being away, anything else a rejected query
ERRORS = ErrorTable(
    *TRANSPORT_RULES,
    status_rule(SourceUnavailableError, "{where} is unavailable (HTTP {code}): {text}", (502, 503, 504)),
    status_rule(QueryError, "{where} rejected the query (HTTP {code}): {text}"),
    code=status_of,
)

try:  # the fastest JSON parser available; the standard library otherwise
    import orjson as _json

    _loads = _json.loads
except ImportError:  # pragma: no cover - orjson is optional
    _loads = json.loads


class PrometheusAdapter(Adapter):
    open_options: ClassVar[frozenset[str]] = frozenset(
        {"timeout", "max_points", "headers", "verify"})

    def open(self, location: Location, **options: Any) -> "PrometheusSource":
        return PrometheusSource(location, **options)


class PrometheusSource(Connection):
    """One Prometheus-API server. ``timeout`` bounds every request (seconds)."""

    capabilities: ClassVar[Capabilities] = Capabilities(queries=True, listing=True, splits=True)
    read_options: ClassVar[frozenset[str]] = ts.OPTIONS

    def __init__(self, location: Location, *, timeout: float = 30.0, max_points: int = MAX_POINTS,
                 headers: dict[str, str] | None = None, verify: bool | str = True):
        super().__init__(location)
        self._requests = require("requests", extra="prometheus", what="reading Prometheus servers")
        if not location.netloc_host:
            raise BadSpecError(f"{location.redacted()} names no host; write prometheus://host:port")
        if not (isinstance(timeout, (int, float)) and timeout > 0):
            raise BadSpecError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if not (isinstance(max_points, int) and 2 <= max_points <= MAX_POINTS * 10):
            raise BadSpecError(f"max_points must be an integer between 2 and {MAX_POINTS * 10}, got {max_points!r}")
        scheme, host, port = server_address(location, 9090)
        self.base = f"{scheme}://{host}:{port}{location.path.rstrip('/')}"
        self.namespace = f"prometheus://{host}:{port}"
        self.timeout, self.max_points = float(timeout), max_points
        self._http = HttpClient(self._requests, self.base, where=self.uri, errors=ERRORS, timeout=self.timeout,
                                secrets=location.secrets, headers=headers, verify=verify,
                                auth=(location.username, location.password or "") if location.username else None)

    # -- HTTP --------------------------------------------------------------------------
    def _call(self, path: str, data: dict[str, Any] | None = None, params: list | None = None) -> Any:
        """POST (or GET) an API call; a failed answer raises with the server's message."""
        resp = self._http.request(path, data=data, params=params)
        try:
            body = _loads(resp.content)
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("status") != "success":
            self._http.fail(resp, str(body.get("error") if isinstance(body, dict) else resp.text[:500]))
        return body.get("data")

    def close(self) -> None:
        self._http.close()

    # -- discovery -----------------------------------------------------------------------
    def tables(self) -> list[str]:
        """Metric names."""
        return sorted(self._call("/api/v1/label/__name__/values", params=[]) or [])

    def labels(self, metric: str) -> list[str]:
        return sorted(self._call("/api/v1/labels", params=[("match[]", _selector(metric, {}))]) or [])

    def schema(self, table: str | tuple[str, ...]) -> pa.Schema:
        """The long shape of a metric: timestamp, its label names, value."""
        metric = _metric_name(table)
        return _long_schema(_label_order(self.labels(metric)))

    # -- the read ----------------------------------------------------------------------------
    def scan(self, spec: ReadSpec) -> Scan:
        window = self._window(spec)
        part = ts.TimeSlice(window, window.start, window.end) if window.is_range else None
        return self._scan(spec, window, self._resolve(spec, window), part)

    def plan(self, spec: ReadSpec, max_splits: int) -> ReadPlan:
        """A long range read of a metric cut into time slices on evaluation points, under one pinned end.

        Instant reads, the wide shape (its columns are the series of the whole
        range) and ``query=`` reads (the label columns of a PromQL result are
        known only once it is evaluated) are one split.
        """
        check_max_splits(max_splits)
        window = self._window(spec)
        if not window.is_range or window.shape == "wide" or spec.table is None:
            return super().plan(spec, max_splits)
        assert window.start and window.end and window.step
        read = self._resolve(spec, window)
        cuts = ts.time_cuts(window.start, window.end, max_splits, window.step, anchor=window.start)
        parts = ts.time_slices(window, cuts, keys=read.labels)
        requests = sum(len(_requests(p.start or window.start, p.end, window.step, self.max_points)) for p in parts)
        whole = ts.TimeSlice(window, window.start, window.end)
        return time_slice_plan(parts, snapshot=_snapshot(read.promql, window),
                               query=_query(read, window, whole, requests))

    def scan_split(self, spec: ReadSpec, split: Split) -> Scan:
        part = split.payload
        if not isinstance(part, ts.TimeSlice):  # a one-split plan: the read as it is
            return self.scan(spec)
        return self._scan(spec, part.window, self._resolve(spec, part.window, part.keys), part)

    def _resolve(self, spec: ReadSpec, window: ts.TimeRange, labels: tuple[str, ...] | None = None) -> "_Read":
        """The PromQL a read sends and the label columns it returns (``labels``: as a planner resolved them)."""
        if spec.table is None:
            assert spec.query is not None
            return _Read(spec.query, spec.query, None, {})
        metric = _metric_name(spec.table)
        if labels is None:
            known = self.labels(metric)
            if set(known) <= {"__name__"} and not self._call(
                    "/api/v1/series", params=[("match[]", metric), ("start", "0")]):
                raise SourceNotFoundError(f"no metric {metric!r} at {self.uri}")
            labels = tuple(_label_order(known))
        long_schema = _long_schema(list(labels))
        if window.shape == "wide":  # columns name series then; only the filter names labels
            unknown = sorted((spec.filter.columns if spec.filter is not None else set()) - set(long_schema.names))
            if unknown:
                raise BadSpecError(f"unknown column(s) {unknown} in the filter; labels of {metric}: {list(labels)}")
        else:
            spec.check_columns(long_schema, f"metric {metric}")
        matchers = _matchers(spec.filter, set(labels))
        return _Read(_selector(metric, matchers), metric, labels, matchers)

    def _scan(self, spec: ReadSpec, window: ts.TimeRange, read: "_Read", part: ts.TimeSlice | None) -> Scan:
        """Fetch ``part`` of the range read (an instant read without one) and build its table."""
        if part is not None:
            assert part.start is not None and window.step is not None
            pieces = _requests(part.start, part.end, window.step, self.max_points)
            series = _merge_series([self._range(read.promql, piece) for piece in pieces])
            requests = len(pieces)
        else:
            data = self._call("/api/v1/query", data={"query": read.promql, "time": _seconds(window.end),
                                                     "nocache": "1"})
            series = _instant_series(data)
            requests = 1
        table = _long_table(series, read.labels)
        if read.labels is None and window.shape == "long":
            _check_result_columns(spec, table)
        table = _with_columns(table, spec.needed_columns)
        residual = spec.filter
        if window.shape == "wide":
            if residual is not None:  # the filter names long-shape columns: apply it before pivoting
                table = table.filter(residual.to_arrow())
                residual = None
            table = ts.long_to_wide(table, runs=None if spec.filter is not None else _runs(series))
            if spec.columns:
                missing = sorted(set(spec.columns) - set(table.column_names))
                if missing:
                    raise BadSpecError(f"unknown column(s) {missing} in the wide result; series: {table.column_names[1:]}")
        return Scan(
            schema=table.schema,
            batches=table.to_batches(max_chunksize=spec.batch_size),
            snapshot=_snapshot(read.promql, window),
            dataset=Dataset(system="prometheus", uri=self.uri, namespace=self.namespace, name=read.name),
            query=_query(read, window, part, requests),
            residual=residual,
        )

    def _window(self, spec: ReadSpec) -> ts.TimeRange:
        """The time range with every default resolved, on whole milliseconds (a replay uses the recorded one)."""
        pin = spec.pin
        if pin is not None and pin.kind == "prometheus.range":
            opts = {**spec.options, "start": pin.pins["start"], "end": pin.pins["end"], "step": pin.pins["step"]}
            window = ts.time_range(opts, needs_step=True)
        elif pin is not None and pin.kind == "prometheus.instant":
            window = ts.time_range({**spec.options, "end": pin.pins["time"]})
        else:
            now = dt.datetime.now(ts.UTC).replace(microsecond=0)
            window = ts.time_range(spec.options, needs_step=True, default_end=now, where=self.uri)
            if window.end is None:
                window = ts.TimeRange(None, now, window.step, window.shape)
        return ts.TimeRange(*(None if t is None else _from_ms(_ms(t)) for t in (window.start, window.end)),
                            None if window.step is None else round(window.step / MS) * MS, window.shape)

    def _range(self, promql: str, piece: tuple[int, int, int]) -> Any:
        """One range query: evaluation points start, start+step, ... <= end (ms)."""
        start, end, step = piece
        form = {"query": promql, "start": _ms_text(start), "end": _ms_text(end), "step": _ms_text(step),
                "nocache": "1"}
        return self._call("/api/v1/query_range", data=form)


@dataclass(frozen=True)
class _Read:
    """A read resolved before anything is fetched."""

    promql: str
    name: str
    #: a metric's label columns in order (its schema); None: those of the query's result
    labels: tuple[str, ...] | None
    matchers: dict[str, str]


def _snapshot(promql: str, window: ts.TimeRange) -> Snapshot:
    """The query and the resolved range; ``end`` is the as-of bound (the same for every slice of a plan)."""
    assert window.end is not None
    if window.is_range:
        assert window.start and window.step
        pins: dict[str, Any] = {"query": promql, "start": ts.rfc3339(window.start), "end": ts.rfc3339(window.end),
                                "step": window.step.total_seconds()}
        kind = "prometheus.range"
    else:
        pins = {"query": promql, "time": ts.rfc3339(window.end)}
        kind = "prometheus.instant"
    return Snapshot(kind=kind, value=ts.rfc3339(window.end), consistent=False, replayable=False, pins=pins)


def _query(read: _Read, window: ts.TimeRange, part: ts.TimeSlice | None, requests: int) -> Query:
    """What was sent for ``part`` of the range (an instant read: at the end) in ``requests`` HTTP requests."""
    if part is None or part.start is None:
        assert window.end is not None
        params: dict[str, Any] = {"time": ts.rfc3339(window.end)}
    else:
        assert window.step is not None
        params = {"start": ts.rfc3339(part.start), "end": ts.rfc3339(part.end), "step": window.step.total_seconds()}
    return Query(language="promql", text=read.promql, params=params,
                 pushed_down={"columns": False, "filter": bool(read.matchers), "label_matchers": read.matchers,
                              "time_range": True, "limit": False, "shape": window.shape, "requests": requests})


# -- planning ---------------------------------------------------------------------------------

def _requests(start: dt.datetime, end: dt.datetime, step: dt.timedelta, max_points: int) -> list[tuple[int, int, int]]:
    """(start, end, step) in ms of the range queries for the evaluation points start + k*step < end.

    At most ``max_points`` points each (Prometheus refuses more than 11,000
    per series): pieces are cut on evaluation points, never between them, so
    every point is evaluated exactly once and at the time one query would use.
    Each piece ends 1 ms before the next one's first point (or the range's
    end), never on its own last point: VictoriaMetrics answers a query whose
    start equals its end like an instant query, without a series' first sample.
    """
    first, stop, step_ms = _ms(start), _ms(end), round(step / MS)
    points = (stop - 1 - first) // step_ms + 1
    return [(first + i * step_ms, min(stop, first + (i + max_points) * step_ms) - 1, step_ms)
            for i in range(0, points, max_points)]


def _ms(value: dt.datetime) -> int:
    """Milliseconds since the epoch, rounded to the nearest."""
    return round((value - ts.EPOCH) / MS)


def _from_ms(ms: int) -> dt.datetime:
    return ts.EPOCH + ms * MS


def _ms_text(ms: int) -> str:
    return f"{ms // 1000}.{ms % 1000:03d}"


def _seconds(value: dt.datetime | None) -> str:
    assert value is not None
    return _ms_text(_ms(value))


# -- PromQL text ------------------------------------------------------------------------------

def _metric_name(table: str | tuple[str, ...]) -> str:
    name = ".".join(table) if isinstance(table, tuple) else table
    if not name.replace("_", "a").replace(":", "a").isalnum() or name[0].isdigit():
        raise BadSpecError(f"{name!r} is not a metric name; pass PromQL with query=")
    return name


def _quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


_RE2_SPECIAL = set("\\.+*?()|[]{}^$")


def _regex_literal(value: str) -> str:
    return "".join("\\" + c if c in _RE2_SPECIAL else c for c in value)


def _selector(metric: str, matchers: dict[str, str]) -> str:
    if not matchers:
        return metric
    return metric + "{" + ",".join(matchers.values()) + "}"


def _matchers(filt: Filter | None, labels: set[str]) -> dict[str, str]:
    """Label matchers for the predicates of a one-clause filter on labels.

    They only narrow what the server sends; the whole filter is still applied
    afterwards (as the residual), so SQL null semantics hold exactly.
    """
    if filt is None or len(filt.clauses) != 1:
        return {}
    out: dict[str, str] = {}
    for p in filt.clauses[0]:
        if p.column not in labels or p.column in out or p.column == "__name__":
            continue
        if p.op == "==" and isinstance(p.value, str) and p.value:
            out[p.column] = f"{p.column}={_quote(p.value)}"
        elif p.op == "in" and p.value and all(isinstance(v, str) and v for v in p.value):
            out[p.column] = f"{p.column}=~{_quote('|'.join(_regex_literal(v) for v in p.value))}"
        elif p.op == "!=" and isinstance(p.value, str):
            out[p.column] = f"{p.column}!={_quote(p.value)}"
    return out


# -- results -> Arrow --------------------------------------------------------------------------

Series = tuple[tuple[tuple[str, str], ...], list]  # (sorted labels, [values lists per slice])


def _merge_series(bodies: list[Any]) -> list[tuple[tuple[tuple[str, str], ...], list[list]]]:
    """Series of all slices, joined by label set, in label order; samples stay in time order."""
    merged: dict[tuple[tuple[str, str], ...], list[list]] = {}
    for data in bodies:
        if not data or data.get("resultType") != "matrix":
            raise QueryError(f"expected a range vector (matrix) result, got {data.get('resultType') if data else None}")
        for item in data["result"]:
            key = tuple(sorted(item["metric"].items()))
            merged.setdefault(key, []).append(item["values"])
    return sorted(merged.items())


def _instant_series(data: Any) -> list[tuple[tuple[tuple[str, str], ...], list[list]]]:
    kind = data.get("resultType")
    if kind == "vector":
        return sorted((tuple(sorted(i["metric"].items())), [[i["value"]]]) for i in data["result"])
    if kind == "scalar":
        return [((), [[data["result"]]])]
    if kind == "matrix":  # a range selector such as up[5m] evaluated at one time
        return _merge_series([data])
    raise QueryError(f"an instant query returned a {kind} result, which has no table form")


def _label_order(names) -> list[str]:
    """Label columns in a stable order: ``__name__`` first, then by name."""
    return sorted(names, key=lambda n: (n != "__name__", n))


def _long_schema(labels: list[str]) -> pa.Schema:
    return pa.schema([pa.field(ts.TIMESTAMP, TIME_TYPE, nullable=False)]
                     + [pa.field(n, pa.string()) for n in labels]
                     + [pa.field(ts.VALUE, pa.float64())])


def _long_table(series: list[tuple[tuple[tuple[str, str], ...], list[list]]],
                labels: tuple[str, ...] | None = None) -> pa.Table:
    """timestamp, one column per label (``labels``, else those of the series), value — built column-wise.

    The samples of all series are flattened once into two Python lists
    (times, value texts) that Arrow converts and parses in bulk.
    """
    names = list(labels) if labels is not None else _label_order({k for key, _ in series for k, _ in key})
    counts = np.fromiter((sum(len(v) for v in parts) for _, parts in series), dtype=np.int64, count=len(series))
    flat = list(itertools.chain.from_iterable(
        itertools.chain.from_iterable(itertools.chain.from_iterable(parts)) for _, parts in series))
    times = pa.array(flat[0::2], pa.float64())
    millis = pc.round(pc.multiply(times, 1000.0)).cast(pa.int64())
    values = _parse_values(pa.array(flat[1::2], pa.string()))
    del flat
    columns: list[pa.Array] = [millis.cast(TIME_TYPE)]
    if names:
        owner = pa.array(np.repeat(np.arange(len(series), dtype=np.int32), counts))
        for name in names:
            per_series = pa.array([dict(key).get(name) for key, _ in series], pa.string())
            columns.append(per_series.take(owner))
    columns.append(values)
    return pa.Table.from_arrays(columns, schema=_long_schema(names))


def _runs(series: list[tuple[tuple[tuple[str, str], ...], list[list]]]) -> list[int]:
    """Rows per series in the long table (it is built series by series)."""
    return [sum(len(v) for v in parts) for _, parts in series]


def _parse_values(text: pa.Array) -> pa.Array:
    """Prometheus sends values as text ("1.5", "NaN", "+Inf"); Arrow parses them in C++."""
    try:
        return text.cast(pa.float64())
    except pa.ArrowInvalid:
        fixed = pc.replace_substring_regex(text, r"^\+?Inf$", "inf")
        return fixed.cast(pa.float64())


def _check_result_columns(spec: ReadSpec, table: pa.Table) -> None:
    if spec.columns and table.num_rows:  # an empty result has no labels to check against
        missing = sorted(set(spec.columns) - set(table.column_names))
        if missing:
            raise BadSpecError(f"unknown column(s) {', '.join(map(repr, missing))} in the query's result; "
                               f"available: {', '.join(table.column_names)}")


def _with_columns(table: pa.Table, needed: set[str]) -> pa.Table:
    """Add label columns the result lacks as nulls (a label a series does not carry is absent, i.e. null)."""
    for name in sorted(needed - set(table.column_names)):
        table = table.add_column(table.num_columns - 1, pa.field(name, pa.string()),
                                 pa.nulls(table.num_rows, pa.string()))
    return table

