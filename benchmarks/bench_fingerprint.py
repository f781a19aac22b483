"""Fingerprint throughput (issues 9, 16): the v2 multiset digest with the compiled kernel
(unistore._fphash) and with the numpy code, beside raw xxh3-128 over the same buffers and the
v1 stream digest (order-sensitive, kept here only for the comparison).

    python benchmarks/bench_fingerprint.py [--rows N] [--repeat R] [--cpu]

Cases: 8 int64/float64 columns; the same with 10% nulls; 8 timestamp columns; one string
column. Prints GB/s (Arrow bytes / best-of-R seconds, one core) and ratios. The machine is
shared: figures move with other load, so take the best of several repeats (``--cpu`` times
with process CPU time, which other load disturbs less). Without the kernel its column says n/a.
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

import importlib

FP = importlib.import_module("unistore.fingerprint")


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


CLOCK = time.perf_counter


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = CLOCK()
        fn()
        times.append(CLOCK() - t0)
    return min(times)


def digest_with(kernel, table: pa.Table) -> None:
    saved, FP.kernel = FP.kernel, kernel
    try:
        FP.digest(table)
    finally:
        FP.kernel = saved


def main() -> None:
    global CLOCK
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cpu", action="store_true", help="time with process CPU time instead of wall time")
    args = ap.parse_args()
    if args.cpu:
        CLOCK = time.process_time
    v1 = _v1()
    print(f"kernel: {'unistore._fphash' if FP._fphash is not None else 'not built'}; clock: "
          f"{'CPU' if args.cpu else 'wall'}; GB/s of Arrow bytes, best of {args.repeat}")
    print(f"{'case':42} {'GB':>6} {'kernel':>7} {'numpy':>7} {'xxh3':>7} {'v1':>7} "
          f"{'k/numpy':>8} {'k/xxh3':>7} {'k/v1':>6}")
    for name, table in tables(args.rows).items():
        gb = table.nbytes / 1e9
        fast = best(lambda: digest_with(FP._fphash, table), args.repeat) if FP._fphash is not None else None
        slow = best(lambda: digest_with(None, table), args.repeat)
        raw = best(lambda: _raw_xxh3(table), args.repeat)
        old = best(lambda: v1.fingerprint(table), args.repeat)
        k = f"{gb / fast:7.2f}" if fast else f"{'n/a':>7}"
        ratios = (f"{slow / fast:8.2f} {raw / fast:7.2f} {old / fast:6.2f}" if fast else "")
        print(f"{name:42} {gb:6.2f} {k} {gb / slow:7.2f} {gb / raw:7.2f} {gb / old:7.2f} {ratios}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
