"""The fingerprint is a digest of the rows as a multiset: order, batching and splitting do not
change it; every value, null, type, column name and row count does (issue 9, finding 1).

Every test runs twice: with the compiled kernel (unistore._fphash) and with the numpy code; a
property test compares the two on random tables. Under CI=true a missing kernel is a failure.
"""

import datetime as dt
import decimal
import importlib
import os
import random
import subprocess
import sys
import threading

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference import TABLE
from unistore import BadSpecError, fingerprint
from unistore.fingerprint import ContentDigest, Fingerprinter, combine, digest

FP = importlib.import_module("unistore.fingerprint")  # (unistore.fingerprint is also the name of a function)
IN_CI = os.environ.get("CI", "").lower() == "true"


def _require_kernel() -> None:
    if FP._fphash is None:
        if IN_CI:
            pytest.fail("the compiled fingerprint kernel unistore._fphash was not built (CI must prove it is used)")
        pytest.skip("unistore._fphash was not built here: only the numpy fallback is tested")


@pytest.fixture(autouse=True, scope="module", params=["kernel", "numpy"])
def hashing_path(request):
    """Run the whole module once per hashing path (the module-level switch unistore.fingerprint.kernel)."""
    saved = FP.kernel
    if request.param == "kernel":
        _require_kernel()
        FP.kernel = FP._fphash
    else:
        FP.kernel = None
    yield request.param
    FP.kernel = saved


def rechunk(table: pa.Table, sizes: list[int]) -> pa.Table:
    batches, offset = [], 0
    for size in sizes:
        if offset >= table.num_rows:
            break
        batches.extend(table.slice(offset, size).to_batches())
        offset += size
    batches.extend(table.slice(offset).to_batches())
    return pa.Table.from_batches(batches, schema=table.schema)


def shuffled(table: pa.Table, seed: int) -> pa.Table:
    order = list(range(table.num_rows))
    random.Random(seed).shuffle(order)
    return pa.concat_tables([table.slice(i, 1) for i in order]) if table.num_rows else table


# -- golden values: the algorithm in docs/provenance.md, pinned ---------------------

GOLDEN_TABLES = {
    "empty": pa.table({"x": pa.array([], pa.int64())}),
    "no-columns": pa.table({}),
    "ints": pa.table({"i8": pa.array([1, -1, None], pa.int8()), "i16": pa.array([300, None, -300], pa.int16()),
                      "i32": pa.array([None, 7, 2**31 - 1], pa.int32()), "i64": pa.array([0, -(2**63), 2**63 - 1]),
                      "u64": pa.array([2**64 - 1, 0, None], pa.uint64())}),
    "floats": pa.table({"f32": pa.array([1.5, float("nan"), None], pa.float32()),
                        "f64": pa.array([0.0, -0.0, float("inf")]), "f16": pa.array([1, 2, 3], pa.float16())}),
    "decimal-bool": pa.table({"d": pa.array([decimal.Decimal("1.10"), None, decimal.Decimal("-3.14")], pa.decimal128(10, 2)),
                              "d256": pa.array([decimal.Decimal("5"), None, decimal.Decimal("0")], pa.decimal256(40, 0)),
                              "b": pa.array([True, False, None])}),
    "temporal": pa.table({"day": pa.array([dt.date(2024, 1, 1), None, dt.date(1969, 12, 31)]),
                          "ts": pa.array([dt.datetime(2024, 1, 1, 12), None, dt.datetime(1970, 1, 1)], pa.timestamp("us", "UTC")),
                          "t": pa.array([dt.time(1, 2, 3), dt.time(0), None]),
                          "dur": pa.array([dt.timedelta(seconds=1), None, dt.timedelta(0)])}),
    "strings": pa.table({"s": pa.array(["", "a", "exactly8", "longer than sixteen bytes", None]),
                         "ls": pa.array(["x", None, "", "ünïcødé", "y" * 9], pa.large_string()),
                         "b": pa.array([b"\x00", b"", None, b"\x00\x00", b"abcdefgh"]),
                         "fsb": pa.array([b"abc", b"xyz", None, b"\x00\x00\x00", b"abd"], pa.binary(3))}),
    "nested": pa.table({"l": pa.array([[1, 2], None, [], [None, 3]], pa.list_(pa.int64())),
                        "st": pa.array([{"a": 1, "b": "x"}, None, {"a": None, "b": ""}, {"a": 2, "b": None}]),
                        "m": pa.array([[("k", 1)], [], None, [("z", None)]], pa.map_(pa.string(), pa.int64())),
                        "dict": pa.array(["p", None, "q", "p"]).dictionary_encode()}),
    "duplicates": pa.table({"x": [1, 1, 1], "y": ["a", "a", "a"]}),
    "all-null": pa.table({"n": pa.nulls(3), "i": pa.array([None, None, None], pa.int64())}),
}

