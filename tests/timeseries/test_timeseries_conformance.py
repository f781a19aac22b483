"""The time-series conformance part: one series set, loaded into every store, the same assertions.

Stores: VictoriaMetrics and Prometheus (PromQL over HTTP), InfluxDB 1.x
(InfluxQL), ArcticDB (embedded, optional extra), and a DuckDB table and a
Parquet file read with ``time_column=``. Each store case knows how to read a
range and how to bring its result to the common long form
(timestamp[ms, UTC], site, value), so the comparison itself is store-blind.
"""

from __future__ import annotations

import datetime as dt
import gc
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import unistore
from stores import missing_store
from stores.timeseries import INTERVAL, METRIC, N_POINTS, SITES, T0, T_END, series_table

TIME = pa.timestamp("ms", "UTC")


@dataclass
class TSCase:
    """How to read the common series from one store."""

    name: str
    uri: str
    table: str | None
    options: dict[str, Any] = field(default_factory=dict)
    #: the store evaluates series at a step (PromQL) rather than returning stored samples
    evaluates: bool = False
    wide_prefix: str = ""

    def read(self, start: Any, end: Any, *, shape: str = "long", **kwargs: Any) -> pa.Table:
        opts = {**self.options, **kwargs}
        if self.evaluates:
            opts.setdefault("step", INTERVAL)
        return unistore.read(self.uri, self.table, start=start, end=end, shape=shape, **opts)


def normalise_long(table: pa.Table) -> pa.Table:
    """timestamp[ms, UTC], site, value, sorted by site then time: the form every store is compared in."""
    time_col = "timestamp" if "timestamp" in table.column_names else "time"
    out = pa.table({
        "timestamp": table.column(time_col).cast(TIME),
        "site": table.column("site").cast(pa.string()),
        "value": table.column("value").cast(pa.float64()),
    })
    return out.sort_by([("site", "ascending"), ("timestamp", "ascending")])


def expected_long(start: dt.datetime, end: dt.datetime) -> pa.Table:
    t = series_table()
    mask = pc.and_(pc.greater_equal(t.column("timestamp"), pa.scalar(start, TIME)),
                   pc.less(t.column("timestamp"), pa.scalar(end, TIME)))
    return normalise_long(t.filter(mask))


def wide_by_site(table: pa.Table, prefix: str) -> pa.Table:
    """A wide result with its series columns renamed to the site they hold."""
    names = ["timestamp"]
    for n in table.column_names[1:]:
        assert n.startswith(prefix + "{site=") or n.startswith("{site="), n
        names.append(n.split('site="', 1)[1].split('"', 1)[0])
    out = table.rename_columns(names)
    return out.set_column(0, "timestamp", out.column(0).cast(TIME)).select(["timestamp", *SITES])


def expected_wide(start: dt.datetime, end: dt.datetime) -> pa.Table:
    long = expected_long(start, end)
    base = None
    for site in SITES:
        part = long.filter(pc.equal(long.column("site"), site)).select(["timestamp", "value"]).rename_columns(
            ["timestamp", site])
        base = part if base is None else base.join(part, "timestamp", join_type="full outer")
    assert base is not None
    return base.sort_by("timestamp").select(["timestamp", *SITES])


# -- store cases -------------------------------------------------------------------------------

CASES = ["victoria-metrics", "prometheus", "influxdb", "arcticdb", "duckdb", "parquet"]


@pytest.fixture(scope="session")
def _embedded_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ts-embedded")
    table = series_table()
    pq.write_table(table, folder / "temp.parquet", row_group_size=5000)
    con = duckdb.connect(str(folder / "metrics.duckdb"))
    con.register("incoming", table)
    con.execute("CREATE TABLE temp AS SELECT * FROM incoming")
    con.close()
    return folder


@pytest.fixture(params=CASES)
def ts_case(request) -> TSCase:
    name = request.param
    if name == "victoria-metrics":
        server = request.getfixturevalue("victoria_metrics")
        return TSCase(name, f"prometheus://127.0.0.1:{server.port}", METRIC, evaluates=True, wide_prefix=METRIC)
    if name == "prometheus":
        server = request.getfixturevalue("prometheus_server")
        return TSCase(name, f"prometheus://127.0.0.1:{server.port}", METRIC, evaluates=True, wide_prefix=METRIC)
    if name == "influxdb":
        from stores.timeseries import INFLUX_DB

        server = request.getfixturevalue("influxdb_server")
        return TSCase(name, f"influxdb://127.0.0.1:{server.port}/{INFLUX_DB}", METRIC, wide_prefix=METRIC)
    if name == "arcticdb":
        return request.getfixturevalue("arctic_ts_case")
    folder = request.getfixturevalue("_embedded_files")
    if name == "duckdb":
        return TSCase(name, f"duckdb:///{folder}/metrics.duckdb", "temp", {"time_column": "timestamp"})
    return TSCase(name, str(folder / "temp.parquet"), None, {"time_column": "timestamp"})


