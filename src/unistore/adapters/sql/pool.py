"""Connection reuse for server databases: a source keeps idle connections for its next reads.

Reads through the same :class:`~unistore.Source` then skip the connection
handshake. One idle connection is kept, or as many as a read plan used at once
(its planner and its splits, up to :data:`MAX_IDLE`) once the source has run
one: its next partitioned read then opens none. Concurrent reads beyond that
open more connections, closed when they are given back.

A kept connection may have died while idle (server restart, an administrator's
``pg_terminate_backend`` or ``KILL``). :meth:`IdlePool.session` therefore
starts a read's transaction on the pooled connection and, if that fails with
:class:`~unistore.errors.SourceUnavailableError`, starts it once more on a
fresh connection: nothing was read yet, so the retry is invisible.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

from ...errors import SourceUnavailableError

#: the most idle connections a pool keeps (each is a server process waiting)
MAX_IDLE = 8


class IdlePool:
    """Idle connections (one, or what :meth:`keep` asked for); closing the pool closes them and every
    connection given back later."""

    def __init__(self, connect: Callable[[], Any]):
        self._connect = connect
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self._closed = False
        self._keep = 1

    def keep(self, count: int) -> None:
        """Keep up to ``count`` idle connections from now on (at most :data:`MAX_IDLE`; never fewer than before):
        a read plan that runs that many at once asks for it, so that the next one opens none."""
        with self._lock:
            self._keep = max(self._keep, min(count, MAX_IDLE))

    def acquire(self) -> Any:
        return self.take()[0]

    def take(self) -> tuple[Any, bool]:
        """A connection, and whether it was kept from an earlier read (and so may have died meanwhile)."""
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return self._connect(), False

    def begin(self, start: Callable[[Any], None]) -> Any:
        """A connection on which ``start(conn)`` (the transaction's first statements) succeeded.

        A pooled connection found dead is discarded and ``start`` runs once
        more on a fresh one; any other failure closes the connection and is raised.
        """
        conn, reused = self.take()
        try:
            start(conn)
            return conn
        except SourceUnavailableError:
            self.discard(conn)
            if not reused:
                raise
        except BaseException:
            self.discard(conn)
            raise
        conn = self._connect()
        try:
            start(conn)
        except BaseException:
            self.discard(conn)
            raise
        return conn

    def release(self, conn: Any) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < self._keep:
                self._idle.append(conn)
                return
        self.discard(conn)

    def give_back(self, conn: Any, reset: Callable[[Any], None], reuse: bool = True) -> None:
        """End a read on ``conn``: ``reset`` ends its transaction (and what a session may hold), then the
        connection waits for the next read; one that cannot be reset (or ``reuse`` False) is closed."""
        if reuse:
            try:
                reset(conn)
            except Exception:
                reuse = False
        if reuse:
            self.release(conn)
        else:
            self.discard(conn)

    @staticmethod
    def discard(conn: Any) -> None:
        with contextlib.suppress(Exception):
            conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            self.discard(conn)