GOLDEN = {
    "empty": "ms128v2:59c532f23d5f02b44075b910a61ca8fb",
    "no-columns": "ms128v2:79cd35dbbe3c5288fc965267533dcf4b",
    "ints": "ms128v2:c82c00d1d2a32235e9def78f859d4a25",
    "floats": "ms128v2:5c82ad43fc5a8e60f88226414545a7a1",
    "decimal-bool": "ms128v2:5616704cd500eda4745a45a8db8e793c",
    "temporal": "ms128v2:a8705b2e8ab86d157b08a87002bd4ce4",
    "strings": "ms128v2:322f76cac56e79cce9b9b498b50013d8",
    "nested": "ms128v2:c57b64d3c11e8f2a9d141c012a095f52",
    "duplicates": "ms128v2:53c2dfe8d5ebcec143494964b25599d3",
    "all-null": "ms128v2:619eab3e1659f6cea8a714f7b14660fe",
}


@pytest.mark.parametrize("name", list(GOLDEN))
def test_golden_values_pin_the_algorithm(name):
    """If this fails the algorithm changed: that needs a new prefix and a new docs/provenance.md section."""
    assert fingerprint(GOLDEN_TABLES[name]) == GOLDEN[name]


@pytest.mark.parametrize("name", list(GOLDEN))
def test_golden_tables_in_any_order_and_batching(name):
    t = GOLDEN_TABLES[name]
    assert fingerprint(rechunk(shuffled(t, 3), [1, 2])) == GOLDEN[name]


# -- order, batching, splitting -------------------------------------------------------

@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(1, 25), max_size=12))
def test_batching_does_not_change_the_fingerprint(sizes):
    assert fingerprint(rechunk(TABLE, sizes)) == fingerprint(TABLE)


@pytest.mark.parametrize("seed", range(5))
def test_same_rows_shuffled_give_the_same_fingerprint(seed):
    """Finding 1: PostgreSQL returns unordered results in any order; the fingerprint must not care."""
    assert fingerprint(shuffled(TABLE, seed)) == fingerprint(TABLE)


@pytest.mark.parametrize("parts", [2, 3, 7, 60])
def test_digests_of_disjoint_parts_combine_into_the_whole(parts):
    """What distributed reads rely on: the whole's digest from the parts' digests alone."""
    rows = shuffled(TABLE, parts)
    cuts = [round(i * rows.num_rows / parts) for i in range(parts + 1)]
    pieces = [digest(rows.slice(a, b - a)) for a, b in zip(cuts, cuts[1:])]
    whole = digest(TABLE)
    combined = combine(ContentDigest.from_dict(p.to_dict()) for p in pieces)  # through JSON-able form
    assert combined.fingerprint == whole.fingerprint == fingerprint(TABLE)
    assert combined.columns == whole.columns and combined.rows == TABLE.num_rows


def test_combine_refuses_different_schemas_and_nothing():
    with pytest.raises(BadSpecError):
        combine([digest(TABLE), digest(TABLE.select(["id"]))])
    with pytest.raises(BadSpecError):
        combine([])
    with pytest.raises(BadSpecError):
        ContentDigest.from_dict({"rows": "x"})


def test_ordered_digest_is_sensitive_to_order_but_not_to_batching():
    base = digest(TABLE, ordered=True)
    assert digest(rechunk(TABLE, [3, 5, 11]), ordered=True).ordered == base.ordered
    assert digest(shuffled(TABLE, 1), ordered=True).ordered != base.ordered
    assert base.ordered.startswith("ord128v2:") and digest(TABLE).ordered is None


def test_streaming_equals_whole_table():
    fp = Fingerprinter(TABLE.schema)
    for batch in TABLE.to_batches(max_chunksize=4):
        fp.update(batch)
    assert fp.rows == TABLE.num_rows and fp.hexdigest() == fingerprint(TABLE)


# -- every change changes it -----------------------------------------------------------

