"""A read's fingerprint, hashed on a worker thread while the read fetches its next batches.

The fingerprint kernel releases the interpreter lock, and so do the engines
that decode batches (pyarrow, DuckDB, the database drivers). Hashed on the
reading thread, the fingerprint's time adds to the read's; hashed beside it,
it fills the time the reading thread spends waiting for the next batch and
the cores the engine leaves idle.

Batches are hashed in the order given (the order-sensitive digest needs it),
one at a time per read, on a small process-wide pool shared by all reads.
At most :data:`AHEAD` batches wait: a streaming read's memory stays bounded.
Small batches, while nothing waits, are hashed at once on the caller's
thread: a tiny read pays no hand-over. Where no thread can be started, and
once the interpreter exits (it joins the pool's threads then, so they stop
taking batches: a daemon thread still reading cannot hold the process), the
caller's thread hashes its batches; so does a read on a pool thread (one
inside the finish of a dropped read), which must never wait for the pool.
One drain at a time hashes a read's batches: a drain the pool queued but
could not start (a failed submit) does nothing should it run later. A
forked child does not have the threads that hashed for its parent: a read
it goes on with, whose batch was being hashed at the fork, fails.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa

from .errors import UnistoreError
from .fingerprint import ContentDigest, Fingerprinter

#: batches that may wait to be hashed, per read
AHEAD = 4
#: a batch smaller than this is hashed on the caller's thread when nothing waits (bytes)
INLINE_BELOW = 1 << 20

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _workers() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2),
                                       thread_name_prefix="unistore-fingerprint")
        return _pool


#: every worker, for the fork handler
_live: "weakref.WeakSet[FingerprintWorker]" = weakref.WeakSet()
#: ``pool`` is set on the pool's threads
_here = threading.local()


#: set as the interpreter exits, before it joins the pool's threads
_exit_started = False


def _at_exit() -> None:
    global _exit_started
    _exit_started = True


# Called as the interpreter exits, before it joins the pool's threads (registered after the pool's own
# hook, so run before it: the order is reversed); the hook concurrent.futures itself uses.
with contextlib.suppress(AttributeError, RuntimeError):  # (not CPython; or imported during the exit)
    threading._register_atexit(_at_exit)  # type: ignore[attr-defined]


def _forget_after_fork() -> None:
    """A forked child has none of the parent's threads: it makes its own pool when it needs one."""
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()
    for worker in list(_live):
        worker._after_fork()


if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
    os.register_at_fork(after_in_child=_forget_after_fork)


class FingerprintWorker:
    """:class:`~unistore.fingerprint.Fingerprinter`'s ``update``/``digest``, with the hashing off the caller's thread.

    ``rows`` and ``nbytes`` count what was given; :meth:`digest` waits for
    the batches still being hashed and raises what hashing one of them raised.
    """

    def __init__(self, schema: pa.Schema, *, ordered: bool = False):
        self._fingerprint = Fingerprinter(schema, ordered=ordered)
        self._waiting: deque[tuple[pa.RecordBatch, int]] = deque()  # (batch, its nbytes)
        self._busy = False  # a drain is started or running: it empties _waiting
        self._draining = False  # a drain is hashing (never two: the digest is a sequence of updates)
        self._ticket: object | None = None  # the drain last started; an older one does nothing
        self._changed = threading.Condition(threading.Lock())
        self._error: BaseException | None = None
        self._then: Callable[[], None] | None = None  # run once the waiting batches are hashed
        self.rows = 0
        self.nbytes = 0
        _live.add(self)

    def update(self, batch: pa.RecordBatch) -> None:
        nbytes = batch.nbytes
        with self._changed:
            while self._busy and len(self._waiting) >= AHEAD:
                self._changed.wait()
            inline = not self._busy and not self._waiting and nbytes < INLINE_BELOW
            ticket = None
            if not inline:
                self._waiting.append((batch, nbytes))
                ticket = self._claim()
        # counted once taken: a caller interrupted while it waited for room gave nothing
        self.rows += batch.num_rows
        self.nbytes += nbytes
        if inline:
            self._fingerprint.update(batch, nbytes)
        elif ticket is not None:
            self._start(ticket)

    def _claim(self) -> object | None:
        """A new drain's ticket, or None when one is started already (with the lock held)."""
        if self._busy:
            return None
        self._busy = True
        self._ticket = ticket = object()
        return ticket

    def _start(self, ticket: object) -> None:
        """Hand the drain to the pool; hash here once the interpreter exits or no thread can be had, and on
        a pool thread (a read inside the finish of a dropped one): a pool thread never waits for the pool."""
        if not _exit_started and not getattr(_here, "pool", False):
            try:
                _workers().submit(self._drain, ticket, True)
                return
            except RuntimeError:  # no new threads (interpreter shutdown, a thread limit): hash here
                pass
            except BaseException:  # interrupted: the next update or digest starts a drain again
                with self._changed:
                    self._ticket = None  # the task, if queued after all, does nothing
                    if not self._draining:
                        self._busy = False
                        self._changed.notify_all()
                raise
        with self._changed:  # the task may have been queued before the pool failed: it does nothing
            self._ticket = ticket = object()
        self._drain(ticket, False)

    def _drain(self, ticket: object, on_pool: bool) -> None:
        with self._changed:
            if self._ticket is not ticket or self._draining:
                return
            self._draining = True
        if on_pool:
            _here.pool = True
        then = None
        try:
            while True:
                with self._changed:
                    if not self._waiting or (on_pool and _exit_started):  # (at exit the callers hash the rest)
                        break
                    batch, nbytes = self._waiting.popleft()
                    self._changed.notify_all()
                if self._error is None:
                    try:
                        self._fingerprint.update(batch, nbytes)
                    except Exception as exc:  # raised to the reader by digest()
                        self._error = exc
                del batch
        except BaseException:  # interrupted (a drain on the caller's thread): a batch may be lost
            if self._error is None:
                self._error = UnistoreError("hashing this read's batches was interrupted: its fingerprint is lost")
            raise
        finally:
            with self._changed:
                self._draining = self._busy = False
                self._ticket = None
                self._changed.notify_all()
                then, self._then = self._then, None
        if then is not None:
            then()

    def _after_fork(self) -> None:
        """In a forked child: a batch hashed at the fork by a parent's thread is lost, so the digest is."""
        self._changed = threading.Condition(threading.Lock())  # (a parent's thread may have held it)
        if self._busy:
            self._waiting.clear()
            self._busy = self._draining = False
            self._ticket = self._then = None
            self._error = UnistoreError("the process forked while this read's batches were being hashed on "
                                        "another thread: its fingerprint is lost; read again in this process")

    def when_idle(self, then: Callable[[], None]) -> None:
        """Call ``then`` now if no batch waits, else on the worker once the last one is hashed.

        For a finaliser: a stream collected on a worker thread (the cyclic
        collector runs wherever it is triggered) must not wait there for
        batches that thread itself may be hashing.
        """
        with self._changed:
            if self._busy:
                self._then = then
                return
        then()

    def digest(self) -> ContentDigest:
        with self._changed:
            while self._busy:
                self._changed.wait()
            ticket = self._claim() if self._waiting else None  # left by a pool thread at exit
        if ticket is not None:
            self._drain(ticket, False)
        if self._error is not None:
            error, self._error = self._error, None
            try:
                raise error
            finally:
                error = None  # no frame <-> traceback cycle
        return self._fingerprint.digest()
