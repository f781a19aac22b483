"""Delta Lake and Iceberg: as_of by version / snapshot id / time, exact replay, errors."""

from __future__ import annotations

import datetime as dt
import time

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from pyiceberg.catalog.sql import SqlCatalog

import unistore
from reference import TABLE, without_metadata


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@pytest.fixture
def delta_versions(tmp_path):
    """A Delta table with versions 0 (rows 1-20), 1 (+ rows 21-40), 2 (overwritten with rows 41-60)."""
    path = str(tmp_path / "events")
    write_deltalake(path, TABLE.slice(0, 20))
    time.sleep(0.05)
    between = _utc_now()
    time.sleep(0.05)
    write_deltalake(path, TABLE.slice(20, 20), mode="append")
    write_deltalake(path, TABLE.slice(40), mode="overwrite")
    return f"delta://{path}", between


def test_delta_reads_the_latest_version_and_records_it(delta_versions):
    uri, _ = delta_versions
    table = unistore.read(uri)
    assert sorted(table.column("id").to_pylist()) == list(range(41, 61))
    record = unistore.provenance_of(table)
    assert (record.snapshot.kind, record.snapshot.value, record.snapshot.replayable) == ("delta.version", 2, True)
    assert record.source.system == "delta" and record.source.namespace == "file"


def test_delta_as_of_version_and_time(delta_versions):
    uri, between = delta_versions
    assert unistore.read(uri, as_of=0).num_rows == 20
    assert unistore.read(uri, as_of=1).num_rows == 40
    at_time = unistore.read(uri, as_of=between)
    assert at_time.num_rows == 20 and unistore.provenance_of(at_time).snapshot.value == 0
    assert unistore.read(uri, as_of=between.isoformat()).num_rows == 20


def test_delta_as_of_errors(delta_versions):
    uri, _ = delta_versions
    with pytest.raises(unistore.SnapshotUnavailableError):
        unistore.read(uri, as_of=99)
    with pytest.raises(unistore.SnapshotUnavailableError, match="younger"):
        unistore.read(uri, as_of=dt.datetime(2000, 1, 1))
    with pytest.raises(unistore.BadSpecError):
        unistore.read(uri, as_of="not a time")


def test_delta_replay_is_time_travel_and_pushdown_is_recorded(delta_versions, tmp_path):
    uri, _ = delta_versions
    path = uri[len("delta://"):]
    table = unistore.read(uri, columns=["id", "amount"], filter=[("amount", ">", 30)])
    write_deltalake(path, TABLE, mode="overwrite")
    assert DeltaTable(path).version() == 3
    again = unistore.replay(table)
    assert without_metadata(again).equals(without_metadata(table))
    record = unistore.provenance_of(table)
    assert record.query.pushed_down["filter"] and "version 2" in record.query.text


def test_delta_missing_table(tmp_path):
    with pytest.raises(unistore.SourceNotFoundError):
        unistore.read(f"delta://{tmp_path}/nothing")


@pytest.fixture
def iceberg_snapshots(tmp_path):
    catalog = SqlCatalog("default", uri=f"sqlite:///{tmp_path}/catalog.db", warehouse=f"file://{tmp_path}/wh")
    catalog.create_namespace("shop")
    tbl = catalog.create_table("shop.events", schema=TABLE.schema)
    tbl.append(TABLE.slice(0, 20))
    first = tbl.current_snapshot().snapshot_id
    time.sleep(0.05)
    between = _utc_now()
    time.sleep(0.05)
    tbl.append(TABLE.slice(20))
    return f"iceberg://{tmp_path}/catalog.db", first, between, tbl


def test_iceberg_as_of_snapshot_id_and_time(iceberg_snapshots):
    uri, first, between, tbl = iceberg_snapshots
    assert unistore.read(uri, "shop.events").num_rows == 60
    old = unistore.read(uri, "shop.events", as_of=first)
    assert old.num_rows == 20
    record = unistore.provenance_of(old)
    assert (record.snapshot.kind, record.snapshot.value) == ("iceberg.snapshot_id", first)
    assert unistore.read(uri, "shop.events", as_of=between).num_rows == 20
    with pytest.raises(unistore.SnapshotUnavailableError):
        unistore.read(uri, "shop.events", as_of=12345)
    with pytest.raises(unistore.SnapshotUnavailableError):
        unistore.read(uri, "shop.events", as_of=dt.datetime(2000, 1, 1))


