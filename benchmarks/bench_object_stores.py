"""Issue 4 benchmarks: object stores and table formats, unistore vs the fastest direct path.

- Parquet data set (>= 500 MB) on a local S3 server (moto's server mode on loopback):
  unistore.read (provenance + fingerprint on; native S3 data path, and the s3fs data path)
  vs pyarrow.dataset with pyarrow's native S3FileSystem vs pyarrow.dataset over s3fs;
  plus unistore.scan streamed batch by batch (peak memory stays bounded). Then per read shape
  (whole, projection, selective filter): unistore.read with engine "auto", "pyarrow" and "duckdb"
  vs pyarrow.dataset over native S3 and DuckDB's read_parquet over s3fs (register_filesystem),
  with unistore "auto"'s time over the faster and peak memory over the lower.
- Delta table on local disk: unistore.read vs deltalake's DeltaTable(...).to_pyarrow_table().
- Iceberg table (SQLite catalog, local disk): unistore.read vs pyiceberg scan().to_arrow().

    flock /tmp/unistore-bench.lock .venv/bin/python benchmarks/bench_object_stores.py [--rows N] [--repeat R]

Every variant imports the same driver modules untimed (pyiceberg's SQL catalog alone takes
0.5 s to import). Data is generated once under benchmarks/data/ (git-ignored) and reused; the S3 copy is
uploaded to a fresh moto server each run. moto is a Python server: on this machine it,
not the client, bounds the S3 figures (it shares the 2 cores with the reader).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _data import make_parquet  # noqa: E402
from _harness import UNISTORE_WARM, Variant, compare, engine_variants, print_targets  # noqa: E402

DATA = os.path.join(HERE, "data", "object_stores")
BUCKET = "unistore-bench"
# Native IO threads (fsspec's, delta-rs') can abort the interpreter at exit ("terminate called
# without an active exception") after the result is printed: each child leaves at once instead.
# (an uncaught error sets sys.last_value, so a failed variant still exits with 1)
QUICK_EXIT = ("import atexit, os, sys\natexit.register(lambda: (sys.stdout.flush(), sys.stderr.flush(), "
              "os._exit(1 if hasattr(sys, 'last_value') else 0)))\n")
KEY, SECRET = "bench-key", "bench-secret"


def warm(scheme: str) -> str:
    """Setup that imports unistore's adapter for ``scheme`` (the direct paths import theirs in setup too)."""
    return f"import unistore\nunistore.registry.get_adapter({scheme!r})"


def make_delta(parquet: str) -> str:
    import pyarrow as pa
    import pyarrow.dataset as ds
    from deltalake import write_deltalake

    path = parquet + ".delta"
    if not os.path.isdir(path):
        data = ds.dataset(parquet, format="parquet")
        write_deltalake(path + ".tmp", pa.RecordBatchReader.from_batches(data.schema, data.to_batches()))
        os.rename(path + ".tmp", path)
    return path


def make_iceberg(parquet: str) -> str:
    """A SQLite catalog with table bench.events; data appended file by file."""
    import pyarrow.dataset as ds
    from pyiceberg.catalog.sql import SqlCatalog

    root = parquet + ".iceberg"
    catalog_path = os.path.join(root, "catalog.db")
    if not os.path.isfile(os.path.join(root, "done")):
        shutil.rmtree(root, ignore_errors=True)
        os.makedirs(root)
        catalog = SqlCatalog("default", uri=f"sqlite:///{catalog_path}", warehouse=f"file://{root}/warehouse")
        catalog.create_namespace("bench")
        data = ds.dataset(parquet, format="parquet")
        table = catalog.create_table("bench.events", schema=data.schema)
        for fragment in data.get_fragments():
            table.append(fragment.to_table())
        open(os.path.join(root, "done"), "w").close()
    return catalog_path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto_with(parquet: str) -> tuple[subprocess.Popen, str]:
    import boto3

    exe = shutil.which("moto_server", path=os.path.dirname(sys.executable)) or "moto_server"
    port = free_port()
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                      region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    for name in sorted(os.listdir(parquet)):
        s3.upload_file(os.path.join(parquet, name), BUCKET, f"events/{name}")
    return proc, endpoint


