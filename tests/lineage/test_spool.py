"""A collector that is down, then up, or slow: reads never fail or wait on it, and no event is lost."""

from __future__ import annotations

import threading

import pytest

import unistore
from unistore import lineage
from unistore.lineage.openlineage import event_id

from .conftest import Collector, add_openlineage_sink, free_port, http_client


def _expected_ids(tables) -> set[str]:
    ids = set()
    for t in tables:
        rid = unistore.provenance_of(t).read_id
        ids |= {event_id({"run": {"runId": rid}, "eventType": kind}) for kind in ("START", "COMPLETE")}
    return ids


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
@pytest.mark.parametrize("max_queue", [10_000, 2])
def test_a_slow_collector_never_holds_a_read(tmp_path, sqlite_uri, collector, max_queue):
    collector.hold()  # accepts connections, answers nothing until released
    sink = add_openlineage_sink(http_client(collector.port, timeout=60), tmp_path / "spool", max_queue=max_queue)
    first = unistore.read(sqlite_uri, "events")
    assert collector.waiting.wait(30)  # the sender thread is now stuck in a request
    # every further read completes while the collector still holds that request
    tables = [first] + [unistore.read(sqlite_uri, "events") for _ in range(20)]
    assert not collector.released.is_set()
    assert all(t.num_rows == 3 for t in tables)
    if max_queue == 2:  # the in-memory queue overflowed: the reads wrote their events to disk themselves
        assert len(sink.spool.pending()) > 2 * 2
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
    log = lineage.configured().log.read(filter=[("status", "=", "ok")])
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
