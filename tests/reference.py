"""The one data set every store is loaded with, and an independent filter evaluator.

Expected results are computed here in plain Python (SQL null semantics),
never through unistore's own filter translation, so a translation bug in any
adapter shows up as a difference.
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import pyarrow as pa

from unistore import col

N_ROWS = 60
UTC = dt.timezone.utc

SCHEMA = pa.schema([
    pa.field("id", pa.int64()),
    pa.field("kind", pa.string()),
    pa.field("amount", pa.float64()),
    pa.field("price", pa.decimal128(10, 2)),
    pa.field("active", pa.bool_()),
    pa.field("day", pa.date32()),
    pa.field("ts", pa.timestamp("us")),
    pa.field("ts_tz", pa.timestamp("us", "UTC")),
    pa.field("payload", pa.binary()),
])


def _row(i: int) -> dict[str, Any]:
    base = dt.datetime(2024, 1, 1, 0, 0, 0)
    return {
        "id": i,
        "kind": None if i % 7 == 0 else "abc"[i % 3] + ("" if i % 4 else "-x"),
        "amount": None if i % 5 == 0 else round((i - 20) * 1.25, 2),
        "price": None if i % 6 == 0 else decimal.Decimal(i * 137 % 5000).scaleb(-2),
        "active": None if i % 11 == 0 else i % 2 == 0,
        "day": None if i % 8 == 0 else dt.date(2024, 1, 1) + dt.timedelta(days=i),
        "ts": None if i % 9 == 0 else base + dt.timedelta(hours=i * 5, microseconds=(i * 250_000) % 1_000_000),
        "ts_tz": None if i % 10 == 0 else (base + dt.timedelta(hours=i * 7)).replace(tzinfo=UTC),
        "payload": None if i % 9 == 4 else (b"" if i == 3 else bytes([i % 256, (i * 3) % 256])),
    }


ROWS: list[dict[str, Any]] = [_row(i) for i in range(1, N_ROWS + 1)]
TABLE = pa.Table.from_pylist(ROWS, schema=SCHEMA)


# -- filters: the form callers write, and an independent evaluator ----------

def _cmp(value: Any, op: str, operand: Any) -> bool | None:
    if op == "is null":
        return value is None
    if op == "is not null":
        return value is not None
    if value is None:
        return None
    if op == "in":
        return value in operand
    if op == "not in":
        return value not in operand
    return {"==": value == operand, "!=": value != operand, "<": value < operand,
            "<=": value <= operand, ">": value > operand, ">=": value >= operand}[op]


def expected_ids(dnf: list[list[tuple]]) -> list[int]:
    """Ids of reference rows matching ``dnf`` under SQL semantics (NULL is not true)."""
    out = []
    for row in ROWS:
        for clause in dnf:
            if all(_cmp(row[c], op, v[0] if v else None) is True for c, op, *v in clause):
                out.append(row["id"])
                break
    return out


D = dt.date
T = dt.datetime
FILTER_CASES: dict[str, tuple[Any, list[list[tuple]]]] = {
    # name: (filter as the caller writes it, the same filter as DNF for the evaluator)
    "gt": ([("amount", ">", 10)], [[("amount", ">", 10)]]),
    "in-and-eq": ([("kind", "in", ["a", "b"]), ("active", "==", True)],
                  [[("kind", "in", ("a", "b")), ("active", "==", True)]]),
    "or": ([[("kind", "==", "c")], [("amount", "<", 0)]], [[("kind", "==", "c")], [("amount", "<", 0)]]),
    "ne-drops-nulls": ([("kind", "!=", "a")], [[("kind", "!=", "a")]]),
    "not-in": ([("kind", "not in", ["a", "b-x"])], [[("kind", "not in", ("a", "b-x"))]]),
    "is-null": ([("amount", "is null")], [[("amount", "is null")]]),
    "date-range": ((col("day") >= D(2024, 1, 10)) & (col("day") < D(2024, 2, 1)),
                   [[("day", ">=", D(2024, 1, 10)), ("day", "<", D(2024, 2, 1))]]),
    "timestamp": (col("ts") >= T(2024, 1, 5, 12), [[("ts", ">=", T(2024, 1, 5, 12))]]),
    "timestamp-tz": (col("ts_tz") < T(2024, 1, 10, tzinfo=UTC), [[("ts_tz", "<", T(2024, 1, 10, tzinfo=UTC))]]),
    "decimal": (col("price") >= decimal.Decimal("25.50"), [[("price", ">=", decimal.Decimal("25.50"))]]),
    "negated": (~(col("id") > 5), [[("id", "<=", 5)]]),
    "not-null-and-not-in": (col("kind").is_not_null() & ~col("kind").isin(["b"]),
                            [[("kind", "is not null"), ("kind", "not in", ("b",))]]),
    "empty-in": ([("id", "in", [])], [[("id", "in", ())]]),
    "string-eq": (col("kind") == "a-x", [[("kind", "==", "a-x")]]),
    "bool-false": ([("active", "==", False)], [[("active", "==", False)]]),
}


def without_metadata(table: pa.Table) -> pa.Table:
    """The table with schema and field metadata removed (provenance is checked separately)."""
    schema = pa.schema([f.remove_metadata() for f in table.schema])
    return pa.Table.from_arrays(table.columns, schema=schema)
