"""InfluxDB 1.x over its HTTP API: measurements as tables, InfluxQL queries.

``influxdb://[user:password@]host:port/database[?rp=retention_policy]``
(``influxdb+https://`` for TLS). A measurement reads as a table whose columns
are ``timestamp`` (``timestamp[ns, UTC]``), its tags (strings) and its fields
(typed by ``SHOW FIELD KEYS``). ``start``/``end`` become ``time >= $start AND
time < $end``; filter predicates on tags and fields become an InfluxQL WHERE
with bound parameters (the ``params`` of the HTTP API, never spliced into the
text); ``step`` groups by ``time(step)`` keeping the last sample of each
bucket. Large results stream in chunks (``chunked=true``).

The snapshot is the query and the resolved range with ``end`` as the as-of
bound (a read without ``end`` is pinned to the time of the read). Nothing
pins the server's state, so replay re-queries: late points are drift.
``partitions=N`` cuts a measurement's read into N time slices under that one
end (:meth:`InfluxDBSource.plan`), each sent as its own ``time >= $start AND
time < $end`` statement.

InfluxDB 2.x/3.x (Flux, SQL over Flight) are not covered: they cannot be run
offline here to test against.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Iterator
from typing import Any, ClassVar

import pyarrow as pa

from .. import timeseries as ts
from ..errormap import ErrorTable, Rule
from ..errors import (BadSpecError, QueryError, ReadOnlyError, SourceNotFoundError,
                      SourceUnavailableError)
from ..filters import Filter, Predicate
from ..location import Location
from ..provenance import Dataset, Query
from ..registry import require
from ..snapshot import Snapshot
from ..adapter import Adapter, Capabilities, Connection, ReadPlan, Scan, Split, check_max_splits
from ..spec import ReadSpec
from ._http import TRANSPORT_RULES, HttpClient, server_address, status_of, status_rule, time_slice_plan

TIME_TYPE = pa.timestamp("ns", "UTC")
#: the grid raw reads are cut on (points are compared with the cuts exactly, whatever their precision)
MS = dt.timedelta(milliseconds=1)
FIELD_TYPES = {"float": pa.float64(), "integer": pa.int64(), "string": pa.string(), "boolean": pa.bool_(),
               "unsigned": pa.uint64()}
_READ_STATEMENT = re.compile(r"^\s*(SELECT|SHOW)\b", re.I)
_WRITE_WORDS = re.compile(r"\bINTO\b|;", re.I)


class StatementError(Exception):
    """InfluxDB answered a statement with an error (HTTP 200, the error in the body)."""


#: a 5xx is the server failing, any other failed status or statement a rejected query
ERRORS = ErrorTable(
    *TRANSPORT_RULES,
    status_rule(SourceUnavailableError, "{where} failed (HTTP {code}): {text}", range(500, 600)),
    status_rule(QueryError, "{where} rejected the query (HTTP {code}): {text}"),
    Rule(SourceNotFoundError, "{where}: {text}", classes=(f"{__name__}.StatementError",),
         when=lambda text: text.startswith("database not found")),
    Rule(QueryError, "{where} rejected the query: {text}", classes=(f"{__name__}.StatementError",)),
    code=status_of,
)
#: a streamed answer cut off half way
BROKEN_STREAM = ErrorTable(Rule(SourceUnavailableError, "the connection to {where} broke during the read: {text}",
                                classes=("requests.RequestException",)))

try:
    import orjson as _json

    _loads = _json.loads
except ImportError:  # pragma: no cover
    _loads = json.loads


def _credentials(location: Location) -> tuple[str, str] | None:
    """User and password: from the user info, or InfluxDB 1.x's own ``?u=USER&p=PASSWORD``.

    Only the user name is recorded (``p`` is a secret parameter); a replay
    without a password takes it from ``INFLUX_PASSWORD``, as the influx CLI does.
    """
    query = dict(location.query)
    user = location.username or query.get("u")
    if not user:
        return None
    password = location.password if location.username else query.get("p")
    return user, password or os.environ.get("INFLUX_PASSWORD", "")


class InfluxDBAdapter(Adapter):
    open_options: ClassVar[frozenset[str]] = frozenset({"timeout", "verify", "chunk_size"})

    def open(self, location: Location, **options: Any) -> "InfluxDBSource":
        return InfluxDBSource(location, **options)


class InfluxDBSource(Connection):
    """One database of an InfluxDB 1.x server."""

    capabilities: ClassVar[Capabilities] = Capabilities(queries=True, params=True, listing=True, splits=True)
    read_options: ClassVar[frozenset[str]] = ts.OPTIONS

    def __init__(self, location: Location, *, timeout: float = 30.0, verify: bool | str = True,
                 chunk_size: int = 50_000):
        super().__init__(location)
        self._requests = require("requests", extra="influxdb", what="reading InfluxDB")
        if not location.netloc_host:
            raise BadSpecError(f"{location.redacted()} names no host; write influxdb://host:port/database")
        self.database = location.path.strip("/")
        if not self.database or "/" in self.database:
            raise BadSpecError(f"{location.redacted()} must name one database: influxdb://host:port/database")
        if not (isinstance(timeout, (int, float)) and timeout > 0):
            raise BadSpecError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if not (isinstance(chunk_size, int) and chunk_size > 0):
            raise BadSpecError(f"chunk_size must be a positive integer, got {chunk_size!r}")
        self.rp = dict(location.query).get("rp")
        scheme, host, port = server_address(location, 8086)
        self.base = f"{scheme}://{host}:{port}"
        self.namespace = f"influxdb://{host}:{port}"
        self.timeout, self.chunk_size = float(timeout), chunk_size
        self._http = HttpClient(self._requests, self.base, where=self.uri, errors=ERRORS, timeout=self.timeout,
                                secrets=location.secrets, auth=_credentials(location), verify=verify)

    def close(self) -> None:
        self._http.close()

    # -- HTTP ----------------------------------------------------------------------------
    def _post(self, query: str, params: dict[str, Any] | None = None, *, stream: bool = False):
        form = {"q": query, "db": self.database, "epoch": "ns"}
        if self.rp:
            form["rp"] = self.rp
        if params:
            form["params"] = json.dumps(params)
        if stream:
            form.update(chunked="true", chunk_size=str(self.chunk_size))
        resp = self._http.request("/query", data=form, stream=stream)
        if resp.status_code != 200:
            try:
                message = _loads(resp.content).get("error", "")
            except (ValueError, AttributeError):
                message = resp.text[:500]
            self._http.fail(resp, str(message))
        return resp

    def _results(self, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """The series of one (non-streamed) statement; a statement error becomes a typed error."""
        body = _loads(self._post(query, params).content)
        return self._series(body)

    def _series(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        with self._http.mapped():
            if "error" in body:
                raise StatementError(body["error"])
            out: list[dict[str, Any]] = []
            for result in body.get("results", []):
                if "error" in result:
                    raise StatementError(result["error"])
                out.extend(result.get("series", []))
        return out

    # -- discovery -------------------------------------------------------------------------
    def tables(self) -> list[str]:
        return sorted(v[0] for s in self._results("SHOW MEASUREMENTS") for v in s.get("values", []))

    def _keys(self, measurement: str) -> tuple[list[str], dict[str, pa.DataType]]:
        ident = _ident(measurement)
        fields: dict[str, pa.DataType] = {}
        for s in self._results(f"SHOW FIELD KEYS FROM {ident}"):
            for name, kind in s.get("values", []):
                fields[name] = FIELD_TYPES.get(kind, pa.string())
        if not fields:
            raise SourceNotFoundError(f"no measurement {measurement!r} in {self.uri}")
        tags = sorted({v[0] for s in self._results(f"SHOW TAG KEYS FROM {ident}") for v in s.get("values", [])})
        return tags, fields

    def schema(self, table: str | tuple[str, ...]) -> pa.Schema:
        tags, fields = self._keys(_measurement(table))
        return _schema(tags, fields)

    # -- the read --------------------------------------------------------------------------------
    def scan(self, spec: ReadSpec) -> Scan:
        window = self._window(spec)
        if spec.table is not None:
            return self._scan_measurement(spec, ts.TimeSlice(window, window.start, window.end))
        return self._scan_query(spec, window)

    def plan(self, spec: ReadSpec, max_splits: int) -> ReadPlan:
        """A measurement's long read cut into time slices under one pinned end (``GROUP BY time`` buckets whole).

        Without ``start`` the cuts are placed from the first point before
        ``end`` on, and the first slice stays open below like the read. The
        wide shape (one column per series of the whole range) and ``query=``
        reads (the statement decides what a time range means) are one split.
        """
        check_max_splits(max_splits)
        window = self._window(spec)
        if spec.table is None or window.shape == "wide":
            return super().plan(spec, max_splits)
        assert window.end is not None
        measurement, tags, fields = self._measurement_keys(spec, window)
        text, params, pushed = self._select(measurement, tags, fields, spec.filter, window.step, window.start,
                                            window.end)
        lower = window.start or self._first_time(measurement, window.end)
        unit = MS if window.step is None else _step_ms(window.step) * MS  # buckets are aligned to the epoch
        cuts = [] if lower is None else ts.time_cuts(lower, window.end, max_splits, unit)
        return time_slice_plan(ts.time_slices(window, cuts, keys=(tags, fields)),
                               snapshot=self._snapshot(text, window),
                               query=_measurement_query(text, params, pushed, window))

    def scan_split(self, spec: ReadSpec, split: Split) -> Scan:
        part = split.payload
        if not isinstance(part, ts.TimeSlice):  # a one-split plan: the read as it is
            return self.scan(spec)
        return self._scan_measurement(spec, part)

    def _window(self, spec: ReadSpec) -> ts.TimeRange:
        pin = spec.pin
        if pin is not None and pin.kind == "influxdb.range":
            opts = {**spec.options, "start": pin.pins.get("start"), "end": pin.pins["end"]}
            return ts.time_range(opts)
        now = dt.datetime.now(ts.UTC)
        window = ts.time_range(spec.options, default_end=now)
        if window.end is None:  # pinned to the time of the read, so a replay sees the same range
            window = ts.TimeRange(window.start, now, window.step, window.shape)
        return window

    def _measurement_keys(self, spec: ReadSpec, window: ts.TimeRange,
                          keys: tuple[list[str], dict[str, pa.DataType]] | None = None,
                          ) -> tuple[str, list[str], dict[str, pa.DataType]]:
        """The measurement, its tags and typed fields (``keys``: as a planner resolved them), the request checked."""
        measurement = _measurement(spec.table)  # type: ignore[arg-type]
        tags, fields = keys if keys is not None else self._keys(measurement)
        schema = _schema(tags, fields)
        if window.shape == "long":
            spec.check_columns(schema, f"measurement {measurement}")
        else:  # columns name series in the wide shape; the filter still names tags and fields
            unknown = sorted((spec.filter.columns if spec.filter is not None else set()) - set(schema.names))
            if unknown:
                raise BadSpecError(f"unknown column(s) {unknown} in the filter; columns of {measurement}: {schema.names}")
        return measurement, tags, fields

    def _source(self, measurement: str) -> str:
        return _ident(measurement) if not self.rp else f"{_ident(self.rp)}.{_ident(measurement)}"

    def _select(self, measurement: str, tags: list[str], fields: dict[str, pa.DataType], filt: Filter | None,
                step: dt.timedelta | None, start: dt.datetime | None,
                end: dt.datetime) -> tuple[str, dict[str, Any], str | None]:
        """The statement reading [start, end), its bound parameters, and the part of the filter it carries."""
        params: dict[str, Any] = {}
        where = _where_time(start, end, params)
        pushed = _where_filter(filt, set(tags), fields, params)
        if pushed:
            where.append(pushed)
        if step is not None:
            selects = ", ".join(f"last({_ident(f)}) AS {_ident(f)}" for f in sorted(fields))
            text = f"SELECT {selects} FROM {self._source(measurement)} WHERE " + " AND ".join(where)
            text += f" GROUP BY time({_influx_duration(step)}), * fill(none)"
        else:
            text = f"SELECT * FROM {self._source(measurement)} WHERE " + " AND ".join(where)
        return text, params, pushed

    def _first_time(self, measurement: str, end: dt.datetime) -> dt.datetime | None:
        """The time of the measurement's first point before ``end`` (None: there is none)."""
        series = self._results(f"SELECT * FROM {self._source(measurement)} WHERE time < $end LIMIT 1",
                               {"end": ts.rfc3339(end)})
        values = series[0].get("values") if series else None
        return ts.EPOCH + dt.timedelta(microseconds=values[0][0] // 1000) if values else None

    def _scan_measurement(self, spec: ReadSpec, part: ts.TimeSlice) -> Scan:
        """Read ``part`` of the measurement's range; the snapshot is that of the whole (pinned) window."""
        window = part.window
        assert window.end is not None
        measurement, tags, fields = self._measurement_keys(spec, window, part.keys)
        schema = _schema(tags, fields)
        text, params, pushed = self._select(measurement, tags, fields, spec.filter, window.step, part.start, part.end)
        whole = text if (part.start, part.end) == (window.start, window.end) else \
            self._select(measurement, tags, fields, spec.filter, window.step, window.start, window.end)[0]
        snapshot = self._snapshot(whole, window)
        query = _measurement_query(text, params, pushed, window)
        dataset = Dataset(system="influxdb", uri=self.uri, namespace=self.namespace,
                          name=f"{self.database}.{self.rp + '.' if self.rp else ''}{measurement}")
        if window.shape == "wide":
            table = pa.Table.from_batches(list(self._stream(text, params, schema)), schema=schema)
            if spec.filter is not None:
                table = table.filter(spec.filter.to_arrow())
            table = _wide(table, tags, sorted(fields), measurement)
            return Scan(schema=table.schema, batches=table.to_batches(max_chunksize=spec.batch_size),
                        snapshot=snapshot, dataset=dataset, query=query)
        # the store narrowed the rows; the filter is applied once more with SQL null semantics
        return Scan(schema=schema, batches=self._stream(text, params, schema), snapshot=snapshot, dataset=dataset,
                    query=query, residual=spec.filter)

    def _scan_query(self, spec: ReadSpec, window: ts.TimeRange) -> Scan:
        assert spec.query is not None
        text = spec.query
        if not _READ_STATEMENT.match(text) or _WRITE_WORDS.search(_without_strings(text)):
            raise ReadOnlyError("InfluxDB reads take one SELECT or SHOW statement without INTO")
        if spec.params is not None and not isinstance(spec.params, dict):
            raise BadSpecError("InfluxQL parameters are named: write $name in the query and pass params={'name': ...}")
        params: dict[str, Any] = {k: _param(v) for k, v in dict(spec.params or {}).items()}
        if window.start is not None:
            params.setdefault("start", ts.rfc3339(window.start))
        if window.end is not None:
            params.setdefault("end", ts.rfc3339(window.end))
        series = self._results(text, {k: v for k, v in params.items() if "$" + k in text})
        table = _table_from_series(series)
        if window.shape == "wide":
            labels = [n for n in table.column_names if n not in ("timestamp",) and table.schema.field(n).type == pa.string()]
            values = [n for n in table.column_names if n != "timestamp" and n not in labels]
            table = _wide(table, labels, values, "")
        else:
            if table.num_rows:  # an empty result has no columns to check against
                spec.check_columns(table.schema, "the query's result")
        return Scan(
            schema=table.schema, batches=table.to_batches(max_chunksize=spec.batch_size),
            snapshot=self._snapshot(text, window),
            dataset=Dataset(system="influxdb", uri=self.uri, namespace=self.namespace, name=self.database),
            query=Query(language="influxql", text=text, params=params or None,
                        pushed_down={"columns": False, "filter": False, "limit": False}),
            residual=spec.filter,
        )

    def _snapshot(self, text: str, window: ts.TimeRange) -> Snapshot:
        assert window.end is not None
        pins: dict[str, Any] = {"query": text, "end": ts.rfc3339(window.end)}
        if window.start is not None:
            pins["start"] = ts.rfc3339(window.start)
        if window.step is not None:
            pins["step"] = window.step.total_seconds()
        return Snapshot(kind="influxdb.range", value=pins["end"], consistent=False, replayable=False, pins=pins)

    def _stream(self, text: str, params: dict[str, Any], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        """Chunks of the response as record batches of ``schema`` (tags of GROUP BY * become columns)."""
        resp = self._post(text, params, stream=True)
        try:
            with self._http.mapped(BROKEN_STREAM):
                for line in resp.iter_lines(chunk_size=1 << 16):
                    if not line:
                        continue
                    for s in self._series(_loads(line)):
                        batch = _batch(s, schema)
                        if batch.num_rows:
                            yield batch
        finally:
            resp.close()


# -- InfluxQL text ------------------------------------------------------------------------------

def _measurement(table: str | tuple[str, ...]) -> str:
    return ".".join(table) if isinstance(table, tuple) else table


def _ident(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _influx_duration(step: dt.timedelta) -> str:
    ms = _step_ms(step)
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def _param(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return ts.rfc3339(ts.utc(value, "parameter"))
    return value


def _where_time(start: dt.datetime | None, end: dt.datetime, params: dict[str, Any]) -> list[str]:
    where = []
    if start is not None:
        params["start"] = ts.rfc3339(start)
        where.append("time >= $start")
    params["end"] = ts.rfc3339(end)
    return [*where, "time < $end"]


def _step_ms(step: dt.timedelta) -> int:
    """The step in whole milliseconds, as InfluxQL is sent it."""
    return round(step.total_seconds() * 1000)


def _measurement_query(text: str, params: dict[str, Any], pushed: str | None, window: ts.TimeRange) -> Query:
    return Query(language="influxql", text=text, params=params or None,
                 pushed_down={"columns": False, "filter": bool(pushed), "time_range": True, "limit": False,
                              "step": window.step is not None, "shape": window.shape})


def _where_filter(filt: Filter | None, tags: set[str], fields: dict[str, pa.DataType],
                  params: dict[str, Any]) -> str | None:
    """The part of the filter InfluxQL can evaluate, with bound parameters; None if nothing can be pushed.

    Each clause keeps the predicates InfluxQL can express (a weaker clause
    still selects every matching row); the full filter is applied again after
    the read, so NULL handling stays SQL's. A clause with nothing pushable
    makes the whole OR unpushable.
    """
    if filt is None:
        return None
    ors = []
    for clause in filt.clauses:
        ands = [t for t in (_predicate(p, tags, fields, params) for p in clause) if t]
        if not ands:
            return None
        ors.append(" AND ".join(ands))
    if len(ors) == 1:
        return ors[0]
    return "(" + " OR ".join(f"({o})" for o in ors) + ")"


_OPS = {"==": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def _predicate(p: Predicate, tags: set[str], fields: dict[str, pa.DataType], params: dict[str, Any]) -> str | None:
    if p.column in tags:
        if p.op in ("==", "!=") and isinstance(p.value, str) and p.value:
            return f"{_ident(p.column)} {_OPS[p.op]} {_bind(params, p.value)}"
        if p.op == "in" and p.value and all(isinstance(v, str) and v for v in p.value):
            return "(" + " OR ".join(f"{_ident(p.column)} = {_bind(params, v)}" for v in p.value) + ")"
        return None
    if p.column in fields and p.op in _OPS:
        value = p.value
        if isinstance(value, bool) or isinstance(value, (int, float, str)):
            return f"{_ident(p.column)} {_OPS[p.op]} {_bind(params, value)}"
    return None


def _bind(params: dict[str, Any], value: Any) -> str:
    name = f"p{len([k for k in params if k.startswith('p')])}"
    params[name] = value
    return "$" + name


def _without_strings(text: str) -> str:
    return re.sub(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", "''", text)


# -- results -> Arrow -----------------------------------------------------------------------------

def _schema(tags: list[str], fields: dict[str, pa.DataType]) -> pa.Schema:
    return pa.schema([pa.field(ts.TIMESTAMP, TIME_TYPE, nullable=False)]
                     + [pa.field(t, pa.string()) for t in tags]
                     + [pa.field(f, fields[f]) for f in sorted(fields) if f not in tags])


def _batch(series: dict[str, Any], schema: pa.Schema) -> pa.RecordBatch:
    """One response series as a batch of ``schema``: values transposed to columns in one pass."""
    columns = series.get("columns", [])
    rows = series.get("values") or []
    by_name = dict(zip(columns, zip(*rows))) if rows else {}
    n = len(rows)
    group_tags = series.get("tags") or {}
    arrays = []
    for field in schema:
        name = "time" if field.name == ts.TIMESTAMP else field.name
        if name in by_name:
            if name == "time":
                arrays.append(pa.array(by_name[name], pa.int64()).cast(TIME_TYPE))
            else:
                arrays.append(pa.array(by_name[name], field.type))
        elif field.name in group_tags:
            arrays.append(pa.array([group_tags[field.name] or None] * n, field.type))
        else:
            arrays.append(pa.nulls(n, field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _table_from_series(series: list[dict[str, Any]]) -> pa.Table:
    """A raw query's result: time, GROUP BY tags, then the selected columns, types inferred."""
    if not series:
        return pa.table({ts.TIMESTAMP: pa.array([], TIME_TYPE)})
    tag_names = sorted({k for s in series for k in (s.get("tags") or {})})
    value_names: list[str] = []
    for s in series:
        for c in s.get("columns", []):
            if c != "time" and c not in value_names and c not in tag_names:
                value_names.append(c)
    parts = []
    for s in series:
        rows = s.get("values") or []
        cols = dict(zip(s.get("columns", []), zip(*rows))) if rows else {}
        data: dict[str, pa.Array] = {}
        if "time" in s.get("columns", []):
            times = cols.get("time", ())
            data[ts.TIMESTAMP] = (pa.array(times, pa.int64()).cast(TIME_TYPE) if times and isinstance(times[0], int)
                                  else pa.array(list(times), pa.string()))
        for t in tag_names:
            data[t] = pa.array([(s.get("tags") or {}).get(t) or None] * len(rows), pa.string())
        for v in value_names:
            data[v] = pa.array(list(cols.get(v, [None] * len(rows))))
        parts.append(pa.table(data))
    return pa.concat_tables(parts, promote_options="permissive")


def _wide(table: pa.Table, tags: list[str], fields: list[str], measurement: str) -> pa.Table:
    """One column per (tag set, field): ``measurement{tag="v"}`` (``measurement.field{...}`` for several fields)."""
    wides = []
    for f in fields:
        if f not in table.column_names:
            continue
        part = table.select([ts.TIMESTAMP, *[t for t in tags if t in table.column_names], f])
        part = part.filter(pa.compute.is_valid(part.column(f)))
        part = part.rename_columns([*part.column_names[:-1], ts.VALUE])
        if not pa.types.is_floating(part.schema.field(ts.VALUE).type):
            part = part.set_column(part.num_columns - 1, ts.VALUE, part.column(ts.VALUE).cast(pa.float64()))
        metric = measurement if len(fields) == 1 else (f"{measurement}.{f}" if measurement else f)
        wides.append(ts.long_to_wide(part, metric=metric))
    if not wides:
        return pa.table({ts.TIMESTAMP: pa.array([], TIME_TYPE)})
    out = wides[0]
    for other in wides[1:]:
        out = out.join(other, ts.TIMESTAMP, join_type="full outer")
    return out.sort_by(ts.TIMESTAMP)
