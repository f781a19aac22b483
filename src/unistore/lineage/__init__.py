"""Reporting reads: OpenTelemetry always (a no-op without an SDK), other sinks when configured.

Every read gets one :class:`ReadSpan`. When the read ends (stream consumed,
closed early, or failed) the span is ended and a :class:`ReadEvent` goes to
each configured sink. A sink that raises is logged and skipped: lineage never
fails a read.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from . import otel

if TYPE_CHECKING:
    from ..provenance import Provenance
    from ..source import Source
    from ..spec import ReadSpec

log = logging.getLogger("unistore.lineage")


@dataclass(frozen=True)
class ReadEvent:
    """One finished read, as sinks receive it. ``record`` is None when the read failed to start."""

    record: "Provenance | None"
    error: BaseException | None
    duration_s: float
    source_uri: str  # redacted


@runtime_checkable
class Sink(Protocol):
    def emit(self, event: ReadEvent) -> None: ...


_sinks: list[Sink] = []
_sinks_lock = threading.Lock()


def add_sink(sink: Sink) -> Sink:
    """Send every finished read to ``sink`` (returned, for :func:`remove_sink`)."""
    if not isinstance(sink, Sink):
        raise TypeError("a sink needs an emit(event) method")
    with _sinks_lock:
        _sinks.append(sink)
    return sink


def remove_sink(sink: Sink) -> None:
    with _sinks_lock:
        if sink in _sinks:
            _sinks.remove(sink)


def sinks() -> list[Sink]:
    with _sinks_lock:
        return list(_sinks)


class ReadSpan:
    """The reporting side of one read, from start to finish."""

    __slots__ = ("_otel", "_source_uri", "_done")

    def __init__(self, source: "Source", spec: "ReadSpec"):
        self._source_uri = source.uri
        self._otel = otel.start(source, spec)
        self._done = False

    def finish(self, record: "Provenance | None", error: BaseException | None, duration_s: float) -> None:
        if self._done:
            return
        self._done = True
        try:
            otel.finish(self._otel, record, error, duration_s)
        except Exception:  # pragma: no cover - a broken SDK must not break reads
            log.warning("OpenTelemetry reporting failed", exc_info=True)
        current = sinks()
        if not current:
            return
        event = ReadEvent(record, error, duration_s, self._source_uri)
        for sink in current:
            try:
                sink.emit(event)
            except Exception:
                log.warning("lineage sink %r failed; the read is unaffected", sink, exc_info=True)
