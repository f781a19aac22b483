"""A write-ahead spool between the read path and a lineage collector: never slow, never lossy.

The reading thread appends one compact *job* (the JSON a sink needs to build
its events later, e.g. the provenance record, the event type and the run id)
as one line to this process's *journal* (``journal-<pid>-<random>.jsonl`` in
the spool directory, opened with ``O_APPEND``), and only then returns. One
``write`` to the kernel is enough for ``kill -9``: the page cache belongs to
the kernel, not to the process, so a job is safe once ``write`` returned.
Power loss is another matter: only ``fsync=True`` (``fdatasync`` after each
append, shared by concurrent appends — group commit) protects against it, at
the price of one disk flush per read.

One background sender thread per spool reads the journal from where it left
off, turns each job into events (``build``) and delivers them. At the first
failed delivery, the rest of that job's events and every later job are moved
to event files (``<time>-<index>-<event id>.json``, written under a
temporary name and renamed, so no half-written file is ever delivered);
files are then delivered oldest first, each deleted after its delivery
succeeded, with exponential back-off between failed attempts. Once every job
in the journal has been delivered or moved to a file, the journal is
truncated (compaction), so it stays small.

A journal left behind by a process that died (its ``flock`` is free) is
recovered by the next spool opened on the same directory: its jobs become
event files (with the same names each time, so recovering twice does not
duplicate them), then the journal is removed. A line without its final
newline is a write the kernel never finished: that read never returned, and
the line is skipped.

Delivery is at-least-once: a crash between a successful delivery and the
bookkeeping after it, or two processes sharing a directory, can send an
event twice; every event carries a stable id (for OpenLineage, a UUID5 of
run id and event type) so collectors can drop the duplicate.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import random
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: journals of dead processes are then never recovered
    fcntl = None  # type: ignore[assignment]

from ..provenance import jsonable

log = logging.getLogger("unistore.lineage.spool")

Event = dict[str, Any]
Job = dict[str, Any]

_COMPACT_AT = 1 << 20  # truncate the journal once this many bytes are all handled


def default_directory() -> Path:
    """``$XDG_CACHE_HOME/unistore/lineage-spool`` (``~/.cache/...``), per user."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "unistore" / "lineage-spool"


def _single_event(job: Job) -> list[Event]:
    return [job]


