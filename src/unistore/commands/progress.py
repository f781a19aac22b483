"""A one-line progress display on stderr for reads and writes that take more than a moment.

Shown only when stderr is a terminal (never in a pipe, a log file or CI), and only
after :data:`DELAY` seconds, so a quick command prints nothing extra.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

#: seconds before the first line, so quick reads stay quiet (``UNISTORE_PROGRESS_DELAY`` changes it)
DELAY = float(os.environ.get("UNISTORE_PROGRESS_DELAY") or 0.5)
INTERVAL = 0.2   # seconds between redraws


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


class Progress:
    """Counts rows and bytes as batches go by and redraws ``verb: rows, bytes, rate`` in place."""

    def __init__(self, verb: str, *, enabled: bool | None = None, stream: TextIO | None = None,
                 delay: float | None = None):
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.verb, self.delay = verb, DELAY if delay is None else delay
        self.rows = self.bytes = 0
        self.started = time.monotonic()
        self._last = 0.0
        self._shown = False

    def add(self, rows: int, nbytes: int) -> None:
        self.rows += rows
        self.bytes += nbytes
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.started >= self.delay and now - self._last >= INTERVAL:
            self._last = now
            self._draw(now)

    def line(self, now: float | None = None) -> str:
        elapsed = max((now or time.monotonic()) - self.started, 1e-9)
        return (f"{self.verb}: {self.rows:,} rows, {human_bytes(self.bytes)}, "
                f"{human_bytes(self.bytes / elapsed)}/s, {self.rows / elapsed:,.0f} rows/s")

    def _draw(self, now: float) -> None:
        self.stream.write("\r\033[K" + self.line(now))
        self.stream.flush()
        self._shown = True

    def done(self) -> None:
        """Leave the final figures on their own line (only if anything was shown)."""
        if self._shown:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()
