"""The time-series part of the conformance suite: one series set, loaded into every store, the same assertions.

Stores are those of tests/stores/ with the ``timeseries`` trait: today
VictoriaMetrics and Prometheus (PromQL over HTTP), InfluxDB 1.x (InfluxQL),
ArcticDB (embedded, optional extra), and a DuckDB table and a Parquet file
read with ``time_column=``. Each store's :class:`~stores.SeriesCase` knows how
to read a range; results are brought to the common long form
(timestamp[ms, UTC], site, value), so the comparison itself is store-blind.
Read plans (``partitions=``) are checked here for these stores, as
test_plans.py checks them on the reference table.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import pickle

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import unistore
from stores.timeseries import INTERVAL, N_POINTS, SITES, T0, T_END, series_table

TIME = pa.timestamp("ms", "UTC")


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


# -- the assertions ------------------------------------------------------------------------------

START = T0 + 100 * INTERVAL
END = T0 + 400 * INTERVAL


def test_long_shape_returns_the_stored_samples_of_the_range(series):
    table = series.read(START, END)
    assert table.schema.field("value").type == pa.float64()
    ttype = table.schema.field("timestamp" if "timestamp" in table.column_names else "time").type
    assert pa.types.is_timestamp(ttype) and ttype.tz == "UTC"
    assert normalise_long(table).equals(expected_long(START, END))


def test_wide_shape_has_one_column_per_series(series):
    if "time_column" in series.options:
        # a plain table has no notion of which columns are labels and which values: refused clearly
        with pytest.raises(unistore.BadSpecError, match="shape='wide' needs a time-series store"):
            series.read(START, END, shape="wide")
        return
    table = series.read(START, END, shape="wide")
    assert table.num_columns == 1 + len(SITES)
    assert wide_by_site(table, series.wide_prefix).equals(expected_wide(START, END))


def test_start_is_inclusive_and_end_exclusive(series):
    table = normalise_long(series.read(START, START + 3 * INTERVAL))
    times = sorted(set(table.column("timestamp").to_pylist()))
    assert times == [START, START + INTERVAL, START + 2 * INTERVAL]


@pytest.mark.parametrize("zone", [dt.timezone(dt.timedelta(hours=2)), dt.timezone(dt.timedelta(hours=-5, minutes=-30))])
def test_bounds_in_any_time_zone_mean_the_same_instants(series, zone):
    utc_read = normalise_long(series.read(START, END))
    zoned = normalise_long(series.read(START.astimezone(zone), END.astimezone(zone).isoformat()))
    assert zoned.equals(utc_read)


def test_naive_bounds_are_taken_as_utc(series):
    naive = normalise_long(series.read(START.replace(tzinfo=None), END.replace(tzinfo=None)))
    assert naive.equals(expected_long(START, END))


def test_the_whole_series_beyond_the_points_limit_reads_in_one_call(series):
    """12,500 points per series: Prometheus-API reads are split below 11,000, invisibly."""
    table = series.read(T0, T_END)
    assert table.num_rows == N_POINTS * len(SITES)
    assert normalise_long(table).equals(expected_long(T0, T_END))
    if series.evaluates:
        assert unistore.provenance_of(table).query.pushed_down["requests"] >= 2


def test_same_fingerprint_for_the_same_range(series):
    a, b = series.read(START, END), series.read(START, END)
    assert unistore.provenance_of(a).result.fingerprint == unistore.provenance_of(b).result.fingerprint


def test_snapshot_records_the_range_and_replay_returns_the_same(series):
    table = series.read(START, END)
    record = unistore.provenance_of(table)
    assert record.result.rows == table.num_rows > 0
    again = unistore.replay(table)
    assert unistore.provenance_of(again).result.fingerprint == record.result.fingerprint


def test_bad_time_spec_is_refused_before_anything_is_sent(series):
    with pytest.raises(unistore.BadSpecError, match="after start"):
        series.read(END, START)
    with pytest.raises(unistore.BadSpecError, match="ISO-8601"):
        series.read("yesterday", END)
    with pytest.raises(unistore.BadSpecError, match="shape"):
        series.read(START, END, shape="tall")


def test_time_column_is_only_for_tables(series):
    if "time_column" in series.options:
        with pytest.raises(unistore.BadSpecError, match="time_column"):
            unistore.read(series.uri, series.table, time_column="value", start=START)
        with pytest.raises(unistore.BadSpecError, match="need time_column"):
            unistore.read(series.uri, series.table, start=START)
    else:
        with pytest.raises(unistore.BadSpecError, match="time_column"):
            series.read(START, END, time_column="timestamp")


@pytest.mark.needs("secret")
def test_secrets_never_appear_in_records_or_errors(series):
    table = dataclasses.replace(series, uri=series.secret_uri).read(START + 900 * INTERVAL, START + 960 * INTERVAL)
    assert series.secret not in unistore.provenance_of(table).to_json()
    with pytest.raises(unistore.UnistoreError) as info:
        series.failing_with_secret.read()
    assert series.secret not in str(info.value)


# -- read plans: time slices (Prometheus, InfluxDB), row ranges (ArcticDB), whatever the others cut ----------------

@pytest.mark.parametrize("start, end", [(START, END), (T0, T_END)], ids=["hours", "whole-series"])
def test_partitions_return_what_one_piece_returns(series, start, end):
    whole, parted = series.read(start, end), series.read(start, end, partitions=3)
    assert normalise_long(parted).equals(normalise_long(whole))
    record, plain = unistore.provenance_of(parted), unistore.provenance_of(whole)
    assert record.result.fingerprint == plain.result.fingerprint and record.result.rows == plain.result.rows
    assert record.snapshot.kind == plain.snapshot.kind and record.snapshot.value == plain.snapshot.value
    plan = record.query.pushed_down["plan"]
    assert plan["consistency"] and isinstance(plan["consistent"], bool)
    if _splits(series):
        assert len(plan["splits"]) > 1
        assert sum(s["rows"] for s in plan["splits"]) == record.result.rows


def test_pickled_splits_read_one_by_one_cover_each_sample_exactly_once(series):
    options = {**series.options, **({"step": INTERVAL} if series.evaluates else {})}
    with unistore.source(series.uri) as src:
        spec = src.spec(series.table, start=START, end=END, **options)
        with src.connection.plan(spec, 3) as plan:
            keys = []
            for split in plan.splits:
                scan = src.connection.scan_split(spec, pickle.loads(pickle.dumps(split)))
                try:
                    if plan.snapshot is not None:
                        assert scan.snapshot == plan.snapshot, "a split read another state than the plan pinned"
                    table = normalise_long(pa.Table.from_batches(list(scan.batches), schema=scan.schema))
                finally:
                    if scan.close is not None:
                        scan.close()
                keys += zip(table.column("site").to_pylist(), table.column("timestamp").to_pylist())
    assert len(keys) == len(set(keys)), "a sample was read by two splits"
    expected = expected_long(START, END)
    assert sorted(keys) == sorted(zip(expected.column("site").to_pylist(), expected.column("timestamp").to_pylist()))
    if _splits(series):
        assert len(plan.splits) > 1 and plan.method != "whole read"


def test_every_split_of_a_read_without_end_reads_the_state_the_plan_pinned(series):
    """Without end= a time-series store's as-of bound is "now": captured once, when the read is planned."""
    options = {**series.options, **({"step": "1d"} if series.evaluates else {})}
    with unistore.source(series.uri) as src:
        spec = src.spec(series.table, start=T0, **options)
        with src.connection.plan(spec, 3) as plan:
            snapshots = []
            for split in plan.splits:
                scan = src.connection.scan_split(spec, split)
                snapshots.append(scan.snapshot)
                if scan.close is not None:
                    scan.close()
    if plan.snapshot is not None:
        assert all(s == plan.snapshot for s in snapshots)
    if _splits(series):
        assert len(plan.splits) > 1


def _splits(series) -> bool:
    """Whether the store's connection declares that it cuts reads into several splits."""
    with unistore.source(series.uri) as src:
        return src.connection.capabilities.splits
