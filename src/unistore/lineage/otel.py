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
fingerprint, so a trace links to the provenance record.

Error text on a span is the already-scrubbed unistore message; exceptions
are *not* recorded with ``record_exception`` because a chained driver
exception (``raise ... from exc``) may echo a connection string.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from .._version import __version__

if TYPE_CHECKING:
    from ..provenance import Provenance
    from ..source import Source
    from ..spec import ReadSpec

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


def _get_tracer() -> Any:
    global _tracer
    tracer = _tracer
    if tracer is None:
        with _lock:
            if _tracer is None:
                _tracer = trace.get_tracer("unistore", __version__, tracer_provider=_tracer_provider)
            tracer = _tracer
    return tracer


def _histograms() -> Any:
    global _instruments
    instruments = _instruments
    if instruments is None:
        with _lock:
            if _instruments is None:
                meter = metrics.get_meter("unistore", __version__, meter_provider=_meter_provider)
                _instruments = (
                    meter.create_histogram("db.client.operation.duration", unit="s",
                                           description="Duration of unistore reads",
                                           explicit_bucket_boundaries_advisory=[
                                               0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10]),
                    meter.create_histogram("db.client.response.returned_rows", unit="{row}",
                                           description="Rows returned by unistore reads",
                                           explicit_bucket_boundaries_advisory=[
                                               1, 2, 5, 10, 100, 1000, 10_000, 100_000, 1_000_000]),
                )
            instruments = _instruments
    return instruments


def operation_name(spec: "ReadSpec") -> str:
    """``SELECT`` for table reads; the first keyword of a raw query (``SELECT``, ``WITH``...)."""
    if spec.query:
        m = _FIRST_WORD.match(spec.query)
        return m.group(1).upper() if m else "QUERY"
    return "SELECT"


class _Started:
    """What ``finish`` needs from ``start``: the span and the attributes known up front."""

    __slots__ = ("span", "operation", "server")

    def __init__(self, span: Any, operation: str, server: dict[str, Any]):
        self.span, self.operation, self.server = span, operation, server


def start(source: "Source", spec: "ReadSpec") -> _Started:
    operation = operation_name(spec)
    target = spec.target if spec.table is not None else None
    loc = source.location
    server: dict[str, Any] = {}
    if loc.netloc_host:
        server["server.address"] = loc.netloc_host
    if loc.port:
        server["server.port"] = loc.port
    attributes: dict[str, Any] = {"db.operation.name": operation, **server}
    system = getattr(source, "system", None)  # known before the read for SQL sources: samplers can use it
    if isinstance(system, str):
        attributes["db.system.name"] = system
    span = _get_tracer().start_span(f"{operation} {target}" if target else operation, kind=SpanKind.CLIENT,
                                    attributes=attributes)
    return _Started(span, operation, server)


def finish(started: _Started, record: "Provenance | None", error: BaseException | None,
           duration_s: float) -> None:
    span = started.span
    recording = span.is_recording()
    metric_attrs: dict[str, Any] = {"db.operation.name": started.operation, **started.server}
    if record is not None:
        metric_attrs["db.system.name"] = record.source.system
        metric_attrs["db.namespace"] = record.source.namespace
        metric_attrs["db.collection.name"] = record.source.name
    if error is not None:
        metric_attrs["error.type"] = type(error).__qualname__
    if recording:
        attributes = dict(metric_attrs)
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
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, str(error)[:1024]))
    duration, rows = _histograms()
    duration.record(duration_s, metric_attrs)
    if record is not None:
        rows.record(record.result.rows, metric_attrs)
    span.end()
