"""The adapter conformance suite: the same data and the same assertions for every store.

Stores come from tests/stores/; a test marked ``needs(...)`` runs only on
stores with those abilities (the adapter's declared capabilities plus the
fixture's traits), and, with ``otherwise=Error``, checks that every other store
refuses the same read with exactly that error. Nothing here names a store.
"""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest

import unistore
from reference import FILTER_CASES, N_ROWS, TABLE, expected_ids, without_metadata


def read(case, **kwargs):
    return unistore.read(case.uri, case.table, **{**case.options, **kwargs})


def by_id(table: pa.Table) -> pa.Table:
    return without_metadata(table).sort_by("id")


def raw_query(case) -> str:
    """The case's query returning every row; a store without queries gets one it must refuse."""
    return case.query or "SELECT * FROM events"


#: what a store that takes no raw query must raise for query= (before anything is sent)
NO_QUERIES = unistore.BadSpecError


# -- rows, types, columns ---------------------------------------------------

def test_full_read_returns_reference_rows_and_types(case):
    table = read(case)
    assert without_metadata(table).schema == case.expected.schema
    assert by_id(table).equals(case.expected.sort_by("id"))


@pytest.mark.needs("ordered")
def test_rows_come_back_in_stored_order(case):
    assert read(case).column("id").to_pylist() == list(range(1, N_ROWS + 1))


def test_columns_are_projected_in_the_requested_order(case):
    table = read(case, columns=["kind", "id"])
    assert table.column_names == ["kind", "id"]
    assert by_id(table).equals(case.expected.select(["kind", "id"]).sort_by("id"))


@pytest.mark.parametrize("name", list(FILTER_CASES))
def test_filter_selects_the_same_rows_everywhere(case, name):
    given, dnf = FILTER_CASES[name]
    table = read(case, filter=given)
    assert sorted(table.column("id").to_pylist()) == expected_ids(dnf)
    assert without_metadata(table).schema == case.expected.schema


def test_filter_on_a_column_not_projected(case):
    table = read(case, columns=["id"], filter=[("amount", ">", 10)])
    assert table.column_names == ["id"]
    assert sorted(table.column("id").to_pylist()) == expected_ids([[("amount", ">", 10)]])


@pytest.mark.parametrize("limit", [0, 1, 5, N_ROWS + 10])
def test_limit(case, limit):
    table = read(case, limit=limit)
    assert table.num_rows == min(limit, N_ROWS)
    assert without_metadata(table).schema == case.expected.schema


def test_limit_applies_after_the_filter(case):
    matching = expected_ids([[("amount", ">", 10)]])
    table = read(case, filter=[("amount", ">", 10)], limit=3)
    assert table.num_rows == 3 and set(table.column("id").to_pylist()) <= set(matching)


# -- streaming ------------------------------------------------------------------

def test_scan_streams_batches_and_completes_provenance(case):
    with unistore.scan(case.uri, case.table, batch_size=7, **case.options) as reader:
        assert isinstance(reader, pa.RecordBatchReader)
        before = unistore.provenance_of(reader)
        assert before.result.complete is False
        batches = list(reader)
    assert sum(b.num_rows for b in batches) == N_ROWS
    assert max(b.num_rows for b in batches) <= 7 and len(batches) >= N_ROWS // 7
    after = unistore.provenance_of(reader)
    assert after.result.complete and after.result.rows == N_ROWS
    assert after.result.fingerprint == unistore.provenance_of(read(case)).result.fingerprint


def test_a_stream_closed_early_is_recorded_as_incomplete(case):
    reader = unistore.scan(case.uri, case.table, batch_size=7, **case.options)
    next(iter(reader))
    reader.close()
    record = unistore.provenance_of(reader)
    assert record.result.complete is False


class _Events:
    def __init__(self):
        self.events = []

    def emit(self, event):
        self.events.append(event)


def test_leaving_a_stream_early_ends_the_read_at_once(case):
    """Leaving ``with`` releases the store and reports an incomplete read (ABORT) at once, not at gc."""
    import gc

    from unistore import lineage
    from unistore.lineage.openlineage import end_state

    sink = lineage.add_sink(_Events())
    gc.disable()
    try:
        with unistore.scan(case.uri, case.table, batch_size=7, **case.options) as reader:
            next(iter(reader))
        read_id = unistore.provenance_of(reader).read_id
        [event] = [e for e in sink.events if e.record is not None and e.record.read_id == read_id]
        assert event.record.result.complete is False
        assert end_state(None, event.record.to_dict()) == "ABORT"
    finally:
        gc.enable()
        lineage.remove_sink(sink)