@pytest.mark.parametrize("change", [
    lambda t: t.set_column(1, "kind", pa.array(["zz"] + t["kind"].to_pylist()[1:], pa.string())),
    lambda t: t.set_column(1, "kind", pa.array([None if v == "" else ("" if v is None else v) for v in t["kind"].to_pylist()], pa.string())),
    lambda t: t.set_column(3, "price", pa.array([decimal.Decimal("0.01")] + t["price"].to_pylist()[1:], pa.decimal128(10, 2))),
    lambda t: t.slice(1),
    lambda t: pa.concat_tables([t, t.slice(4, 1)]),
    lambda t: pa.concat_tables([t.slice(0, 4), t.slice(5, 1), t.slice(5)]),
    lambda t: t.select(["kind", "id", "amount", "price", "active", "day", "ts", "ts_tz", "payload"]),
    lambda t: t.cast(t.schema.set(6, pa.field("ts", pa.timestamp("ns")))),
    lambda t: t.rename_columns(["ID"] + t.column_names[1:]),
    lambda t: t.set_column(7, "ts_tz", pa.array([None] + t["ts_tz"].to_pylist()[1:], pa.timestamp("us", "UTC"))),
    lambda t: t.set_column(8, "payload", pa.array([b"\x00" + (t["payload"][0].as_py() or b"")] + t["payload"].to_pylist()[1:], pa.binary())),
    lambda t: t.set_column(0, "id", pa.array([t["id"][1].as_py(), t["id"][0].as_py()] + t["id"].to_pylist()[2:])),
], ids=["value", "null-vs-empty", "decimal", "row-removed", "row-added", "row-duplicated-for-another",
        "column-order", "type", "column-name", "null-added", "binary", "values-swapped-between-rows"])
def test_every_kind_of_change_changes_the_fingerprint(change):
    assert fingerprint(change(TABLE)) != fingerprint(TABLE)


def test_values_swapped_between_rows_change_the_row_digest_not_the_column_digest():
    """Rows are hashed as tuples: the same column values paired differently are different rows."""
    a, b = pa.table({"x": [1, 2], "y": ["p", "q"]}), pa.table({"x": [1, 2], "y": ["q", "p"]})
    assert fingerprint(a) != fingerprint(b)
    assert digest(a).columns == digest(b).columns


def test_floats_negative_zero_differs_and_nans_are_one_value():
    """Decision: -0.0 and 0.0 are different values (their bits differ and stores keep them);
    every NaN payload is the same value (stores and kernels do not preserve NaN payloads)."""
    assert fingerprint(pa.table({"f": [0.0]})) != fingerprint(pa.table({"f": [-0.0]}))
    quiet = pa.array([float("nan")])
    other = pa.Array.from_buffers(pa.float64(), 1, [None, pa.py_buffer(b"\x01\x00\x00\x00\x00\x00\xf8\xff")])
    assert fingerprint(pa.table({"f": quiet})) == fingerprint(pa.table({"f": other}))
    assert fingerprint(pa.table({"f": quiet})) != fingerprint(pa.table({"f": pa.array([None], pa.float64())}))


def test_null_differs_from_every_zero_like_value():
    values = [fingerprint(pa.table({"x": pa.array(v, typ)})) for v, typ in [
        ([None], pa.int64()), ([0], pa.int64()), ([None], pa.string()), ([""], pa.string()),
        ([None], pa.bool_()), ([False], pa.bool_())]]
    assert len(set(values[0:2])) == 2 and len(set(values[2:4])) == 2 and len(set(values[4:6])) == 2


def test_string_tails_and_lengths_count():
    tables = [pa.table({"s": [v]}) for v in ["ab", "ab\x00", "abcdefgh", "abcdefgh\x00", "abcdefghi", "ba"]]
    assert len({fingerprint(t) for t in tables}) == len(tables)


def test_strings_at_any_offset_hash_the_same():
    values = ["x" * n for n in range(20)] + ["", None, "tail"]
    t = pa.table({"s": values})
    for start in range(5):
        part = t.slice(start)
        assert fingerprint(part) == fingerprint(pa.table({"s": values[start:]}))


# -- representation is not content; type is -------------------------------------------

NESTED = GOLDEN_TABLES["nested"]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 3), max_size=5))
def test_nested_and_dictionary_types_are_batch_independent(sizes):
    assert fingerprint(rechunk(NESTED, sizes)) == fingerprint(NESTED)


def test_dictionary_encoded_hashes_like_its_values():
    """The values hash as decoded (the per-column digest is equal); the type stays in the schema part."""
    plain = pa.table({"c": pa.array(["x", "y", None, "x"])})
    encoded = pa.table({"c": pa.array(["x", "y", None, "x"]).dictionary_encode()})
    assert digest(encoded).columns == digest(plain).columns
    assert fingerprint(encoded) != fingerprint(plain)


