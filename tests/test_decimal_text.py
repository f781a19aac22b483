"""Decimal text -> decimal128: the compiled parser must give exactly what Arrow's cast gives.

PostgreSQL's numeric(p,s) columns arrive from the ADBC driver as text; unistore parses the plain
form in C (unistore._numeric) and leaves everything else to ``pyarrow.compute.cast``. Arrow's cast
is the reference: same values, same nulls, and an error exactly where it errors.
"""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from unistore.adapters.sql import types

KERNEL = types._numeric


@pytest.fixture(autouse=True)
def _kernel_built():
    if KERNEL is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("the decimal kernel unistore._numeric was not built (CI must prove it is used)")
        pytest.skip("unistore._numeric was not built here: Arrow's cast is used")


def _outcome(fn, arr, target):
    try:
        return fn(arr, target), None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        return None, type(exc)


ODD = ["NaN", "Infinity", "-Infinity", "1e5", " 1", "1 ", "+1", ".5", "1.", "", "-", "--1", "1.2.3", "0x1", "-0",
       "-0.000", "0.0000000000", "١٢"]


def decimal_texts(precision: int, scale: int) -> st.SearchStrategy[str | None]:
    """Texts around the edges of decimal(precision, scale): one digit too many on either side, zeros
    before and after (Arrow counts them against its 38 digits), odd spellings, nulls."""
    def run(most: int) -> st.SearchStrategy[str]:
        return st.text("0123456789", max_size=max(most, 0))
    zeros = st.integers(0, 12).map(lambda n: "0" * n)
    plain = st.builds(lambda sign, lead, i, f, trail, dot: sign + lead + (i or "0") + ("." + f + trail if dot else ""),
                      st.sampled_from(["", "-"]), zeros, run(precision - scale + 1), run(scale + 1), zeros,
                      st.booleans())
    return st.one_of(plain, st.sampled_from(ODD), st.none())


@settings(max_examples=3000, deadline=None)
@given(st.data())
def test_same_values_and_errors_as_arrows_cast(data):
    precision = data.draw(st.integers(1, 38))
    scale = data.draw(st.integers(0, precision))
    values = data.draw(st.lists(decimal_texts(precision, scale), min_size=1, max_size=12))
    arr, target = pa.array(values, pa.string()), pa.decimal128(precision, scale)
    want, want_error = _outcome(pc.cast, arr, target)
    got, got_error = _outcome(types.text_to_decimal, arr, target)
    assert got_error == want_error
    if want is not None:
        assert got.equals(want) and got.type == target and got.null_count == want.null_count


@pytest.mark.parametrize("precision, scale, text", [
    (38, 25, "7391579998162.31709823977155033880413610"),  # 39 digits, the last a zero beyond the scale
    (37, 8, "93570140872859792468647792121.4287577000"),
    (36, 25, "0000035315704745.51755813794648777789959610000"),  # leading zeros count too
    (38, 0, "0" * 5 + "1" * 34),
    (38, 2, "1" * 36 + ".00"),  # exactly 38 digits: Arrow takes it
    (10, 2, "12345678.9"), (10, 2, "123456789.0"), (10, 2, "1.005"), (10, 2, "1.000"), (1, 1, "0.5"), (1, 0, "-9"),
])
def test_edges_found_by_fuzzing(precision, scale, text):
    arr, target = pa.array([text, None], pa.string()), pa.decimal128(precision, scale)
    want, want_error = _outcome(pc.cast, arr, target)
    got, got_error = _outcome(types.text_to_decimal, arr, target)
    assert got_error == want_error and (want is None or got.equals(want))


def test_the_plain_form_is_parsed_by_the_kernel_not_handed_to_arrow():
    arr = pa.array(["-123.45", None, "0.10", "99999999.99", "-0.00", "7"], pa.string())
    out = pa.allocate_buffer(len(arr) * 16)
    validity, offsets, data = arr.buffers()
    assert KERNEL.parse(offsets, data, validity, 0, len(arr), 10, 2, out) is True
    got = pa.Array.from_buffers(pa.decimal128(10, 2), len(arr), [validity, out], null_count=1)
    assert got.equals(pc.cast(arr, pa.decimal128(10, 2)))
    # a value with a digit beyond the scale is not the kernel's to judge
    assert KERNEL.parse(*pa.array(["1.234"]).buffers()[1:], None, 0, 1, 10, 2, pa.allocate_buffer(16)) is False


def test_slices_and_other_string_types_go_to_arrow_and_agree():
    arr = pa.array(["1.50", "2.25", None, "-3.00"], pa.string())
    for piece in (arr.slice(1), arr.cast(pa.large_string())):
        assert types.text_to_decimal(piece, pa.decimal128(5, 2)).equals(pc.cast(piece, pa.decimal128(5, 2)))


def test_buffers_that_do_not_describe_the_array_are_refused():
    arr = pa.array(["1.5", "2.5"])
    _, offsets, data = arr.buffers()
    with pytest.raises(ValueError, match="shorter"):
        KERNEL.parse(offsets, data, None, 0, 5, 10, 2, pa.allocate_buffer(80))
    with pytest.raises(ValueError, match="real array"):  # sizes computed from these would wrap around
        KERNEL.parse(offsets, data, None, 2**62, 1, 5, 0, bytearray(16))
    bad_offsets = pa.py_buffer(pa.array([0, 3, 1000], pa.int32()).buffers()[1])
    with pytest.raises(ValueError, match="outside"):
        KERNEL.parse(bad_offsets, data, None, 0, 2, 10, 2, pa.allocate_buffer(32))
