"""Data tests at read time: what a typical test set adds to a 2 M-row PostgreSQL read, and the same tests by pandera.

The test set: not_null on 3 columns, accepted_values on a 5-value status column, between on
an amount, unique on the key. Variants, each in a fresh process (peak memory = VmHWM):

- ``plain read``: ``unistore.read`` with no tests (the baseline);
- ``read + checks (streaming)``: the same read with ``checks=[...]``, evaluated batch by batch;
- ``read, then checks.evaluate``: the tests run by unistore on the finished table (post hoc);
- ``read, then pandera``: the same tests as a pandera ``DataFrameSchema`` over the same Arrow data
  (converted to pandas, which pandera validates; the conversion is part of that path);
- ``tests only``: unistore's evaluation and pandera's on a table read before the clock starts.

    flock /tmp/unistore-bench.lock python benchmarks/bench_checks.py [--rows N] [--repeat R]

The table is generated on the server once (``generate_series``) and reused while it holds the
expected row count.
"""

from __future__ import annotations

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _data import make_pg_table  # noqa: E402
from _harness import Variant, compare  # noqa: E402

PG = "postgresql://postgres@127.0.0.1:5432/test"
STATUSES = ["new", "paid", "shipped", "refunded", "lost"]

SETUP = f"""
import unistore, unistore.adapters.sql.postgresql, adbc_driver_postgresql.dbapi
from unistore import checks as C
PG = {PG!r}
STATUSES = {STATUSES!r}
CHECKS = [C.not_null(["id", "status", "amount"]), C.accepted_values("status", STATUSES),
          C.between("amount", 0, 1_000_000), C.unique("id")]
import pyarrow
C.evaluate(pyarrow.table({{"id": [1], "status": ["new"], "amount": [1.0]}}), CHECKS)  # the same warm-up as pandera's
"""

PANDERA_SETUP = SETUP + """
import pandera.pandas as pa
SCHEMA = pa.DataFrameSchema({
    "id": pa.Column(nullable=False, unique=True),
    "status": pa.Column(nullable=False, checks=pa.Check.isin(STATUSES)),
    "amount": pa.Column(nullable=False, checks=pa.Check.in_range(0, 1_000_000)),
})
import pandas
SCHEMA.validate(pandas.DataFrame({"id": [1], "status": ["new"], "amount": [1.0]}))  # pandera's lazy set-up
"""


def make_table(rows: int) -> str:
    statuses = "ARRAY[" + ", ".join(f"'{s}'" for s in STATUSES) + "]"
    return make_pg_table(f"bench_checks_{rows}", rows, "status", f"({statuses})[1 + (i * 31) % {len(STATUSES)}]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    name = make_table(args.rows)
    read = f"table = unistore.read(PG, {name!r})"
    variants = [
        Variant("plain read", read, SETUP, reference=True),
        Variant("read + checks (streaming)",
                f"table = unistore.read(PG, {name!r}, checks=CHECKS)\n"
                "assert all(r.success for r in unistore.provenance_of(table).checks)", SETUP),
        Variant("read, then checks.evaluate",
                read + "\nresults = C.evaluate(table, CHECKS)\nassert all(r.success for r in results)", SETUP),
        Variant("read, then pandera (to_pandas + validate)",
                read + "\nSCHEMA.validate(table.select(['id', 'status', 'amount']).to_pandas())", PANDERA_SETUP),
        # the tests alone, on a table read before the clock starts
        Variant("tests only: checks.evaluate", "results = C.evaluate(table, CHECKS)", SETUP + read),
        Variant("tests only: pandera (to_pandas + validate)",
                "SCHEMA.validate(table.select(['id', 'status', 'amount']).to_pandas())", PANDERA_SETUP + read),
    ]
    compare(f"PostgreSQL {args.rows:,} rows x 6 columns: data tests at read time vs after it", variants,
            repeat=args.repeat, memory_against="plain read")
    instrumented(name, args.repeat)


def instrumented(name: str, repeat: int) -> None:
    """Seconds spent inside the checks' own code during streaming reads, next to plain reads in the same process.

    Wall-clock ratios move a lot when other work shares the machine; the time the checks
    themselves take (per batch and at the end) is what the streaming read adds.
    """
    import statistics
    import time

    import unistore
    from unistore import checkeval
    from unistore import checks as C

    checks = [C.not_null(["id", "status", "amount"]), C.accepted_values("status", STATUSES),
              C.between("amount", 0, 1_000_000), C.unique("id")]
    spent = [0.0]
    update, results = checkeval.CheckRun.update, checkeval.CheckRun.results

    def timed(fn):
        def wrapper(*a):
            t = time.perf_counter()
            try:
                return fn(*a)
            finally:
                spent[0] += time.perf_counter() - t
        return wrapper

    checkeval.CheckRun.update, checkeval.CheckRun.results = timed(update), timed(results)
    plain: list[float] = []
    in_checks: list[float] = []
    try:
        for _ in range(repeat):
            t = time.perf_counter()
            unistore.read(PG, name)
            plain.append(time.perf_counter() - t)
            spent[0] = 0.0
            unistore.read(PG, name, checks=checks)
            in_checks.append(spent[0])
    finally:
        checkeval.CheckRun.update, checkeval.CheckRun.results = update, results
    p, c = statistics.median(plain), statistics.median(in_checks)
    print(f"\n## instrumented (median of {repeat}): plain read {p:.3f} s; time inside the checks during the "
          f"streaming read {c:.3f} s = {100 * c / p:.1f}% of the plain read")


if __name__ == "__main__":
    main()
