"""Data tests at read time on real stores: every check type passing and failing, the same results
whatever the batching or the split plan, typed errors before anything is sent, no secret in any output.

The reference table (tests/reference.py, 60 rows) is loaded into each store once; the expected
numbers below are counted from its definition, not from unistore.
"""

from __future__ import annotations

import datetime as dt
import json
import warnings

import pyarrow as pa
import pytest

import unistore
from unistore import checks as C
from reference import ROWS, TABLE

#: the stores the data tests run on (the brief's four, plus MariaDB): loaded through tests/stores fixtures
STORES = ["postgresql", "parquet", "sqlite", "duckdb", "mariadb"]
_loaded: dict[str, object] = {}

UTC = dt.timezone.utc
NOW = dt.datetime(2024, 1, 18, 6, 0, tzinfo=UTC)  # an hour after the newest ts_tz (2024-01-18 05:00)
ALL_KINDS = ["a", "b", "c", "a-x", "b-x", "c-x"]


@pytest.fixture(params=STORES)
def case(request):
    name = request.param
    if name not in _loaded:
        _loaded[name] = request.getfixturevalue("loader_" + name).load("checks_ref", TABLE)
    return _loaded[name]


def read(case, **kwargs):
    return unistore.read(case.uri, case.table, **{**case.options, **kwargs})


def ids(predicate) -> list[int]:
    return [r["id"] for r in ROWS if predicate(r)]


NULL_KIND = ids(lambda r: r["kind"] is None)
NEGATIVE = ids(lambda r: r["amount"] is not None and r["amount"] < 0)
X_KINDS = ids(lambda r: r["kind"] is not None and r["kind"].endswith("-x"))

#: check type -> (a check the reference table passes, a check it fails, what the failure must show)
CASES = {
    "not_null": (C.not_null("id"),
                 C.not_null("kind", key="id"),
                 {"observed": len(NULL_KIND), "failing_rows": len(NULL_KIND), "examples": NULL_KIND[:5]}),
    "unique": (C.unique("id"), C.unique("kind"),
               {"failing_rows": 60 - len(NULL_KIND), "examples": ["a", "a-x", "b", "b-x", "c"]}),
    "accepted_values": (C.accepted_values("kind", ALL_KINDS), C.accepted_values("kind", ["a", "b", "c"]),
                        {"observed": len(X_KINDS), "failing_rows": len(X_KINDS), "examples": ["a-x", "b-x", "c-x"]}),
    "between": (C.between("amount", -25, 50), C.between("amount", min=0, key="id"),
                {"failing_rows": len(NEGATIVE), "examples": NEGATIVE[:5],
                 "observed": {"min": -23.75, "max": 48.75, "outside": len(NEGATIVE)}}),
    "row_count": (C.row_count(60, 60), C.row_count(min=61), {"observed": 60, "failing_rows": None}),
    "freshness": (C.freshness("ts_tz", "2h", now=NOW), C.freshness("ts_tz", "30m", now=NOW),
                  {"observed": {"latest": "2024-01-18T05:00:00+00:00", "age_s": 3600.0}}),
    "schema": (C.schema({"id": "int64", "kind": pa.string(), "amount": "double"}), C.schema({"id": "int32"}),
               {"observed": {"missing": [], "mismatched": {"id": "int64"}, "extra": []}}),
    "relationships": (C.relationships("id", pa.table({"id": list(range(1, 61))})),
                      C.relationships("id", pa.table({"ref": list(range(1, 51))}), "ref"),
                      {"failing_rows": 10, "examples": [51, 52, 53, 54, 55]}),
    "expression": (C.expression("id BETWEEN 1 AND 60 AND (kind IS NULL OR length(kind) <= 3)"),
                   C.expression("amount >= 0", key="id"),
                   {"failing_rows": len(ids(lambda r: r["amount"] is None or r["amount"] < 0)),
                    "examples": [1, 2, 3, 4, 5]}),
}


def only(table: pa.Table) -> C.CheckResult:
    (result,) = unistore.provenance_of(table).checks
    return result


