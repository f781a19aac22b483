"""A collector that is down, then up, or slow: reads never fail or wait on it, and no event is lost."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest

import unistore
from unistore import lineage
from unistore.lineage.openlineage import event_id
from unistore.lineage.spool import Spool
from unistore.runs import read_log

from .conftest import Collector, add_openlineage_sink, free_port, http_client


def _expected_ids(tables) -> set[str]:
    ids = set()
    for t in tables:
        rid = unistore.provenance_of(t).read_id
        ids |= {event_id({"run": {"runId": rid}, "eventType": kind}) for kind in ("START", "COMPLETE")}
    return ids


def _journalled_read_ids(spool) -> set[str]:
    """Read ids of the jobs in a spool's journal (what survives a kill -9 right now)."""
    lines = spool.journal.read_bytes().splitlines()
    return {json.loads(line)["job"]["run_id"] for line in lines}


@pytest.mark.timeout(120)
def test_collector_down_then_up_loses_nothing(tmp_path, sqlite_uri, ol_spec):
    port = free_port()  # nothing listens here yet: connection refused
    sink = add_openlineage_sink(http_client(port), tmp_path / "spool")
    tables = [unistore.read(sqlite_uri, "events") for _ in range(5)]
    assert all(t.num_rows == 3 for t in tables)
    assert not sink.spool.flush(0.3)          # cannot be delivered while the collector is down
    assert len(sink.spool.pending()) == 10    # ... so every event waits on disk
    collector = Collector(port)
    try:
        assert sink.spool.flush(60)
        assert set(collector.by_id) == _expected_ids(tables)
        assert len(collector.received) == 10  # each event once: nothing was delivered twice
        assert sink.spool.pending() == []
        for event in collector.by_id.values():
            ol_spec.validate(event)
    finally:
        collector.stop()


@pytest.mark.timeout(120)
def test_events_left_on_disk_are_delivered_by_the_next_process(tmp_path, sqlite_uri):
    port = free_port()
    first = add_openlineage_sink(http_client(port), tmp_path / "spool")
    tables = [unistore.read(sqlite_uri, "events") for _ in range(3)]
    lineage.remove_sink(first)
    assert not first.close(0.5)  # the collector is down: the events stay on disk
    assert len(first.spool.pending()) == 6
    collector = Collector(port)
    try:
        second = add_openlineage_sink(http_client(port), tmp_path / "spool")  # e.g. the next program run
        assert second.spool.flush(60)
        assert set(collector.by_id) == _expected_ids(tables)
    finally:
        collector.stop()


@pytest.mark.timeout(120)
def test_a_slow_collector_never_holds_a_read(tmp_path, sqlite_uri, collector):
    collector.hold()  # accepts connections, answers nothing until released
    sink = add_openlineage_sink(http_client(collector.port, timeout=60), tmp_path / "spool")
    first = unistore.read(sqlite_uri, "events")
    assert collector.waiting.wait(30)  # the sender thread is now stuck in a request
    # every further read completes while the collector still holds that request
    tables = [first] + [unistore.read(sqlite_uri, "events") for _ in range(20)]
    assert not collector.released.is_set()
    assert all(t.num_rows == 3 for t in tables)
    assert _journalled_read_ids(sink.spool) >= {unistore.provenance_of(t).read_id for t in tables[1:]}
    collector.release()
    assert sink.spool.flush(60)
    assert set(collector.by_id) == _expected_ids(tables)
    assert len(collector.received) == len(collector.by_id)