def test_dictionaries_differing_per_batch_do_not_matter():
    a = pa.chunked_array([pa.array(["x", "y"]).dictionary_encode(), pa.array(["y", "x"]).dictionary_encode()])
    b = pa.chunked_array([pa.DictionaryArray.from_arrays(pa.array([1, 0], pa.int32()), pa.array(["y", "x"])),
                          pa.DictionaryArray.from_arrays(pa.array([0, 1], pa.int32()), pa.array(["y", "x"]))])
    assert fingerprint(pa.table({"c": a})) == fingerprint(pa.table({"c": b}))


def test_same_values_as_string_and_large_string_differ_by_type_only():
    a = pa.table({"s": pa.array(["a", "bb"], pa.string())})
    b = pa.table({"s": pa.array(["a", "bb"], pa.large_string())})
    assert fingerprint(a) != fingerprint(b)
    assert digest(a).lanes != digest(b).lanes
    assert fingerprint(a) == fingerprint(pa.table({"s": pa.array(["bb", "a"])}))


def test_string_view_hashes_its_values():
    view = pa.table({"s": pa.array(["a" * 20, "b", None], pa.string_view())})
    assert fingerprint(view) == fingerprint(pa.table({"s": pa.array(["b", None, "a" * 20], pa.string_view())}))
    assert fingerprint(view) != fingerprint(pa.table({"s": pa.array(["a" * 20, "c", None], pa.string_view())}))


def test_booleans_sliced_at_odd_offsets():
    t = pa.table({"b": pa.array([True, False, None, True, True, False, True, None, False] * 3)})
    assert fingerprint(rechunk(t, [1, 2, 3, 5, 7])) == fingerprint(t)


def test_temporal_values():
    t = pa.table({"d": pa.array([dt.date(2024, 1, 1), None]), "t": pa.array([dt.time(1, 2), dt.time(3, 4)])})
    assert fingerprint(rechunk(t, [1])) == fingerprint(t)


# -- property: random tables --------------------------------------------------------------

_COLUMN = st.one_of(
    st.tuples(st.just(pa.int64()), st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)), min_size=8, max_size=8)),
    st.tuples(st.just(pa.float64()), st.lists(st.one_of(st.none(), st.floats(allow_nan=False)), min_size=8, max_size=8)),
    st.tuples(st.just(pa.string()), st.lists(st.one_of(st.none(), st.text(max_size=20)), min_size=8, max_size=8)),
    st.tuples(st.just(pa.list_(pa.int32())),
              st.lists(st.one_of(st.none(), st.lists(st.one_of(st.none(), st.integers(-5, 5)), max_size=3)), min_size=8, max_size=8)),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_COLUMN, min_size=1, max_size=4), st.integers(0, 2**32), st.lists(st.integers(1, 5), max_size=4),
       st.integers(1, 7))
def test_property_order_batching_and_parts(columns, seed, sizes, cut):
    table = pa.table({f"c{i}": pa.array(values, typ) for i, (typ, values) in enumerate(columns)})
    fp = fingerprint(table)
    assert fingerprint(rechunk(shuffled(table, seed), sizes)) == fp
    assert combine([digest(table.slice(0, cut)), digest(table.slice(cut))]).fingerprint == fp
    assert fingerprint(table.slice(1)) != fp


# -- the compiled kernel and the numpy code compute the same digests ------------------------

def test_kernel_is_built_and_used_by_default():
    """Under CI=true this fails when the extension did not build; the library itself falls back quietly."""
    _require_kernel()
    env = {k: v for k, v in os.environ.items() if k != "UNISTORE_FINGERPRINT_KERNEL"}
    probe = "import importlib; f = importlib.import_module('unistore.fingerprint'); print({})"
    assert subprocess.run([sys.executable, "-c", probe.format("f.kernel is f._fphash is not None")], env=env, capture_output=True, text=True,
                          check=True).stdout.strip() == "True"
    off = subprocess.run([sys.executable, "-c", probe.format("f.kernel")],
                         env={**env, "UNISTORE_FINGERPRINT_KERNEL": "numpy"}, capture_output=True, text=True,
                         check=True).stdout.strip()
    assert off == "None"


def _both_paths(fn):
    """fn() with the kernel, then with the numpy code."""
    _require_kernel()
    saved = FP.kernel
    try:
        FP.kernel = FP._fphash
        with_kernel = fn()
        FP.kernel = None
        with_numpy = fn()
    finally:
        FP.kernel = saved
    return with_kernel, with_numpy


