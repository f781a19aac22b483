"""OpenLineage events: every one validated against the official schemas and unistore's facet schema."""

from __future__ import annotations

import json
import sqlite3

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import unistore
from unistore import lineage

from .conftest import read_jsonl


def test_read_emits_start_and_complete_with_all_input_facets(events_file, sqlite_uri, ol_spec):
    table = unistore.read(sqlite_uri, "events")
    record = unistore.provenance_of(table)
    events = events_file()
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    for event in events:
        assert ol_spec.validate(event) >= 2
        assert event["run"]["runId"] == record.read_id
    complete = events[1]
    assert ol_spec.validate(complete) >= 8
    (ds,) = complete["inputs"]
    assert (ds["namespace"], ds["name"]) == (record.source.namespace, record.source.name)
    assert [f["name"] for f in ds["facets"]["schema"]["fields"]] == ["id", "kind", "amount"]
    assert ds["facets"]["schema"]["fields"][0]["type"] == str(table.schema.field("id").type)
    assert ds["facets"]["version"]["datasetVersion"].startswith(record.snapshot.kind)
    assert ds["facets"]["dataSource"]["name"] == record.source.namespace
    stats = ds["inputFacets"]["inputStatistics"]
    assert (stats["rowCount"], stats["size"]) == (3, record.result.bytes)
    quality = ds["inputFacets"]["dataQualityMetrics"]
    assert quality["rowCount"] == 3
    assert quality["columnMetrics"]["kind"]["nullCount"] == 1
    assert quality["columnMetrics"]["id"] == {"nullCount": 0, "count": 3, "min": 1, "max": 3, "sum": 6}
    assert quality["columnMetrics"]["amount"]["max"] == 4.5
    custom = ds["inputFacets"]["unistore_provenance"]
    # openlineage-python's serializer drops null-valued keys; nothing else may differ
    from openlineage.client.serde import Serde

    assert custom["record"] == Serde.remove_nulls_and_enums(json.loads(record.to_json()))
    again = unistore.Provenance.from_dict(custom["record"])
    assert (again.source, again.snapshot, again.result) == (record.source, record.snapshot, record.result)
    assert unistore.ReadSpec.from_record(again.query.request) == unistore.ReadSpec.from_record(record.query.request)
    assert complete["job"]["facets"]["sql"]["query"] == record.query.text
    assert complete["job"]["facets"]["sql"]["dialect"] == "sqlite"


def test_statistics_are_exact_across_many_batches(events_file, tmp_path):
    path = tmp_path / "big.db"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE t (x INTEGER, y REAL)")
        con.executemany("INSERT INTO t VALUES (?, ?)", [(i, None if i % 10 == 0 else -i) for i in range(1000)])
    unistore.read(f"sqlite:///{path}", "t", batch_size=64)
    metrics = events_file()[-1]["inputs"][0]["inputFacets"]["dataQualityMetrics"]["columnMetrics"]
    assert metrics["x"] == {"nullCount": 0, "count": 1000, "min": 0, "max": 999, "sum": sum(range(1000))}
    assert metrics["y"]["nullCount"] == 100 and metrics["y"]["min"] == -999 and metrics["y"]["max"] == -1


def test_failed_read_emits_fail_with_the_error(events_file, sqlite_uri, ol_spec):
    with pytest.raises(unistore.SourceNotFoundError):
        unistore.read(sqlite_uri, "no_such_table")
    events = events_file()
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    for event in events:
        ol_spec.validate(event)
    error = events[1]["run"]["facets"]["errorMessage"]
    assert "SourceNotFoundError" in error["message"] and error["programmingLanguage"] == "PYTHON"


def test_a_stream_closed_early_is_an_abort(events_file, sqlite_uri, ol_spec):
    import gc

    with unistore.scan(sqlite_uri, "events", batch_size=1) as reader:
        assert reader.read_next_batch().num_rows == 1
    del reader
    gc.collect()
    events = events_file()
    assert [e["eventType"] for e in events] == ["START", "ABORT"]
    for event in events:
        ol_spec.validate(event)
    assert "errorMessage" not in events[1]["run"]["facets"]
    assert events[1]["inputs"][0]["inputFacets"]["unistore_provenance"]["record"]["result"]["complete"] is False


@pytest.mark.parametrize("store", ["duckdb", "parquet"])
def test_other_embedded_stores_validate_too(events_file, tmp_path, ol_spec, store):
    data = pa.table({"id": [1, 2, None], "name": ["a", None, "c"], "s": [{"k": 1}, {"k": 2}, None]})
    if store == "duckdb":
        path = tmp_path / "d.duckdb"
        con = duckdb.connect(str(path))
        con.execute("CREATE TABLE t AS SELECT * FROM data")
        con.close()
        table = unistore.read(f"duckdb:///{path}", "t")
    else:
        path = tmp_path / "d.parquet"
        pq.write_table(data, path)
        table = unistore.read(str(path))
    events = events_file()
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    for event in events:
        ol_spec.validate(event)
    (ds,) = events[1]["inputs"]
    record = unistore.provenance_of(table)
    assert (ds["namespace"], ds["name"]) == (record.source.namespace, record.source.name)
    struct = next(f for f in ds["facets"]["schema"]["fields"] if f["name"] == "s")
    assert struct["fields"] == [{"name": "k", "type": "int64"}]
    assert ds["inputFacets"]["dataQualityMetrics"]["columnMetrics"]["id"]["nullCount"] == 1
    assert ("sql" in events[1]["job"]["facets"]) == (record.query.language == "sql")