@pytest.mark.timeout(120)
def test_concurrent_reads_each_get_their_own_events(tmp_path, sqlite_uri, collector, telemetry, ol_spec):
    sink = add_openlineage_sink(http_client(collector.port), tmp_path / "spool")
    unistore.configure_lineage(log=tmp_path / "lineage.jsonl")
    tables: list = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(4):
            t = unistore.read(sqlite_uri, "events")
            with lock:
                tables.append(t)

    threads = [threading.Thread(target=work) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sink.spool.flush(60)
    read_ids = {unistore.provenance_of(t).read_id for t in tables}
    assert len(read_ids) == 40
    assert set(collector.by_id) == _expected_ids(tables)
    completes = [e for e in collector.by_id.values() if e["eventType"] == "COMPLETE"]
    assert {e["inputs"][0]["inputFacets"]["unistore_provenance"]["record"]["read_id"] for e in completes} == read_ids
    assert all(e["run"]["runId"] == e["inputs"][0]["inputFacets"]["unistore_provenance"]["record"]["read_id"]
               for e in completes)
    assert {s.attributes["unistore.read_id"] for s in telemetry.spans()} == read_ids
    log = read_log(filter=[("status", "=", "ok")])
    assert read_ids <= set(log.column("read_id").to_pylist())
    for event in list(collector.by_id.values())[:6]:
        ol_spec.validate(event)


def test_a_failing_sink_never_fails_the_read(sqlite_uri):
    class Broken:
        def emit(self, event):
            raise RuntimeError("collector exploded")

    lineage.add_sink(Broken())
    assert unistore.read(sqlite_uri, "events").num_rows == 3


@pytest.mark.timeout(120)
def test_closing_while_the_collector_hangs_keeps_the_events_on_disk(tmp_path, sqlite_uri, collector):
    collector.hold()
    first = add_openlineage_sink(http_client(collector.port, timeout=60), tmp_path / "spool")
    tables = [unistore.read(sqlite_uri, "events") for _ in range(3)]
    assert collector.waiting.wait(30)
    lineage.remove_sink(first)
    assert not first.close(0.2)  # returns although the sender is stuck in a request
    on_disk = {p.name.split("-", 2)[2].removesuffix(".json") for p in first.spool.pending()}
    assert on_disk == _expected_ids(tables)  # including the one being sent when we closed
    collector.release()
    second = add_openlineage_sink(http_client(collector.port), tmp_path / "spool")
    assert second.spool.flush(60)
    assert set(collector.by_id) == _expected_ids(tables)  # at least once each; duplicates share an id


# -- kill -9: every read that returned has its events on disk (issue 9, finding 7) --------------------

CHILD = r"""
import os, signal, sys
import unistore
from openlineage.client import OpenLineageClient
from openlineage.client.transport.http import HttpConfig, HttpTransport

uri, spool, port, reads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
config = HttpConfig.from_dict({"url": f"http://127.0.0.1:{port}", "timeout": 5,
                               "retry": {"total": 0, "connect": 0, "read": 0, "status": 0}})
unistore.configure_lineage(openlineage=OpenLineageClient(transport=HttpTransport(config)), spool_dir=spool)
n = 0
while reads == 0 or n < reads:
    table = unistore.read(uri, "events")
    n += 1
    os.write(1, (unistore.provenance_of(table).read_id + "\n").encode())  # this read has returned
    if n == reads:
        os.kill(os.getpid(), signal.SIGKILL)
"""


def _child(sqlite_uri: str, spool, port: int, reads: int) -> subprocess.Popen:
    env = {**os.environ, "XDG_CACHE_HOME": str(spool.parent / "cache"), "OPENLINEAGE_DISABLED": ""}
    return subprocess.Popen([sys.executable, "-c", CHILD, sqlite_uri, str(spool), str(port), str(reads)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def _ids_of_reads(read_ids) -> set[str]:
    return {event_id({"run": {"runId": rid}, "eventType": kind}) for rid in read_ids for kind in ("START", "COMPLETE")}


def _recover(spool, port: int, ol_spec, expected: set[str]) -> Collector:
    """A new spool on the dead process's directory, with the collector up, delivers every expected event."""
    collector = Collector(port)
    try:
        sink = add_openlineage_sink(http_client(port), spool)
        assert sink.spool.flush(60)
        assert expected <= set(collector.by_id)
        for eid in expected:
            ol_spec.validate(collector.by_id[eid])
        assert list(spool.glob("journal-*")) == [sink.spool.journal]  # the dead journal was recovered and removed
    finally:
        collector.stop()
    return collector


@pytest.mark.timeout(180)
def test_kill_9_right_after_the_20th_read_loses_no_event(tmp_path, sqlite_uri, ol_spec):
    port = free_port()  # the collector is down while the child reads
    spool = tmp_path / "spool"
    child = _child(sqlite_uri, spool, port, 20)
    out, err = child.communicate(timeout=120)
    assert child.returncode == -signal.SIGKILL, err.decode()[-2000:]
    read_ids = out.decode().split()
    assert len(read_ids) == 20
    collector = _recover(spool, port, ol_spec, _ids_of_reads(read_ids))
    assert set(collector.by_id) == _ids_of_reads(read_ids)  # exactly those 40 events
    assert sorted(e["eventType"] for e in collector.by_id.values()) == ["COMPLETE"] * 20 + ["START"] * 20


@pytest.mark.timeout(300)
def test_kill_9_at_random_moments_keeps_the_events_of_every_read_that_returned(tmp_path, sqlite_uri, ol_spec):
    port = free_port()
    spool = tmp_path / "spool"
    returned: list[str] = []
    rng = random.Random(9)
    for _ in range(4):
        child = _child(sqlite_uri, spool, port, 0)  # reads until killed
        first = child.stdout.readline()  # started reading (imports done)
        time.sleep(rng.uniform(0.0, 0.3))
        child.send_signal(signal.SIGKILL)
        rest, _ = child.communicate(timeout=60)
        assert child.returncode == -signal.SIGKILL
        returned += (first + rest).decode().split()
    assert len(returned) >= 4
    _recover(spool, port, ol_spec, _ids_of_reads(returned))


def test_a_journal_recovered_by_another_process_while_this_one_waited_is_not_recovered_again(tmp_path):
    # a dead process's journal, opened here just before another process recovers (and unlinks) it
    dead = tmp_path / "journal-1-000000000000.jsonl"
    dead.write_text(json.dumps({"ns": 1, "job": {"id": "a"}}) + "\n")
    fd = os.open(dead, os.O_RDWR)
    delivered: list[dict] = []
    spool = Spool(tmp_path, delivered.append, lambda event: event["id"], linger=0)
    try:
        assert spool.flush() and delivered == [{"id": "a"}] and not dead.exists()
        spool._recover_journal(dead, fd)  # this process takes the flock only now
        assert spool.flush() and delivered == [{"id": "a"}]
    finally:
        os.close(fd)
        spool.close()
