"""Fingerprint throughput (issue 9): the v2 multiset digest beside raw xxh3-128 over the same
buffers and the v1 stream digest (order-sensitive, kept here only for the comparison).

    python benchmarks/bench_fingerprint.py [--rows N] [--repeat R]

Cases: 8 int64/float64 columns; the same with 10% nulls; 8 timestamp columns; one string
column. Prints GB/s (Arrow bytes / best-of-R seconds, one core) and ratios. The machine is
shared: figures move with other load, so take the best of several repeats.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import types

import numpy as np
import pyarrow as pa
import xxhash

from unistore.fingerprint import digest


def _v1() -> types.ModuleType:
    """The v1 fingerprint module, from git history (commit 3e892a2), loaded beside v2."""
    src = subprocess.run(["git", "show", "3e892a2:src/unistore/fingerprint.py"], capture_output=True, text=True,
                         check=True).stdout
    mod = types.ModuleType("fingerprint_v1")
    exec(compile(src, "fingerprint_v1.py", "exec"), mod.__dict__)
    return mod


def _raw_xxh3(table: pa.Table) -> None:
    for column in table.columns:
        for chunk in column.chunks:
            for buf in chunk.buffers():
                if buf is not None:
                    xxhash.xxh3_128(buf).digest()


def tables(rows: int) -> dict[str, pa.Table]:
    rng = np.random.default_rng(1)
    mixed = {f"i{k}": pa.array(rng.integers(-(2**62), 2**62, rows)) for k in range(4)}
    mixed.update({f"f{k}": pa.array(rng.random(rows)) for k in range(4)})
    nulls = {name: pa.array(col.to_numpy(), mask=rng.random(rows) < 0.1) for name, col in mixed.items()}
    ts = {f"t{k}": pa.array(rng.integers(0, 2**50, rows)).cast(pa.timestamp("us")) for k in range(8)}
    n_str = rows // 4
    words = np.array([f"customer-{i % 99991}-" + "x" * (i % 23) for i in range(n_str)], dtype=object)
    return {
        f"8 int64/float64 columns, {rows:,} rows": pa.table(mixed),
        "the same with 10% nulls": pa.table(nulls),
        f"8 timestamp[us] columns, {rows:,} rows": pa.table(ts),
        f"1 string column, {n_str:,} rows": pa.table({"s": pa.array(words, pa.string())}),
    }


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    v1 = _v1()
    print(f"{'case':42} {'GB':>6} {'v2 GB/s':>8} {'xxh3 GB/s':>10} {'v1 GB/s':>8} {'v2/xxh3':>8} {'v2/v1':>6}")
    for name, table in tables(args.rows).items():
        gb = table.nbytes / 1e9
        v2 = best(lambda: digest(table), args.repeat)
        raw = best(lambda: _raw_xxh3(table), args.repeat)
        old = best(lambda: v1.fingerprint(table), args.repeat)
        print(f"{name:42} {gb:6.2f} {gb / v2:8.2f} {gb / raw:10.2f} {gb / old:8.2f} {raw / v2:8.2f} {old / v2:6.2f}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