@pytest.mark.parametrize("kind", list(CASES))
def test_a_passing_check_passes_and_is_recorded(case, kind):
    passing, _, _ = CASES[kind]
    table = read(case, checks=[passing])
    result = only(table)
    assert (result.assertion, result.success, result.severity) == (kind, True, "error")
    assert result.failing_rows in (0, None) and result.examples == []
    assert table.num_rows == 60


@pytest.mark.parametrize("kind", list(CASES))
def test_a_failing_check_raises_with_its_counts_and_the_table(case, kind):
    _, failing, shows = CASES[kind]
    with pytest.raises(unistore.DataTestError) as info:
        read(case, checks=[failing])
    err = info.value
    (result,) = err.results
    assert (result.assertion, result.success) == (kind, False)
    for key, value in shows.items():
        assert getattr(result, key) == value, key
    assert err.table is not None and err.table.num_rows == 60  # nothing read is lost
    assert unistore.provenance_of(err.table).checks == [result]
    assert result.name in str(err)


@pytest.mark.parametrize("kind", list(CASES))
def test_a_failing_warn_check_warns_and_stays_in_the_record(case, kind):
    _, failing, _ = CASES[kind]
    warn = C.from_dict({**failing.to_dict(), "severity": "warn"}) if kind != "relationships" else \
        C.relationships("id", failing.to, "ref", severity="warn")
    with pytest.warns(unistore.DataTestWarning, match=kind):
        table = read(case, checks=[warn])
    result = only(table)
    assert (result.success, result.severity) == (False, "warn")


def _all_checks() -> list[C.Check]:
    out = []
    for kind, (passing, failing, _) in CASES.items():
        out.append(passing)
        out.append(C.from_dict({**failing.to_dict(), "severity": "warn", "name": f"failing {kind}"})
                   if kind != "relationships" else
                   C.relationships("id", failing.to, "ref", severity="warn", name="failing relationships"))
    return out


def _results(case, **kwargs) -> list[dict]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", unistore.DataTestWarning)
        table = read(case, checks=_all_checks(), **kwargs)
    return [r.to_dict() for r in unistore.provenance_of(table).checks]


def test_results_are_the_same_whatever_the_batching(case):
    whole = _results(case)
    assert len(whole) == 2 * len(CASES)
    assert sum(not r["success"] for r in whole) == len(CASES)
    for batch_size in (1, 7, 1_000_000):
        assert _results(case, batch_size=batch_size) == whole, batch_size


@pytest.mark.parametrize("partitions", [3])
def test_results_are_the_same_when_splits_arrive_in_any_order(case, partitions):
    assert _results(case, partitions=partitions, batch_size=5) == _results(case)


def test_a_stream_is_judged_at_its_end_and_keeps_its_type_through_the_reader(case):
    reader = unistore.scan(case.uri, case.table, checks=[C.not_null("kind", key="id"), C.unique("id")],
                           batch_size=7, **case.options)
    seen = 0
    with pytest.raises(unistore.DataTestError) as info:
        for batch in reader:
            seen += batch.num_rows
    assert seen == 60 and info.value.table is None
    assert [r.name for r in info.value.results] == ["not_null(kind)"]
    assert [r.success for r in unistore.provenance_of(reader).checks] == [False, True]


def test_a_stream_closed_early_records_no_verdict(case):
    with unistore.scan(case.uri, case.table, checks=[C.not_null("kind")], batch_size=5, **case.options) as r:
        r.read_next_batch()
    record = unistore.provenance_of(r)
    assert not record.result.complete and record.checks is None


def test_relationships_to_a_unistore_read_records_its_read_id(case):
    other = unistore.scan(case.uri, case.table, columns=["id"], **case.options)
    table = read(case, checks=[C.relationships("id", other)])
    result = only(table)
    assert result.success and result.observed["reference_read_id"] == unistore.provenance_of(other).read_id
    assert result.observed["reference_keys"] == 60


