"""A cross-silo query is reported as one read: one span with a child span per input, one OpenLineage run
with every input and, when the result is named, the columnLineage facet on the output."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import unistore

QUERY = ("SELECT e.kind, SUM(e.amount * p.rate) AS value FROM shop.events e JOIN rates p ON e.kind = p.kind "
         "WHERE e.amount > 1 GROUP BY e.kind")


@pytest.fixture
def two_sources(tmp_path, sqlite_uri):
    rates = tmp_path / "rates.parquet"
    pq.write_table(pa.table({"kind": ["k1", "k3"], "rate": [2.0, 0.5]}), rates)
    return {"shop": sqlite_uri, "rates": str(rates)}


def test_one_openlineage_run_with_every_input_and_the_column_lineage_facet(events_file, two_sources, ol_spec, tmp_path):
    table = unistore.sql(QUERY, two_sources, output=str(tmp_path / "value.parquet"))
    record = unistore.provenance_of(table)
    sent = events_file()
    assert [e["eventType"] for e in sent] == ["START", "COMPLETE"]  # the input reads are not runs of their own
    for event in sent:
        assert ol_spec.validate(event) >= 2
    done = sent[1]
    assert done["run"]["runId"] == record.read_id
    assert done["job"]["facets"]["sql"]["query"] == QUERY
    assert {(d["namespace"], d["name"]) for d in done["inputs"]} == \
        {(i.record.source.namespace, i.record.source.name) for i in record.inputs}
    for dataset in done["inputs"]:  # the same facets as a single read's
        assert {"schema", "dataSource", "version"} <= set(dataset["facets"])
        assert {"inputStatistics", "dataQualityMetrics", "unistore_provenance"} <= set(dataset["inputFacets"])
    (output,) = done["outputs"]
    assert output["name"] == str(tmp_path / "value.parquet")
    column_lineage = output["facets"]["columnLineage"]
    assert column_lineage["fields"] == record.column_lineage["fields"]
    shop = next(i.record.source for i in record.inputs if i.source == "shop")
    value = column_lineage["fields"]["value"]["inputFields"]
    assert {(f["name"], f["field"], f["transformations"][0]["subtype"]) for f in value} == \
        {(shop.name, "amount", "AGGREGATION"), (str(two_sources["rates"]), "rate", "AGGREGATION")}
    ol_spec.validator("https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json").validate(
        {"columnLineage": column_lineage})


def test_in_a_run_the_query_counts_with_its_inputs_and_the_runs_output_gets_the_facet(events_file, two_sources,
                                                                                      ol_spec, tmp_path):
    with unistore.run("report", outputs=["s3://reports/value.parquet"], manifest=tmp_path / "m.json"):
        table = unistore.sql(QUERY, two_sources)
    sent = events_file()
    assert [e["eventType"] for e in sent] == ["START", "COMPLETE"]
    for event in sent:
        ol_spec.validate(event)
    assert len(sent[1]["inputs"]) == 2
    assert sent[1]["outputs"][0]["facets"]["columnLineage"]["fields"] == \
        unistore.provenance_of(table).column_lineage["fields"]
    manifest = json.loads((tmp_path / "m.json").read_text())
    assert [i["kind"] for i in manifest["inputs"]] == ["query"]
    report = unistore.replay_manifest(tmp_path / "m.json")
    assert report.identical


def test_one_span_for_the_query_and_a_child_span_per_input(telemetry, two_sources):
    unistore.sql(QUERY, two_sources)
    spans = telemetry.spans()
    (query,) = [s for s in spans if s.attributes.get("db.system.name") == "duckdb"]
    children = [s for s in spans if s.parent is not None and s.parent.span_id == query.context.span_id]
    assert len(children) == 2 and len(spans) == 3
    assert {c.attributes["db.system.name"] for c in children} == {"sqlite", "files"}
    assert query.attributes["db.response.returned_rows"] == 2 and query.attributes["unistore.read_id"]
    assert query.attributes["db.query.text"].startswith("SELECT e.kind")


def test_the_query_record_validates_against_its_json_schema(two_sources):
    import jsonschema
    from importlib import resources

    schema = json.loads(resources.files("unistore").joinpath("schemas/unistore_provenance.json").read_text())
    record = unistore.provenance_of(unistore.sql(QUERY, two_sources)).to_dict()
    validator = jsonschema.Draft202012Validator({**schema, "$ref": "#/$defs/ProvenanceRecord"})
    validator.validate(record)
    bad = json.loads(json.dumps(record))
    bad["column_lineage"]["fields"]["value"]["inputFields"][0].pop("field")
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(bad)