def test_nothing_is_emitted_unless_enabled(tmp_path, sqlite_uri, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "openlineage.yml").write_text(
        f"transport:\n  type: file\n  log_file_path: {tmp_path / 'ol.jsonl'}\n  append: true\n")
    unistore.read(sqlite_uri, "events")
    assert not (tmp_path / "ol.jsonl").exists()
    assert not (tmp_path / "cache").exists()
    assert lineage.configured().openlineage is None


def test_the_users_own_openlineage_configuration_is_used(tmp_path, sqlite_uri, monkeypatch, ol_spec):
    config = tmp_path / "conf" / "openlineage.yml"
    config.parent.mkdir()
    config.write_text(f"transport:\n  type: file\n  log_file_path: {tmp_path / 'ol.jsonl'}\n  append: true\n")
    monkeypatch.setenv("OPENLINEAGE_CONFIG", str(config))
    monkeypatch.setenv("OPENLINEAGE_NAMESPACE", "analytics")
    unistore.configure_lineage(openlineage=True, spool_dir=tmp_path / "spool")
    unistore.read(sqlite_uri, "events")
    assert lineage.flush(30)
    events = read_jsonl(tmp_path / "ol.jsonl")
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    assert {e["job"]["namespace"] for e in events} == {"analytics"}
    for event in events:
        ol_spec.validate(event)


def test_openlineage_rejects_a_non_client():
    with pytest.raises(unistore.BadSpecError):
        unistore.configure_lineage(openlineage="http://collector")


def test_run_groups_reads_into_one_openlineage_run(events_file, sqlite_uri, tmp_path, ol_spec):
    with unistore.run("train-model", outputs=[str(tmp_path / "model.bin"), ("s3://models", "m/v1")],
                      manifest=tmp_path / "m.json") as run:
        a = unistore.read(sqlite_uri, "events")
        b = unistore.read(sqlite_uri, query="SELECT id FROM events WHERE id > 1")
    events = events_file()
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]  # no per-read runs inside a run
    for event in events:
        ol_spec.validate(event)
        assert event["run"]["runId"] == run.run_id
        assert event["job"]["name"] == "train-model"
    complete = events[1]
    read_ids = [d["inputFacets"]["unistore_provenance"]["record"]["read_id"] for d in complete["inputs"]]
    assert read_ids == [unistore.provenance_of(a).read_id, unistore.provenance_of(b).read_id]
    assert [(o["namespace"], o["name"]) for o in complete["outputs"]] == [
        ("file", str(tmp_path / "model.bin")), ("s3://models", "m/v1")]


def test_failed_run_emits_fail_with_the_error(events_file, sqlite_uri, tmp_path, ol_spec):
    with pytest.raises(ZeroDivisionError):
        with unistore.run("broken", manifest=tmp_path / "m.json"):
            unistore.read(sqlite_uri, "events")
            1 / 0
    events = events_file()
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    for event in events:
        ol_spec.validate(event)
    assert "ZeroDivisionError" in events[1]["run"]["facets"]["errorMessage"]["message"]
    assert len(events[1]["inputs"]) == 1
    assert json.loads((tmp_path / "m.json").read_text())["run"]["status"] == "failed"


def test_custom_facet_schema_ships_with_the_package():
    from importlib import resources

    schema = json.loads(resources.files("unistore").joinpath("schemas/unistore_provenance.json").read_text())
    from unistore.lineage.openlineage import CUSTOM_FACET_SCHEMA

    assert CUSTOM_FACET_SCHEMA.split("#")[0] == schema["$id"]
    assert "UnistoreProvenanceInputDatasetFacet" in schema["$defs"]


def test_the_validation_used_here_does_reject_bad_events(events_file, sqlite_uri, ol_spec):
    import copy

    import jsonschema

    unistore.read(sqlite_uri, "events")
    good = events_file()[1]
    ol_spec.validate(good)
    bad_core = copy.deepcopy(good)
    bad_core["run"]["runId"] = "not-a-uuid"
    bad_facet = copy.deepcopy(good)
    bad_facet["inputs"][0]["inputFacets"]["inputStatistics"]["rowCount"] = "three"
    bad_custom = copy.deepcopy(good)
    del bad_custom["inputs"][0]["inputFacets"]["unistore_provenance"]["record"]["snapshot"]
    for bad in (bad_core, bad_facet, bad_custom):
        with pytest.raises(jsonschema.ValidationError):
            ol_spec.validate(bad)