def _assert_same(table: pa.Table) -> None:
    def hashes():
        return [FP.value_hashes(col.combine_chunks(), FP.column_keys(i, table.schema.field(i))[0]).tolist()
                for i, col in enumerate(table.columns)]
    k, n = _both_paths(hashes)
    for i, (a, b) in enumerate(zip(k, n)):
        assert a == b, f"value hashes of column {table.schema.field(i)} differ"
    k, n = _both_paths(lambda: digest(table, ordered=True).to_dict())
    assert k == n


def _from_bits(typ: pa.DataType, width: int, bits: list[int], nulls: list[bool]) -> pa.Array:
    """Floats from raw bit patterns: every NaN payload, -0.0, infinities, subnormals."""
    raw = np.array(bits, dtype=f"<u{width}")
    return pa.array(raw.view(f"<f{width}"), type=typ, mask=np.array(nulls, dtype=bool))


_N = 12


def _values(elements):
    return st.lists(st.one_of(st.none(), elements), min_size=_N, max_size=_N)


def _int_column(bits: int, signed: bool):
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    typ = getattr(pa, f"{'' if signed else 'u'}int{bits}")()
    return _values(st.integers(lo, hi)).map(lambda v: pa.array(v, typ))


def _float_column(width: int):
    typ = {2: pa.float16(), 4: pa.float32(), 8: pa.float64()}[width]
    specials = {2: [0x7E00, 0xFE01, 0x7C01, 0x8000, 0x7C00, 0x0001], 4: [0x7FC00000, 0xFFC00001, 0x7F800001, 0x80000000],
                8: [0x7FF8000000000000, 0xFFF0000000000001, 0x7FF0000000000001, 0x8000000000000000]}[width]
    bits = st.one_of(st.integers(0, 2 ** (8 * width) - 1), st.sampled_from(specials))
    return st.tuples(st.lists(bits, min_size=_N, max_size=_N), st.lists(st.booleans(), min_size=_N, max_size=_N)).map(
        lambda bn: _from_bits(typ, width, *bn))


_TEXT = st.text(max_size=40)
_BYTES = st.binary(max_size=40)
_RANDOM_COLUMN = st.one_of(
    *[_int_column(b, sg) for b in (8, 16, 32, 64) for sg in (True, False)],
    *[_float_column(w) for w in (2, 4, 8)],
    _values(st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-10**7, max_value=10**7)).map(
        lambda v: pa.array(v, pa.decimal128(12, 2))),
    _values(st.integers(-(10**40), 10**40)).map(
        lambda v: pa.array([None if x is None else decimal.Decimal(x) for x in v], pa.decimal256(45, 0))),
    _values(st.integers(-(2**62), 2**62)).map(lambda v: pa.array(v, pa.int64()).cast(pa.timestamp("ns", "UTC"))),
    _values(st.integers(-(10**6), 10**6)).map(lambda v: pa.array(v, pa.int32()).cast(pa.date32())),
    _values(st.integers(0, 86_399_999_999)).map(lambda v: pa.array(v, pa.int64()).cast(pa.time64("us"))),
    _values(st.integers(-(2**40), 2**40)).map(lambda v: pa.array(v, pa.duration("ms"))),
    _values(st.booleans()).map(lambda v: pa.array(v, pa.bool_())),
    _values(_TEXT).map(lambda v: pa.array(v, pa.string())),
    _values(_TEXT).map(lambda v: pa.array(v, pa.large_string())),
    _values(_TEXT).map(lambda v: pa.array(v, pa.string_view())),
    _values(_BYTES).map(lambda v: pa.array(v, pa.binary())),
    _values(_BYTES).map(lambda v: pa.array(v, pa.large_binary())),
    st.integers(1, 40).flatmap(lambda w: _values(st.binary(min_size=w, max_size=w)).map(
        lambda v: pa.array(v, pa.binary(w)))),
    _values(st.sampled_from(["a", "bb", "", "ccccccccc"])).map(lambda v: pa.array(v).dictionary_encode()),
    _values(st.lists(st.integers(-3, 3), max_size=3)).map(lambda v: pa.array(v, pa.list_(pa.int8()))),
    st.just(pa.nulls(_N)),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_RANDOM_COLUMN, min_size=1, max_size=5), st.integers(0, _N), st.integers(0, _N))
