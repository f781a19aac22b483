"""Issue benchmarks for distributed reads: unistore on Ray and Dask vs the engines' own readers, and the
PyTorch loader vs a plain ``DataLoader`` over an in-memory Arrow table.

- Parquet (a folder of files, ``--parquet-gb`` on disk, 7 mixed columns): ``unistore.read`` in one
  process; ``unistore.ray.read`` vs ``ray.data.read_parquet`` on Ray with 1 and 2 CPUs; ``unistore.dask.read``
  vs ``dask.dataframe.read_parquet`` on a ``distributed`` cluster of 1 and 2 single-threaded workers.
- PostgreSQL (``--pg-rows`` rows x 6 columns, loaded once with COPY): the same, against
  ``ray.data.read_sql`` (psycopg connection factory; with 2 workers sharded on ``id`` with
  ``shard_hash_fn="hashint8"``, each shard on its own connection: no shared snapshot, unlike unistore's)
  and ``dask.dataframe.read_sql_table`` (key ranges on ``id``, no shared snapshot either).
- PyTorch: samples per second of one epoch of ``unistore.torch.IterableDataset`` over Parquet vs a plain
  ``DataLoader`` over the same rows already in memory as an Arrow table (the limit), 0 and 2 workers.

    flock /tmp/unistore-bench.lock .venv/bin/python benchmarks/bench_distributed.py [--pg-rows N]
        [--parquet-gb G] [--torch-rows N] [--repeat R] [--only parquet|postgresql|torch]

"Ray n" is ``ray.init(num_cpus=n)``; "Dask n" is ``LocalCluster(n_workers=n, threads_per_worker=1)``.
Ray's "read" is ``.materialize()`` (blocks in the object store), Dask's is ``.persist()`` + ``wait``
(partitions in the workers), unistore.read's is the ``pyarrow.Table`` in the process. Cluster start-up and a
warm-up task run before the clock. Each variant runs in a fresh process, interleaved, median of ``--repeat``.

Memory: ``driver MB`` is the harness's VmHWM of the benchmark process; ``tree MB`` is the peak, sampled
every 0.5 s, of the summed PSS (``/proc/PID/smaps_rollup``) of that process and all its descendants
(Ray's raylet, GCS and workers, Dask's nanny and worker processes, DataLoader workers), so shared memory
(Ray's object store in /dev/shm) is counted once; ``tree +MB`` is that peak less the tree's PSS when the
clock started (idle cluster). Data is generated once and reused: Parquet under ``--data-dir``, the table
``bench_dist_<rows>`` in PostgreSQL.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _data import make_parquet  # noqa: E402
from _harness import CHILD, UNISTORE_WARM, Variant  # noqa: E402

PG = "postgresql://postgres@127.0.0.1:5432/test"
PG_CONNINFO = "host=127.0.0.1 port=5432 user=postgres dbname=test"
PG_SQLALCHEMY = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BYTES_PER_ROW = 44  # on disk, for _data.make_parquet's 7 columns
TORCH_COLUMNS = ["user_id", "amount", "score", "flag"]

# Peak PSS of this process and its descendants, sampled on a thread (started at the end of the setup).
TREE = '''
import os as _os, threading as _threading

def _tree_pss_mb(root):
    children = {}
    for name in _os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(name))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, ()))
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                total += next(int(ln.split()[1]) for ln in f if ln.startswith("Pss:"))
        except (OSError, StopIteration):
            pass
    return total / 1024

class _Tree:
    def __init__(self):
        self.base = self.peak = _tree_pss_mb(_os.getpid())
        self.stop = _threading.Event()
        _threading.Thread(target=self.run, daemon=True).start()
    def run(self):
        while not self.stop.wait(0.5):
            self.peak = max(self.peak, _tree_pss_mb(_os.getpid()))
'''
TREE_START = "\n_tree = _Tree()\n"
TREE_END = '\n_tree.stop.set()\nprint("__TREE__" + json.dumps({"tree_peak_mb": _tree.peak, "tree_base_mb": _tree.base}))\n'


def ray_setup(cpus: int) -> str:
    return f"""
import ray, ray.data, unistore, unistore.ray
ray.init(address="local", num_cpus={cpus}, include_dashboard=False, logging_level="ERROR")
ray.data.DataContext.get_current().enable_progress_bars = False
ray.data.range(100, override_num_blocks={cpus}).materialize()  # the workers exist before the clock starts
"""


def dask_setup(workers: int) -> str:
    return f"""