def test_relationships_to_a_location_reads_it_first():
    import os
    import tempfile

    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory() as root:
        pq.write_table(pa.table({"id": [1, 2, 3]}), os.path.join(root, "customers.parquet"))
        pq.write_table(pa.table({"customer": [1, 2, 2, 5, None]}), os.path.join(root, "orders.parquet"))
        with pytest.raises(unistore.DataTestError) as info:
            unistore.read(os.path.join(root, "orders.parquet"),
                          checks=[C.relationships("customer", os.path.join(root, "customers.parquet"), "id")])
    (result,) = info.value.results
    assert (result.failing_rows, result.examples) == (1, [5])
    assert result.observed["reference_read_id"] is not None


def test_checks_must_cover_the_projection_before_anything_is_sent(case):
    with pytest.raises(unistore.BadSpecError, match="columns= leaves out"):
        read(case, columns=["id"], checks=[C.not_null("kind")])
    with pytest.raises(unistore.BadSpecError, match="lacks"):
        read(case, checks=[C.not_null("no_such_column")])
    with pytest.raises(unistore.BadSpecError, match="cannot be evaluated"):
        read(case, checks=[C.expression("no_such_column > 1")])
    with pytest.raises(unistore.BadSpecError, match="do not fit"):
        read(case, checks=[C.between("amount", "not a number")])


@pytest.mark.parametrize("bad, match", [
    ({"not_null": {"columns": ["id"]}, "severity": "fatal"}, "severity"),
    ({"nonsense": {}}, "exactly one of"),
    ({"not_null": {"columns": ["id"]}, "unique": {"columns": ["id"]}}, "exactly one of"),
    ({"between": {"column": "amount"}}, "min=, max="),
    ({"row_count": {"min": -1}}, "non-negative"),
    ({"freshness": {"column": "ts", "max_age": "soon"}}, "max_age"),
    ({"expression": "1; DROP TABLE events"}, "one SQL expression"),
    ({"expression": "id IN (SELECT id FROM other)"}, "not a query"),
    ({"expression": "(SELECT count(*) FROM read_csv('/etc/passwd')) > 0"}, "not a query"),
    ({"accepted_values": {"column": "kind", "values": "abc"}}, "list of values"),
    ({"not_null": {"columns": ["id"], "colour": "red"}}, "bad parameters"),
    ({"unique": {"columns": ["id"]}, "key": "id"}, "no key"),
])
def test_bad_checks_are_refused_before_anything_is_sent(bad, match, tmp_path):
    import pyarrow.parquet as pq

    pq.write_table(TABLE, tmp_path / "t.parquet")
    with pytest.raises(unistore.BadSpecError, match=match):
        unistore.read(tmp_path / "t.parquet", checks=[bad])


def test_repeated_names_are_refused():
    with pytest.raises(unistore.BadSpecError, match="unique"):
        C.as_checks([C.not_null("id"), C.not_null(["kind", "id"])])


def test_every_check_round_trips_through_its_dict_form():
    for kind, (passing, failing, _) in CASES.items():
        for check in (passing, failing):
            data = json.loads(json.dumps(check.to_dict()))
            assert set(data) - {"severity", "name", "key"} == {kind}
            if kind != "relationships":  # a table does not round-trip; a URI does (below)
                assert C.from_dict(data) == check
    by_uri = C.relationships("customer", "postgresql://127.0.0.1/test", "id", table="customers")
    assert C.from_dict(by_uri.to_dict()) == by_uri


def test_secrets_never_reach_check_output(request, tmp_path):
    """Read through a URI with a password; a relationships check to another such URI; every output scanned."""
    case = request.getfixturevalue("loader_postgresql").load("checks_secret", TABLE)
    from unistore import lineage

    class Keep:
        def __init__(self):
            self.events = []

        def emit(self, event):
            self.events.append(event)

    sink = lineage.add_sink(Keep())
    try:
        checks = [C.not_null("kind", key="id"), C.relationships("id", case.secret_uri, table=case.table),
                  C.expression("amount >= 0", key="id")]
        with pytest.raises(unistore.DataTestError) as info:
            unistore.read(case.secret_uri, case.table, checks=checks)
    finally:
        lineage.remove_sink(sink)
    err = info.value
    record = unistore.provenance_of(err.table)
    texts = [str(err), repr(err.results), record.to_json(), json.dumps([c.to_dict() for c in checks]),
             repr(checks), *(e.record.to_json() for e in sink.events if e.record is not None)]
    for text in texts:
        assert case.secret not in text
    assert {r.name for r in record.checks} == {"not_null(kind)", "relationships(id)", "expression(amount >= 0)"}
    assert next(r for r in record.checks if r.assertion == "relationships").success