def test_property_kernel_and_numpy_compute_the_same_digest(columns, start, length):
    """Random tables of every flat type (nulls, NaN payloads, -0.0, slices at odd offsets): the same
    value hashes, column sums, lanes, fingerprint and ordered fingerprint on both paths."""
    table = pa.table({f"c{i}": col for i, col in enumerate(columns)})
    _assert_same(table)
    _assert_same(table.slice(start, length))  # arrays with an offset (bits, offsets, values)
    _assert_same(rechunk(table, [start or 1, 3]))


@pytest.mark.parametrize("rows", [2047, 2048, 2049, 70_000])
def test_kernel_and_numpy_agree_across_block_boundaries(rows, monkeypatch):
    """The kernel hashes 2 048 rows at a time, and 1 000 per call here when the ordered digest is kept."""
    monkeypatch.setattr(FP, "_ORDERED_BLOCK", 1000)
    rng = np.random.default_rng(rows)
    nulls = rng.random(rows) < 0.1
    words = ["w" * int(k) for k in rng.integers(0, 30, rows)]
    table = pa.table({
        "i": pa.array(rng.integers(-(2**63), 2**63 - 1, rows, dtype=np.int64), mask=nulls),
        "f": pa.array(rng.standard_normal(rows).astype(np.float32)),
        "b": pa.array(rng.random(rows) < 0.5, mask=nulls[::-1].copy()),
        "s": pa.array(words, pa.string(), mask=rng.random(rows) < 0.05),
        "d": pa.array([decimal.Decimal(int(x)) for x in rng.integers(-(10**9), 10**9, rows)], pa.decimal128(12, 0)),
    }).slice(3)
    _assert_same(table)
    k, n = _both_paths(lambda: digest(rechunk(table, [777, 5000]), ordered=True).to_dict())
    assert k == n == digest(table, ordered=True).to_dict()


def test_kernel_refuses_malformed_buffers():
    """Bad buffers are a ValueError, never a read outside them."""
    _require_kernel()
    k = FP._fphash
    seed, mul = 1, 3
    short = pa.py_buffer(b"\x00" * 15)
    with pytest.raises(ValueError):
        k.update([(1, 8, seed, mul, 0, None, short, None)], 2, 0, 2)
    with pytest.raises(ValueError):
        k.update([(1, 8, seed, mul, 1, None, pa.py_buffer(b"\x00" * 16), None)], 2, 0, 2)  # offset past the end
    offsets = pa.py_buffer(np.array([0, 5, 100], np.int32).tobytes())
    with pytest.raises(ValueError, match="offsets"):
        k.update([(4, 0, seed, mul, 0, None, offsets, pa.py_buffer(b"x" * 10))], 2, 0, 2)
    second_null = pa.py_buffer(bytes([0b01]))  # a null's offsets are checked too (they are read, not branched on)
    with pytest.raises(ValueError, match="offsets"):
        k.update([(4, 0, seed, mul, 0, second_null, offsets, pa.py_buffer(b"x" * 10))], 2, 0, 2)
    extreme = np.iinfo(np.int64)  # large_string offsets whose difference overflows int64: refused all the same
    for wide in ([extreme.min, extreme.max], [5, extreme.min], [extreme.max, 0], [0, -1], [3, 2]):
        with pytest.raises(ValueError, match="offsets"):
            k.update([(5, 0, seed, mul, 0, None, pa.py_buffer(np.array(wide, np.int64).tobytes()),
                       pa.py_buffer(b"x" * 20))], 1, 0, 1)
    with pytest.raises(ValueError):
        k.update([(9, 8, seed, mul, 0, None, short, None)], 1, 0, 1)
    with pytest.raises(ValueError):
        k.update([], 1, 0, 2)
    with pytest.raises(ValueError):
        k.update([(1, 8, seed, mul, 0, None, pa.py_buffer(b"\x00" * 16), None)], 2, 0, 2, np.empty(3, np.uint64))


def test_fingerprinters_in_several_threads_agree():
    """No shared state: instances used from several threads at once (the kernel releases the GIL)."""
    rng = np.random.default_rng(5)
    table = pa.table({"i": rng.integers(0, 1000, 50_000), "s": [f"v{i % 977}" for i in range(50_000)]})
    expected = digest(table, ordered=True).to_dict()
    results: list = []

    def run() -> None:
        results.append(digest(rechunk(table, [1000] * 10), ordered=True).to_dict())

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 4


# -- nulls: every type the kernel hashes, at block boundaries, sliced, chunked ----------------