@pytest.fixture(scope="session")
def arctic_ts_case(tmp_path_factory) -> TSCase:
    try:
        import arcticdb
    except ImportError:
        missing_store("ArcticDB (optional extra unistore[arcticdb])")
    path = tmp_path_factory.mktemp("arctic-ts")
    writer = arcticdb.Arctic(f"lmdb://{path}")
    frame = series_table().sort_by([("timestamp", "ascending"), ("site", "ascending")]).to_pandas().set_index("timestamp")
    writer.get_library("metrics", create_if_missing=True).write(METRIC, frame)
    del writer  # LMDB: one Arctic per path and process; unistore opens its own for the reads
    gc.collect()
    return TSCase("arcticdb", f"arcticdb+lmdb://{path}?library=metrics", METRIC, {"labels": ["site"]},
                  wide_prefix=METRIC)


# -- the assertions ------------------------------------------------------------------------------

START = T0 + 100 * INTERVAL
END = T0 + 400 * INTERVAL


def test_long_shape_returns_the_stored_samples_of_the_range(ts_case):
    table = ts_case.read(START, END)
    assert table.schema.field("value").type == pa.float64()
    ttype = table.schema.field("timestamp" if "timestamp" in table.column_names else "time").type
    assert pa.types.is_timestamp(ttype) and ttype.tz == "UTC"
    assert normalise_long(table).equals(expected_long(START, END))


def test_wide_shape_has_one_column_per_series(ts_case):
    if "time_column" in ts_case.options:
        # a plain table has no notion of which columns are labels and which values: refused clearly
        with pytest.raises(unistore.BadSpecError, match="shape='wide' needs a time-series store"):
            ts_case.read(START, END, shape="wide")
        return
    table = ts_case.read(START, END, shape="wide")
    assert table.num_columns == 1 + len(SITES)
    assert wide_by_site(table, ts_case.wide_prefix).equals(expected_wide(START, END))


def test_start_is_inclusive_and_end_exclusive(ts_case):
    table = normalise_long(ts_case.read(START, START + 3 * INTERVAL))
    times = sorted(set(table.column("timestamp").to_pylist()))
    assert times == [START, START + INTERVAL, START + 2 * INTERVAL]


@pytest.mark.parametrize("zone", [dt.timezone(dt.timedelta(hours=2)), dt.timezone(dt.timedelta(hours=-5, minutes=-30))])
def test_bounds_in_any_time_zone_mean_the_same_instants(ts_case, zone):
    utc_read = normalise_long(ts_case.read(START, END))
    zoned = normalise_long(ts_case.read(START.astimezone(zone), END.astimezone(zone).isoformat()))
    assert zoned.equals(utc_read)


def test_naive_bounds_are_taken_as_utc(ts_case):
    naive = normalise_long(ts_case.read(START.replace(tzinfo=None), END.replace(tzinfo=None)))
    assert naive.equals(expected_long(START, END))


def test_the_whole_series_beyond_the_points_limit_reads_in_one_call(ts_case):
    """12,500 points per series: Prometheus-API reads are split below 11,000, invisibly."""
    table = ts_case.read(T0, T_END)
    assert table.num_rows == N_POINTS * len(SITES)
    assert normalise_long(table).equals(expected_long(T0, T_END))
    if ts_case.evaluates:
        assert unistore.provenance_of(table).snapshot.pins["slices"] >= 2


def test_same_fingerprint_for_the_same_range(ts_case):
    a, b = ts_case.read(START, END), ts_case.read(START, END)
    assert unistore.provenance_of(a).result.fingerprint == unistore.provenance_of(b).result.fingerprint


def test_snapshot_records_the_range_and_replay_returns_the_same(ts_case):
    table = ts_case.read(START, END)
    record = unistore.provenance_of(table)
    assert record.result.rows == table.num_rows > 0
    again = unistore.replay(table)
    assert unistore.provenance_of(again).result.fingerprint == record.result.fingerprint


def test_bad_time_spec_is_refused_before_anything_is_sent(ts_case):
    with pytest.raises(unistore.BadSpecError, match="after start"):
        ts_case.read(END, START)
    with pytest.raises(unistore.BadSpecError, match="ISO-8601"):
        ts_case.read("yesterday", END)
    with pytest.raises(unistore.BadSpecError, match="shape"):
        ts_case.read(START, END, shape="tall")





def test_time_column_is_only_for_tables(ts_case):
    if "time_column" in ts_case.options:
        with pytest.raises(unistore.BadSpecError, match="time_column"):
            unistore.read(ts_case.uri, ts_case.table, time_column="value", start=START)
        with pytest.raises(unistore.BadSpecError, match="need time_column"):
            unistore.read(ts_case.uri, ts_case.table, start=START)
    else:
        with pytest.raises(unistore.BadSpecError, match="time_column"):
            ts_case.read(START, END, time_column="timestamp")
