"""Prometheus HTTP API servers: Prometheus, VictoriaMetrics, Thanos, Mimir...

``prometheus://host:port[/prefix]`` (``prometheus+https://`` for TLS). A read
is a PromQL query (``query=``) or a metric name (``table=``, whose filter's
label predicates become label matchers). With ``start``/``end``/``step`` it is
a range query evaluated at ``start, start+step, ...`` strictly before ``end``
(the half-open range every unistore store uses); without ``start`` it is an
instant query at ``end`` (default: now).

Prometheus refuses range queries over 11,000 points per series, so long
ranges are cut into slices of at most ``max_points`` steps, fetched in
parallel and stitched back: each slice evaluates its own timestamps, so the
result is the same as one query would give. VictoriaMetrics is always asked
with ``nocache=1``, which stops it shifting timestamps to suit its cache.

The snapshot records the query and the resolved start/end/step; ``end`` is
the as-of bound. Nothing pins a server's state, so replay re-queries and
compares fingerprints: samples that arrived late show up as drift.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import timeseries as ts
from ..errormap import ErrorTable
from ..errors import BadSpecError, QueryError, SourceUnavailableError
from ..filters import Filter
from ..location import Location
from ..provenance import Dataset, Query
from ..registry import require
from ..snapshot import Snapshot
from ..adapter import Adapter, Capabilities, Connection, Scan
from ..spec import ReadSpec
from ._http import TRANSPORT_RULES, HttpClient, status_of, status_rule

#: Prometheus' limit on points per series in one range query
MAX_POINTS = 11_000
#: slices smaller than this are not split further just to use more threads
MIN_SLICE_POINTS = 1_000
TIME_TYPE = pa.timestamp("ms", "UTC")

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
        {"timeout", "max_points", "parallel", "headers", "verify"})

    def open(self, location: Location, **options: Any) -> "PrometheusSource":
        return PrometheusSource(location, **options)


class PrometheusSource(Connection):
    """One Prometheus-API server. ``timeout`` bounds every request (seconds)."""

    capabilities: ClassVar[Capabilities] = Capabilities(queries=True, listing=True)
    read_options: ClassVar[frozenset[str]] = ts.OPTIONS

    def __init__(self, location: Location, *, timeout: float = 30.0, max_points: int = MAX_POINTS,
                 parallel: int = 4, headers: dict[str, str] | None = None, verify: bool | str = True):
        super().__init__(location)
        self._requests = require("requests", extra="prometheus", what="reading Prometheus servers")
        if not location.netloc_host:
            raise BadSpecError(f"{location.redacted()} names no host; write prometheus://host:port")
        if not (isinstance(timeout, (int, float)) and timeout > 0):
            raise BadSpecError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if not (isinstance(max_points, int) and 2 <= max_points <= MAX_POINTS * 10):
            raise BadSpecError(f"max_points must be an integer between 2 and {MAX_POINTS * 10}, got {max_points!r}")
        if not (isinstance(parallel, int) and parallel >= 1):
            raise BadSpecError(f"parallel must be a positive integer, got {parallel!r}")
        scheme = "https" if location.scheme.endswith("+https") else "http"
        host = f"[{location.netloc_host}]" if ":" in location.netloc_host else location.netloc_host
        port = location.port or 9090
        self.base = f"{scheme}://{host}:{port}{location.path.rstrip('/')}"
        self.namespace = f"prometheus://{host}:{port}"
        self.timeout, self.max_points, self.parallel = float(timeout), max_points, parallel
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
        residual = spec.filter
        matchers: dict[str, str] = {}
        if spec.table is not None:
            metric = _metric_name(spec.table)
            known = self.labels(metric)
            if set(known) <= {"__name__"} and not self._call(
                    "/api/v1/series", params=[("match[]", metric), ("start", "0")]):
                from ..errors import SourceNotFoundError

                raise SourceNotFoundError(f"no metric {metric!r} at {self.uri}")
            long_schema = _long_schema(_label_order(known))
            if window.shape == "wide":  # columns name series then; only the filter names labels
                unknown = sorted((spec.filter.columns if spec.filter is not None else set()) - set(long_schema.names))
                if unknown:
                    raise BadSpecError(f"unknown column(s) {unknown} in the filter; labels of {metric}: {known}")
            else:
                spec.check_columns(long_schema, f"metric {metric}")
            matchers = _matchers(spec.filter, set(known))
            promql = _selector(metric, matchers)
            name = metric
        else:
            assert spec.query is not None
            promql, name = spec.query, spec.query
        if window.is_range:
            slices = _slices(window, self.max_points, self.parallel)
            bodies = self._fetch_range(promql, slices)
            series = _merge_series(bodies)
        else:
            data = self._call("/api/v1/query", data={"query": promql, "time": _seconds(window.end), "nocache": "1"})
            series = _instant_series(data)
            slices = []
        table = _long_table(series)
        if spec.table is None and window.shape == "long":
            _check_result_columns(spec, table)
        table = _with_columns(table, spec.needed_columns)
        if window.shape == "wide":
            if residual is not None:  # the filter names long-shape columns: apply it before pivoting
                table = table.filter(residual.to_arrow())
                residual = None
            table = ts.long_to_wide(table, runs=None if spec.filter is not None else _runs(series))
            if spec.columns:
                missing = sorted(set(spec.columns) - set(table.column_names))
                if missing:
                    raise BadSpecError(f"unknown column(s) {missing} in the wide result; series: {table.column_names[1:]}")
        pins: dict[str, Any] = {"query": promql}
        if window.is_range:
            assert window.start and window.end and window.step
            pins.update(start=ts.rfc3339(window.start), end=ts.rfc3339(window.end),
                        step=window.step.total_seconds(), slices=len(slices))
            kind = "prometheus.range"
        else:
            assert window.end
            pins.update(time=ts.rfc3339(window.end))
            kind = "prometheus.instant"
        snapshot = Snapshot(kind=kind, value=ts.rfc3339(window.end), consistent=False, replayable=False, pins=pins)
        return Scan(
            schema=table.schema,
            batches=table.to_batches(max_chunksize=spec.batch_size),
            snapshot=snapshot,
            dataset=Dataset(system="prometheus", uri=self.uri, namespace=self.namespace, name=name),
            query=Query(
                language="promql",
                text=promql,
                params={k: v for k, v in pins.items() if k != "query"},
                pushed_down={"columns": False, "filter": bool(matchers), "label_matchers": matchers,
                             "time_range": True, "limit": False, "shape": window.shape},
            ),
            residual=residual,
        )

    def _window(self, spec: ReadSpec) -> ts.TimeRange:
        """The time range with every default resolved (a replay uses the recorded one)."""
        pin = spec.pin
        if pin is not None and pin.kind == "prometheus.range":
            opts = {**spec.options, "start": pin.pins["start"], "end": pin.pins["end"], "step": pin.pins["step"]}
            return ts.time_range(opts, needs_step=True)
        if pin is not None and pin.kind == "prometheus.instant":
            return ts.time_range({**spec.options, "end": pin.pins["time"]})
        now = dt.datetime.now(ts.UTC).replace(microsecond=0)
        window = ts.time_range(spec.options, needs_step=True, default_end=now, where=self.uri)
        if window.end is None:
            window = ts.TimeRange(None, now, window.step, window.shape)
        return window

    def _fetch_range(self, promql: str, slices: list[tuple[int, int, int]]) -> list[Any]:
        """Run the range query once per slice, in parallel; results in slice order."""

        def one(piece: tuple[int, int, int]) -> Any:
            first, last, step = piece
            form = {"query": promql, "start": _ms_text(first), "end": _ms_text(last), "step": _ms_text(step),
                    "nocache": "1"}
            return self._call("/api/v1/query_range", data=form)

        if len(slices) == 1:
            return [one(slices[0])]
        with ThreadPoolExecutor(max_workers=min(self.parallel, len(slices)),
                                thread_name_prefix="unistore-prometheus") as pool:
            return list(pool.map(one, slices))


# -- planning ---------------------------------------------------------------------------------

def _slices(window: ts.TimeRange, max_points: int, parallel: int) -> list[tuple[int, int, int]]:
    """(first, last, step) in ms for each slice: evaluation points start + k*step < end, cut into pieces.

    Slices are split on evaluation points, never between them, so every point
    is evaluated exactly once and at the same time as an unsplit query would.
    """
    assert window.start and window.end and window.step
    start = _ms(window.start)
    step = max(1, round(window.step.total_seconds() * 1000))
    last = _ms(window.end) - 1  # half-open: no point at end itself
    points = (last - start) // step + 1
    pieces = max(math.ceil(points / max_points), min(parallel, points // MIN_SLICE_POINTS))
    per = math.ceil(points / max(1, pieces))
    out = []
    for first_index in range(0, points, per):
        last_index = min(points, first_index + per) - 1
        out.append((start + first_index * step, start + last_index * step, step))
    return out


def _ms(value: dt.datetime) -> int:
    return round(value.timestamp() * 1000)


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


def _long_table(series: list[tuple[tuple[tuple[str, str], ...], list[list]]]) -> pa.Table:
    """timestamp, one column per label (sorted, ``__name__`` first), value — built column-wise.

    The samples of all series are flattened once into two Python lists
    (times, value texts) that Arrow converts and parses in bulk.
    """
    names = _label_order({k for key, _ in series for k, _ in key})
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

