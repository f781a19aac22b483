"""OpenTelemetry through the API only: one CLIENT span and two histograms per read.

The library never configures an SDK; without one, the global proxies are
no-ops and cost a few attribute look-ups. Names follow the semantic
conventions for database clients (``db.system.name``, ``db.namespace``,
``db.collection.name``, ``db.query.text`` with literals replaced by ``?``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from .._version import __version__

if TYPE_CHECKING:
    from ..provenance import Provenance
    from ..source import Source
    from ..spec import ReadSpec

_tracer_provider: Any = None  # None: the global provider, resolved at each read
_meter_provider: Any = None

_LITERALS = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b")


def use_providers(tracer_provider: Any = None, meter_provider: Any = None) -> None:
    """Report to these providers instead of the global ones (tests, multi-tenant apps)."""
    global _tracer_provider, _meter_provider, _instruments
    _tracer_provider, _meter_provider = tracer_provider, meter_provider
    _instruments = None


def sanitize_query(text: str) -> str:
    """Replace string and number literals with ``?`` (semantic-convention ``db.query.text``)."""
    return _LITERALS.sub("?", text)


_instruments: Any = None


def _histograms() -> Any:
    global _instruments
    if _instruments is None:
        meter = metrics.get_meter("unistore", __version__, meter_provider=_meter_provider)
        _instruments = (
            meter.create_histogram("db.client.operation.duration", unit="s",
                                   description="Duration of unistore reads"),
            meter.create_histogram("db.client.response.returned_rows", unit="{row}",
                                   description="Rows returned by unistore reads"),
        )
    return _instruments


def start(source: "Source", spec: "ReadSpec") -> Any:
    tracer = trace.get_tracer("unistore", __version__, tracer_provider=_tracer_provider)
    loc = source.location
    attributes: dict[str, Any] = {"unistore.source": source.uri}
    if loc.netloc_host:
        attributes["server.address"] = loc.netloc_host
    if loc.port:
        attributes["server.port"] = loc.port
    target = spec.target or ("query" if spec.query else "")
    operation = "SELECT" if spec.query or spec.table else "READ"
    return tracer.start_span(f"{operation} {target}".strip(), kind=SpanKind.CLIENT, attributes=attributes)


def finish(span: Any, record: "Provenance | None", error: BaseException | None, duration_s: float) -> None:
    attributes: dict[str, Any] = {}
    if record is not None:
        attributes.update({
            "db.system.name": record.source.system,
            "db.namespace": record.source.namespace,
            "db.collection.name": record.source.name,
            "db.query.text": sanitize_query(record.query.text)[:4096],
            "unistore.read_id": record.read_id,
            "unistore.snapshot.kind": record.snapshot.kind,
            "unistore.snapshot.value": str(record.snapshot.value)[:1024],
            "unistore.result.rows": record.result.rows,
            "unistore.result.fingerprint": record.result.fingerprint or "",
            "unistore.result.complete": record.result.complete,
        })
        span.set_attributes(attributes)
    metric_attrs = {k: attributes[k] for k in ("db.system.name", "db.namespace") if k in attributes}
    if error is not None:
        etype = type(error).__qualname__
        span.set_attribute("error.type", etype)
        span.set_status(Status(StatusCode.ERROR, str(error)[:1024]))
        metric_attrs["error.type"] = etype
    duration, rows = _histograms()
    duration.record(duration_s, metric_attrs)
    if record is not None:
        rows.record(record.result.rows, metric_attrs)
    span.end()
