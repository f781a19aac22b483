"""OpenLineage to a local file without client objects: the same lines the client writes, or the client itself."""

from __future__ import annotations

import json
import os

import pytest

import unistore
from unistore import lineage
from unistore.lineage.olfile import file_lines
from unistore.lineage.openlineage import build_events, read_job, to_client_event
from unistore.lineage.spool import Spool

from .conftest import add_openlineage_sink, file_client, read_jsonl


def _events(sqlite_uri: str, **read: object) -> list[dict]:
    """The events of one read (a COMPLETE with column metrics, or a FAIL), as the sender builds them."""
    captured: list[lineage.ReadEvent] = []

    class Keep:
        wants_column_stats = True

        def emit(self, event: lineage.ReadEvent) -> None:
            captured.append(event)

    sink = lineage.add_sink(Keep())
    try:
        try:
            unistore.read(sqlite_uri, **read)
        except unistore.UnistoreError:
            pass
    finally:
        lineage.remove_sink(sink)
    (event,) = captured
    return build_events(json.loads(json.dumps(read_job(event, "unistore"))))


def test_a_plain_file_client_gets_the_lines_its_own_emit_writes(tmp_path, sqlite_uri):
    writer = file_lines(file_client(tmp_path / "fast.jsonl"), to_client_event)
    assert writer is not None, "a plain append-mode file client takes the direct path"
    reference = file_client(tmp_path / "client.jsonl")
    events = _events(sqlite_uri, table="events", filter=[("id", ">", 1)]) + _events(sqlite_uri, table="missing")
    assert {e["eventType"] for e in events} == {"START", "COMPLETE", "FAIL"}
    for event in events:
        writer(event)
        reference.emit(to_client_event(json.loads(json.dumps(event))))
    writer.close()
    assert (tmp_path / "fast.jsonl").read_text() == (tmp_path / "client.jsonl").read_text()


def test_clients_that_change_events_go_through_their_own_emit(tmp_path):
    from openlineage.client import OpenLineageClient

    class Mine(OpenLineageClient):
        pass

    client = file_client(tmp_path / "a.jsonl")
    assert file_lines(Mine(transport=client.transport), to_client_event) is None
    filtered = file_client(tmp_path / "b.jsonl")
    filtered._filters.append(object())
    assert file_lines(filtered, to_client_event) is None
    adding = file_client(tmp_path / "c.jsonl")
    real = adding.add_environment_facets

    def add_a_dataset(event):  # a change the direct path cannot repeat: the self-check must notice it
        event = real(event)
        event.job.name = event.job.name + ".changed"
        return event

    adding.add_environment_facets = add_a_dataset
    assert file_lines(adding, to_client_event) is None


def test_an_event_holding_a_facet_the_client_adds_goes_through_the_client(tmp_path, sqlite_uri):
    client = file_client(tmp_path / "ol.jsonl")
    writer = file_lines(client, to_client_event)
    assert writer is not None and writer.run_facets, "the client adds its version tag to every run"
    (key,) = list(writer.run_facets)
    sent = []
    writer.fallback = sent.append
    event = _events(sqlite_uri, table="events")[0]
    event["run"]["facets"][key] = {"_producer": "p", "_schemaURL": "s", "tags": []}
    writer(event)
    assert sent == [event] and not (tmp_path / "ol.jsonl").exists()


def test_a_rotated_file_is_opened_again(tmp_path, sqlite_uri):
    path = tmp_path / "ol.jsonl"
    writer = file_lines(file_client(path), to_client_event)
    assert writer is not None
    first, second = _events(sqlite_uri, table="events")
    writer(first)
    os.replace(path, tmp_path / "ol.jsonl.1")
    writer(second)
    writer.close()
    assert [e["eventType"] for e in read_jsonl(tmp_path / "ol.jsonl.1")] == ["START"]
    assert [e["eventType"] for e in read_jsonl(path)] == ["COMPLETE"]


@pytest.mark.timeout(60)
def test_flush_does_not_wait_out_the_linger(tmp_path):
    delivered: list[dict] = []
    spool = Spool(tmp_path / "spool", delivered.append, lambda e: str(e["n"]), linger=3600)
    try:
        for n in range(3):
            spool.submit({"n": n})
        assert spool.flush(30)
        assert [e["n"] for e in delivered] == [0, 1, 2]
    finally:
        assert spool.close(30)


@pytest.mark.timeout(60)
def test_reads_reach_the_file_through_the_spool(tmp_path, sqlite_uri, ol_spec):
    sink = add_openlineage_sink(file_client(tmp_path / "ol.jsonl"), tmp_path / "spool")
    tables = [unistore.read(sqlite_uri, "events") for _ in range(3)]
    assert sink.spool.flush(30)
    events = read_jsonl(tmp_path / "ol.jsonl")
    assert [e["run"]["runId"] for e in events] == [unistore.provenance_of(t).read_id for t in tables for _ in (0, 1)]
    for event in events:
        ol_spec.validate(event)