@pytest.mark.needs("queries", otherwise=NO_QUERIES)
@pytest.mark.parametrize("statement", [
    'SELECT 1 AS "--"; DELETE FROM events',
    "SELECT '--' AS a; DELETE FROM events",
    "EXPLAIN SELECT * FROM events",
])
def test_a_second_statement_hidden_behind_quotes_is_refused(case, statement):
    before = unistore.provenance_of(read(case)).result.fingerprint
    with pytest.raises(unistore.ReadOnlyError):
        unistore.read(case.uri, query=statement, **case.options)
    assert unistore.provenance_of(read(case)).result.fingerprint == before


# -- provenance -------------------------------------------------------------------

def test_provenance_record_fields(case):
    table = read(case)
    record = unistore.provenance_of(table)
    data = json.loads(table.schema.metadata[b"unistore.provenance"])
    assert data == json.loads(json.dumps(record.to_dict(), default=str))
    assert set(data) >= {"version", "read_id", "read_at", "unistore", "source", "snapshot", "query", "result", "parents"}
    assert data["version"] == 2 and data["unistore"] == unistore.__version__
    assert data["read_at"].endswith("Z")
    src = data["source"]
    assert src["system"] and src["namespace"] and src["name"] and src["uri"]
    snap = data["snapshot"]
    assert snap["kind"] and snap["value"] is not None
    assert isinstance(snap["consistent"], bool) and isinstance(snap["replayable"], bool)
    assert data["query"]["language"] and data["query"]["text"]
    result = data["result"]
    assert result["rows"] == N_ROWS and result["complete"] is True and result["bytes"] > 0
    assert result["fingerprint"] == unistore.fingerprint(without_metadata(table))
    assert result["fingerprint"].startswith("ms128v2:")
    assert set(result["columns"]) == set(table.column_names) and len(result["lanes"]) == 32
    for f in table.schema:
        assert f.metadata[b"unistore.read"] == data["read_id"].encode()
        assert unistore.provenance_of(f).read_id == data["read_id"]


def test_each_read_gets_its_own_id_but_the_same_fingerprint(case):
    a, b = unistore.provenance_of(read(case)), unistore.provenance_of(read(case))
    assert a.read_id != b.read_id
    assert a.result.fingerprint == b.result.fingerprint
    # server-wide snapshots (PostgreSQL xids, binlog positions) move with any other commit on the
    # server, so only the kind is certain to match; the values are checked by the replay tests
    assert a.snapshot.kind == b.snapshot.kind


@pytest.mark.needs("exact_types", "ordered")
def test_fingerprint_equals_the_reference_fingerprint(case):
    """Stores returning the same Arrow types and values agree on the fingerprint."""
    assert unistore.provenance_of(read(case)).result.fingerprint == unistore.fingerprint(TABLE)


def test_filter_and_pushdown_are_recorded(case):
    record = unistore.provenance_of(read(case, columns=["id"], filter=[("amount", ">", 10)]))
    assert record.query.columns == ["id"]
    assert record.query.filter == "amount > 10"
    assert "filter" in record.query.pushed_down


# -- replay and drift ------------------------------------------------------------

def test_replay_of_unchanged_data_returns_the_same_table(case):
    table = read(case, filter=[("amount", ">", 0)], columns=["id", "amount"])
    again = unistore.replay(table, **({} if "://" not in case.uri else {}))
    assert by_id(again).equals(by_id(table))
    assert unistore.provenance_of(again).parents == [unistore.provenance_of(table).read_id]


@pytest.mark.needs("mutable")
def test_replay_after_a_change_reports_drift_or_returns_the_pinned_data(fresh_case, loader):
    from conftest import store_abilities

    table = unistore.read(fresh_case.uri, fresh_case.table, **fresh_case.options)
    fresh_case.mutate()
    if store_abilities(loader.name) & {"replay_exact", "versioned"}:
        assert by_id(unistore.replay(table, **_replay_options(fresh_case))).equals(by_id(table))
    else:
        with pytest.raises(unistore.DriftError) as info:
            unistore.replay(table, **_replay_options(fresh_case))
        assert "fingerprint" in info.value.differences


def _replay_options(case):
    return {"uri": case.secret_uri} if case.secret_uri else {}


# -- raw queries -----------------------------------------------------------------

@pytest.mark.needs("queries", "params", otherwise=NO_QUERIES)
def test_raw_query_with_parameters(case):
    table = unistore.read(case.uri, query=raw_query(case) + " WHERE id <= :top", params={"top": 4}, **case.options)
    assert sorted(table.column("id").to_pylist()) == [1, 2, 3, 4]


