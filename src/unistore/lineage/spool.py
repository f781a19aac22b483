"""A disk spool between the read path and a lineage collector: never slow, never lossy.

The read thread only puts a small job on a bounded in-memory queue
(``put_nowait``); when the queue is full it writes the events to the spool
directory itself — one small file per event — so a read is never blocked for
longer than that write, however slow or dead the collector is.

One background sender thread per spool turns jobs into events and delivers
them. While the collector keeps up, events go straight from memory to the
collector. At the first failed delivery, that event and every later one go to
disk (``<sequence>-<event id>.json``, written to a temporary name and renamed,
so no half-written file is ever delivered); files are then delivered oldest
first, each deleted after its delivery succeeded, with exponential back-off
between failed attempts, and new events queue behind them on disk so order is
kept. On close (and at exit) whatever could not be delivered is left on disk;
the next spool opened on the same directory delivers it.

Delivery is at-least-once: a crash between a successful delivery and the
file's deletion, or two processes sharing a directory, can send an event
twice; every event carries a stable id (for OpenLineage, a UUID5 of run id
and event type) so collectors can drop the duplicate.
"""

from __future__ import annotations

import atexit
import itertools
import json
import logging
import os
import queue
import random
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("unistore.lineage.spool")

Event = dict[str, Any]
Build = Callable[[], list[Event]]


def default_directory() -> Path:
    """``$XDG_CACHE_HOME/unistore/lineage-spool`` (``~/.cache/...``), per user."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "unistore" / "lineage-spool"


class Spool:
    """Persist-then-deliver queue of JSON events with one background sender thread.

    ``deliver(event)`` must raise when the event did not reach the collector.
    ``event_id(event)`` gives the stable id used in the file name.
    """

    def __init__(self, directory: str | os.PathLike[str] | None, deliver: Callable[[Event], Any],
                 event_id: Callable[[Event], str], *, max_queue: int = 10_000,
                 retry_initial: float = 0.5, retry_max: float = 30.0, exit_timeout: float = 2.0):
        self.directory = Path(directory) if directory is not None else default_directory()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._deliver = deliver
        self._event_id = event_id
        self._queue: "queue.Queue[Build]" = queue.Queue(maxsize=max_queue)
        self._retry_initial, self._retry_max = retry_initial, retry_max
        self._wake = threading.Event()       # new work
        self._stop = threading.Event()       # close(): stop waiting between retries
        self._idle = threading.Condition()   # flush() waits on it
        self._busy = 0                       # jobs taken off the queue but not yet on disk
        self._inflight: list[Event] = []     # events being delivered straight from memory
        self._failures = 0
        self._seq = itertools.count()
        self.delivered = 0
        self._thread = threading.Thread(target=self._run, name=f"unistore-spool-{self.directory.name}", daemon=True)
        self._thread.start()
        self._exit_timeout = exit_timeout
        ref = weakref.ref(self)
        atexit.register(lambda: (s := ref()) is not None and s.close(s._exit_timeout))

    # -- the read side ----------------------------------------------------------
    def submit(self, build: Build) -> None:
        """Queue events for delivery; never blocks on the collector."""
        try:
            self._queue.put_nowait(build)
        except queue.Full:  # the sender is far behind: persist here, it will pick the files up
            self._persist(build)
        self._wake.set()

    # -- state --------------------------------------------------------------------
    def pending(self) -> list[Path]:
        """Event files not delivered yet, oldest first."""
        return sorted(p for p in self.directory.glob("*.json") if not p.name.startswith("."))

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything submitted so far is delivered; False if ``timeout`` ran out."""
        deadline = time.monotonic() + timeout
        self._wake.set()
        with self._idle:
            while self._queue.unfinished_tasks or self._busy or self.pending():
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    return False
                self._idle.wait(min(left, 0.05))
        return True

    def close(self, timeout: float = 5.0) -> bool:
        """Deliver what can be delivered within ``timeout``; the rest stays on disk for next time."""
        if not self._thread.is_alive():
            return not self.pending()
        # with the collector known to be down, waiting would only delay the caller
        done = self.flush(timeout if not self._failures else 0.0)
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=max(0.1, min(timeout, 1.0)))
        if self._thread.is_alive():  # stuck in a slow delivery: put it and what is queued on disk ourselves
            inflight = self._inflight
            if inflight:  # may still arrive too: at-least-once, the stable id lets the collector drop it
                self._persist(lambda: inflight)
            self._drain_queue()
        return done and not self.pending()

    # -- the sender thread ----------------------------------------------------------
    def _persist(self, build: Build) -> None:
        try:
            events = build()
        except Exception:
            log.warning("building lineage events failed; they are dropped", exc_info=True)
            return
        for event in events:
            name = f"{time.time_ns():020d}-{next(self._seq):08d}-{self._event_id(event)}.json"
            fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=self.directory)
            with os.fdopen(fd, "w") as f:
                json.dump(event, f, separators=(",", ":"))
            os.replace(tmp, self.directory / name)

    def _drain_queue(self) -> None:
        while True:
            try:
                build = self._queue.get_nowait()
            except queue.Empty:
                return
            self._busy += 1
            try:
                self._persist(build)
            except Exception:
                log.warning("could not write a lineage event to %s", self.directory, exc_info=True)
            finally:
                self._busy -= 1
                self._queue.task_done()

    def _deliver_queue(self) -> bool:
        """Deliver queued events straight from memory; at the first failure put the rest on disk."""
        while True:
            try:
                build = self._queue.get_nowait()
            except queue.Empty:
                return True
            self._busy += 1
            try:
                try:
                    events = build()
                except Exception:
                    log.warning("building lineage events failed; they are dropped", exc_info=True)
                    continue
                for i, event in enumerate(events):
                    self._inflight = events[i:]
                    try:
                        self._deliver(event)
                    except Exception as exc:
                        self._failed(exc, self._event_id(event))
                        self._persist(lambda: events[i:])
                        self._drain_queue()
                        return False
                    self._failures = 0
                    self.delivered += 1
            finally:
                self._inflight = []
                self._busy -= 1
                self._queue.task_done()

    def _failed(self, exc: BaseException, what: str) -> None:
        self._failures += 1
        log.info("lineage collector unavailable (%s: %s); %s will be retried", type(exc).__name__, exc, what)

    def _deliver_pending(self) -> bool:
        """Deliver files oldest first; False at the first failure (order is kept)."""
        for path in self.pending():
            try:
                event = json.loads(path.read_text())
            except FileNotFoundError:  # delivered by another process sharing the directory
                continue
            except ValueError:
                log.warning("dropping unreadable lineage event file %s", path)
                path.unlink(missing_ok=True)
                continue
            try:
                self._deliver(event)
            except Exception as exc:
                self._failed(exc, path.name)
                return False
            self._failures = 0
            self.delivered += 1
            path.unlink(missing_ok=True)
            if self._queue.qsize():  # persist newly submitted events before the next delivery
                self._drain_queue()
        return True

    def _run(self) -> None:
        while True:
            self._wake.clear()
            if self.pending():  # keep order: new events queue behind those already on disk
                self._drain_queue()
                ok = self._deliver_pending()
            else:
                ok = self._deliver_queue()
            with self._idle:
                self._idle.notify_all()
            if self._stop.is_set():
                self._drain_queue()
                return
            if ok:
                self._wake.wait(timeout=5.0)  # also rescans for files other processes left behind
            else:
                delay = min(self._retry_max, self._retry_initial * 2 ** min(self._failures - 1, 16))
                self._stop.wait(timeout=delay * (0.5 + random.random() / 2))
                self._drain_queue()
