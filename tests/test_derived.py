"""A record describes exactly the data it is attached to (issue 9, finding 2).

Arrow keeps schema metadata through slice, filter, select, concat..., so a table
made from a read still carries the read's record; provenance_of must then give a
derived record (this table's own rows and fingerprint, the read as parent), and
replay must refuse it rather than return the parent's rows.
"""

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import unistore
from reference import N_ROWS, TABLE
from unistore.fingerprint import digest
from unistore.provenance import Provenance


@pytest.fixture
def read(tmp_path):
    path = tmp_path / "events.parquet"
    pq.write_table(TABLE, path)
    return unistore.read(str(path))


def _plain(t: pa.Table) -> pa.Table:
    return t.replace_schema_metadata(None)


DERIVATIONS = {
    "slice": lambda t: t.slice(3, 9),
    "filter": lambda t: t.filter(pc.greater(t["id"], 50)),
    "select": lambda t: t.select(["id", "kind"]),
    "concat": lambda t: pa.concat_tables([t, t.slice(0, 2)]),
    "append_column": lambda t: t.append_column("twice", pc.multiply(t["id"], 2)),
    "cast": lambda t: t.cast(t.schema.set(0, pa.field("id", pa.float64()))),
    "rename": lambda t: t.rename_columns(["ID"] + t.column_names[1:]).replace_schema_metadata(t.schema.metadata),
    "changed-value": lambda t: t.set_column(0, t.schema.field(0), pc.add(t["id"], 1)),
}


@pytest.mark.parametrize("name", list(DERIVATIONS))
def test_a_derived_table_gets_its_own_record_with_the_read_as_parent(read, name):
    parent = unistore.provenance_of(read)
    table = DERIVATIONS[name](read)
    assert table.schema.metadata[b"unistore.provenance"]  # Arrow kept the parent's record...
    record = unistore.provenance_of(table)  # ...but it is not this table's record
    assert record.derived and record.parents == [parent.read_id] and record.read_id != parent.read_id
    assert record.result.rows == table.num_rows
    assert record.result.fingerprint == unistore.fingerprint(_plain(table)) != parent.result.fingerprint
    assert record.parent is not None and record.parent.read_id == parent.read_id
    assert record.source == parent.source and record.snapshot == parent.snapshot
    assert unistore.provenance_of(table).read_id == record.read_id  # the same table, the same derived id


@pytest.mark.parametrize("same", [
    lambda t: t,
    lambda t: t.replace_schema_metadata(t.schema.metadata),
    lambda t: t.slice(0),
    lambda t: t.combine_chunks(),
    lambda t: t.sort_by([("id", "descending")]),  # the same multiset of rows: still what was read
], ids=["itself", "new-object", "whole-slice", "copied-buffers", "sorted"])
def test_the_same_rows_keep_the_reads_record(read, same):
    record = unistore.provenance_of(same(read))
    assert not record.derived and record.read_id == unistore.provenance_of(read).read_id


def test_a_sorted_table_is_derived_when_the_read_recorded_its_order(read):
    record = unistore.provenance_of(read)
    d = digest(_plain(read), ordered=True)
    record.result.ordered_fingerprint = d.ordered
    ordered = read.replace_schema_metadata({b"unistore.provenance": record.to_json().encode()})
    assert not unistore.provenance_of(ordered).derived
    assert unistore.provenance_of(ordered.sort_by([("id", "descending")])).derived


def test_a_filtered_table_written_to_parquet_and_read_back_is_derived(read, tmp_path):
    parent = unistore.provenance_of(read)
    pq.write_table(read.filter(pc.less(read["id"], 10)), tmp_path / "small.parquet")
    back = pq.read_table(tmp_path / "small.parquet")
    record = unistore.provenance_of(back)
    assert record.derived and record.parents == [parent.read_id] and record.result.rows == 9


def test_an_unchanged_table_written_to_parquet_keeps_its_record(read, tmp_path):
    pq.write_table(read, tmp_path / "copy.parquet")
    record = unistore.provenance_of(pq.read_table(tmp_path / "copy.parquet"))
    assert not record.derived and record.read_id == unistore.provenance_of(read).read_id


def test_a_derived_record_round_trips_through_json(read):
    record = unistore.provenance_of(read.slice(0, 5))
    again = Provenance.from_json(record.to_json())
    assert again.derived and again.parents == record.parents and again.result.fingerprint == record.result.fingerprint


def test_replay_of_a_derived_table_refuses_and_says_how(read):
    part = read.slice(0, 9)
    with pytest.raises(unistore.BadSpecError, match="derived from read .*parent"):
        unistore.replay(part)
    record = unistore.provenance_of(part)
    assert unistore.replay(record.parent).num_rows == N_ROWS  # the way the message names
    assert unistore.replay(record.parents[0]).num_rows == N_ROWS


def test_replay_by_unknown_read_id_is_a_clear_error():
    with pytest.raises(unistore.BadSpecError, match="no record of read"):
        unistore.replay("0190aaaa-0000-7000-8000-000000000000")


def test_a_reader_and_its_schema_give_the_reads_record(tmp_path):
    path = tmp_path / "e.parquet"
    pq.write_table(TABLE, path)
    with unistore.scan(str(path), batch_size=7) as reader:
        batches = list(reader)
    record = unistore.provenance_of(reader)
    assert not record.derived and record.result.rows == N_ROWS and len(batches) > 1


def test_the_returned_table_and_one_on_its_buffers_are_known_without_hashing(read, monkeypatch):
    """The table a read returned, or another table object on the same buffers, is judged by buffer identity
    (the returned table is held weakly, so its buffers are its own while it lives); other tables are hashed."""
    import unistore.provenance as P

    hashed = []
    real = P.table_digest
    monkeypatch.setattr(P, "table_digest", lambda data, **kw: hashed.append(data) or real(data, **kw))
    record = unistore.provenance_of(read)
    assert not record.derived and hashed == []
    same_buffers = pa.Table.from_batches(read.to_batches(), schema=read.schema)
    assert same_buffers is not read
    assert unistore.provenance_of(same_buffers).read_id == record.read_id and hashed == []
    copied = pa.Table.from_pylist(read.to_pylist(), schema=read.schema)  # equal rows, new buffers: hashed
    assert unistore.provenance_of(copied).read_id == record.read_id and len(hashed) == 1
    shifted = pa.concat_tables([read.slice(1), read.slice(0, 1)])  # same rows and count, other buffers
    assert unistore.provenance_of(shifted).read_id == record.read_id and len(hashed) == 2
