"""The InfluxDB 1.x adapter on a real influxd: measurements, InfluxQL, pushdown, drift, errors."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

import unistore
from stores.timeseries import INFLUX_DB, INTERVAL, METRIC, T0, influx_write, sample_value, series_table

START = T0 + 1_000 * INTERVAL
END = T0 + 1_060 * INTERVAL


@pytest.fixture
def uri(influxdb_server):
    return f"influxdb://127.0.0.1:{influxdb_server.port}/{INFLUX_DB}"


def test_measurement_reads_as_a_table_of_tags_and_fields(uri):
    table = unistore.read(uri, METRIC, start=START, end=END)
    assert table.schema.names == ["timestamp", "site", "value"]
    assert table.schema.field("timestamp").type == pa.timestamp("ns", "UTC")
    assert table.num_rows == 3 * 60
    record = unistore.provenance_of(table)
    assert record.source.namespace.startswith("influxdb://127.0.0.1:") and record.source.name == f"{INFLUX_DB}.{METRIC}"
    assert record.snapshot.kind == "influxdb.range" and record.snapshot.value == "2024-01-01T17:40:00Z"
    assert record.query.language == "influxql" and "time >= $start AND time < $end" in record.query.text


def test_large_results_stream_in_chunks_with_the_same_content(uri):
    whole = unistore.read(uri, METRIC, start=T0, end=T0 + 5_000 * INTERVAL)
    with unistore.scan(uri, METRIC, start=T0, end=T0 + 5_000 * INTERVAL, chunk_size=1_000) as reader:
        batches = list(reader)
    assert len(batches) >= 15 and max(b.num_rows for b in batches) <= 1_000
    assert unistore.provenance_of(reader).result.fingerprint == unistore.provenance_of(whole).result.fingerprint


def test_filters_are_pushed_down_with_bound_parameters(uri):
    table = unistore.read(uri, METRIC, start=START, end=END, filter=[("site", "in", ["a", "c"]), ("value", ">", 0)])
    assert set(table.column("site").to_pylist()) == {"c"} and table.num_rows == 60
    record = unistore.provenance_of(table)
    assert "'c'" not in record.query.text and "$p0" in record.query.text
    assert record.query.params["p0"] == "a" and record.query.params["p2"] == 0
    assert record.query.pushed_down["filter"] is True


def test_null_semantics_hold_for_tags_the_store_treats_as_empty(uri):
    table = unistore.read(uri, METRIC, start=START, end=END, filter=[("site", "!=", "a")])
    assert set(table.column("site").to_pylist()) == {"b", "c"}
    none = unistore.read(uri, METRIC, start=START, end=END, filter=[("site", "is null")])
    assert none.num_rows == 0


def test_step_keeps_the_last_sample_of_each_bucket(uri):
    table = unistore.read(uri, METRIC, start=START, end=END, step="10m")
    assert table.num_rows == 3 * 6
    a = table.filter(pa.compute.equal(table.column("site"), "a")).sort_by("timestamp")
    assert a.column("value").to_pylist() == [sample_value(0, 1_000 + 10 * k + 9) for k in range(6)]


def test_partitions_keep_group_by_time_buckets_whole(uri):
    """Slices are cut on the epoch-aligned buckets of GROUP BY time, so no bucket is split between two of them."""
    window = {"start": START + dt.timedelta(seconds=30), "end": END, "step": "7m"}
    whole, parted = unistore.read(uri, METRIC, **window), unistore.read(uri, METRIC, partitions=3, **window)
    order = [("site", "ascending"), ("timestamp", "ascending")]
    assert parted.sort_by(order).equals(whole.sort_by(order)) and whole.num_rows == 3 * 10
    record = unistore.provenance_of(parted)
    assert record.result.fingerprint == unistore.provenance_of(whole).result.fingerprint
    plan = record.query.pushed_down["plan"]
    assert plan["method"] == "time slices" and len(plan["splits"]) == 3
    epoch, step = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc), dt.timedelta(minutes=7)
    cuts = [dt.datetime.fromisoformat(s["covers"]["start"].replace("Z", "+00:00")) for s in plan["splits"][1:]]
    assert all((cut - epoch) % step == dt.timedelta(0) for cut in cuts)
    assert record.query.text == unistore.provenance_of(whole).query.text  # the read as a whole, for the record


def test_partitions_of_a_read_without_start_leave_the_first_slice_open(uri):
    """The cuts are placed from the first point on; the first slice has no lower bound, like the read."""
    end = T0 + 100 * INTERVAL
    whole, parted = unistore.read(uri, METRIC, end=end), unistore.read(uri, METRIC, end=end, partitions=4)
    assert parted.num_rows == whole.num_rows == 3 * 100
    assert unistore.provenance_of(parted).result.fingerprint == unistore.provenance_of(whole).result.fingerprint
    splits = unistore.provenance_of(parted).query.pushed_down["plan"]["splits"]
    assert len(splits) == 4 and splits[0]["covers"]["start"] is None and [s["rows"] for s in splits] == [75] * 4


def test_queries_and_the_wide_shape_are_one_split(uri):
    text = f'SELECT "value" FROM "{METRIC}" WHERE time >= $start AND time < $end'
    for table in (unistore.read(uri, query=text, start=START, end=END, partitions=3),
                  unistore.read(uri, METRIC, start=START, end=END, shape="wide", partitions=3)):
        assert len(unistore.provenance_of(table).query.pushed_down["plan"]["splits"]) == 1 and table.num_rows


def test_influxql_query_with_time_parameters(uri):
    text = f'SELECT mean("value") AS "value" FROM "{METRIC}" WHERE time >= $start AND time < $end GROUP BY time(30m), "site"'
    table = unistore.read(uri, query=text, start=START, end=END)
    assert set(table.column_names) == {"timestamp", "site", "value"}
    assert table.num_rows == 3 * 3  # 30-minute buckets at 16:30, 17:00, 17:30 (aligned to the epoch)
    record = unistore.provenance_of(table)
    assert record.query.params["start"] == "2024-01-01T16:40:00Z"


def test_influxql_query_with_named_parameters(uri):
    text = f'SELECT "value" FROM "{METRIC}" WHERE "site" = $site AND time >= $start AND time < $end'
    table = unistore.read(uri, query=text, params={"site": "b"}, start=START, end=END)
    assert table.num_rows == 60


@pytest.mark.parametrize("statement", [
    f"DROP MEASUREMENT {METRIC}", f"DELETE FROM {METRIC}", f"SELECT * INTO copy FROM {METRIC}",
    "CREATE DATABASE other", f"SELECT * FROM {METRIC}; DROP DATABASE {INFLUX_DB}",
])
def test_write_statements_are_refused(uri, statement):
    with pytest.raises(unistore.ReadOnlyError):
        unistore.read(uri, query=statement)
    with unistore.source(uri) as src:
        assert METRIC in src.tables()


def test_bad_influxql_is_a_query_error_with_the_servers_message(uri):
    with pytest.raises(unistore.QueryError, match="error parsing query"):
        unistore.read(uri, query=f"SELECT FROM WHERE {METRIC}")


def test_missing_database_and_measurement(influxdb_server, uri):
    with pytest.raises(unistore.SourceNotFoundError):
        unistore.read(f"influxdb://127.0.0.1:{influxdb_server.port}/no_such_db", METRIC, start=START, end=END)
    with pytest.raises(unistore.SourceNotFoundError):
        unistore.read(uri, "no_such_measurement", start=START, end=END)


def test_listing_and_schema(uri):
    with unistore.source(uri) as src:
        assert METRIC in src.tables()
        assert src.schema(METRIC).names == ["timestamp", "site", "value"]


def test_late_points_are_drift(influxdb_server, uri):
    measurement = "late_temp"
    influx_write(influxdb_server, series_table().slice(0, 50), measurement=measurement)
    table = unistore.read(uri, measurement, start=T0, end=T0 + 50 * INTERVAL)
    assert unistore.replay(table).num_rows == 50
    late = pa.table({"timestamp": pa.array([T0 + 10 * INTERVAL + INTERVAL / 2], pa.timestamp("ms", "UTC")),
                     "site": ["a"], "value": [99.0]})
    influx_write(influxdb_server, late, measurement=measurement)
    with pytest.raises(unistore.DriftError) as info:
        unistore.replay(table)
    assert info.value.differences["rows"] == {"recorded": 50, "now": 51}


def test_a_read_without_end_is_pinned_to_its_time(uri):
    table = unistore.read(uri, METRIC, start=T0, filter=[("site", "==", "a")], limit=5)
    record = unistore.provenance_of(table)
    assert record.snapshot.pins["end"] == record.snapshot.value and record.snapshot.value > "2024"


def test_bad_spec(uri):
    with pytest.raises(unistore.BadSpecError, match="nope"):
        unistore.read(uri, METRIC, start=START, end=END, columns=["nope"])
    with pytest.raises(unistore.BadSpecError, match="database"):
        unistore.read("influxdb://127.0.0.1:8086", METRIC)