class Spool:
    """Journal-then-deliver queue of JSON jobs with one background sender thread.

    ``deliver(event)`` must raise when the event did not reach the collector;
    ``event_id(event)`` gives its stable id; ``build(job)`` turns a job into
    its events (by default a job is one event). ``fsync=True`` also survives
    power loss (a disk flush per :meth:`submit`). Once woken, the sender waits
    ``linger`` seconds before it delivers, so the jobs of reads in quick
    succession go out together instead of one by one between those reads: each
    delivery holds the interpreter lock, which a reading thread then waits for
    (:meth:`flush` and :meth:`close` cut the wait short).
    """

    def __init__(self, directory: str | os.PathLike[str] | None, deliver: Callable[[Event], Any],
                 event_id: Callable[[Event], str], *, build: Callable[[Job], list[Event]] | None = None,
                 fsync: bool = False, retry_initial: float = 0.5, retry_max: float = 30.0,
                 exit_timeout: float = 2.0, linger: float = 0.1):
        self.directory = Path(directory) if directory is not None else default_directory()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._deliver = deliver
        self._event_id = event_id
        self._build = build or _single_event
        self._fsync = fsync
        self._retry_initial, self._retry_max = retry_initial, retry_max
        # the journal: appended by reading threads under _lock, read and truncated by the sender
        self.journal = self.directory / f"journal-{os.getpid()}-{uuid.uuid4().hex[:12]}.jsonl"
        self._fd: int | None = os.open(self.journal, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        if fcntl is not None:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held while we live: marks the journal as ours
        self._lock = threading.Lock()
        self._written = 0                    # bytes in the journal (reset by compaction)
        self._consumed = 0                   # bytes of it the sender has handled (delivered or moved to files)
        self._appended = 0                   # bytes ever appended (monotonic: group commit compares these)
        self._synced = 0
        self._sync_lock = threading.Lock()
        if fsync:
            self._sync_directory()
        self._wake = threading.Event()       # new work
        self._hurry = threading.Event()      # flush() or close(): deliver without lingering
        self._linger = linger
        self._stop = threading.Event()       # close(): stop waiting between retries
        self._idle = threading.Condition()   # flush() waits on it
        self._failures = 0
        self.delivered = 0
        #: whether event files may be waiting: listing the directory on every wake costs the reading
        #: thread (the interpreter lock); set when one is written and at every scan for other processes' files
        self._maybe_files = True
        # the jobs of processes that died before delivering become event files now, not at the sender's first
        # scan: a flush() right after start must wait for them too
        self._recover()
        self._thread = threading.Thread(target=self._run, name=f"unistore-spool-{self.directory.name}", daemon=True)
        self._thread.start()
        self._exit_timeout = exit_timeout
        ref = weakref.ref(self)
        atexit.register(lambda: (s := ref()) is not None and s.close(s._exit_timeout))

    # -- the reading thread ---------------------------------------------------------
    def submit(self, job: Job) -> None:
        """Append ``job`` to the journal (in the kernel when this returns); never waits on the collector."""
        entry = {"ns": time.time_ns(), "job": job}  # the time orders (and names) its event files
        line = (json.dumps(entry, default=jsonable, separators=(",", ":")) + "\n").encode()
        with self._lock:
            fd = self._fd
            if fd is not None:
                os.write(fd, line)
                self._written += len(line)
                self._appended += len(line)
                mine = self._appended
        if fd is None:  # closed: no sender any more, put the events straight into files
            self._to_files(json.loads(line))
            return
        if self._fsync:
            self._group_commit(fd, mine)
        self._wake.set()

    def _group_commit(self, fd: int, mine: int) -> None:
        """``fdatasync`` once for every append made before it started (concurrent readers share one flush)."""
        with self._sync_lock:
            if self._synced >= mine:
                return
            target = self._appended
            os.fdatasync(fd)
            self._synced = target

    # -- state --------------------------------------------------------------------
    def pending(self) -> list[Path]:
        """Event files not delivered yet, oldest first."""
        return sorted(p for p in self.directory.glob("*.json") if not p.name.startswith("."))

    def _journal_idle(self) -> bool:
        return self._consumed >= self._written

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything submitted so far is delivered; False if ``timeout`` ran out."""
        deadline = time.monotonic() + timeout
        self._hurry.set()
        self._wake.set()
        with self._idle:
            while not self._journal_idle() or self.pending():
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    return False
                self._idle.wait(min(left, 0.05))
        return True

    def close(self, timeout: float = 5.0) -> bool:
        """Deliver what can be delivered within ``timeout``; the rest stays on disk for next time."""
        if self._fd is None:
            return not self.pending()
        # with the collector known to be down, waiting would only delay the caller
        done = self.flush(timeout if not self._failures else 0.0)
        self._stop.set()
        self._hurry.set()
        self._wake.set()
        self._thread.join(timeout=max(0.1, min(timeout, 1.0)))
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is None:
            return done and not self.pending()
        # a sender stuck in a slow delivery is left behind: what it has not finished goes to files
        # (the job being sent too; if it arrives as well, the stable id lets the collector drop it)
        for entry, _end in self._read_jobs(fd, self._consumed):
            self._to_files(entry)
        self.journal.unlink(missing_ok=True)
        os.close(fd)  # releases the flock
        with contextlib.suppress(Exception):  # a delivery that keeps a file open (olfile.FileLines)
            getattr(self._deliver, "close", lambda: None)()
        return done and not self.pending()

    # -- journal and event files (sender thread, or close) -------------------------------
    def _read_jobs(self, fd: int, offset: int) -> list[tuple[Job | None, int]]:
        """Complete journal entries from ``offset``: (entry, offset after it); None for an unreadable line.

        A last line without its newline is a write still under way (or one a crash cut short): skipped."""
        chunks = []
        while True:
            chunk = os.pread(fd, 1 << 20, offset + sum(len(c) for c in chunks))
            if not chunk:
                break
            chunks.append(chunk)
        data = b"".join(chunks)
        jobs, start = [], 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                break
            try:
                jobs.append((json.loads(data[start:end]), offset + end + 1))
            except ValueError:
                log.warning("skipping an unreadable lineage journal line in %s", self.directory)
                jobs.append((None, offset + end + 1))
            start = end + 1
        return jobs

    def _events(self, entry: Job | None) -> list[Event]:
        if entry is None:
            return []
        try:
            return self._build(entry["job"])
        except Exception:
            log.warning("building lineage events failed; they are dropped", exc_info=True)
            return []

    def _to_files(self, entry: Job | None, first: int = 0) -> None:
        """Write a job's events (from index ``first``) as event files named after the job, so twice is once."""
        for index, event in enumerate(self._events(entry)):
            if index >= first:
                self._write_event(event, f"{entry['ns']:020d}-{index:08d}-{self._event_id(event)}.json")
        if self._fsync:
            self._sync_directory()

    def _write_event(self, event: Event, name: str) -> None:
        self._maybe_files = True
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=self.directory)
        with os.fdopen(fd, "w") as f:
            json.dump(event, f, separators=(",", ":"))
            if self._fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, self.directory / name)

    def _sync_directory(self) -> None:
        dfd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    def _journal_to_files(self) -> None:
        """Move every job not handled yet to event files (the collector is down: keep the order)."""
        fd = self._fd
        if fd is None:
            return
        for entry, end in self._read_jobs(fd, self._consumed):
            self._to_files(entry)
            self._consumed = end

    def _compact(self) -> None:
        """Truncate the journal once everything in it is handled (and it has grown)."""
        with self._lock:
            if self._fd is not None and self._written >= _COMPACT_AT and self._consumed == self._written:
                os.ftruncate(self._fd, 0)
                self._written = self._consumed = 0

    def _recover(self) -> None:
        """Move the jobs of journals whose process is gone (their flock is free) to event files."""
        for tmp in self.directory.glob(".*.tmp"):  # an event file a killed process did not finish writing
            with contextlib.suppress(OSError):
                if time.time() - tmp.stat().st_mtime > 60:
                    tmp.unlink()
        if fcntl is None:  # pragma: no cover
            return
        for path in sorted(self.directory.glob("journal-*.jsonl")):
            if path == self.journal:
                continue
            try:
                fd = os.open(path, os.O_RDWR)
            except FileNotFoundError:  # recovered by another process just now
                continue
            try:
                self._recover_journal(path, fd)
            finally:
                os.close(fd)

    def _recover_journal(self, path: Path, fd: int) -> None:
        """Move the jobs of the journal open on ``fd`` to event files if its process is gone."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # its process is alive
            return
        # another process may have recovered it between our open and our lock (written its event files,
        # unlinked and closed it): its jobs would be delivered twice
        if os.fstat(fd).st_nlink == 0:
            return
        jobs = self._read_jobs(fd, 0)
        for entry, _end in jobs:
            self._to_files(entry)
        path.unlink(missing_ok=True)
        if jobs:
            log.info("recovered %d lineage job(s) from %s", len(jobs), path.name)

    # -- the sender thread ----------------------------------------------------------
    def _failed(self, exc: BaseException, what: str) -> None:
        self._failures += 1
        log.info("lineage collector unavailable (%s: %s); %s will be retried", type(exc).__name__, exc, what)

    def _deliver_journal(self) -> bool:
        """Deliver new jobs straight from the journal; at the first failure move the rest to files."""
        fd = self._fd
        if fd is None:
            return True
        for entry, end in self._read_jobs(fd, self._consumed):
            time.sleep(0)  # hand the interpreter lock to a reading thread that waits for it, between jobs
            events = self._events(entry)
            for index, event in enumerate(events):
                try:
                    self._deliver(event)
                except Exception as exc:
                    self._failed(exc, self._event_id(event))
                    self._to_files(entry, first=index)
                    self._consumed = end
                    self._journal_to_files()
                    return False
                self._failures = 0
                self.delivered += 1
            self._consumed = end
        return True

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
            if not self._journal_idle():  # newer jobs queue behind the files, in order
                self._journal_to_files()
        return True

    def _run(self) -> None:
        last_scan = 0.0
        while True:
            self._wake.clear()
            self._hurry.clear()
            try:
                if time.monotonic() - last_scan > 5.0:  # also picks up what other processes left behind
                    last_scan = time.monotonic()
                    self._maybe_files = True
                    self._recover()
                if self._maybe_files and self.pending():  # keep order: new jobs queue behind files
                    self._journal_to_files()
                    ok = self._deliver_pending()
                    self._maybe_files = not ok
                else:
                    self._maybe_files = False
                    ok = self._deliver_journal()
                self._compact()
            except Exception:  # pragma: no cover - e.g. a full disk: the journal keeps the jobs
                log.warning("the lineage spool in %s failed; retrying", self.directory, exc_info=True)
                ok = False
                self._failures += 1
            with self._idle:
                self._idle.notify_all()
            if self._stop.is_set():
                return
            if ok:
                if self._wake.wait(timeout=5.0) and self._linger > 0:
                    self._hurry.wait(self._linger)  # gather the jobs of the reads that follow (flush/close: now)
                continue
            delay = min(self._retry_max, self._retry_initial * 2 ** min(self._failures - 1, 16))
            deadline = time.monotonic() + delay * (0.5 + random.random() / 2)
            while not self._stop.is_set() and (left := deadline - time.monotonic()) > 0:
                if self._wake.wait(timeout=left):  # new jobs during the back-off: into files, in order
                    self._wake.clear()
                    try:
                        self._journal_to_files()
                        self._compact()
                    except Exception:  # pragma: no cover
                        log.warning("could not move lineage jobs to %s", self.directory, exc_info=True)
                    with self._idle:
                        self._idle.notify_all()
            if self._stop.is_set():
                return
