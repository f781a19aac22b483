"""A read's fingerprint hashed on a worker thread (unistore.fingerprint_worker): the same digests as
hashing on the reading thread, in order, with bounded waiting batches, errors raised to the reader,
no waiting in a finaliser, and a forked child that makes its own workers."""

import importlib
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pyarrow as pa
import pytest

import unistore
from unistore.fingerprint import Fingerprinter

FW = importlib.import_module("unistore.fingerprint_worker")
FP = importlib.import_module("unistore.fingerprint")
_REAL_UPDATE = Fingerprinter.update


def _batches(rows: int, size: int) -> list[pa.RecordBatch]:
    rng = np.random.default_rng(rows)
    table = pa.table({"i": rng.integers(0, 10**9, rows), "s": [f"v{k % 997}" for k in range(rows)],
                      "f": pa.array(rng.random(rows), mask=rng.random(rows) < 0.1)})
    return table.to_batches(max_chunksize=size)


def _hold_hashing(monkeypatch) -> tuple[threading.Event, threading.Event]:
    """Make every hash wait for ``release``; ``hashing`` is set once one has started."""
    hashing, release = threading.Event(), threading.Event()
    def held(self, batch, nbytes=None):
        hashing.set()
        release.wait(10)
        _REAL_UPDATE(self, batch, nbytes)

    monkeypatch.setattr(Fingerprinter, "update", held)
    return hashing, release


@pytest.mark.parametrize("inline_below", [0, 1 << 40, 20_000])  # all on workers, all inline, a mix
@pytest.mark.parametrize("ordered", [False, True])
def test_same_digest_as_hashing_on_the_reading_thread(monkeypatch, inline_below, ordered):
    monkeypatch.setattr(FW, "INLINE_BELOW", inline_below)
    batches = _batches(50_000, 1_500)
    expected = Fingerprinter(batches[0].schema, ordered=ordered)
    worker = FW.FingerprintWorker(batches[0].schema, ordered=ordered)
    for b in batches:
        expected.update(b)
        worker.update(b)
    assert worker.digest() == expected.digest()
    assert (worker.rows, worker.nbytes) == (expected.rows, expected.nbytes)


def test_waiting_batches_stay_bounded(monkeypatch):
    """A slow hash holds the reader back: never more than AHEAD batches wait (a stream's memory)."""
    monkeypatch.setattr(FW, "INLINE_BELOW", 0)
    most = 0
    real = Fingerprinter.update

    def slow(self, batch, nbytes=None):
        nonlocal most
        most = max(most, len(worker._waiting))
        time.sleep(0.002)
        real(self, batch, nbytes)

    monkeypatch.setattr(Fingerprinter, "update", slow)
    batches = _batches(4_000, 100)
    worker = FW.FingerprintWorker(batches[0].schema)
    for b in batches:
        worker.update(b)
        most = max(most, len(worker._waiting))
    worker.digest()
    assert 1 <= most <= FW.AHEAD


def test_a_batch_the_kernel_refuses_is_raised_by_digest(monkeypatch):
    monkeypatch.setattr(FW, "INLINE_BELOW", 0)

    def refuse(self, batch, nbytes=None):
        raise ValueError("string offsets outside the data buffer")

    monkeypatch.setattr(Fingerprinter, "update", refuse)
    batches = _batches(1_000, 100)
    worker = FW.FingerprintWorker(batches[0].schema)
    for b in batches:
        worker.update(b)
    with pytest.raises(ValueError, match="offsets"):
        worker.digest()


def test_a_read_whose_batch_cannot_be_hashed_fails_and_is_reported(tmp_path, monkeypatch, lineage_events):
    """The error reaches the caller of read() and the sinks hear of a failed, incomplete read."""
    import pyarrow.parquet as pq

    monkeypatch.setattr(FW, "INLINE_BELOW", 0)
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"x": list(range(10_000))}), path)
    calls = 0
    real = Fingerprinter.update

    def refuse_second(self, batch, nbytes=None):
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ValueError("string offsets outside the data buffer")
        real(self, batch, nbytes)

    monkeypatch.setattr(Fingerprinter, "update", refuse_second)
    with pytest.raises(unistore.UnistoreError, match="offsets"):
        unistore.read(str(path), batch_size=1_000)
    event = lineage_events[-1]
    assert event.error is not None and not event.record.result.complete


def test_when_idle_waits_for_the_last_batch_without_blocking_the_caller(monkeypatch):
    monkeypatch.setattr(FW, "INLINE_BELOW", 0)
    _, release = _hold_hashing(monkeypatch)
    batches = _batches(300, 100)
    worker = FW.FingerprintWorker(batches[0].schema)
    for b in batches:
        worker.update(b)
    ran = threading.Event()
    worker.when_idle(ran.set)  # returns at once: the batches are still waiting
    assert not ran.is_set()
    release.set()
    assert ran.wait(10)
    worker.digest()
    later = threading.Event()
    worker.when_idle(later.set)  # idle now: at once, on this thread
    assert later.is_set()


