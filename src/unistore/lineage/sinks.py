"""The sinks every finished read goes to: added and removed at run time, read on every read."""

from __future__ import annotations

import threading
from typing import Any

from .events import Sink

_sinks: list[Sink] = []
_lock = threading.Lock()
_stats_wanted = False  # any sink with wants_column_stats: the read path then gathers column statistics


def add_sink(sink: Sink) -> Sink:
    """Send every finished read to ``sink`` (returned, for :func:`remove_sink`)."""
    global _stats_wanted
    if not isinstance(sink, Sink):
        raise TypeError("a sink needs an emit(event) method")
    with _lock:
        _sinks.append(sink)
        _stats_wanted = any(getattr(s, "wants_column_stats", False) for s in _sinks)
    return sink


def remove_sink(sink: Sink) -> None:
    global _stats_wanted
    with _lock:
        if sink in _sinks:
            _sinks.remove(sink)
        _stats_wanted = any(getattr(s, "wants_column_stats", False) for s in _sinks)


def sinks() -> list[Sink]:
    with _lock:
        return list(_sinks)


def run_sinks() -> list[Any]:
    """Sinks that report whole runs (``run_started``/``run_finished``), e.g. OpenLineage."""
    return [s for s in sinks() if hasattr(s, "run_started")]


def stats_wanted() -> bool:
    """Whether any sink asked for per-column statistics (``wants_column_stats = True``)."""
    return _stats_wanted
