"""The ArcticDB adapter (optional extra, BUSL-1.1) on LMDB: versions, as_of, exact replay, pushdown."""

from __future__ import annotations

import datetime as dt
import os
import time

import pyarrow as pa
import pytest

import unistore

from stores import IN_CI

try:
    import arcticdb
    import pandas as pd
except ImportError:
    if IN_CI:  # CI installs the extra: ArcticDB missing there is a failure, not a skip
        raise
    pytest.skip("ArcticDB is an optional extra: pip install 'unistore[arcticdb]'", allow_module_level=True)

UTC = dt.timezone.utc
T0 = dt.datetime(2024, 3, 1, tzinfo=UTC)


def frame(n: int = 100, bump: float = 0.0):
    index = pd.date_range(T0, periods=n, freq="min", tz="UTC", name="timestamp")
    return pd.DataFrame({"site": ["a", "b"] * (n // 2), "value": [i * 0.5 + bump for i in range(n)]}, index=index)


@pytest.fixture
def store(tmp_path):
    """The test writes through its own Arctic and hands the same one to unistore (LMDB: one per path)."""
    ac = arcticdb.Arctic(f"lmdb://{tmp_path}")
    lib = ac.get_library("lib", create_if_missing=True)
    lib.write("temp", frame())
    return Store(f"arcticdb+lmdb://{tmp_path}?library=lib", lib, ac)


class Store:
    def __init__(self, uri: str, lib, arctic):
        self.uri, self.lib, self.arctic = uri, lib, arctic

    def read(self, *args, **kwargs):
        return unistore.read(self.uri, *args, arctic=self.arctic, **kwargs)

    def replay(self, table):
        return unistore.replay(table, arctic=self.arctic)


def test_symbol_reads_as_a_table_with_its_time_index(store):
    table = store.read("temp")
    assert table.schema.names == ["timestamp", "site", "value"]
    assert table.schema.field("timestamp").type == pa.timestamp("ns", "UTC")
    assert table.schema.field("site").type == pa.string() and table.num_rows == 100
    record = unistore.provenance_of(table)
    assert record.snapshot.kind == "arcticdb.version" and record.snapshot.value == 0 and record.snapshot.replayable
    assert record.source.name == "lib.temp"


def test_date_range_and_columns_are_pushed_down(store):
    table = store.read("temp", start=T0 + dt.timedelta(minutes=10), end=T0 + dt.timedelta(minutes=20),
                          columns=["value"])
    assert table.column_names == ["value"] and table.num_rows == 10
    assert table.column("value").to_pylist()[0] == 5.0
    pushed = unistore.provenance_of(table).query.pushed_down
    assert pushed["time_range"] and pushed["columns"]


def test_as_of_version_snapshot_name_and_time(store):
    lib = store.lib
    lib.snapshot("before")
    time.sleep(0.01)
    between = dt.datetime.now(UTC)
    time.sleep(0.01)
    lib.write("temp", frame(bump=100.0))
    latest = store.read("temp")
    assert latest.column("value")[0].as_py() == 100.0
    for as_of in (0, "before", between):
        old = store.read("temp", as_of=as_of)
        assert old.column("value")[0].as_py() == 0.0
        assert unistore.provenance_of(old).snapshot.value == 0
    with pytest.raises(unistore.SnapshotUnavailableError):
        store.read("temp", as_of=7)


def test_replay_reads_the_recorded_version_exactly(store):
    lib = store.lib
    table = store.read("temp", filter=[("site", "==", "a")])
    lib.write("temp", frame(bump=1.0))
    again = store.replay(table)  # version 0 again, although version 1 is the latest now
    assert again.column("value").to_pylist() == table.column("value").to_pylist()
    assert store.read("temp", filter=[("site", "==", "a")]).column("value")[0].as_py() == 1.0
    lib.prune_previous_versions("temp")
    with pytest.raises(unistore.SnapshotUnavailableError):
        store.replay(table)


def test_nan_comes_back_as_null_like_from_pandas(store):
    f = frame(4)
    f.loc[f.index[1], "value"] = float("nan")
    store.lib.write("gaps", f)
    table = store.read("gaps")
    assert table.column("value").to_pylist()[1] is None
    assert table.column("value").to_pylist() == pa.Table.from_pandas(f).column("value").to_pylist()


def test_plain_frames_and_listing(store):
    store.lib.write("plain", pd.DataFrame({"id": [1, 2, 3], "x": [1.5, 2.5, 3.5]}))
    assert store.read("plain", filter=[("id", ">", 1)]).column("id").to_pylist() == [2, 3]
    with pytest.raises(unistore.BadSpecError, match="no time index"):
        store.read("plain", start=T0)
    with unistore.source(store.uri, arctic=store.arctic) as src:
        assert src.tables() == ["plain", "temp"]
        assert src.schema("plain").names == ["id", "x"]


def test_missing_store_library_symbol(tmp_path, store):
    with pytest.raises(unistore.SourceNotFoundError):
        store.read("nope")
    with pytest.raises(unistore.SourceNotFoundError):
        unistore.read(store.uri.replace("library=lib", "library=other"), "temp", arctic=store.arctic)
    missing = tmp_path / "not-there"
    with pytest.raises(unistore.SourceNotFoundError):
        unistore.read(f"arcticdb+lmdb://{missing}?library=lib", "temp")
    assert not os.path.exists(missing), "a read never creates a store"


def test_bad_spec(store):
    with pytest.raises(unistore.BadSpecError, match="query language"):
        store.read(query="select 1")
    with pytest.raises(unistore.BadSpecError, match="library"):
        unistore.read(store.uri.split("?")[0], "temp")
    with pytest.raises(unistore.BadSpecError, match="nope"):
        store.read("temp", columns=["nope"])
    with pytest.raises(unistore.BadSpecError, match="step"):
        store.read("temp", start=T0, step="1m")
    with pytest.raises(unistore.BadSpecError, match="arctic="):
        unistore.read(store.uri, "temp", arctic="lmdb://elsewhere")


def test_partitions_read_row_ranges_of_one_version(store):
    whole = store.read("temp")
    parted = store.read("temp", partitions=3)
    assert parted.sort_by("timestamp").equals(whole)  # merged as the splits deliver them
    record = unistore.provenance_of(parted)
    assert record.result.fingerprint == unistore.provenance_of(whole).result.fingerprint
    plan = record.query.pushed_down["plan"]
    assert plan["method"] == "row ranges" and plan["consistent"] and "version 0" in plan["consistency"]
    assert [s["covers"]["rows"] for s in plan["splits"]] == [[0, 33], [33, 66], [66, None]]
    assert [s["rows_estimate"] for s in plan["splits"]] == [s["rows"] for s in plan["splits"]] == [33, 33, 34]


def test_partitions_of_a_time_window_count_rows_within_it(store):
    window = {"start": T0 + dt.timedelta(minutes=10), "end": T0 + dt.timedelta(minutes=40), "columns": ["value"]}
    whole, parted = store.read("temp", **window), store.read("temp", partitions=4, **window)
    assert parted.sort_by("value").equals(whole.sort_by("value")) and whole.num_rows == 30
    assert sum(s["rows"] for s in unistore.provenance_of(parted).query.pushed_down["plan"]["splits"]) == 30


def test_splits_read_the_version_pinned_at_plan_time(store):
    with unistore.source(store.uri, arctic=store.arctic) as src:
        spec = src.spec("temp")
        with src.connection.plan(spec, 2) as plan:
            store.lib.write("temp", frame(bump=100.0))  # a new version between planning and reading
            scans = [src.connection.scan_split(spec, split) for split in plan.splits]
    assert all(scan.snapshot == plan.snapshot for scan in scans) and plan.snapshot.value == 0
    values = [v for scan in scans for batch in scan.batches for v in batch.column("value").to_pylist()]
    assert sorted(values) == [i * 0.5 for i in range(100)]


def test_a_split_holding_only_missing_strings_keeps_the_string_type(store):
    f = frame(6)
    f["site"] = [None, None, "x", "y", None, "z"]
    store.lib.write("sparse", f)
    parted = store.read("sparse", partitions=3)
    assert parted.schema.field("site").type == pa.string()
    assert parted.sort_by("timestamp").column("site").to_pylist() == [None, None, "x", "y", None, "z"]
    with unistore.source(store.uri, arctic=store.arctic) as src:
        assert src.schema("sparse").field("site").type == pa.string()
