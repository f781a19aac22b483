"""Per-column statistics gathered while a read streams by (only when a sink asks for them).

Null counts are free (Arrow keeps them per array); min/max/sum are computed
per batch with ``pyarrow.compute`` for numeric columns only — the OpenLineage
``dataQualityMetrics`` facet types them as numbers. Nothing is materialised.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc


@dataclass
class ColumnMetrics:
    null_count: int = 0
    count: int = 0  # non-null values
    min: float | None = None
    max: float | None = None
    sum: float | None = None

    def to_openlineage(self) -> dict[str, Any]:
        out: dict[str, Any] = {"nullCount": self.null_count, "count": self.count}
        for key in ("min", "max", "sum"):
            value = getattr(self, key)
            if value is not None and math.isfinite(value):  # JSON has no NaN / Infinity
                out[key] = value
        return out


def _numeric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t)


class ColumnStats:
    """Accumulates :class:`ColumnMetrics` per column over the batches of one read."""

    def __init__(self) -> None:
        self.columns: dict[str, ColumnMetrics] = {}
        self._lock = threading.Lock()

    def update(self, batch: pa.RecordBatch) -> None:
        with self._lock:
            for name, array in zip(batch.schema.names, batch.columns):
                m = self.columns.get(name)
                if m is None:
                    m = self.columns[name] = ColumnMetrics()
                nulls = array.null_count
                m.null_count += nulls
                m.count += len(array) - nulls
                if len(array) > nulls and _numeric(array.type):
                    if len(array) == 1:  # one value is its own min, max and sum: no compute kernels (tiny reads)
                        value = array[0].as_py()
                        lo = hi = float(value)
                        total = value + 0  # as a sum from zero: -0.0 sums to 0.0
                    else:
                        lo, hi = pc.min_max(array).values()
                        total = pc.sum(array).as_py()
                        lo, hi = float(lo.as_py()), float(hi.as_py())
                    m.min = lo if m.min is None else min(m.min, lo)
                    m.max = hi if m.max is None else max(m.max, hi)
                    m.sum = float(total) if m.sum is None else m.sum + float(total)

    def to_openlineage(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {name: m.to_openlineage() for name, m in self.columns.items()}