def _with_nulls(rows: int, seed: int) -> pa.Table:
    """Every flat type the fingerprint hashes itself (and a dictionary and a list), about a third null:
    nulls at random rows and on both sides of every 64-row block boundary, strings of 0..40 bytes
    (short ones and long ones, one ending the data buffer), all-null columns of several types."""
    rng = np.random.default_rng(seed)
    mask = rng.random(rows) < 0.3
    mask[[r for r in range(rows) if r % 64 in (0, 63)]] = True
    mask[rows - 1] = False  # the last string is valid: it ends the data buffer

    def ints(bits: int, signed: bool) -> pa.Array:
        lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1)) if signed else (0, 2**bits)
        dtype = f"{'' if signed else 'u'}int{bits}"
        return pa.array(rng.integers(lo, hi, rows, dtype=dtype), mask=mask)

    def floats(width: int) -> pa.Array:
        values = rng.standard_normal(rows).astype(f"f{width}")
        values[::7] = np.nan
        return pa.array(values, mask=mask)

    words = ["".join(chr(97 + int(c)) for c in rng.integers(0, 26, int(n))) for n in rng.integers(0, 41, rows)]
    words[-1] = "the last value, longer than sixteen bytes"
    blobs = [w.encode() for w in words]
    some = rng.random(rows) < 0.5
    return pa.table({
        **{f"i{b}": ints(b, True) for b in (8, 16, 32, 64)},
        **{f"u{b}": ints(b, False) for b in (8, 16, 32, 64)},
        **{f"f{w * 8}": floats(w) for w in (2, 4, 8)},
        "dec": pa.array([decimal.Decimal(int(x)) / 100 for x in rng.integers(-(10**9), 10**9, rows)],
                        pa.decimal128(12, 2), mask=mask),
        "dec256": pa.array([decimal.Decimal(int(x)) for x in rng.integers(-(10**12), 10**12, rows)],
                           pa.decimal256(45, 0), mask=mask),
        "fsb": pa.array([b[:3].ljust(3, b"\x00") for b in blobs], pa.binary(3), mask=mask),
        "bool": pa.array(some, mask=mask),
        "date": pa.array(rng.integers(-(10**5), 10**5, rows, dtype=np.int32), mask=mask).cast(pa.date32()),
        "ts": pa.array(rng.integers(0, 2**50, rows), mask=mask).cast(pa.timestamp("us", "UTC")),
        "time": pa.array(rng.integers(0, 86_400 * 10**6, rows), mask=mask).cast(pa.time64("us")),
        "dur": pa.array(rng.integers(-(2**40), 2**40, rows), mask=mask).cast(pa.duration("ms")),
        "str": pa.array(words, pa.string(), mask=mask),
        "lstr": pa.array(words, pa.large_string(), mask=mask[::-1].copy()),
        "bin": pa.array(blobs, pa.binary(), mask=mask),
        "lbin": pa.array(blobs, pa.large_binary(), mask=mask),
        "view": pa.array(words, pa.string_view(), mask=mask),
        "dict": pa.array([w[:1] for w in words], pa.string(), mask=mask).dictionary_encode(),
        "list": pa.array([[int(x)] * int(x % 3) for x in rng.integers(0, 9, rows)], pa.list_(pa.int16()),
                         mask=mask),
        "null_i64": pa.nulls(rows, pa.int64()),
        "null_f64": pa.nulls(rows, pa.float64()),
        "null_bool": pa.nulls(rows, pa.bool_()),
        "null_str": pa.nulls(rows, pa.string()),
        "null": pa.nulls(rows),
    })


_NULLS_GOLDEN = {  # computed before the kernel's null path was rewritten: it must not move them
    "whole": "ms128v2:5e15c48444bd9936e5a58dff38519db3",
    "slice(5)": "ms128v2:4a5a6897be8375571199c29dcb7251e5",
    "slice(67, 100)": "ms128v2:53f8bdee2f675ad41865ea41e39c4361",
}
_NULLS_COLUMNS = {
    "i8": "f3e6b79c959a7158", "i16": "cf1c56294c318832", "i32": "f0a0755413924a33", "i64": "63a8a64e333bd9c5",
    "u8": "f5c2dce602ce1c4a", "u16": "84b7d47d8ca2201e", "u32": "07f0a9cb2ee6046e", "u64": "94ec273b31cb9cb4",
    "f16": "aef2f90fbdbf4be6", "f32": "708adfd65fbd47c5", "f64": "b811bbd63ecc980f", "dec": "421a200e569a5157",
    "dec256": "91f6e18dfb684743", "fsb": "deea3fa8837204db", "bool": "073c13ebcbb6b436", "date": "db151223a4ffe4e8",
    "ts": "ba5e8f903c06cda7", "time": "4b28cfec577eac0a", "dur": "288f72c98a23852e", "str": "5863f002db370af8",
    "lstr": "5e602e0b93b954d6", "bin": "64aa5a20c8a6f577", "lbin": "8ff26c10fbe7b1f1", "view": "54158db1ba93b1a3",
    "dict": "348dcb6696e49b77", "list": "82f18badaaa12a44", "null_i64": "bcceafd07ad23758",
    "null_f64": "126eae1077a6a214", "null_bool": "199a503e06741618", "null_str": "8f23e5569276b3b8",
    "null": "a71eba70c8b66000",
}