import logging, dask.dataframe as dd, distributed, unistore, unistore.dask
cluster = distributed.LocalCluster(n_workers={workers}, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.ERROR)
client = distributed.Client(cluster)
client.run(lambda: __import__("pyarrow.parquet"))
"""


def run(v: Variant) -> dict:
    """The harness's child (fresh process), plus the process tree's peak PSS."""
    code = CHILD.format(setup=TREE + textwrap.dedent(v.setup) + TREE_START,
                        body=textwrap.dedent(v.body) + TREE_END)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONHASHSEED": "0"}, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(f"{v.name} failed:\n{out.stderr[-3000:]}")
    lines = out.stdout.splitlines()
    result = json.loads([ln for ln in lines if ln.startswith("__RESULT__")][-1][len("__RESULT__"):])
    result.update(json.loads([ln for ln in lines if ln.startswith("__TREE__")][-1][len("__TREE__"):]))
    return result


def compare(title: str, variants: list[Variant], repeat: int, *, rows: int | None = None) -> dict[str, dict]:
    """Every variant ``repeat`` times, interleaved; medians, the ratio to the fastest reference, memory."""
    runs: dict[str, list[dict]] = {v.name: [] for v in variants}
    for i in range(repeat):
        for v in variants:
            r = run(v)
            runs[v.name].append(r)
            print(f"  [{i + 1}/{repeat}] {v.name}: {r['seconds']:.2f} s", file=sys.stderr, flush=True)
    out = {}
    for v in variants:
        rs = runs[v.name]
        out[v.name] = {"seconds": statistics.median(r["seconds"] for r in rs), "reference": v.reference,
                       "driver_mb": max(r["peak_mb"] for r in rs), "tree_mb": max(r["tree_peak_mb"] for r in rs),
                       "tree_growth_mb": max(r["tree_peak_mb"] - r["tree_base_mb"] for r in rs)}
    refs = [n for n, r in out.items() if r["reference"]] or list(out)
    fastest = min(refs, key=lambda n: out[n]["seconds"])
    print(f"\n## {title}  (median of {repeat}; ratio = time / {fastest})")
    extra = f" {'rows/s':>11}" if rows else ""
    print(f"{'variant':<46} {'seconds':>8} {'ratio':>6} {'driver MB':>9} {'tree MB':>8} {'tree +MB':>8}{extra}")
    for name, r in out.items():
        rate = f" {rows / r['seconds']:>11,.0f}" if rows else ""
        print(f"{name:<46} {r['seconds']:>8.2f} {r['seconds'] / out[fastest]['seconds']:>6.2f} "
              f"{r['driver_mb']:>9.0f} {r['tree_mb']:>8.0f} {r['tree_growth_mb']:>8.0f}{rate}")
    return out


def ratios(out: dict[str, dict], pairs: list[tuple[str, str, str]]) -> None:
    """Explicit ratios: ``a / b`` of the median times, with what the issue asks of them."""
    print("ratios (time of the first / time of the second):")
    for a, b, target in pairs:
        print(f"  {a}  /  {b}:  {out[a]['seconds'] / out[b]['seconds']:.2f}   [{target}]")


# -- data ---------------------------------------------------------------------------------------------

def make_postgresql(rows: int) -> str:
    """``bench_dist_<rows>``: the 6 mixed columns of bench_sql_servers.py, loaded with COPY (CSV made by Arrow)."""
    import numpy as np
    import psycopg
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as csv

    name = f"bench_dist_{rows}"
    with psycopg.connect(PG_CONNINFO, autocommit=True) as con:
        if con.execute("SELECT to_regclass(%s) IS NOT NULL", [name]).fetchone()[0]:
            if con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] == rows:
                return name
        tmp = name + "_loading"
        con.execute(f'DROP TABLE IF EXISTS "{tmp}"')
        con.execute(f'''CREATE TABLE "{tmp}" (id BIGINT NOT NULL, qty INTEGER, amount DOUBLE PRECISION,
                        label TEXT, ts TIMESTAMPTZ, price NUMERIC(12,2))''')
        chunk = 1_000_000
        with con.cursor() as cur, cur.copy(f'COPY "{tmp}" FROM STDIN (FORMAT csv)') as copy:
            for start in range(1, rows + 1, chunk):
                i = np.arange(start, min(start + chunk, rows + 1), dtype=np.int64)
                label = pc.binary_join_element_wise(
                    "customer-", pc.utf8_lpad(pa.array((i * 31) % 100_000).cast(pa.string()), 6, "0"), "")
                batch = pa.table({
                    "id": i, "qty": ((i * 7) % 1000).astype(np.int32), "amount": (i % 100_000) * 1.37,
                    "label": label,
                    "ts": pa.array(np.datetime64("2026-01-01T00:00:00", "s") + i * 17).cast(pa.timestamp("s", "UTC")),
                    "price": ((i * 13) % 1_000_000) / 100.0,  # the column is numeric(12,2)
                })
                buf = io.BytesIO()
                csv.write_csv(batch, buf, csv.WriteOptions(include_header=False))
                copy.write(buf.getvalue())
        con.execute(f'ALTER TABLE "{tmp}" ADD PRIMARY KEY (id)')
        con.execute(f'VACUUM ANALYZE "{tmp}"')
        con.execute(f'DROP TABLE IF EXISTS "{name}"')
        con.execute(f'ALTER TABLE "{tmp}" RENAME TO "{name}"')
        con.execute(f'ALTER INDEX "{tmp}_pkey" RENAME TO "{name}_pkey"')
    return name


# -- the comparisons ----------------------------------------------------------------------------------

def bench_parquet(path: str, rows: int, repeat: int) -> None:
    check = f"assert n == {rows}, n"
    variants = [Variant("unistore.read (1 process)", setup=UNISTORE_WARM + "import pyarrow.dataset",
                        body=f"t = unistore.read({path!r}); n = t.num_rows; {check}")]
    for n in (1, 2):
        variants += [
            Variant(f"Ray {n}: ray.data.read_parquet", reference=True, setup=ray_setup(n),
                    body=f"ds = ray.data.read_parquet({path!r}).materialize(); n = ds.count(); {check}"),
            Variant(f"Ray {n}: unistore.ray.read splits={n}", setup=ray_setup(n),
                    body=f"ds = unistore.ray.read({path!r}, splits={n}).materialize(); n = ds.count(); {check}"),
        ]
    for n in (1, 2):
        variants += [
            Variant(f"Dask {n}: dd.read_parquet", setup=dask_setup(n),
                    body=f"df = dd.read_parquet({path!r}).persist(); distributed.wait(df); n = len(df); {check}"),
            Variant(f"Dask {n}: unistore.dask.read splits={n}", setup=dask_setup(n),
                    body=f"read = unistore.dask.read({path!r}, splits={n}); df = read.persist(); distributed.wait(df); "
                         f"n = len(df); {check}"),
        ]
    gb = sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path)) / 1e9
    out = compare(f"Parquet, {gb:.2f} GB on disk, {rows:,} rows x 7 columns, {os.cpu_count()} cores",
                  variants, repeat)
    ratios(out, [
        ("Ray 1: unistore.ray.read splits=1", "Ray 1: ray.data.read_parquet", "target <= 1.1"),
        ("Ray 2: unistore.ray.read splits=2", "Ray 2: ray.data.read_parquet", "target <= 1.1"),
        ("Ray 1: unistore.ray.read splits=1", "Ray 2: unistore.ray.read splits=2", "speed-up of 2 workers"),
        ("Ray 2: unistore.ray.read splits=2", "unistore.read (1 process)", "vs one process"),
        ("Dask 1: unistore.dask.read splits=1", "Dask 1: dd.read_parquet", "vs Dask's own"),
        ("Dask 2: unistore.dask.read splits=2", "Dask 2: dd.read_parquet", "vs Dask's own"),
    ])


def bench_postgresql(table: str, rows: int, repeat: int) -> None:
    check = f"assert n == {rows}, n"
    sql = f'SELECT * FROM "{table}"'
    factory = f"lambda: psycopg.connect({PG_CONNINFO!r})"
    variants = [Variant("unistore.read (1 process)", setup=UNISTORE_WARM + "import unistore.adapters.sql.postgresql",
                        body=f"t = unistore.read({PG!r}, {table!r}); n = t.num_rows; {check}")]
    for n in (1, 2):
        shard = ', shard_keys=["id"], shard_hash_fn="hashint8"' if n > 1 else ""
        variants += [
            Variant(f"Ray {n}: ray.data.read_sql (psycopg)", reference=True, setup=ray_setup(n) + "import psycopg",
                    body=f"ds = ray.data.read_sql({sql!r}, {factory}, override_num_blocks={n}{shard}).materialize()"
                         f"; n = ds.count(); {check}"),
            Variant(f"Ray {n}: unistore.ray.read splits={n}", setup=ray_setup(n),
                    body=f"ds = unistore.ray.read({PG!r}, {table!r}, splits={n}).materialize(); n = ds.count(); "
                         f"{check}"),
        ]
    for n in (1, 2):
        variants += [
            Variant(f"Dask {n}: dd.read_sql_table", setup=dask_setup(n),
                    body=f"df = dd.read_sql_table({table!r}, {PG_SQLALCHEMY!r}, index_col='id', npartitions={n})"
                         f".persist(); distributed.wait(df); n = len(df); {check}"),
            Variant(f"Dask {n}: unistore.dask.read splits={n}", setup=dask_setup(n),
                    # the frame unistore returned must stay referenced: its release ends the plan's snapshot
                    body=f"read = unistore.dask.read({PG!r}, {table!r}, splits={n}); df = read.persist(); "
                         f"distributed.wait(df); n = len(df); {check}"),
        ]
    out = compare(f"PostgreSQL, {rows:,} rows x 6 columns, {os.cpu_count()} cores", variants, repeat)
    ratios(out, [
        ("Ray 1: unistore.ray.read splits=1", "Ray 1: ray.data.read_sql (psycopg)", "target < 1"),
        ("Ray 2: unistore.ray.read splits=2", "Ray 2: ray.data.read_sql (psycopg)", "target < 1"),
        ("Ray 1: unistore.ray.read splits=1", "Ray 2: unistore.ray.read splits=2", "target >= 1.6 speed-up"),
        ("Ray 2: unistore.ray.read splits=2", "unistore.read (1 process)", "vs one process"),
        ("Dask 1: unistore.dask.read splits=1", "Dask 1: dd.read_sql_table", "vs Dask's own"),
        ("Dask 2: unistore.dask.read splits=2", "Dask 2: dd.read_sql_table", "vs Dask's own"),
        ("Dask 1: unistore.dask.read splits=1", "Dask 2: unistore.dask.read splits=2", "speed-up of 2 workers"),
    ])


ARROW_BATCHES = """
import torch, pyarrow.parquet as pq
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

