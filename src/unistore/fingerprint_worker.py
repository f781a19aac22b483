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
thread: a tiny read pays no hand-over. Where no thread can be started
(interpreter shutdown), every batch is hashed on the caller's thread.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa

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


def _forget_after_fork() -> None:
    """A forked child has none of the parent's threads: it makes its own pool when it needs one."""
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
    os.register_at_fork(after_in_child=_forget_after_fork)


class FingerprintWorker:
    """:class:`~unistore.fingerprint.Fingerprinter`'s ``update``/``digest``, with the hashing off the caller's thread.

    ``rows`` and ``nbytes`` count what was given; :meth:`digest` waits for
    the batches still being hashed and raises what hashing one of them raised.
    """

    def __init__(self, schema: pa.Schema, *, ordered: bool = False):
        self._fingerprint = Fingerprinter(schema, ordered=ordered)
        self._waiting: deque[pa.RecordBatch] = deque()
        self._busy = False  # a worker is draining _waiting (or about to)
        self._changed = threading.Condition(threading.Lock())
        self._error: BaseException | None = None
        self._then: Callable[[], None] | None = None  # run once the waiting batches are hashed
        self.rows = 0
        self.nbytes = 0

    def update(self, batch: pa.RecordBatch) -> None:
        self.rows += batch.num_rows
        nbytes = batch.nbytes
        self.nbytes += nbytes
        with self._changed:
            if not self._busy and nbytes < INLINE_BELOW:
                inline = True
            else:
                inline = False
                while len(self._waiting) >= AHEAD:
                    self._changed.wait()
                self._waiting.append(batch)
                start, self._busy = not self._busy, True
        if inline:
            self._fingerprint.update(batch)
            return
        if start:
            try:
                _workers().submit(self._drain)
            except RuntimeError:  # no new threads at interpreter shutdown: hash here
                self._drain()

    def _drain(self) -> None:
        while True:
            with self._changed:
                if not self._waiting:
                    self._busy = False
                    self._changed.notify_all()
                    then, self._then = self._then, None
                    break
                batch = self._waiting.popleft()
                self._changed.notify_all()
            if self._error is None:
                try:
                    self._fingerprint.update(batch)
                except BaseException as exc:  # noqa: BLE001 - raised to the reader by digest()
                    self._error = exc
            del batch
        if then is not None:
            then()

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
        if self._error is not None:
            error, self._error = self._error, None
            try:
                raise error
            finally:
                error = None  # no frame <-> traceback cycle
        return self._fingerprint.digest()