def test_a_stream_dropped_mid_read_is_reported_incomplete(tmp_path, monkeypatch, lineage_events):
    """The finaliser of an abandoned stream hands its finish to the worker instead of waiting."""
    import pyarrow.parquet as pq

    monkeypatch.setattr(FW, "INLINE_BELOW", 0)
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"x": list(range(50_000))}), path, row_group_size=5_000)
    reader = unistore.scan(str(path), batch_size=5_000)
    next(iter(reader))
    del reader
    deadline = time.monotonic() + 10
    while not lineage_events and time.monotonic() < deadline:
        time.sleep(0.01)
    assert lineage_events and not lineage_events[-1].record.result.complete


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_a_forked_child_hashes_with_its_own_workers(tmp_path):
    """The parent's pool threads do not exist in a forked child: reading there must not hang."""
    code = f"""
import os, sys, pyarrow as pa, pyarrow.parquet as pq
import unistore
from unistore import fingerprint_worker as FW
FW.INLINE_BELOW = 0
path = {str(tmp_path / "t.parquet")!r}
pq.write_table(pa.table({{"x": list(range(100_000))}}), path)
first = unistore.provenance_of(unistore.read(path, batch_size=10_000)).result.fingerprint
pid = os.fork()
if pid == 0:
    again = unistore.provenance_of(unistore.read(path, batch_size=10_000)).result.fingerprint
    os._exit(0 if again == first else 3)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""
    done = subprocess.run([sys.executable, "-c", code], timeout=120, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_daemon_thread_still_reading_does_not_hold_the_interpreter_at_exit():
    """A daemon thread's read must not keep the process alive: the pool's threads are joined at exit,
    so they stop taking batches then, and the reading thread hashes what is left itself."""
    code = """
import threading, time
import pyarrow as pa
from unistore import fingerprint_worker as FW
from unistore.fingerprint import Fingerprinter
FW.INLINE_BELOW = 0
real = Fingerprinter.update
def behind(self, batch, nbytes=None):  # a long read whose store is faster than the hashing: batches always wait
    deadline = time.monotonic() + 0.05
    while len(worker._waiting) < FW.AHEAD - 1 and time.monotonic() < deadline:
        time.sleep(0.0005)
    real(self, batch, nbytes)
Fingerprinter.update = behind
batch = pa.record_batch({"x": list(range(1000))})
worker = FW.FingerprintWorker(batch.schema)
fed = threading.Event()
def feed():
    for i in range(10**9):
        worker.update(batch)
        if i == 20:
            fed.set()
threading.Thread(target=feed, daemon=True).start()
fed.wait(60)
print("exiting", flush=True)
"""
    try:
        done = subprocess.run([sys.executable, "-c", code], timeout=60, capture_output=True, text=True)
    except subprocess.TimeoutExpired:
        pytest.fail("the interpreter did not exit while a daemon thread kept reading")
    assert done.returncode == 0 and done.stdout.strip() == "exiting", done.stderr[-2000:]


class _InterruptOnce(threading.Condition):
    """A condition whose first wait is interrupted (Ctrl-C on the waiting thread)."""

    interrupted = False

    def wait(self, timeout=None):
        if not self.interrupted:
            self.interrupted = True
            raise KeyboardInterrupt
        return super().wait(timeout)


def test_a_batch_whose_update_was_interrupted_is_not_counted(monkeypatch):
    """Ctrl-C while the caller waits for room: that batch was not taken, so rows and bytes leave it out
    (the record's rows must be the rows its digest covers)."""
    monkeypatch.setattr(FW, "INLINE_BELOW", 0)
    _, release = _hold_hashing(monkeypatch)
    batches = _batches(1_000, 100)
    worker = FW.FingerprintWorker(batches[0].schema)
    worker._changed = _InterruptOnce(threading.Lock())
    taken = []
    for b in batches:
        try:
            worker.update(b)
        except KeyboardInterrupt:
            release.set()
            continue
        taken.append(b)
    assert len(taken) == len(batches) - 1
    monkeypatch.setattr(Fingerprinter, "update", _REAL_UPDATE)
    expected = Fingerprinter(batches[0].schema)
    for b in taken:
        expected.update(b)
    assert (worker.rows, worker.nbytes) == (expected.rows, expected.nbytes)
    assert worker.digest() == expected.digest()


def test_a_read_interrupted_while_its_last_batches_are_hashed_is_released_and_reported(
        tmp_path, monkeypatch, lineage_events):
    """Ctrl-C while the read waits for its fingerprint: the store is still released and the read reported
    (incomplete), then the interrupt goes on."""
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"x": list(range(10_000))}), path)

    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(FW.FingerprintWorker, "digest", interrupted)
    with pytest.raises(KeyboardInterrupt):
        unistore.read(str(path), batch_size=1_000)
    assert lineage_events and not lineage_events[-1].record.result.complete