#: read shapes on S3: name -> (columns, unistore filter, the same filter as a pyarrow expression and in SQL)
S3_SHAPES = {
    "whole read": (None, None, None, None),
    "projection (3 of 7 columns)": (["id", "amount", "category"], None, None, None),
    "selective (2 columns, 2 predicates)": (
        ["id", "amount"], [("amount", ">", 150), ("category", "<", "category-0200")],
        "(ds.field('amount') > 150) & (ds.field('category') < 'category-0200')",
        "amount > 150 AND category < 'category-0200'"),
}


def s3_shapes(uri: str, endpoint: str, repeat: int) -> dict[str, list[dict]]:
    """Each read shape by pyarrow.dataset (native S3), DuckDB (over s3fs) and unistore with each engine."""
    bucket_path = uri[len("s3://"):]
    tiny = ("import os, tempfile, pyarrow as pa, pyarrow.parquet as pq\n"
            "warm = os.path.join(tempfile.mkdtemp(), 'warm.parquet')\npq.write_table(pa.table({'a': [1]}), warm)\n")
    native = QUICK_EXIT + tiny + (
        "import pyarrow.fs as pafs, pyarrow.dataset as ds\nds.dataset(warm).to_table()\n"
        f"fs = pafs.S3FileSystem(endpoint_override='{endpoint[len('http://'):]}', scheme='http', "
        f"region='us-east-1', access_key='{KEY}', secret_key='{SECRET}')")
    duck = QUICK_EXIT + tiny + (
        "import duckdb, s3fs\ncon = duckdb.connect()\n"
        "con.sql('SELECT * FROM read_parquet(?)', params=[warm]).fetchall()\n"
        f"con.register_filesystem(s3fs.S3FileSystem(endpoint_url='{endpoint}', key='{KEY}', secret='{SECRET}'))")
    warm_unistore = QUICK_EXIT + UNISTORE_WARM + f"unistore.read(warm, engine='duckdb')\n{warm('s3')}"
    results = {}
    for name, (columns, filters, expression, where) in S3_SHAPES.items():
        select = ", ".join(columns) if columns else "*"
        sql = f"SELECT {select} FROM read_parquet('{uri}/*.parquet')" + (f" WHERE {where}" if where else "")
        results[name] = compare(f"Parquet on S3 (moto), {name}", [
            Variant("pyarrow.dataset, native S3FileSystem", reference=True, setup=native,
                    body=f"t = ds.dataset('{bucket_path}', format='parquet', filesystem=fs).to_table("
                         f"columns={columns!r}{f', filter={expression}' if expression else ''})"),
            Variant("DuckDB read_parquet over s3fs", reference=True, setup=duck,
                    body=f"t = con.sql({sql!r}).fetch_record_batch(65536).read_all()"),
            *engine_variants(uri, columns, filters, warm_unistore),
        ], repeat=repeat)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=16_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-s3", action="store_true")
    parser.add_argument("--skip-tables", action="store_true")
    args = parser.parse_args()

    parquet = make_parquet(DATA, args.rows)
    size_mb = sum(os.path.getsize(os.path.join(parquet, f)) for f in os.listdir(parquet)) / 2**20
    print(f"data: {args.rows:,} rows, {size_mb:.0f} MB of Parquet in {len(os.listdir(parquet))} files")
    results = {"rows": args.rows, "parquet_mb": round(size_mb)}

    if not args.skip_s3:
        proc, endpoint = start_moto_with(parquet)
        os.environ.update({"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": KEY,
                           "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": "us-east-1"})
        uri = f"s3://{BUCKET}/events"
        quick_exit = QUICK_EXIT
        native = quick_exit + (f"import pyarrow.fs as pafs, pyarrow.dataset as ds\n"
                  f"fs = pafs.S3FileSystem(endpoint_override='{endpoint[len('http://'):]}', scheme='http', "
                  f"region='us-east-1', access_key='{KEY}', secret_key='{SECRET}')")
        s3fs_setup = quick_exit + ("import s3fs, pyarrow.dataset as ds\n"
                      f"fs = s3fs.S3FileSystem(endpoint_url='{endpoint}', key='{KEY}', secret='{SECRET}')")
        try:
            results["s3"] = compare(f"Parquet on S3 (moto), {size_mb:.0f} MB", [
                Variant("pyarrow.dataset, native S3FileSystem", reference=True, setup=native,
                        body=f"t = ds.dataset('{BUCKET}/events', format='parquet', filesystem=fs).to_table()"),
                Variant("pyarrow.dataset over s3fs", reference=True, setup=s3fs_setup,
                        body=f"t = ds.dataset('{BUCKET}/events', format='parquet', filesystem=fs).to_table()"),
                Variant("unistore.read (native data path)", setup=quick_exit + warm("s3"),
                        body=f"t = unistore.read('{uri}')"),
                Variant("unistore.read (s3fs data path)", setup=quick_exit + warm("s3"),
                        body=f"t = unistore.read('{uri}', data_path='fsspec')"),
                Variant("unistore.scan, batches dropped (streaming)", setup=quick_exit + warm("s3"),
                        body=f"n = sum(b.num_rows for b in unistore.scan('{uri}'))"),
                Variant("unistore.read, readahead 1 file / 4 batches", setup=quick_exit + warm("s3"),
                        body=f"t = unistore.read('{uri}', fragment_readahead=1, batch_readahead=4)"),
                Variant("unistore.scan, readahead 1 file / 4 batches", setup=quick_exit + warm("s3"),
                        body=f"n = sum(b.num_rows for b in unistore.scan('{uri}', fragment_readahead=1, "
                             "batch_readahead=4))"),
            ], repeat=args.repeat)
            shapes = s3_shapes(uri, endpoint, args.repeat)
            results["s3_shapes"] = shapes
            import unistore

            notes = {name: "auto read with " + unistore.provenance_of(unistore.read(
                uri, columns=shape[0], filter=shape[1], limit=0)).query.pushed_down["engine"]
                for name, shape in S3_SHAPES.items()}
            print_targets(f"Parquet on S3 (moto), {size_mb:.0f} MB", shapes, "unistore.read (engine auto)",
                          time_target=1.05, memory_target=1.1, notes=notes)
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    if not args.skip_tables:
        delta = make_delta(parquet)
        results["delta"] = compare("Delta table, local disk", [
            Variant("deltalake DeltaTable(...).to_pyarrow_table()", reference=True,
                    setup=QUICK_EXIT + "from deltalake import DeltaTable",
                    body=f"t = DeltaTable('{delta}').to_pyarrow_table()"),
            Variant("deltalake DeltaTable(...).to_pyarrow_dataset().to_table()", reference=True,
                    setup=QUICK_EXIT + "from deltalake import DeltaTable",
                    body=f"t = DeltaTable('{delta}').to_pyarrow_dataset().to_table()"),
            Variant("unistore.read delta://", setup=QUICK_EXIT + warm("delta") + "\nfrom deltalake import DeltaTable",
                    body=f"t = unistore.read('delta://{delta}')"),
        ], repeat=args.repeat)
        catalog = make_iceberg(parquet)
        results["iceberg"] = compare("Iceberg table (SQLite catalog), local disk", [
            Variant("pyiceberg scan().to_arrow()", reference=True,
                    setup=(QUICK_EXIT + "from pyiceberg.catalog.sql import SqlCatalog\n"
                           f"cat = SqlCatalog('default', uri='sqlite:///{catalog}')"),
                    body="t = cat.load_table('bench.events').scan().to_arrow()"),
            Variant("unistore.read iceberg://",
                    setup=QUICK_EXIT + warm("iceberg") + "\nfrom pyiceberg.catalog.sql import SqlCatalog",
                    body=f"t = unistore.read('iceberg://{catalog}', 'bench.events')"),
        ], repeat=args.repeat)
    print("\n" + json.dumps(results, default=str))


if __name__ == "__main__":
    main()