def test_iceberg_replay_after_overwrite_and_filter_pushdown(iceberg_snapshots):
    uri, _, _, tbl = iceberg_snapshots
    table = unistore.read(uri, "shop.events", columns=["kind", "id"], filter=[("kind", "in", ["a", "b"])])
    assert table.column_names == ["kind", "id"]
    tbl.overwrite(TABLE.slice(0, 3))
    again = unistore.replay(table)
    assert without_metadata(again).equals(without_metadata(table))
    assert unistore.provenance_of(table).query.pushed_down["filter"] is True


def test_iceberg_listing_and_missing_things(iceberg_snapshots, tmp_path):
    uri, *_ = iceberg_snapshots
    with unistore.source(uri) as src:
        assert src.tables() == ["shop.events"]
        assert src.schema("shop.events") == TABLE.schema
    with pytest.raises(unistore.SourceNotFoundError):
        unistore.read(uri, "shop.nothing")
    with pytest.raises(unistore.SourceNotFoundError):
        unistore.read(f"iceberg://{tmp_path}/no-catalog.db", "shop.events")


def test_streamed_iceberg_batches_have_the_plain_arrow_types(iceberg_snapshots):
    uri, *_ = iceberg_snapshots
    with unistore.scan(uri, "shop.events", batch_size=7) as reader:
        batches = list(reader)
    assert all(b.schema.field("kind").type == pa.string() for b in batches)
    assert sum(b.num_rows for b in batches) == 60


# -- read plans: splits pinned to one version / snapshot -------------------------------------

def _splits_read(uri: str, max_splits: int, change, table: str | None = None, **read_options):
    """Plan a read, ``change`` the table, then read every split (shipped through pickle): the plan and the rows."""
    import pickle

    with unistore.source(uri) as src:
        spec = unistore.ReadSpec.build(table, **read_options)
        with src.connection.plan(spec, max_splits) as plan:
            change()
            parts = []
            for split in plan.splits:
                scan = src.connection.scan_split(spec, pickle.loads(pickle.dumps(split)))
                assert scan.snapshot == plan.snapshot
                parts.append(pa.Table.from_batches(list(scan.batches), schema=scan.schema))
    return plan, pa.concat_tables(parts)


def test_delta_splits_read_the_planned_version_by_data_file(tmp_path):
    path = str(tmp_path / "events")
    for start in range(0, 60, 15):  # version 3: four data files
        write_deltalake(path, TABLE.slice(start, 15), mode="append")
    plan, rows = _splits_read(f"delta://{path}", 2, lambda: write_deltalake(path, TABLE.slice(0, 5), mode="overwrite"))
    assert (plan.method, plan.snapshot.value, plan.consistent, len(plan.splits)) == ("data files", 3, True, 2)
    assert sum(len(s.covers["files"]) for s in plan.splits) == 4 and [s.rows for s in plan.splits] == [30, 30]
    assert without_metadata(rows).sort_by("id").equals(TABLE)


def test_delta_plan_prunes_partitions_and_cuts_a_lone_file_by_row_groups(tmp_path):
    from deltalake import WriterProperties

    path = str(tmp_path / "events")
    parted = TABLE.append_column("half", pa.array([i // 30 for i in range(60)], pa.int32()))
    write_deltalake(path, parted, partition_by=["half"], writer_properties=WriterProperties(max_row_group_size=10))
    plan, rows = _splits_read(f"delta://{path}", 3, lambda: None, filter=[("half", "==", 1)])
    assert plan.method == "parquet row groups" and len(plan.splits) == 3
    assert all(f.startswith("half=1/") for s in plan.splits for f in s.covers["files"])
    assert sorted(rows.column("id").to_pylist()) == list(range(31, 61))


def test_iceberg_splits_read_the_planned_snapshot(iceberg_snapshots):
    uri, first, _, tbl = iceberg_snapshots
    current = tbl.current_snapshot().snapshot_id
    plan, rows = _splits_read(uri, 2, lambda: tbl.append(TABLE.slice(0, 7)), table="shop.events")
    assert (plan.method, plan.snapshot.value, plan.consistent) == ("data files", current, True)
    assert len(plan.splits) == 2 and all(s.covers["files"][0].startswith("data/") for s in plan.splits)
    assert without_metadata(rows).sort_by("id").equals(TABLE)
    assert unistore.read(uri, "shop.events", partitions=2).num_rows == 67  # a new plan sees the append
