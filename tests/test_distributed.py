"""Distributed reads on Ray Data, Dask and PyTorch: every row exactly once, one record, one snapshot.

The engines run for real: a local Ray instance (``ray.init(num_cpus=2)``), a
``distributed.LocalCluster`` of two worker processes, a PyTorch ``DataLoader``
with two worker processes and a simulated world size of two. The stores are
PostgreSQL, Parquet on the S3 test server, Delta and a time-series store; the
union of what the workers read must equal the single-process read (same
fingerprint, no key twice).
"""

from __future__ import annotations

import os
import sys

import pyarrow as pa
import pytest
import ray  # the ray and dask extras are installed by scripts/install.sh
from distributed import Client, LocalCluster

import unistore
import unistore.dask
import unistore.ray
from reference import N_ROWS, without_metadata

#: PyTorch's CPU build is not on PyPI: where the machine's package sources lack it, scripts/install.sh leaves
#: torch out rather than pull several GB of CUDA libraries (UNISTORE_TORCH=pypi installs PyPI's wheel anyway)
NO_TORCH = "torch is not installed: scripts/install.sh found no CPU build of PyTorch (set UNISTORE_TORCH=pypi)"


#: written by scripts/install.sh when it left torch out on purpose; only then may the torch tests skip
TORCH_LEFT_OUT = os.path.join(sys.prefix, "unistore-torch-left-out")


def torch_and_dataset():
    """PyTorch and unistore.torch; skipped (with the reason above) only where install.sh chose to leave it out."""
    if os.path.exists(TORCH_LEFT_OUT):
        pytest.skip(NO_TORCH)
    import torch

    import unistore.torch

    return torch, unistore.torch

STORES = pytest.mark.stores("postgresql", "s3-parquet", "delta")


@pytest.fixture(scope="module")
def ray_local(moto_s3):
    """A local Ray instance; its workers inherit the S3 test server's environment, like a deployment's."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {k: v for k, v in os.environ.items() if k.startswith("AWS_")}})
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def dask_cluster(moto_s3):
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        yield client


def whole(case, **kwargs):
    return unistore.provenance_of(unistore.read(case.uri, case.table, **{**case.options, **kwargs}))


def check_union(case, table: pa.Table, record, **kwargs):
    """Every row exactly once, and the combined record equals the single-process read's."""
    ids = table.column("id").to_pylist()
    assert len(ids) == len(set(ids)) == N_ROWS, "a row was lost or read twice"
    single = whole(case, **kwargs)
    assert record.result.rows == N_ROWS and record.result.complete
    assert record.result.fingerprint == single.result.fingerprint
    assert record.source == single.source
    plan = record.query.pushed_down["plan"]
    assert sum(s["rows"] for s in plan["splits"]) == N_ROWS


@STORES
def test_ray_dataset_is_the_single_process_read(case, ray_local, lineage_events):
    ds = unistore.ray.read(case.uri, case.table, splits=3, **case.options)
    table = pa.concat_tables([without_metadata(t) for t in ray.get(ds.to_arrow_refs())])
    record = unistore.provenance_of(ds)
    check_union(case, table, record)
    assert len(record.query.pushed_down["plan"]["splits"]) > 1
    assert [e.record.read_id for e in lineage_events if e.record and e.record.read_id == record.read_id] == \
        [record.read_id], "the distributed read is reported once, not once per task"
    assert unistore.provenance_of(ds) is not None  # asking again reports nothing more
    assert sum(1 for e in lineage_events if e.record and e.record.read_id == record.read_id) == 1


@STORES
def test_ray_projection_is_pushed_to_every_split(case, ray_local):
    ds = unistore.ray.read(case.uri, case.table, splits=3, **case.options).select_columns(["id", "kind"])
    table = pa.concat_tables(ray.get(ds.to_arrow_refs()))
    assert table.column_names == ["id", "kind"]
    record = unistore.provenance_of(ds)
    assert record.query.columns == ["id", "kind"]
    check_union(case, table, record, columns=["id", "kind"])


@STORES
def test_dask_frame_is_the_single_process_read(case, dask_cluster):
    frame = unistore.dask.read(case.uri, case.table, splits=3, **case.options)
    assert frame.npartitions > 1
    assert str(frame.dtypes["id"]).endswith("[pyarrow]")  # Arrow-backed dtypes: the read's own types
    table = pa.Table.from_pandas(frame.compute(), preserve_index=False)
    record = unistore.provenance_of(frame)
    check_union(case, table, record)
    assert len({s["pid"] for s in record.query.pushed_down["plan"]["splits"]}) >= 1


