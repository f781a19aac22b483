"""Column statistics of a one-value batch (no compute kernels) equal those the kernels give."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest

from unistore.lineage.stats import ColumnStats

VALUES = [5, -3, 2**62, 2.5, -0.0, float("nan"), float("inf"), float("-inf")]


def _metrics(batch: pa.RecordBatch) -> dict:
    stats = ColumnStats()
    stats.update(batch)
    return stats.to_openlineage()


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        type(a[k]) is type(b[k])
        and (a[k] == b[k] or (isinstance(a[k], float) and math.isnan(a[k]) and math.isnan(b[k])))
        and math.copysign(1, a[k]) == math.copysign(1, b[k])
        for k in a
    )


def _representable(value, kind) -> bool:
    try:
        pa.array([value], kind)
    except (pa.ArrowInvalid, OverflowError):
        return False
    return True


@pytest.mark.parametrize(("value", "kind"), [
    (value, kind) for kind in (pa.int64(), pa.uint8(), pa.float32(), pa.float64()) for value in VALUES
    if _representable(value, kind)])
def test_a_one_value_batch_has_the_metrics_the_kernels_give(value, kind):
    array = pa.array([value], kind)
    batch = pa.record_batch([array, pa.array([value, value], kind)[:1]], names=["one", "sliced"])
    direct = _metrics(batch)
    # the same batch with two rows, one of them null, goes through the kernels
    through_kernels = _metrics(pa.record_batch([pa.array([value, None], kind)] * 2, names=["one", "sliced"]))
    for name in ("one", "sliced"):
        got, want = direct[name], dict(through_kernels[name])
        want["nullCount"], want["count"] = 0, 1
        assert _same(got, want), (got, want)


def test_a_one_row_batch_calls_no_compute_kernel(monkeypatch):
    from unistore.lineage import stats as module

    class NoKernels:
        def __getattr__(self, name):
            raise AssertionError(f"pyarrow.compute.{name} called for a one-row batch")

    monkeypatch.setattr(module, "pc", NoKernels())
    metrics = _metrics(pa.record_batch([pa.array([7]), pa.array([1.5])], names=["id", "amount"]))
    assert metrics == {
        "id": {"nullCount": 0, "count": 1, "min": 7.0, "max": 7.0, "sum": 7.0},
        "amount": {"nullCount": 0, "count": 1, "min": 1.5, "max": 1.5, "sum": 1.5},
    }
