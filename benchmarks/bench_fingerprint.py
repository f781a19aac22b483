"""Fingerprint throughput (issues 9, 16): the v2 multiset digest with the compiled kernel
(unistore._fphash) and with the numpy code, beside raw xxh3-128 over the same buffers and the
v1 stream digest (order-sensitive, kept here only for the comparison).

    python benchmarks/bench_fingerprint.py [--rows N] [--repeat R] [--cpu]
        [--parquet-rows N] [--batch-size B] [--parquet-repeat R]

Cases: 8 int64/float64 columns; the same with 10% nulls; 8 timestamp columns; one string
column. Prints GB/s (Arrow bytes / best-of-R seconds, one core) and ratios. The machine is
shared: figures move with other load, so take the best of several repeats (``--cpu`` times
with process CPU time, which other load disturbs less). Without the kernel its column says n/a.

Then the cost the fingerprint adds to a read (issue 16, item 4): the 7-column Parquet data set
of benchmarks/_data.py (ints, floats, strings, timestamps, booleans) with 0% and 10% nulls,
read by unistore.read (provenance and fingerprint on) and by pyarrow.dataset's scanner at the
same batch size (the faster of to_table() and Table.from_batches is the reference), each in a
fresh process, interleaved; it prints the medians' ratios, and the fingerprint's throughput on
those tables in memory. ``--parquet-rows 0`` skips it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import types

import numpy as np
import pyarrow as pa
import xxhash

import importlib

FP = importlib.import_module("unistore.fingerprint")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _data import make_parquet  # noqa: E402
from _harness import UNISTORE_WARM, Variant, compare  # noqa: E402


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


def bench_parquet(rows: int, batch_size: int, repeat: int, fp_repeat: int) -> None:
    """unistore.read vs pyarrow's scanner at the same batch size, without and with 10% nulls."""
    import pyarrow.dataset as ds

    data = os.path.join(HERE, "data")
    ratios = {}
    for percent in (0, 10):
        path = make_parquet(data, rows, rows_per_file=5_000_000, null_percent=percent)
        scanner = f"ds.dataset({path!r}, format='parquet').scanner(batch_size={batch_size}, use_threads=True)"
        rows_out = compare(f"Parquet, {rows:,} rows x 7 columns, {percent}% nulls, batch_size={batch_size:,}", [
            Variant("pyarrow scanner(batch_size).to_table()", reference=True,
                    setup="import pyarrow.dataset as ds", body=f"t = {scanner}.to_table()"),
            Variant("pyarrow Table.from_batches(scanner.to_batches())", reference=True,
                    setup="import pyarrow as pa, pyarrow.dataset as ds",
                    body=f"t = pa.Table.from_batches({scanner}.to_batches())"),
            Variant("the same + Fingerprinter.update per batch", reference=False,
                    setup="import pyarrow as pa, pyarrow.dataset as ds\nfrom unistore.fingerprint import Fingerprinter",
                    body=f"sc = {scanner}\nfp = Fingerprinter(sc.projected_schema)\nbs = []\n"
                         "for b in sc.to_batches():\n    fp.update(b)\n    bs.append(b)\n"
                         "t = pa.Table.from_batches(bs, schema=sc.projected_schema)\nfp.digest()"),
            Variant("unistore.read(batch_size) (fingerprint on)",
                    setup=UNISTORE_WARM,
                    body=f"t = unistore.read({path!r}, batch_size={batch_size})"),
        ], repeat)
        ratios[percent] = rows_out[-1]["ratio"]
        table = ds.dataset(path, format="parquet").scanner(batch_size=batch_size).to_table()
        gb = table.nbytes / 1e9
        secs = best(lambda: digest_with(FP.kernel, table), fp_repeat)
        path_name = "kernel" if FP.kernel is not None else "numpy"
        print(f"fingerprint of this table in memory ({path_name}, "
              f"{table.num_rows:,} rows in batches of {batch_size:,}): {gb:.2f} GB, {gb / secs:.2f} GB/s")
    print("\nunistore.read / the faster pyarrow path at the same batch size (target <= 1.05): "
          + ", ".join(f"{p}% nulls {r:.3f}x" for p, r in ratios.items()))


def main() -> None:
    global CLOCK
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cpu", action="store_true", help="time with process CPU time instead of wall time")
    ap.add_argument("--parquet-rows", type=int, default=10_000_000, help="0 skips the Parquet read comparison")
    ap.add_argument("--batch-size", type=int, default=65_536)
    ap.add_argument("--parquet-repeat", type=int, default=7, help="fresh processes per Parquet variant")
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
    if args.parquet_rows:
        bench_parquet(args.parquet_rows, args.batch_size, args.parquet_repeat, args.repeat)


if __name__ == "__main__":
    main()