@STORES
def test_torch_loader_reads_every_row_once_across_workers_and_ranks(case):
    torch, _ = torch_and_dataset()
    rows: list[int] = []
    records = []
    for rank in range(2):
        data = unistore.torch.IterableDataset(case.uri, case.table, columns=["id", "amount"], batch_size=7,
                                              rank=rank, world_size=2, splits=4, format="arrow", **case.options)
        # spawn, not fork: deltalake's runtime cannot survive a fork (docs/training.md)
        loader = torch.utils.data.DataLoader(data, batch_size=None, num_workers=2, multiprocessing_context="spawn")
        rows += [i for batch in loader for i in batch.column("id").to_pylist()]
        records.append(unistore.provenance_of(data))
    assert sorted(rows) == list(range(1, N_ROWS + 1)), "every row exactly once per epoch across all consumers"
    assert sum(r.result.rows for r in records) == N_ROWS
    from unistore.fingerprint import combine

    both = combine(r.result.digest() for r in records)
    assert both.fingerprint == whole(case, columns=["id", "amount"]).result.fingerprint


def test_torch_tensors_shuffle_and_epochs(tmp_path):
    torch, _ = torch_and_dataset()
    import pyarrow.parquet as pq

    for i in range(4):
        pq.write_table(pa.table({"x": pa.array(range(i * 50, i * 50 + 50), pa.int64()),
                                 "y": pa.array([float(v) for v in range(50)])}), tmp_path / f"p{i}.parquet")
    data = unistore.torch.IterableDataset(str(tmp_path), batch_size=16, shuffle_buffer=40, seed=7, splits=4)
    loader = torch.utils.data.DataLoader(data, batch_size=None, num_workers=2)
    first = [int(v) for b in loader for v in b["x"]]
    assert isinstance(next(iter(loader))["y"], torch.Tensor)
    again = [int(v) for b in loader for v in b["x"]]
    data.set_epoch(1)
    other = [int(v) for b in loader for v in b["x"]]
    assert sorted(first) == sorted(other) == list(range(200))
    assert first == again, "the same seed and epoch give the same order"
    assert first != other, "another epoch gives another order"
    assert first != sorted(first), "rows are shuffled"
    record = unistore.provenance_of(data)
    assert record.result.fingerprint == unistore.provenance_of(unistore.read(str(tmp_path))).result.fingerprint


def test_a_worker_killed_mid_split_is_retried_and_the_result_is_exact(tmp_path, ray_local):
    marker = tmp_path / "died"
    ds = unistore.ray.read(f"counter-split://1000?die_once={marker}", "numbers", splits=4)
    table = pa.concat_tables(ray.get(ds.to_arrow_refs()))
    assert marker.exists(), "the worker reading split 1 was killed once"
    values = table.column("n").to_pylist()
    assert sorted(values) == list(range(1000))
    record = unistore.provenance_of(ds)
    assert record.result.fingerprint == unistore.provenance_of(
        unistore.read("counter-split://1000", "numbers")).result.fingerprint


@pytest.mark.stores("postgresql")
def test_a_concurrent_writer_does_not_reach_a_distributed_postgresql_read(fresh_case, ray_local):
    """The planner's exported snapshot pins every split: rows written after planning are not read."""
    import psycopg

    before = whole(fresh_case)
    ds = unistore.ray.read(fresh_case.uri, fresh_case.table, splits=3)
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as con:
        con.execute(f'UPDATE "{fresh_case.table}" SET amount = coalesce(amount, 0) + 1')
        con.execute(f'DELETE FROM "{fresh_case.table}" WHERE id = 3')
    table = pa.concat_tables(ray.get(ds.to_arrow_refs()))
    record = unistore.provenance_of(ds)
    assert table.num_rows == N_ROWS and record.result.fingerprint == before.result.fingerprint
    assert record.query.pushed_down["plan"]["consistent"] is True
    assert whole(fresh_case).result.fingerprint != before.result.fingerprint  # the writer did commit


def test_a_distributed_read_inside_a_run_is_in_its_manifest(tmp_path, ray_local):
    with unistore.run("train", manifest=False) as run:
        ds = unistore.ray.read("counter-split://100", "numbers", splits=2)
        assert len(ds.take_all()) == 100  # count() would answer from the plan without reading
    (record,) = run.inputs
    assert record.result.rows == 100 and record.query.pushed_down["plan"]["method"] == "ranges of n"