@pytest.mark.needs("queries", "params", otherwise=NO_QUERIES)
def test_colons_inside_quoted_literals_are_not_parameters(case):
    table = unistore.read(case.uri, query=raw_query(case) + " WHERE kind <> 'x:1' AND id <= :top", params={"top": 3},
                          **case.options)
    assert sorted(table.column("id").to_pylist()) == [1, 2, 3]


@pytest.mark.needs("queries", otherwise=NO_QUERIES)
def test_raw_query_narrowed_by_columns_filter_and_limit(case):
    table = unistore.read(case.uri, query=raw_query(case), columns=["id"], filter=[("kind", "==", "a")], limit=100,
                          **case.options)
    assert sorted(table.column("id").to_pylist()) == expected_ids([[("kind", "==", "a")]])


@pytest.mark.needs("queries", otherwise=NO_QUERIES)
@pytest.mark.parametrize("statement", [
    "DELETE FROM events", "DROP TABLE events", "UPDATE events SET amount = 0",
    "INSERT INTO events (id) VALUES (999)", "SELECT 1; DELETE FROM events",
    "WITH gone AS (DELETE FROM events RETURNING *) SELECT * FROM gone",
    "CREATE TABLE stolen AS SELECT * FROM events",
])
def test_write_statements_are_refused_and_change_nothing(case, statement):
    before = unistore.provenance_of(read(case)).result.fingerprint
    with pytest.raises(unistore.ReadOnlyError):
        unistore.read(case.uri, query=statement, **case.options)
    assert unistore.provenance_of(read(case)).result.fingerprint == before


# -- pinned reads ------------------------------------------------------------------

@pytest.mark.needs("as_of", otherwise=unistore.SnapshotUnavailableError)
def test_a_read_pinned_as_of_now_returns_the_current_rows(case):
    table = read(case, as_of=dt.datetime.now(dt.timezone.utc))
    assert by_id(table).equals(case.expected.sort_by("id"))


# -- discovery ---------------------------------------------------------------------

@pytest.mark.needs("listing")
def test_source_lists_and_describes_the_table(case):
    with unistore.source(case.uri, **case.options) as src:
        names = src.tables()
        assert names, "a source lists what it holds"
        assert src.schema(case.table) == case.expected.schema
        # the same source object serves several reads
        assert src.read(case.table, limit=2).num_rows == 2
        assert src.read(case.table, columns=["id"]).num_rows == N_ROWS


# -- bad input: typed errors, before anything is sent ----------------------------------

@pytest.mark.parametrize("kwargs, fragment", [
    ({"columns": ["nope"]}, "nope"),
    ({"filter": [("nope", "==", 1)]}, "nope"),
    ({"filter": [("id", "~", 1)]}, "operator"),
    ({"filter": [("id", "==", None)]}, "is null"),
    ({"limit": -1}, "limit"),
    ({"columns": "id"}, "list"),
    ({"no_such_option": 1}, "no_such_option"),
])
def test_bad_input_is_a_typed_error(case, kwargs, fragment):
    with pytest.raises(unistore.BadSpecError, match=fragment):
        read(case, **kwargs)


def test_missing_table_is_source_not_found(case):
    missing = "no_such_table" if case.table is not None else None
    uri = case.uri if case.table is not None else case.uri + ".missing"
    with pytest.raises(unistore.SourceNotFoundError):
        unistore.read(uri, missing, **case.options)


@pytest.mark.needs("secret")
def test_secrets_never_appear_in_records_or_errors(case):
    table = unistore.read(case.secret_uri, case.table, **case.options)
    record = unistore.provenance_of(table)
    assert case.secret not in record.to_json()
    assert case.secret not in table.schema.metadata[b"unistore.provenance"].decode()
    with pytest.raises(unistore.UnistoreError) as info:
        unistore.read(case.secret_uri, "no_such_table_xyz", **case.options)
    assert case.secret not in str(info.value)


# -- fingerprints describe content, not order (issue 9, finding 1) -------------------

def test_same_rows_shuffled_give_the_same_fingerprint(case, loader, request):
    """The same rows loaded in another order read back with the same fingerprint on every store."""
    import random

    order = list(range(TABLE.num_rows))
    random.Random(9).shuffle(order)
    shuffled = TABLE.take(order)
    name = "t_shuffled_" + str(abs(hash(request.node.nodeid)) % 10**6)
    other = loader.load(name, shuffled)
    assert unistore.provenance_of(read(other)).result.fingerprint == unistore.provenance_of(read(case)).result.fingerprint
