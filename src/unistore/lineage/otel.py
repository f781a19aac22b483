"""OpenTelemetry through the API only: one CLIENT span and two histograms per read.

The library never configures an SDK. Without one, the tracer hands out
non-recording spans, and this module then skips building attributes at all,
so a read pays for a context look-up and a few attribute reads.

Names follow the semantic conventions for database clients: span name
``"{db.operation.name} {target}"``, attributes ``db.system.name``,
``db.namespace``, ``db.collection.name``, ``db.operation.name``,
``db.query.text`` (literals replaced by ``?``), ``db.response.returned_rows``,
``server.address``, ``server.port``, ``error.type``; histograms
``db.client.operation.duration`` (s) and ``db.client.response.returned_rows``.
unistore's own attributes (``unistore.*``) carry the read id, snapshot and
fingerprint, so a trace links to the provenance record; a read that ran data
tests gets one span event ``unistore.data_test`` per result and the attribute
``unistore.data_tests.failed``.

Error text on a span is the already-scrubbed unistore message; exceptions
are *not* recorded with ``record_exception`` because a chained driver
exception (``raise ... from exc``) may echo a connection string.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from .._version import __version__
from .events import ReadContext

if TYPE_CHECKING:
    from ..provenance import Provenance

_LITERALS = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b")
_FIRST_WORD = re.compile(r"\s*(?:--[^\n]*\n\s*|/\*.*?\*/\s*)*([A-Za-z]+)", re.S)
_MAX_TEXT = 4096

_lock = threading.Lock()
_tracer_provider: Any = None  # None: the global provider
_meter_provider: Any = None
_tracer: Any = None           # cached; the global one is a proxy that follows a later-installed SDK
_instruments: Any = None


def use_providers(tracer_provider: Any = None, meter_provider: Any = None) -> None:
    """Report to these providers instead of the global ones (tests, multi-tenant apps).

    ``None`` means the global provider (``opentelemetry.trace.set_tracer_provider``).
    """
    global _tracer_provider, _meter_provider, _tracer, _instruments
    with _lock:
        _tracer_provider, _meter_provider = tracer_provider, meter_provider
        _tracer = _instruments = None


def sanitize_query(text: str) -> str:
    """Replace string and number literals with ``?`` (semantic-convention ``db.query.text``)."""
    return _LITERALS.sub("?", text)


def _cached(name: str, make: Callable[[], Any]) -> Any:
    """The module global ``name``, made once (under the lock) when it is None: the tracer, the instruments."""
    value = globals()[name]
    if value is None:
        with _lock:
            if globals()[name] is None:
                globals()[name] = make()
            value = globals()[name]
    return value


def _get_tracer() -> Any:
    return _cached("_tracer", lambda: trace.get_tracer("unistore", __version__, tracer_provider=_tracer_provider))


def _make_histograms() -> tuple[Any, Any]:
    meter = metrics.get_meter("unistore", __version__, meter_provider=_meter_provider)
    return (
        meter.create_histogram("db.client.operation.duration", unit="s", description="Duration of unistore reads",
                               explicit_bucket_boundaries_advisory=[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10]),
        meter.create_histogram("db.client.response.returned_rows", unit="{row}",
                               description="Rows returned by unistore reads",
                               explicit_bucket_boundaries_advisory=[
                                   1, 2, 5, 10, 100, 1000, 10_000, 100_000, 1_000_000]),
    )


def _histograms() -> Any:
    return _cached("_instruments", _make_histograms)


def operation_name(query: str | None) -> str:
    """``SELECT`` for table reads; the first keyword of a raw query (``SELECT``, ``WITH``...)."""
    if query:
        m = _FIRST_WORD.match(query)
        return m.group(1).upper() if m else "QUERY"
    return "SELECT"


class _Started:
    """What ``finish`` needs from ``start``: the span and the attributes known up front."""

    __slots__ = ("span", "operation", "server", "names")

    def __init__(self, span: Any, operation: str, server: dict[str, Any], names: dict[str, Any]):
        self.span, self.operation, self.server, self.names = span, operation, server, names


def _database(context: ReadContext) -> str | None:
    """The database a read goes to (``db.namespace``): a server's database name, an embedded store's file."""
    if context.system in ("sqlite", "duckdb"):
        path = context.path or context.location.path
        return os.path.abspath(path) if path and path != ":memory:" else path or None
    return context.database or None


def _s3_endpoint() -> tuple[str, int]:
    url = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if not url:
        return "s3.amazonaws.com", 443
    parts = urlsplit(url)
    return parts.hostname or url, parts.port or (443 if parts.scheme == "https" else 80)


def naming(context: ReadContext) -> dict[str, Any]:
    """The attributes known before anything is sent, so a read that fails still carries them.

    ``db.namespace`` is the database (PostgreSQL ``{database}`` here, ``{database}.{schema}`` once the
    table is resolved), ``db.collection.name`` the table as the caller named it, ``server.*`` where the
    store listens; for S3 the bucket, the key and the S3 endpoint.
    """
    loc = context.location
    out: dict[str, Any] = {}
    if loc.scheme in ("s3", "s3a"):
        if loc.netloc_host:
            out["db.namespace"] = loc.netloc_host  # the bucket
        key = loc.path.lstrip("/")
        if key:
            out["db.collection.name"] = key
        out["server.address"], out["server.port"] = _s3_endpoint()
    else:
        host = context.host if context.host is not None else loc.netloc_host
        port = context.port if context.port is not None else loc.port
        if host:
            out["server.address"] = host
        if port:
            out["server.port"] = port
        database = _database(context)
        if database:
            out["db.namespace"] = database
    if context.target is not None:
        out["db.collection.name"] = context.target
    if context.query:
        out["db.query.text"] = sanitize_query(context.query)[:_MAX_TEXT]
    return out


def start(context: ReadContext) -> _Started:
    operation = operation_name(context.query)
    target = context.target
    names = naming(context)
    server = {k: v for k, v in names.items() if k.startswith("server.")}
    attributes: dict[str, Any] = {"db.operation.name": operation, **names}
    if context.system is not None:  # known before the read for SQL sources: samplers can use it
        attributes["db.system.name"] = context.system
    span = _get_tracer().start_span(f"{operation} {target}" if target else operation, kind=SpanKind.CLIENT,
                                    attributes=attributes)
    return _Started(span, operation, server, names)


def activate(started: _Started) -> Any:
    """Make the span current (not ending it on exit), so spans started inside are its children."""
    return trace.use_span(started.span, end_on_exit=False)


def _resolved_names(record: "Provenance", names: dict[str, Any]) -> dict[str, Any]:
    """Names only the finished read knows: PostgreSQL's schema, a file's path (its OpenLineage name)."""
    out: dict[str, Any] = {}
    source = record.source
    if source.system == "postgresql" and "db.collection.name" in names:
        parts = source.name.split(".")  # database.schema.table, as the adapter resolved it
        if len(parts) == 3:
            out["db.namespace"] = f"{parts[0]}.{parts[1]}"
    if "db.collection.name" not in names and record.query.language == "files":
        out["db.collection.name"] = source.name
    return out


def finish(started: _Started, record: "Provenance | None", error: BaseException | None,
           duration_s: float) -> None:
    span = started.span
    recording = span.is_recording()
    metric_attrs: dict[str, Any] = {"db.operation.name": started.operation, **started.server}
    for key in ("db.namespace", "db.collection.name"):
        if key in started.names:
            metric_attrs[key] = started.names[key]
    if record is not None:
        metric_attrs["db.system.name"] = record.source.system
        metric_attrs.update(_resolved_names(record, started.names))
    if error is not None:
        metric_attrs["error.type"] = type(error).__qualname__
    if recording:
        attributes = {**started.names, **metric_attrs}  # a failed read keeps what was known at its start
        if record is not None:
            attributes.update({
                "db.query.text": sanitize_query(record.query.text)[:_MAX_TEXT],
                "db.response.returned_rows": record.result.rows,
                "unistore.source": record.source.uri,
                "unistore.read_id": record.read_id,
                "unistore.snapshot.kind": record.snapshot.kind,
                "unistore.snapshot.value": str(record.snapshot.value)[:1024],
                "unistore.snapshot.replayable": record.snapshot.replayable,
                "unistore.result.bytes": record.result.bytes,
                "unistore.result.fingerprint": record.result.fingerprint or "",
                "unistore.result.schema_fingerprint": record.result.schema_fingerprint or "",
                "unistore.result.complete": record.result.complete,
            })
        span.set_attributes(attributes)
        if record is not None and record.checks:
            _check_events(span, record)
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, str(error)[:1024]))
    duration, rows = _histograms()
    duration.record(duration_s, metric_attrs)
    if record is not None:
        rows.record(record.result.rows, metric_attrs)
    span.end()


def split_spans(started: _Started, splits: list[tuple[int, int, int, int, int]]) -> None:
    """A child span per split of a distributed read (index, start and end in ns, worker pid, rows),
    timed by the worker that read it and made on the planner, so no worker needs an SDK of its own."""
    if not started.span.is_recording():
        return
    parent = trace.set_span_in_context(started.span)
    tracer = _get_tracer()
    for index, start_ns, end_ns, pid, rows in splits:
        child = tracer.start_span(f"{started.operation} split {index}", context=parent, kind=SpanKind.CLIENT,
                                  start_time=start_ns,
                                  attributes={**started.server, "unistore.split.index": index,
                                              "process.pid": pid, "db.response.returned_rows": rows})
        child.end(end_time=end_ns)


def _check_events(span: Any, record: "Provenance") -> None:
    """One span event ``unistore.data_test`` per data test result, and the count of failed ones."""
    import json

    from ..provenance import jsonable

    failed = 0
    for check in record.checks or []:
        failed += not check.success
        attributes: dict[str, Any] = {
            "unistore.data_test.name": check.name, "unistore.data_test.assertion": check.assertion,
            "unistore.data_test.success": check.success, "unistore.data_test.severity": check.severity,
            "unistore.data_test.observed": json.dumps(check.observed, default=jsonable, sort_keys=True)[:_MAX_TEXT],
        }
        if check.column is not None:
            attributes["unistore.data_test.column"] = check.column
        if check.failing_rows is not None:
            attributes["unistore.data_test.failing_rows"] = check.failing_rows
        span.add_event("unistore.data_test", attributes)
    span.set_attribute("unistore.data_tests.failed", failed)


def start_run(name: str, run_id: str) -> tuple[Any, Any]:
    """Open the span of a :func:`unistore.run` and make it current: reads started inside are its children."""
    from opentelemetry import context

    span = _get_tracer().start_span(f"unistore.run {name}", kind=SpanKind.INTERNAL,
                                    attributes={"unistore.run.name": name, "unistore.run.id": run_id})
    return span, context.attach(trace.set_span_in_context(span))


def end_run(span: Any, token: Any, error: BaseException | None) -> None:
    """Restore the caller's context and end the run's span (status ERROR when the block raised)."""
    from opentelemetry import context

    context.detach(token)  # in another context than attach (threads): OpenTelemetry logs it, never raises
    if error is not None:
        span.set_attribute("error.type", type(error).__qualname__)
        span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}"))
    span.end()
