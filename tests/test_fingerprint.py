"""The fingerprint depends on content only: not on batching, but on every value, null and type."""

import datetime as dt
import decimal

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference import TABLE
from unistore import fingerprint


def rechunk(table: pa.Table, sizes: list[int]) -> pa.Table:
    batches, offset = [], 0
    for size in sizes:
        if offset >= table.num_rows:
            break
        batches.extend(table.slice(offset, size).to_batches())
        offset += size
    batches.extend(table.slice(offset).to_batches())
    return pa.Table.from_batches(batches, schema=table.schema)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(1, 25), max_size=12))
def test_batching_does_not_change_the_fingerprint(sizes):
    assert fingerprint(rechunk(TABLE, sizes)) == fingerprint(TABLE)


NESTED = pa.table({
    "l": pa.array([[1, 2], None, [], [None, 3], [4]], pa.list_(pa.int64())),
    "s": pa.array([{"a": 1, "b": "x"}, None, {"a": None, "b": ""}, {"a": 2, "b": None}, {"a": 3, "b": "y"}]),
    "d": pa.array(["p", "q", None, "p", "r"]).dictionary_encode(),
    "ls": pa.array([["a"], ["b", "c"], None, [], ["d"]], pa.large_list(pa.large_string())),
    "m": pa.array([[("k", 1)], [], None, [("a", 2), ("b", 3)], [("z", None)]], pa.map_(pa.string(), pa.int64())),
})


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 3), max_size=5))
def test_nested_and_dictionary_types_are_batch_independent(sizes):
    assert fingerprint(rechunk(NESTED, sizes)) == fingerprint(NESTED)


def test_dictionaries_differing_per_batch_do_not_matter():
    a = pa.chunked_array([pa.array(["x", "y"]).dictionary_encode(), pa.array(["y", "x"]).dictionary_encode()])
    b = pa.chunked_array([pa.DictionaryArray.from_arrays(pa.array([1, 0], pa.int32()), pa.array(["y", "x"])),
                          pa.DictionaryArray.from_arrays(pa.array([0, 1], pa.int32()), pa.array(["y", "x"]))])
    assert fingerprint(pa.table({"c": a})) == fingerprint(pa.table({"c": b}))


@pytest.mark.parametrize("change", [
    lambda t: t.set_column(1, "kind", pa.array(["zz"] + t["kind"].to_pylist()[1:], pa.string())),
    lambda t: t.set_column(1, "kind", pa.array([None if v == "" else ("" if v is None else v) for v in t["kind"].to_pylist()], pa.string())),
    lambda t: t.set_column(3, "price", pa.array([decimal.Decimal("0.01")] + t["price"].to_pylist()[1:], pa.decimal128(10, 2))),
    lambda t: t.slice(1),
    lambda t: t.select(["kind", "id", "amount", "price", "active", "day", "ts", "ts_tz", "payload"]),
    lambda t: t.cast(t.schema.set(6, pa.field("ts", pa.timestamp("ns")))),
    lambda t: t.rename_columns(["ID"] + t.column_names[1:]),
    lambda t: pa.concat_tables([t.slice(1, 1), t.slice(0, 1), t.slice(2)]),
    lambda t: t.set_column(7, "ts_tz", pa.array([None] + t["ts_tz"].to_pylist()[1:], pa.timestamp("us", "UTC"))),
    lambda t: t.set_column(8, "payload", pa.array([b"\x00" + (t["payload"][0].as_py() or b"")] + t["payload"].to_pylist()[1:], pa.binary())),
], ids=["value", "null-vs-empty", "decimal", "row-removed", "column-order", "type", "column-name",
        "row-order", "null-added", "binary"])
def test_every_kind_of_change_changes_the_fingerprint(change):
    assert fingerprint(change(TABLE)) != fingerprint(TABLE)


def test_same_values_as_string_and_large_string_differ_by_type_only():
    a = pa.table({"s": pa.array(["a", "bb"], pa.string())})
    b = pa.table({"s": pa.array(["a", "bb"], pa.large_string())})
    assert fingerprint(a) != fingerprint(b)
    assert fingerprint(a) == fingerprint(pa.table({"s": pa.array(["a", "bb"])}))


def test_booleans_sliced_at_odd_offsets():
    t = pa.table({"b": pa.array([True, False, None, True, True, False, True, None, False] * 3)})
    assert fingerprint(rechunk(t, [1, 2, 3, 5, 7])) == fingerprint(t)


def test_temporal_values():
    t = pa.table({"d": pa.array([dt.date(2024, 1, 1), None]), "t": pa.array([dt.time(1, 2), dt.time(3, 4)])})
    assert fingerprint(rechunk(t, [1])) == fingerprint(t)
