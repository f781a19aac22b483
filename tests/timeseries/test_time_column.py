"""``time_column=`` with ``start``/``end`` on every conformance store (SQL tables, files, table formats).

The reference table has a naive timestamp (``ts``), a UTC timestamp
(``ts_tz``) and a date (``day``); the same UTC range must select the same
rows from each, computed here in plain Python.
"""

from __future__ import annotations

import datetime as dt

import pytest

import unistore
from reference import ROWS

UTC = dt.timezone.utc
START = dt.datetime(2024, 1, 3, 6, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))  # 04:30 UTC
END = dt.datetime(2024, 1, 9, 12, 0)  # naive: UTC


def _first_day_at_or_after(moment: dt.datetime) -> dt.date:
    return moment.date() if moment.time() == dt.time(0) else moment.date() + dt.timedelta(days=1)


def expected(column: str) -> list[int]:
    """Ids in [START, END); a date counts as its midnight (UTC)."""
    lo, hi = START.astimezone(UTC), END.replace(tzinfo=UTC)
    out = []
    for row in ROWS:
        v = row[column]
        if v is None:
            continue
        if isinstance(v, dt.datetime):
            ok = lo <= (v if v.tzinfo else v.replace(tzinfo=UTC)) < hi
        else:
            ok = _first_day_at_or_after(lo) <= v < _first_day_at_or_after(hi)
        if ok:
            out.append(row["id"])
    return out


@pytest.mark.parametrize("column", ["ts", "ts_tz", "day"])
def test_time_column_range_selects_the_same_rows_everywhere(case, column):
    table = unistore.read(case.uri, case.table, time_column=column, start=START, end=END, **case.options)
    want = expected(column)
    assert want and len(want) < len(ROWS)
    assert sorted(table.column("id").to_pylist()) == want
    record = unistore.provenance_of(table)
    assert column in record.query.filter


def test_time_column_joins_the_callers_filter(case):
    table = unistore.read(case.uri, case.table, time_column="ts_tz", start=START, end=END,
                          filter=[("amount", ">", 0)], columns=["id"], **case.options)
    ids = set(expected("ts_tz")) & {r["id"] for r in ROWS if r["amount"] is not None and r["amount"] > 0}
    assert sorted(table.column("id").to_pylist()) == sorted(ids)
