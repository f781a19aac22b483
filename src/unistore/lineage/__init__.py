"""Reporting reads: OpenTelemetry always (a no-op without an SDK), other sinks when configured.

Every read gets one :class:`ReadSpan`. When the read ends (stream consumed,
closed early, or failed) the span is ended and a :class:`ReadEvent` goes to
the current :func:`unistore.run` (if any) and to each configured sink. A sink
that raises is logged and skipped: lineage never fails a read.

Sinks shipped with unistore (see docs/lineage.md), set up with
:func:`configure`:

- :mod:`.otel` — OpenTelemetry span and histograms, always on (API only);
- :mod:`.openlineage` — OpenLineage RunEvents through openlineage-python,
  delivered by the disk spool of :mod:`.spool` so a down collector never
  slows a read;
- :mod:`.log` — a local JSON-lines log of every provenance record.
"""

from __future__ import annotations

import logging
import threading
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from . import otel
from .stats import ColumnStats

if TYPE_CHECKING:
    import pyarrow as pa

    from ..location import Location
    from ..provenance import Provenance
    from ..runs import Run
    from ..source import Source
    from ..spec import ReadSpec

_log = logging.getLogger("unistore.lineage")  # not "log": that is the submodule

#: the :class:`unistore.runs.Run` whose ``with`` block the current code is in
current_run: "ContextVar[Run | None]" = ContextVar("unistore_current_run", default=None)


@dataclass(frozen=True)
class ReadEvent:
    """One finished read, as sinks receive it. ``record`` is None when the read failed to start.

    ``run`` is the :func:`unistore.run` the read was started in; ``columns``
    holds per-column statistics (:class:`~.stats.ColumnStats`) when a sink
    asked for them (``wants_column_stats = True``), else None; ``schema`` is
    the Arrow schema of the result.
    """

    record: "Provenance | None"
    error: BaseException | None
    duration_s: float
    source_uri: str  # redacted
    run: "Run | None" = None
    columns: ColumnStats | None = None
    schema: "pa.Schema | None" = None  # the result's Arrow schema, when the read got that far


@runtime_checkable
class Sink(Protocol):
    def emit(self, event: ReadEvent) -> None: ...


_sinks: list[Sink] = []
_sinks_lock = threading.Lock()
_stats_wanted = False  # any sink with wants_column_stats: the read path then gathers column statistics


def add_sink(sink: Sink) -> Sink:
    """Send every finished read to ``sink`` (returned, for :func:`remove_sink`)."""
    global _stats_wanted
    if not isinstance(sink, Sink):
        raise TypeError("a sink needs an emit(event) method")
    with _sinks_lock:
        _sinks.append(sink)
        _stats_wanted = any(getattr(s, "wants_column_stats", False) for s in _sinks)
    return sink


def remove_sink(sink: Sink) -> None:
    global _stats_wanted
    with _sinks_lock:
        if sink in _sinks:
            _sinks.remove(sink)
        _stats_wanted = any(getattr(s, "wants_column_stats", False) for s in _sinks)


def sinks() -> list[Sink]:
    with _sinks_lock:
        return list(_sinks)


def run_sinks() -> list[Any]:
    """Sinks that report whole runs (``run_started``/``run_finished``), e.g. OpenLineage."""
    return [s for s in sinks() if hasattr(s, "run_started")]


class ReadSpan:
    """The reporting side of one read, from start to finish.

    Created in the caller's context, so the run a read belongs to is the one
    active where the read *started*, even when the stream is consumed elsewhere.
    """

    __slots__ = ("_otel", "_source_uri", "_done", "_run", "_stats", "_schema")

    def __init__(self, source: "Source", spec: "ReadSpec"):
        self._source_uri = source.uri
        self._otel = otel.start(source, spec)
        self._run = current_run.get()
        self._stats = ColumnStats() if _stats_wanted else None
        self._schema: "pa.Schema | None" = None
        self._done = False

    def observer(self, schema: "pa.Schema") -> "Any | None":
        """Note the result's schema; return a callable the read path feeds every batch to,
        or None when no sink wants column statistics."""
        self._schema = schema
        return self._stats.update if self._stats is not None else None

    def finish(self, record: "Provenance | None", error: BaseException | None, duration_s: float) -> None:
        if self._done:
            return
        self._done = True
        try:
            otel.finish(self._otel, record, error, duration_s)
        except Exception:  # pragma: no cover - a broken SDK must not break reads
            _log.warning("OpenTelemetry reporting failed", exc_info=True)
        current = sinks()
        if not current and self._run is None:
            return
        event = ReadEvent(record, error, duration_s, self._source_uri, self._run, self._stats, self._schema)
        if self._run is not None:
            try:
                self._run._add_read(event)
            except Exception:  # pragma: no cover - defensive
                _log.warning("recording the read in run %r failed", self._run, exc_info=True)
        for sink in current:
            try:
                sink.emit(event)
            except Exception:
                _log.warning("lineage sink %r failed; the read is unaffected", sink, exc_info=True)


class _Unopened:
    """Stands in for a source that could not be opened, so the failed read is still reported."""

    __slots__ = ("location", "uri")

    def __init__(self, location: "Location"):
        self.location = location
        self.uri = location.redacted()


def report_unopened(location: "Location", spec: "ReadSpec", error: BaseException, duration_s: float) -> None:
    """Report a read whose source failed to open (a span with ``error.type``, a FAIL event)."""
    try:
        ReadSpan(_Unopened(location), spec).finish(None, error, duration_s)  # type: ignore[arg-type]
    except Exception:  # pragma: no cover - reporting never replaces the caller's error
        _log.warning("reporting a failed open failed", exc_info=True)


from .config import configure, configured, flush, reads_in_run, shutdown  # noqa: E402  (public API)

__all__ = [
    "ColumnStats",
    "ReadEvent",
    "ReadSpan",
    "Sink",
    "add_sink",
    "configure",
    "configured",
    "current_run",
    "flush",
    "reads_in_run",
    "remove_sink",
    "report_unopened",
    "shutdown",
    "sinks",
]
