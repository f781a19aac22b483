"""The reporting side of one read: an OpenTelemetry span from start to finish, then a :class:`ReadEvent`."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from . import otel
from .events import ReadContext, ReadEvent, current_run
from .sinks import sinks, stats_wanted
from .stats import ColumnStats

if TYPE_CHECKING:
    import pyarrow as pa

    from ..location import Location
    from ..provenance import Provenance
    from ..spec import ReadSpec

_log = logging.getLogger("unistore.lineage")


class ReadSpan:
    """The reporting side of one read, from start to finish.

    Created in the caller's context, so the run a read belongs to is the one
    active where the read *started*, even when the stream is consumed elsewhere.
    """

    __slots__ = ("_otel", "_source_uri", "_done", "_run", "_stats", "_schema")

    def __init__(self, context: ReadContext):
        self._source_uri = context.uri
        self._otel = otel.start(context)
        self._run = current_run.get()
        self._stats = ColumnStats() if stats_wanted() else None
        self._schema: "pa.Schema | None" = None
        self._done = False

    def observer(self, schema: "pa.Schema") -> "Any | None":
        """Note the result's schema; return a callable the read path feeds every batch to,
        or None when no sink wants column statistics."""
        self._schema = schema
        return self._stats.update if self._stats is not None else None

    def activate(self) -> Any:
        """A context manager making this span the current one: reads started inside become its children."""
        return otel.activate(self._otel)

    def finish(self, record: "Provenance | None", error: BaseException | None, duration_s: float,
               inputs: tuple[ReadEvent, ...] = ()) -> ReadEvent | None:
        """Report the finished read; the event the sinks got (None when none is installed)."""
        if self._done:
            return None
        self._done = True
        try:
            otel.finish(self._otel, record, error, duration_s)
        except Exception:  # pragma: no cover - a broken SDK must not break reads
            _log.warning("OpenTelemetry reporting failed", exc_info=True)
        current = sinks()
        if not current and self._run is None:
            return None
        event = ReadEvent(record, error, duration_s, self._source_uri, self._run, self._stats, self._schema, inputs)
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
        return event


    def split_spans(self, splits: list[tuple[int, int, int, int, int]]) -> None:
        """Child spans for the splits of a distributed read (see :func:`unistore.lineage.otel.split_spans`)."""
        try:
            otel.split_spans(self._otel, splits)
        except Exception:  # pragma: no cover - a broken SDK must not break reads
            _log.warning("OpenTelemetry reporting failed", exc_info=True)


def report_unopened(location: "Location", spec: "ReadSpec", error: BaseException, duration_s: float) -> None:
    """Report a read whose source failed to open (a span with ``error.type``, a FAIL event)."""
    try:
        ReadSpan(ReadContext.unopened(location, spec)).finish(None, error, duration_s)
    except Exception:  # pragma: no cover - reporting never replaces the caller's error
        _log.warning("reporting a failed open failed", exc_info=True)
