"""OpenTelemetry: one CLIENT span per read with the database-client conventions, and two histograms."""

from __future__ import annotations

import threading

import pytest
from opentelemetry.trace import SpanKind, StatusCode

import unistore
from unistore import lineage
from unistore.lineage import otel


def test_one_client_span_per_read_named_and_attributed_by_the_conventions(telemetry, sqlite_uri):
    table = unistore.read(sqlite_uri, "events", filter=[("amount", ">", 1)])
    record = unistore.provenance_of(table)
    (span,) = telemetry.spans()
    assert span.kind is SpanKind.CLIENT
    assert span.name == "SELECT events"
    a = span.attributes
    assert a["db.system.name"] == "sqlite"
    assert a["db.operation.name"] == "SELECT"
    assert a["db.namespace"] == sqlite_uri.removeprefix("sqlite:///")  # the database, not the OpenLineage namespace
    assert a["db.collection.name"] == "events"
    assert a["db.response.returned_rows"] == table.num_rows == record.result.rows
    assert "?" in a["db.query.text"] and "> 1" not in a["db.query.text"]
    assert a["unistore.read_id"] == record.read_id
    assert a["unistore.snapshot.kind"] == record.snapshot.kind
    assert a["unistore.snapshot.value"] == str(record.snapshot.value)
    assert a["unistore.result.fingerprint"] == record.result.fingerprint
    assert "error.type" not in a
    assert span.status.status_code is not StatusCode.ERROR


def test_the_system_is_known_when_the_span_starts(telemetry, sqlite_uri):
    from opentelemetry.sdk.trace import SpanProcessor

    seen = []

    class AtStart(SpanProcessor):
        def on_start(self, span, parent_context=None):
            seen.append(dict(span.attributes))

    otel._tracer_provider.add_span_processor(AtStart())
    unistore.read(sqlite_uri, "events")
    assert seen == [{"db.operation.name": "SELECT", "db.system.name": "sqlite",
                     "db.namespace": sqlite_uri.removeprefix("sqlite:///"), "db.collection.name": "events"}]


def test_query_literals_are_replaced_in_db_query_text(telemetry, sqlite_uri):
    unistore.read(sqlite_uri, query="SELECT id FROM events WHERE kind = 'k1' OR amount > 2.5")
    (span,) = telemetry.spans()
    assert span.name == "SELECT"
    text = span.attributes["db.query.text"]
    assert text == "SELECT id FROM events WHERE kind = ? OR amount > ?"


def test_failed_read_sets_error_type_and_status(telemetry, sqlite_uri):
    with pytest.raises(unistore.SourceNotFoundError) as info:
        unistore.read(sqlite_uri, "no_such_table")
    (span,) = telemetry.spans()
    assert span.attributes["error.type"] == type(info.value).__qualname__
    assert span.status.status_code is StatusCode.ERROR
    assert not span.events  # exceptions are not recorded: chained driver errors may echo secrets
    (point,) = telemetry.histogram("db.client.operation.duration")
    assert point.attributes["error.type"] == type(info.value).__qualname__


def test_duration_and_returned_rows_histograms(telemetry, sqlite_uri):
    unistore.read(sqlite_uri, "events")
    unistore.read(sqlite_uri, "events", limit=1)
    (duration,) = telemetry.histogram("db.client.operation.duration")
    assert duration.count == 2 and duration.sum > 0
    assert duration.attributes["db.system.name"] == "sqlite"
    assert duration.attributes["db.operation.name"] == "SELECT"
    (rows,) = telemetry.histogram("db.client.response.returned_rows")
    assert rows.count == 2 and rows.sum == 3 + 1


def test_span_of_a_stream_ends_when_the_stream_does(telemetry, sqlite_uri):
    reader = unistore.scan(sqlite_uri, "events", batch_size=1)
    assert telemetry.spans() == ()
    assert reader.read_next_batch().num_rows == 1
    assert telemetry.spans() == ()
    reader.read_all()
    (span,) = telemetry.spans()
    assert span.attributes["unistore.result.complete"] is True
    assert span.attributes["db.response.returned_rows"] == 3


def test_span_is_a_child_of_the_callers_span(telemetry, sqlite_uri):
    from opentelemetry.trace import use_span

    tracer = otel._get_tracer()
    parent = tracer.start_span("train")
    with use_span(parent, end_on_exit=True):
        unistore.read(sqlite_uri, "events")
    read_span = next(s for s in telemetry.spans() if s.name == "SELECT events")
    assert read_span.parent.span_id == parent.get_span_context().span_id


def test_without_an_sdk_spans_are_not_recording_and_reads_work(sqlite_uri):
    from opentelemetry.trace import NoOpTracerProvider

    otel.use_providers(NoOpTracerProvider(), None)
    try:
        src = unistore.source(sqlite_uri)
        started = otel.start(lineage.ReadContext.of(src, src.spec("events")))
        assert not started.span.is_recording()
        assert unistore.read(sqlite_uri, "events").num_rows == 3
    finally:
        otel.use_providers(None, None)


def test_concurrent_reads_each_get_their_own_span(telemetry, sqlite_uri):
    results: dict[int, str] = {}

    def work(i: int) -> None:
        table = unistore.read(sqlite_uri, "events", limit=1 + i % 3)
        results[i] = unistore.provenance_of(table).read_id

    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    spans = telemetry.spans()
    assert len(spans) == 16
    assert {s.attributes["unistore.read_id"] for s in spans} == set(results.values())
    assert len({s.context.span_id for s in spans}) == 16
    by_id = {s.attributes["unistore.read_id"]: s for s in spans}
    for i, rid in results.items():
        assert by_id[rid].attributes["db.response.returned_rows"] == 1 + i % 3