def test_splits_argument_is_checked():
    with pytest.raises(unistore.BadSpecError, match="splits"):
        unistore.ray.read("counter-split://10", "numbers", splits=0)
    with pytest.raises(unistore.BadSpecError, match="splits="):
        unistore.dask.read("counter-split://10", "numbers", partitions=2)


def test_no_credential_in_a_task_repr():
    from unistore.distributed import DistributedRead

    planned = DistributedRead("counter-split://10?token=SxTaskSecret9", "numbers", splits=2)
    try:
        assert all("SxTaskSecret9" not in repr(t) for t in planned.tasks)
    finally:
        planned.close()



def test_the_training_page_examples_run(tmp_path, monkeypatch, ray_local):
    torch_and_dataset()  # the page's PyTorch examples
    from docs_examples import run_examples

    monkeypatch.chdir(tmp_path)
    run_examples("training.md", at_least=6)


@pytest.mark.stores("postgresql")
def test_a_frame_derived_from_a_dask_read_keeps_its_snapshot(case):
    """The plan (and PostgreSQL's exported snapshot) lives as long as any frame built on the read."""
    import gc

    total = unistore.dask.read(case.uri, case.table, splits=2)["id"].sum()  # the read's own frame is gone
    gc.collect()
    assert int(total.compute(scheduler="sync")) == sum(range(1, N_ROWS + 1))


@pytest.fixture
def lazy_splits(monkeypatch):
    """``counter-split://`` splits whose batches (10 rows each) are made only when taken; the list says which."""
    from unistore_example_adapter import SplitCounterSource

    produced: list[tuple[int, int]] = []  # (split, first value of the batch), in the order they were made
    closed: list[int] = []  # splits whose batches were abandoned before their end
    scan_split = SplitCounterSource.scan_split

    def lazily(self, spec, split):
        scan = scan_split(self, spec, split)
        whole = pa.Table.from_batches(list(scan.batches), schema=scan.schema)

        def batches():
            try:
                for batch in whole.to_batches(max_chunksize=10):
                    produced.append((split.index, batch.column(0)[0].as_py()))
                    yield batch
            except GeneratorExit:
                closed.append(split.index)
                raise

        scan.batches = batches()
        return scan

    monkeypatch.setattr(SplitCounterSource, "scan_split", lazily)
    return produced, closed


@pytest.mark.parametrize("shuffle_buffer", [0, 30])
def test_a_torch_worker_yields_a_split_as_its_batches_arrive(lazy_splits, shuffle_buffer):
    """A worker holds about one batch (plus the shuffle buffer), never a whole split; the record is the same."""
    torch_and_dataset()
    produced, closed = lazy_splits
    data = unistore.torch.IterableDataset("counter-split://1000", "numbers", batch_size=10, splits=2,
                                          shuffle_buffer=shuffle_buffer, seed=3, format="arrow")
    items = iter(data)
    next(items)
    assert 0 < len(produced) <= 5, "the first rows come out before the split's other 45+ batches are read"
    rows = [v for batch in items for v in batch.column("n").to_pylist()]
    assert len(produced) == 100 and len(rows) == 990
    record = unistore.provenance_of(data)
    assert record.result.rows == 1000 and [s["rows"] for s in record.query.pushed_down["plan"]["splits"]] == [500] * 2
    assert record.result.fingerprint == unistore.provenance_of(
        unistore.read("counter-split://1000", "numbers")).result.fingerprint
    assert closed == []

    produced.clear()
    items = iter(data)
    next(items)
    items.close()  # the consumer stops mid-split: the store is released now, and no part is recorded
    assert closed == [produced[0][0]] and len(produced) <= 5


def test_a_ray_read_task_yields_a_split_as_its_batches_arrive(lazy_splits, ray_local):
    """Ray gets the split's batches as they are read (it gathers them into blocks), then its part of the record."""
    from unistore.distributed import DistributedRead

    produced, _ = lazy_splits
    planned = DistributedRead("counter-split://1000", "numbers", splits=2)
    try:
        parts = unistore.ray._Parts.remote()
        blocks = unistore.ray._read_split(planned.tasks[1], parts)
        first = next(blocks)
        assert first.column("n").to_pylist() == list(range(500, 510))
        assert len(produced) == 1, "the first block comes out before the split's other batches are read"
        assert ray.get(parts.get.remote()) == []
        assert sum(b.num_rows for b in blocks) == 490
        (part,) = ray.get(parts.get.remote())
        assert part["index"] == 1 and part["record"]["result"]["rows"] == 500
    finally:
        planned.close()