def _nulls_table(part: str) -> pa.Table:
    table = _with_nulls(300, 16)
    return {"whole": table, "slice(5)": table.slice(5), "slice(67, 100)": table.slice(67, 100)}[part]


@pytest.mark.parametrize("part", list(_NULLS_GOLDEN))
def test_golden_values_with_nulls_of_every_type(part):
    """Nulls in every column type, at block boundaries, in arrays with offsets: the values are pinned."""
    table = _nulls_table(part)
    assert fingerprint(table) == _NULLS_GOLDEN[part]
    assert fingerprint(rechunk(table, [1, 63, 64, 65, 7])) == _NULLS_GOLDEN[part]
    arrays = [c.combine_chunks() for c in table.columns]  # each column chunked at other rows, an empty chunk too
    chunked = pa.table({n: pa.chunked_array([a.slice(0, 70 + 3 * i), a.slice(9, 0), a.slice(70 + 3 * i)], a.type)
                        for i, (n, a) in enumerate(zip(table.column_names, arrays))})
    assert fingerprint(chunked) == _NULLS_GOLDEN[part]
    if part == "whole":
        assert digest(table).column_fingerprints() == _NULLS_COLUMNS


@pytest.mark.parametrize("seed", range(4))
def test_kernel_and_numpy_agree_on_nulls_at_every_offset(seed):
    """The kernel reads validity and boolean bits 64 at a time from any bit offset: slices starting at
    every offset of a byte and of a block, chunked, give the numpy code's value hashes and digests."""
    table = _with_nulls(200 + seed * 37, seed)
    for start in (*range(9), 63, 64, 65, 127):
        _assert_same(table.slice(start))
        _assert_same(table.slice(start, 64))
    _assert_same(rechunk(table, [63, 1, 64, 65, 3]))


def test_a_null_that_spans_bytes_hashes_as_null():
    """Arrow lets a null string span bytes of the data: its hash is the null hash all the same."""
    data = pa.py_buffer(b"abXXcde")
    offsets = pa.py_buffer(np.array([0, 2, 4, 7], np.int32).tobytes())
    validity = pa.py_buffer(np.packbits([1, 0, 1], bitorder="little").tobytes())
    spans = pa.Array.from_buffers(pa.string(), 3, [validity, offsets, data], null_count=1)
    spans.validate(full=True)
    assert fingerprint(pa.table({"s": spans})) == fingerprint(pa.table({"s": pa.array(["ab", None, "cde"])}))
    assert fingerprint(pa.table({"s": spans.slice(1)})) == fingerprint(pa.table({"s": pa.array([None, "cde"])}))


class _PlainExtension(pa.ExtensionType):
    """An extension type as pyarrow's docs write one: no ``__hash__``, so Python makes it unhashable."""

    def __init__(self) -> None:
        super().__init__(pa.int64(), "unistore.test.plain")

    def __arrow_ext_serialize__(self) -> bytes:
        return b""

    @classmethod
    def __arrow_ext_deserialize__(cls, storage_type, serialized):
        return cls()


def test_an_unhashable_extension_type_is_fingerprinted_as_before():
    """The schema keys' cache needs hashable types; a Python extension type without ``__hash__`` is not
    one, and its table must still be fingerprinted, to the values from before the cache."""
    with pytest.raises(TypeError):
        hash(_PlainExtension())
    table = pa.table({"e": pa.ExtensionArray.from_storage(_PlainExtension(), pa.array([1, 2, None]))})
    assert FP.schema_fingerprint(table.schema) == "xxh3_128:8284e25a74728eb9af426f1cf757dbde"
    assert digest(table).fingerprint == "ms128v2:dc76b454d15364ce93c91eb530823a9c"
