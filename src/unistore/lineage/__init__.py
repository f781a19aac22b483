"""Reporting reads: OpenTelemetry always (a no-op without an SDK), other sinks when configured.

Every read gets one :class:`ReadSpan`, started from a plain
:class:`ReadContext` (where the read goes, what it asks). When the read ends
(stream consumed, closed early, or failed) the span is ended and a
:class:`ReadEvent` goes to the current :func:`unistore.run` (if any) and to
each configured sink. A sink that raises is logged and skipped: lineage never
fails a read.

Sinks shipped with unistore (see docs/lineage.md), set up with
:func:`configure`:

- :mod:`.otel` — OpenTelemetry span and histograms, always on (API only);
- :mod:`.openlineage` — OpenLineage RunEvents through openlineage-python,
  delivered by the disk spool of :mod:`.spool` so a down collector never
  slows a read;
- :mod:`.log` — a local JSON-lines or Parquet log of every provenance record.

The package only gathers the public names; its modules import one another
bottom-up (``events`` < ``sinks`` < ``otel`` < ``span`` < the sinks <
``config``) and never this package, nor the read engine above it.
"""

from __future__ import annotations

from . import otel
from .config import LineageConfig, configure, configured, flush, reads_in_run, shutdown
from .events import ReadContext, ReadEvent, RunLike, Sink, current_run
from .sinks import add_sink, remove_sink, run_sinks, sinks
from .span import ReadSpan, report_unopened
from .stats import ColumnStats

__all__ = [
    "ColumnStats",
    "LineageConfig",
    "ReadContext",
    "ReadEvent",
    "ReadSpan",
    "RunLike",
    "Sink",
    "add_sink",
    "configure",
    "configured",
    "current_run",
    "flush",
    "otel",
    "reads_in_run",
    "remove_sink",
    "report_unopened",
    "run_sinks",
    "shutdown",
    "sinks",
]
