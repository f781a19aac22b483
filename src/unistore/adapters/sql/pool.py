"""Connection reuse for server databases: a source keeps one idle connection for its next read.

Reads through the same :class:`~unistore.Source` then skip the connection
handshake; concurrent reads (partitions, threads) open more connections, and
only one of them is kept when they are given back.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any


class IdlePool:
    """At most one idle connection; closing the pool closes it and every connection given back later."""

    def __init__(self, connect: Callable[[], Any]):
        self._connect = connect
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self._closed = False

    def acquire(self) -> Any:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._connect()

    def release(self, conn: Any) -> None:
        with self._lock:
            if not self._closed and not self._idle:
                self._idle.append(conn)
                return
        with contextlib.suppress(Exception):
            conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(Exception):
                conn.close()
