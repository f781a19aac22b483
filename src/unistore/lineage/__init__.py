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

from typing import TYPE_CHECKING

from .. import _lazy
from . import otel
from .events import ReadContext, ReadEvent, RunLike, Sink, current_run
from .sinks import add_sink, on_first_use, remove_sink, run_sinks, sinks
from .span import ReadSpan, report_unopened
from .stats import ColumnStats

#: names imported on first use (see :mod:`unistore._lazy`): the configuration imports the OpenLineage
#: sink with its disk spool and the local log, which only a process that configures lineage needs
_LAZY = {
    "LineageConfig": ".config:LineageConfig",
    "configure": ".config:configure",
    "configured": ".config:configured",
    "flush": ".config:flush",
    "reads_in_run": ".config:reads_in_run",
    "shutdown": ".config:shutdown",
}
_lazy.install(__name__, _LAZY)

if TYPE_CHECKING:  # what type checkers and editors see: the same names as _LAZY, imported plainly
    from .config import LineageConfig, configure, configured, flush, reads_in_run, shutdown


def _from_environment() -> None:
    """Set lineage up from the environment at the first read (:func:`.config.from_environment`).

    Registered here, where it runs whenever any lineage module is imported, rather than in ``config``,
    which a read imports only through this hook.
    """
    from .config import from_environment

    from_environment()


on_first_use(_from_environment)

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