def test_a_drain_queued_although_submit_failed_never_hashes_beside_the_caller(monkeypatch):
    """The pool can queue a task and then fail to start a thread (RuntimeError): the caller then hashes
    itself, and the queued drain, should it run, must not hash beside it nor declare the worker idle."""
    monkeypatch.setattr(FW, "INLINE_BELOW", 0)
    hashing, release = _hold_hashing(monkeypatch)

    class QueuedThenFailed:
        def submit(self, fn, *args):
            threading.Thread(target=fn, args=args).start()  # an idle pool thread took the task...
            hashing.wait(10)
            raise RuntimeError("can't start new thread")  # ...but growing the pool failed

    monkeypatch.setattr(FW, "_workers", QueuedThenFailed)
    batches = _batches(200, 100)
    worker = FW.FingerprintWorker(batches[0].schema)
    worker.update(batches[0])
    timer = threading.Timer(0.5, release.set)  # lets the queued drain go on once digest() waits for it
    timer.start()
    try:
        got = worker.digest()
    finally:
        release.set()
        timer.cancel()
    monkeypatch.setattr(Fingerprinter, "update", _REAL_UPDATE)
    expected = Fingerprinter(batches[0].schema)
    expected.update(batches[0])
    assert got == expected.digest()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_a_child_forked_while_a_batch_is_hashed_fails_its_read_instead_of_hanging():
    """The batch a parent's worker was hashing is lost in a forked child: a read the child goes on with
    fails when it ends, rather than waiting for a thread the child does not have. (The third-party
    counter:// store's batches are in memory, so the child can go on; a store's own threads may not.)"""
    code = """
import os, sys, threading
import unistore
from unistore import fingerprint_worker as FW
from unistore.fingerprint import Fingerprinter
FW.INLINE_BELOW = 0
hashing, release = threading.Event(), threading.Event()
real = Fingerprinter.update
def held(self, batch, nbytes=None):
    hashing.set()
    release.wait(30)
    real(self, batch, nbytes)
Fingerprinter.update = held
reader = unistore.scan("counter://100000", batch_size=10_000)
batches = iter(reader)
next(batches)
hashing.wait(30)
pid = os.fork()
if pid == 0:
    Fingerprinter.update = real
    try:
        for _ in batches:
            pass
    except unistore.UnistoreError as exc:
        os._exit(0 if "fork" in str(exc) else 4)
    os._exit(3)
release.set()
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""
    try:
        done = subprocess.run([sys.executable, "-c", code], timeout=60, capture_output=True, text=True)
    except subprocess.TimeoutExpired:
        pytest.fail("a forked child going on with a read hung")
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])


def test_a_read_on_a_pool_thread_hashes_there_instead_of_waiting_for_the_pool():
    """A dropped read is finished on the pool thread that hashed its last batch, and its sinks may read
    (one read inside another): were that read to wait for the pool, every pool thread busy the same way
    would wait for the others forever."""
    code = """
import threading, sys
import pyarrow as pa
from unistore import fingerprint_worker as FW
from unistore.fingerprint import Fingerprinter
FW.INLINE_BELOW = 0
threads = FW._workers()._max_workers
batch = pa.record_batch({"x": list(range(1000))})
gate = threading.Event()
real = Fingerprinter.update
def held(self, b, nbytes=None):
    gate.wait(30)
    real(self, b, nbytes)
Fingerprinter.update = held
all_in = threading.Barrier(threads, timeout=30)
done = threading.Semaphore(0)
def finish_dropped_read():  # its lineage sink reads, on the pool thread
    all_in.wait()
    inner = FW.FingerprintWorker(batch.schema)
    inner.update(batch)
    inner.digest()
    done.release()
dropped = [FW.FingerprintWorker(batch.schema) for _ in range(threads)]
for worker in dropped:
    worker.update(batch)
    worker.when_idle(finish_dropped_read)
gate.set()
print("ok" if all(done.acquire(timeout=20) for _ in range(threads)) else "stuck", flush=True)
"""
    try:
        done = subprocess.run([sys.executable, "-c", code], timeout=60, capture_output=True, text=True)
    except subprocess.TimeoutExpired:
        pytest.fail("reads on pool threads waited for the pool forever")
    assert done.returncode == 0 and done.stdout.strip() == "ok", (done.stdout, done.stderr[-2000:])


def test_an_interrupt_while_the_caller_hashes_goes_on_and_the_digest_is_refused(monkeypatch):
    """Where the caller's thread drains (at exit), Ctrl-C there reaches the caller at once, not at the
    read's end; the batch it cut short is lost, so the digest is refused rather than wrong."""
    monkeypatch.setattr(FW, "INLINE_BELOW", 0)
    monkeypatch.setattr(FW, "_exit_started", True)
    real = Fingerprinter.update
    calls = 0

    def interrupted_once(self, batch, nbytes=None):
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt
        real(self, batch, nbytes)

    monkeypatch.setattr(Fingerprinter, "update", interrupted_once)
    batches = _batches(500, 100)
    worker = FW.FingerprintWorker(batches[0].schema)
    worker.update(batches[0])
    with pytest.raises(KeyboardInterrupt):
        worker.update(batches[1])
    worker.update(batches[2])
    with pytest.raises(unistore.UnistoreError, match="interrupted"):
        worker.digest()