def test_evaluate_runs_checks_on_a_table_in_memory():
    results = C.evaluate(TABLE, [C.unique("id"), {"not_null": {"columns": ["kind"]}, "severity": "warn"}])
    assert [(r.name, r.success) for r in results] == [("unique(id)", True), ("not_null(kind)", False)]
    assert results[1].observed == len(NULL_KIND)


def test_unique_is_exact_for_strings_whose_hashes_collide_only_by_value():
    # many distinct strings, one duplicate pair across batches: exactly one duplicate value found
    values = [f"k{i}" for i in range(20_000)] + ["k123"]
    table = pa.table({"k": values})
    (result,) = C.evaluate(pa.Table.from_batches(table.to_batches(max_chunksize=999)), [C.unique("k")])
    assert (result.failing_rows, result.examples) == (2, ["k123"])
    assert result.observed["distinct"] == 20_000 and result.observed["memory_bytes"] > 0
    (compound,) = C.evaluate(pa.table({"a": [1, 1, 2, 2], "b": ["x", "y", "x", "x"]}), [C.unique(["a", "b"])])
    assert (compound.failing_rows, compound.examples) == (2, [[2, "x"]])


@pytest.mark.parametrize("ids, failing, examples", [
    (list(range(1, 1001)), 0, []),                       # strictly increasing: decided without sorting
    (list(range(1000, 0, -1)), 0, []),                   # decreasing: sorted
    ([3, 1, 2, 3, 5, 1, 1, None, None], 5, [1, 3]),      # nulls are not compared
])
def test_unique_on_integer_keys_in_any_arrival_order(ids, failing, examples):
    table = pa.table({"id": pa.array(ids, pa.int64()), "day": pa.array(ids, pa.int32()).cast(pa.date32())})
    for size in (1, 3, 1000):
        batched = pa.Table.from_batches(table.to_batches(max_chunksize=size))
        for column in ("id", "day"):
            (result,) = C.evaluate(batched, [C.unique(column)])
            assert (result.failing_rows, len(result.examples)) == (failing, len(examples)), (column, size)
        assert C.evaluate(batched, [C.unique("id")])[0].examples == examples


def test_a_source_handle_takes_checks_on_read_and_scan(tmp_path):
    import pyarrow.parquet as pq

    pq.write_table(TABLE, tmp_path / "events.parquet")
    with unistore.source(tmp_path) as src:
        table = src.read("events.parquet", checks=[C.unique("id"), {"row_count": {"min": 60, "max": 60}}])
        assert [r.success for r in unistore.provenance_of(table).checks] == [True, True]
        with pytest.raises(unistore.DataTestError):
            src.scan("events.parquet", checks=[C.not_null("kind")]).read_all()
        with pytest.raises(unistore.BadSpecError, match="columns= leaves out"):
            src.read("events.parquet", columns=["id"], checks=[C.not_null("kind")])


def test_tests_declared_under_a_column_take_it_from_there():
    assert C.from_dict("not_null", column="id") == C.not_null("id")
    assert C.from_dict({"unique": None, "severity": "warn"}, column="id") == C.unique("id", severity="warn")
    assert C.from_dict({"accepted_values": {"values": ["a"]}}, column="kind") == C.accepted_values("kind", ["a"])
    assert C.from_dict({"relationships": {"to": "customers", "field": "id"}}, column="customer") == \
        C.relationships("customer", "customers", "id")
    assert C.from_dict({"row_count": {"min": 1}}, column="id") == C.row_count(min=1)
    with pytest.raises(unistore.BadSpecError):
        C.from_dict("not_null")  # a bare name needs the column it is declared under
