"""The sinks every finished read goes to: added and removed at run time, read on every read."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from .events import Sink

_sinks: list[Sink] = []
_lock = threading.Lock()
_stats_wanted = False  # any sink with wants_column_stats: the read path then gathers column statistics
#: run once, before the first read looks at the sinks (the configuration from the environment)
_first_use: list[Callable[[], None]] = []
_log = logging.getLogger("unistore.lineage")


def on_first_use(fn: Callable[[], None]) -> None:
    """Run ``fn`` once, just before the first read asks for the sinks: late enough for the
    environment a notebook or a test sets after ``import unistore``, and never at import."""
    with _lock:
        _first_use.append(fn)


def start_once() -> None:
    """Run the first-use functions now if they have not run (reading the configuration does this)."""
    while _first_use:
        with _lock:
            pending = list(_first_use)
            _first_use.clear()
        for fn in pending:
            try:
                fn()
            except Exception:  # lineage never fails a read
                _log.warning("setting up lineage from the environment failed", exc_info=True)


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
    if _first_use:
        start_once()
    with _lock:
        return list(_sinks)


def run_sinks() -> list[Any]:
    """Sinks that report whole runs (``run_started``/``run_finished``), e.g. OpenLineage."""
    return [s for s in sinks() if hasattr(s, "run_started")]


def stats_wanted() -> bool:
    """Whether any sink asked for per-column statistics (``wants_column_stats = True``)."""
    if _first_use:
        start_once()
    return _stats_wanted
