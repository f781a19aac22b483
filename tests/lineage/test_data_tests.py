"""Data test results reach lineage: OpenLineage ``dataQualityAssertions`` (validated against the official
facet schema, and the record's ``checks`` against unistore's own), and one OpenTelemetry span event per result."""

from __future__ import annotations

import json
import warnings

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import unistore
from unistore import checks as C


CHECKS = [C.not_null("id"), C.not_null("kind", key="id", severity="warn"), C.unique("id"),
          C.between("amount", 0, 100), C.row_count(min=1), C.expression("amount > 2", key="id", severity="warn"),
          C.schema({"id": "int64"}), C.relationships("id", pa.table({"id": [1, 2]}), severity="warn")]


@pytest.fixture(params=["sqlite", "parquet", "postgresql"])
def source(request, tmp_path, sqlite_uri):
    """Three rows (id 1..3, kind null on id 2, amount 1.5 per id) in a store; (uri, table)."""
    if request.param == "sqlite":
        return sqlite_uri, "events"
    data = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "kind": ["k1", None, "k3"], "amount": [1.5, 3.0, 4.5]})
    if request.param == "parquet":
        pq.write_table(data, tmp_path / "events.parquet")
        return str(tmp_path / "events.parquet"), None
    case = request.getfixturevalue("loader_postgresql")
    from stores.servers_sql import pg_connect, unique

    name = unique("dq")
    with pg_connect() as con:
        con.execute(f'CREATE TABLE "{name}" (id BIGINT, kind TEXT, amount DOUBLE PRECISION)')
        con.execute(f'INSERT INTO "{name}" VALUES (1, \'k1\', 1.5), (2, NULL, 3.0), (3, \'k3\', 4.5)')
    assert case is not None
    return "postgresql://postgres@127.0.0.1:5432/test", name


def test_assertions_are_on_the_input_dataset_and_validate(events_file, source, ol_spec):
    uri, table_name = source
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = unistore.read(uri, table_name, checks=CHECKS)
    assert sorted(str(w.message).split(": ")[1].split(" ")[0] for w in caught
                  if issubclass(w.category, unistore.DataTestWarning)) == \
        ["expression(amount", "not_null(kind)", "relationships(id)"]
    record = unistore.provenance_of(table)
    events = events_file()
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    complete = events[1]
    assert ol_spec.validate(complete) >= 9  # dataQualityAssertions and the record with its checks included
    (ds,) = complete["inputs"]
    facet = ds["inputFacets"]["dataQualityAssertions"]
    assert facet["_schemaURL"].endswith("DataQualityAssertionsDatasetFacet.json#/$defs/DataQualityAssertionsDatasetFacet")
    by_name = {a["name"]: a for a in facet["assertions"]}
    assert list(by_name) == [c.name for c in record.checks]
    assert by_name["not_null(id)"] == {"assertion": "not_null", "success": True, "name": "not_null(id)",
                                       "severity": "error", "column": "id", "expected": "no nulls", "actual": "0",
                                       "params": {"columns": ["id"], "failing_rows": 0}}
    assert by_name["not_null(kind)"]["success"] is False and by_name["not_null(kind)"]["severity"] == "warn"
    assert json.loads(by_name["unique(id)"]["actual"])["duplicate_values"] == 0
    assert json.loads(by_name["between(amount)"]["actual"]) == {"max": 4.5, "min": 1.5, "outside": 0}
    assert "column" not in by_name["row_count"]
    expression = by_name["expression(amount > 2)"]
    assert (expression["content"], expression["contentType"], expression["success"]) == ("amount > 2", "sql", False)
    assert json.loads(by_name["relationships(id)"]["actual"])["missing"] == 1
    checks = ds["inputFacets"]["unistore_provenance"]["record"]["checks"]
    assert [c["name"] for c in checks] == list(by_name)
    assert next(c for c in checks if c["name"] == "not_null(kind)")["examples"] == [2]


def test_a_failed_error_test_still_reports_a_complete_read(events_file, sqlite_uri, ol_spec):
    with pytest.raises(unistore.DataTestError):
        unistore.read(sqlite_uri, "events", checks=[C.not_null("kind")])
    events = events_file()
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]  # the read worked; the data failed a test
    ol_spec.validate(events[1])
    (assertion,) = events[1]["inputs"][0]["inputFacets"]["dataQualityAssertions"]["assertions"]
    assert (assertion["name"], assertion["success"], assertion["actual"]) == ("not_null(kind)", False, "1")


def test_reads_without_checks_have_no_assertions_facet(events_file, sqlite_uri):
    unistore.read(sqlite_uri, "events")
    (ds,) = events_file()[1]["inputs"]
    assert "dataQualityAssertions" not in ds["inputFacets"]
    assert "checks" not in ds["inputFacets"]["unistore_provenance"]["record"]


def test_span_events_one_per_result(telemetry, sqlite_uri):
    with pytest.raises(unistore.DataTestError):
        unistore.read(sqlite_uri, "events", checks=[C.not_null("kind", key="id"), C.unique("id")])
    (span,) = telemetry.spans()
    events = [e for e in span.events if e.name == "unistore.data_test"]
    assert [e.attributes["unistore.data_test.name"] for e in events] == ["not_null(kind)", "unique(id)"]
    first = events[0].attributes
    assert (first["unistore.data_test.success"], first["unistore.data_test.failing_rows"],
            first["unistore.data_test.column"], first["unistore.data_test.severity"]) == (False, 1, "kind", "error")
    assert json.loads(events[1].attributes["unistore.data_test.observed"])["duplicate_values"] == 0
    assert span.attributes["unistore.data_tests.failed"] == 1


def test_the_checks_section_round_trips_through_json():
    table = pa.table({"id": [1, 1, None]})
    results = C.evaluate(table, [C.unique("id"), C.not_null("id")])
    from unistore.provenance import CheckResult

    assert [CheckResult.from_dict(json.loads(json.dumps(r.to_dict()))) for r in results] == results
