"""Read plans, the same assertions for every store: splits that pickle, cover every row exactly once, and
compose into the fingerprint of the whole read; ``partitions=N`` returns what one piece returns.

A store whose connection declares the ``splits`` capability must cut a read
into more than one split when asked; every other store plans one split, the
whole read. Time-series stores are checked in test_timeseries.py.
"""

from __future__ import annotations

import pickle

import pyarrow as pa
import pytest

import unistore
from reference import N_ROWS, without_metadata
from unistore.fingerprint import combine, digest


def read(case, **kwargs):
    return unistore.read(case.uri, case.table, **{**case.options, **kwargs})


def split_tables(case, max_splits: int, **spec_options):
    """Plan a full read, send every split through pickle, and read each on its own."""
    with unistore.source(case.uri, **{k: v for k, v in case.options.items() if k in _open_options(case)}) as src:
        connection = src.connection
        read_options = {k: v for k, v in case.options.items() if k not in _open_options(case)}
        spec = unistore.ReadSpec.build(case.table, **read_options, **spec_options)
        with connection.plan(spec, max_splits) as plan:
            assert 1 <= len(plan.splits) <= max_splits
            assert [s.index for s in plan.splits] == list(range(len(plan.splits)))
            tables = []
            for split in plan.splits:
                shipped = pickle.loads(pickle.dumps(split))
                scan = connection.scan_split(spec, shipped)
                try:
                    batches = [b for b in scan.batches if b.num_rows]
                    if scan.snapshot is not None and plan.snapshot is not None:
                        assert scan.snapshot == plan.snapshot, "a split read another state than the plan pinned"
                finally:
                    if scan.close is not None:
                        scan.close()
                tables.append(pa.Table.from_batches(batches, schema=scan.schema))
            return plan, tables


def _open_options(case) -> set[str]:
    from unistore import registry
    from unistore.location import Location

    return set(registry.get_adapter(Location.parse(case.uri).scheme).open_options)


@pytest.mark.parametrize("n", [1, 3])
def test_splits_pickle_and_cover_every_row_exactly_once(case, n):
    plan, tables = split_tables(case, n)
    ids = [i for t in tables for i in t.column("id").to_pylist()]
    assert sorted(ids) == list(range(1, N_ROWS + 1)), "rows missing or read twice across splits"
    assert pickle.loads(pickle.dumps(plan.splits)) == plan.splits


def test_split_digests_compose_into_the_fingerprint_of_the_whole_read(case):
    _, tables = split_tables(case, 3)
    whole = unistore.provenance_of(read(case)).result
    parts = [digest(without_metadata(t)) for t in tables]
    assert combine(parts).fingerprint == whole.fingerprint


@pytest.mark.needs("splits")
def test_a_store_that_can_split_does(case):
    plan, tables = split_tables(case, 3)
    assert len(plan.splits) > 1 and sum(1 for t in tables if t.num_rows) > 1
    assert plan.method != "whole read" and plan.consistency


@pytest.mark.parametrize("options", [{}, {"columns": ["kind", "id"], "filter": [("amount", ">", 10)]},
                                     {"batch_size": 7}])
def test_partitions_return_what_one_piece_returns(case, options):
    whole = read(case, **options)
    parted = read(case, partitions=3, **options)
    assert without_metadata(parted).sort_by("id").equals(without_metadata(whole).sort_by("id"))
    record, plain = unistore.provenance_of(parted), unistore.provenance_of(whole)
    assert record.result.fingerprint == plain.result.fingerprint
    assert record.result.rows == plain.result.rows and record.result.complete
    assert record.source == plain.source
    plan = record.query.pushed_down["plan"]
    assert plan["consistency"] and isinstance(plan["consistent"], bool)
    if len(plan["splits"]) > 1:
        assert sum(s["rows"] for s in plan["splits"]) >= record.result.rows  # the residual filter may drop rows


def test_a_partitioned_limit_returns_that_many_rows(case):
    assert read(case, partitions=3, limit=5).num_rows == 5


def test_a_partitioned_stream_left_early_is_incomplete_and_released(case):
    reader = unistore.scan(case.uri, case.table, batch_size=7, partitions=3, **case.options)
    assert next(iter(reader)).num_rows > 0
    reader.close()
    assert unistore.provenance_of(reader).result.complete is False
    # the store is free again: the next read of the same table completes
    assert read(case, partitions=3).num_rows == N_ROWS


@pytest.mark.parametrize("bad", [0, -1, 65, True, "2", 2.0])
def test_partitions_must_be_a_small_positive_integer(case, bad):
    with pytest.raises(unistore.BadSpecError, match="partitions"):
        read(case, partitions=bad)