class ArrowBatches(IterableDataset):
    '''The limit: an in-memory Arrow table, sliced into batches dealt to the workers, as dicts of tensors.'''
    def __init__(self, table, batch_size):
        self.table, self.batch_size = table, batch_size
    def __iter__(self):
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        for k, start in enumerate(range(0, self.table.num_rows, self.batch_size)):
            if k % workers == worker:
                batch = self.table.slice(start, self.batch_size)
                yield {c: torch.from_numpy(batch.column(c).to_numpy()) for c in batch.column_names}
"""


def bench_torch(path: str, rows: int, batch: int, repeat: int) -> None:
    check = f"assert n == {rows}, n"
    count = f"n = sum(len(b[{TORCH_COLUMNS[0]!r}]) for b in DataLoader(data, batch_size=None, num_workers={{w}}))"
    variants = []
    for w in (0, 2):
        variants += [
            Variant(f"DataLoader(in-memory Arrow), {w} workers", reference=True,
                    setup=ARROW_BATCHES + f"data = ArrowBatches(pq.read_table({path!r}, columns={TORCH_COLUMNS!r})"
                                          f".combine_chunks(), {batch})",
                    body=count.format(w=w) + f"; {check}"),
            Variant(f"unistore.torch.IterableDataset, {w} workers",
                    setup="import unistore, unistore.torch\nfrom torch.utils.data import DataLoader\n"
                          f"data = unistore.torch.IterableDataset({path!r}, columns={TORCH_COLUMNS!r}, "
                          f"batch_size={batch})",
                    body=count.format(w=w) + f"; {check}"),
        ]
    out = compare(f"PyTorch, one epoch of {rows:,} rows x {len(TORCH_COLUMNS)} columns, batch {batch}", variants,
                  repeat, rows=rows)
    ratios(out, [(f"unistore.torch.IterableDataset, {w} workers", f"DataLoader(in-memory Arrow), {w} workers",
                  "target <= 1.2") for w in (0, 2)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pg-rows", type=int, default=8_000_000, help="rows of the PostgreSQL table (8 M)")
    ap.add_argument("--parquet-gb", type=float, default=2.0, help="size of the Parquet data set on disk (2 GB)")
    ap.add_argument("--torch-rows", type=int, default=8_000_000, help="rows of the PyTorch epoch (8 M)")
    ap.add_argument("--torch-batch", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--data-dir", default="/tmp/unistore-bench-distributed")
    ap.add_argument("--only", choices=["parquet", "postgresql", "torch"], default=None)
    args = ap.parse_args()

    if args.only in (None, "parquet"):
        rows = int(args.parquet_gb * 1e9 / BYTES_PER_ROW)
        bench_parquet(make_parquet(args.data_dir, rows), rows, args.repeat)
    if args.only in (None, "postgresql"):
        bench_postgresql(make_postgresql(args.pg_rows), args.pg_rows, args.repeat)
    if args.only in (None, "torch"):
        bench_torch(make_parquet(args.data_dir, args.torch_rows), args.torch_rows, args.torch_batch, args.repeat)


if __name__ == "__main__":
    main()
