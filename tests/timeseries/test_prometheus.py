"""The Prometheus-API adapter on real servers: queries, pushdown, splitting, drift, errors."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest

import unistore
from stores.timeseries import INTERVAL, METRIC, T0, http, sample_value, series_table, vm_flush, vm_import

START = T0 + 1_000 * INTERVAL
END = T0 + 1_060 * INTERVAL


@pytest.fixture(params=["victoria-metrics", "prometheus"])
def uri(request):
    server = request.getfixturevalue("victoria_metrics" if request.param == "victoria-metrics" else "prometheus_server")
    return f"prometheus://127.0.0.1:{server.port}"


def test_promql_range_query_with_functions(uri):
    table = unistore.read(uri, query=f"sum by (site) ({METRIC})", start=START, end=END, step="5m")
    assert table.column_names == ["timestamp", "site", "value"]
    assert table.num_rows == 3 * 12  # 60 minutes at 5 m steps, per site
    first = table.filter(pa.compute.equal(table.column("timestamp"), pa.scalar(START, table.schema.field(0).type)))
    assert sorted(first.column("value").to_pylist()) == [sample_value(s, 1_000) for s in range(3)]


def test_instant_query_at_end(uri):
    table = unistore.read(uri, query=METRIC, end=START)
    assert table.num_rows == 3
    assert set(table.column("timestamp").to_pylist()) == {START}
    record = unistore.provenance_of(table)
    assert record.snapshot.kind == "prometheus.instant" and record.snapshot.pins["time"] == "2024-01-01T16:40:00Z"


def test_label_filters_become_matchers_and_the_rest_is_applied_after(uri):
    table = unistore.read(uri, METRIC, start=START, end=END, step=INTERVAL,
                          filter=[("site", "in", ["a", "c"]), ("value", ">", 0)])
    # site a is negative over this hour, b is not asked for: only c is left
    assert set(table.column("site").to_pylist()) == {"c"} and table.num_rows == 60
    assert min(table.column("value").to_pylist()) > 0
    record = unistore.provenance_of(table)
    assert record.query.text == f'{METRIC}{{site=~"a|c"}}'
    assert record.query.pushed_down["label_matchers"] == {"site": 'site=~"a|c"'}


def test_columns_and_limit(uri):
    table = unistore.read(uri, METRIC, start=START, end=END, step=INTERVAL, columns=["site", "value"], limit=7)
    assert table.column_names == ["site", "value"] and table.num_rows == 7


def test_splitting_is_invisible_whatever_the_slice_size(uri):
    whole = unistore.read(uri, METRIC, start=START, end=END, step=INTERVAL)
    for max_points in (2, 7, 59):
        split = unistore.read(uri, METRIC, start=START, end=END, step=INTERVAL, max_points=max_points)
        assert unistore.provenance_of(split).query.pushed_down["requests"] == -(-60 // max_points)
        assert unistore.provenance_of(split).result.fingerprint == unistore.provenance_of(whole).result.fingerprint


def test_partitions_cut_on_evaluation_points_whatever_the_alignment(uri):
    """A start between samples and a step that does not divide the range: each point is evaluated once, as in one query."""
    window = {"start": START + dt.timedelta(seconds=30), "end": END, "step": "7m"}
    whole = unistore.read(uri, METRIC, **window)
    parted = unistore.read(uri, METRIC, partitions=4, **window)
    order = [("site", "ascending"), ("timestamp", "ascending")]
    assert parted.sort_by(order).equals(whole.sort_by(order)) and whole.num_rows == 3 * 9
    plan = unistore.provenance_of(parted).query.pushed_down["plan"]
    assert plan["method"] == "time slices" and len(plan["splits"]) == 4
    bounds = [(s["covers"]["start"], s["covers"]["end"]) for s in plan["splits"]]
    assert bounds[0][0] == "2024-01-01T16:40:30Z" and bounds[-1][1] == "2024-01-01T17:40:00Z"
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))  # adjacent, half-open
    assert unistore.provenance_of(parted).query.params == unistore.provenance_of(whole).query.params


def test_no_more_slices_than_evaluation_points_and_max_points_still_applies_per_slice(uri):
    few = unistore.read(uri, METRIC, start=START, end=START + 2 * INTERVAL, step=INTERVAL, partitions=5)
    assert len(unistore.provenance_of(few).query.pushed_down["plan"]["splits"]) == 2 and few.num_rows == 6
    parted = unistore.read(uri, METRIC, start=START, end=END, step=INTERVAL, partitions=2, max_points=7)
    record = unistore.provenance_of(parted)
    assert record.query.pushed_down["requests"] == 2 * 5 and parted.num_rows == 3 * 60


def test_query_instant_and_wide_reads_are_one_split(uri):
    window = {"start": START, "end": END, "step": "5m", "partitions": 3}
    for table in (unistore.read(uri, query=f"sum by (site) ({METRIC})", **window),
                  unistore.read(uri, METRIC, shape="wide", **window),
                  unistore.read(uri, query=METRIC, end=START, partitions=3)):
        plan = unistore.provenance_of(table).query.pushed_down["plan"]
        assert len(plan["splits"]) == 1 and table.num_rows > 0


def test_a_metric_read_returns_its_label_columns_even_where_the_range_lacks_one(victoria_metrics):
    """Every slice of a plan has the same columns: the labels the server lists for the metric, as schema() says."""
    uri = f"prometheus://127.0.0.1:{victoria_metrics.port}"
    ms = int(T0.timestamp() * 1000)
    lines = [{"metric": {"__name__": "sparse_temp", "site": "a"}, "values": [1.0, 2.0], "timestamps": [ms, ms + 60_000]},
             {"metric": {"__name__": "sparse_temp", "site": "b", "rack": "r1"}, "values": [3.0],
              "timestamps": [ms + 20 * 60_000]}]
    http("POST", victoria_metrics.url + "/api/v1/import", "\n".join(json.dumps(line) for line in lines).encode())
    vm_flush(victoria_metrics)
    window = {"start": T0, "end": T0 + 2 * INTERVAL, "step": INTERVAL}  # rack only appears later
    whole, parted = unistore.read(uri, "sparse_temp", **window), unistore.read(uri, "sparse_temp", partitions=2, **window)
    assert whole.column_names == parted.column_names == ["timestamp", "__name__", "rack", "site", "value"]
    assert whole.column("rack").null_count == whole.num_rows == 2
    assert unistore.provenance_of(parted).result.fingerprint == unistore.provenance_of(whole).result.fingerprint


def test_listing_and_schema(uri):
    with unistore.source(uri) as src:
        assert METRIC in src.tables()
        assert src.schema(METRIC).names == ["timestamp", "__name__", "site", "value"]


def test_unknown_metric_and_unknown_label(uri):
    with pytest.raises(unistore.SourceNotFoundError):
        unistore.read(uri, "no_such_metric", start=START, end=END, step=INTERVAL)
    with pytest.raises(unistore.BadSpecError, match="nope"):
        unistore.read(uri, METRIC, start=START, end=END, step=INTERVAL, filter=[("nope", "==", "x")])


def test_bad_promql_is_a_query_error_with_the_servers_message(uri):
    with pytest.raises(unistore.QueryError) as info:
        unistore.read(uri, query="sum(temp{site=", start=START, end=END, step=INTERVAL)
    assert "sum(temp{site=" in str(info.value) or "unexpected" in str(info.value).lower()


def test_range_read_needs_a_step_and_a_step_needs_a_range(uri):
    with pytest.raises(unistore.BadSpecError, match="step"):
        unistore.read(uri, METRIC, start=START, end=END)
    with pytest.raises(unistore.BadSpecError, match="give start"):
        unistore.read(uri, METRIC, end=END, step="1m")


def test_late_samples_are_drift(victoria_metrics):
    uri = f"prometheus://127.0.0.1:{victoria_metrics.port}"
    metric = "late_temp"
    base = series_table().slice(0, 50)
    vm_import(victoria_metrics, base, metric=metric)
    table = unistore.read(uri, metric, start=T0, end=T0 + 50 * INTERVAL, step=INTERVAL)
    assert table.num_rows == 50
    assert unistore.replay(table).num_rows == 50
    late = pa.table({"timestamp": pa.array([T0 + 10 * INTERVAL], pa.timestamp("ms", "UTC")),
                     "site": ["z"], "value": [1.0]})
    vm_import(victoria_metrics, late, metric=metric)
    with pytest.raises(unistore.DriftError) as info:
        unistore.replay(table)
    assert "fingerprint" in info.value.differences and "rows" in info.value.differences


@pytest.mark.parametrize("kwargs, fragment", [
    ({"step": "-5m"}, "step"),
    ({"step": "5 parsecs"}, "duration"),
    ({"step": 0}, "positive"),
    ({"shape": "tall"}, "shape"),
    ({"as_of": 3}, "end="),
    ({"params": {"x": 1}}, "parameters"),
])
def test_bad_spec(victoria_metrics, kwargs, fragment):
    uri = f"prometheus://127.0.0.1:{victoria_metrics.port}"
    opts = {"start": START, "end": END, "step": INTERVAL, **kwargs}
    query = {"query": METRIC} if "params" in kwargs else {}
    with pytest.raises(unistore.BadSpecError, match=fragment):
        unistore.read(uri, None if query else METRIC, **query, **opts)


def test_bad_open_options():
    with pytest.raises(unistore.BadSpecError, match="max_points"):
        unistore.read("prometheus://127.0.0.1:9", query="up", max_points=1)
    with pytest.raises(unistore.BadSpecError, match="timeout"):
        unistore.read("prometheus://127.0.0.1:9", query="up", timeout=0)

