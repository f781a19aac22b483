"""Issue 6 benchmarks: time-series reads, unistore vs the direct paths, side by side.

- VictoriaMetrics range query returning >= 1 million points (``--series`` x
  ``--points``; 12,000 points per series, over Prometheus' 11,000 limit, so
  unistore splits it): unistore (long and wide; partitions=4 and one piece) vs
  ``requests`` + ``json`` turned into an Arrow table, and vs
  ``prometheus-api-client`` -> pandas -> Arrow (when installed).
- ArcticDB (LMDB) read of a 10-million-row symbol: unistore vs ``arcticdb``
  read + ``pyarrow.Table.from_pandas`` (the target: <= 1.1x), and ArcticDB's
  own Arrow output for reference.

Each variant runs in a fresh process (peak memory = VmHWM). Data is generated
here; the VictoriaMetrics server runs on a free loopback port with a temporary
data directory and is stopped at the end. Run under the benchmark lock:

    flock /tmp/unistore-bench.lock .venv/bin/python benchmarks/bench_timeseries.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _harness import Variant, compare  # noqa: E402

T0_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
STEP_S = 15


# -- VictoriaMetrics ---------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_vm(data_dir: str) -> tuple[subprocess.Popen, int]:
    binary = shutil.which("victoria-metrics")
    if binary is None:
        sys.exit("victoria-metrics is not installed; run scripts/stores.d/40-victoriametrics.sh")
    port = free_port()
    proc = subprocess.Popen([binary, f"-httpListenAddr=127.0.0.1:{port}", f"-storageDataPath={data_dir}",
                             "-retentionPeriod=100y", "-loggerLevel=ERROR"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    sys.exit("victoria-metrics did not start")


def load_vm(port: int, series: int, points: int) -> None:
    """``bench_metric{host="h000",...}``: one sample every 15 s per series, through /api/v1/import."""
    import numpy as np

    rng = np.random.default_rng(6)
    stamps = (T0_MS + np.arange(points, dtype=np.int64) * STEP_S * 1000).tolist()
    lines = []
    for s in range(series):
        values = np.round(rng.normal(50, 10, points), 3).tolist()
        lines.append(json.dumps({"metric": {"__name__": "bench_metric", "host": f"h{s:03d}", "dc": f"dc{s % 4}"},
                                 "values": values, "timestamps": stamps}))
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/import", data="\n".join(lines).encode(),
                                 method="POST")
    urllib.request.urlopen(req, timeout=600).read()
    urllib.request.urlopen(f"http://127.0.0.1:{port}/internal/force_flush", timeout=60).read()


def vm_variants(port: int, series: int, points: int) -> list[Variant]:
    start_s = T0_MS // 1000
    end_s = start_s + points * STEP_S  # exclusive: `points` evaluation points per series
    common = f"URL = 'http://127.0.0.1:{port}'; START = {start_s}; END = {end_s}; STEP = {STEP_S}\n"
    rows_check = f"assert table.num_rows == {series * points}, table.shape\n"
    unistore_read = common + "import unistore, datetime as dt, requests\n" + (
        "unistore.registry.get_adapter('prometheus')\n"
        "kw = dict(start=dt.datetime.fromtimestamp(START, dt.timezone.utc), "
        "end=dt.datetime.fromtimestamp(END, dt.timezone.utc), step=STEP)\n")
    variants = [
        Variant("requests + json -> Arrow (one request)", reference=True, setup=common + "import requests, json, pyarrow as pa\n",
                body="""
resp = requests.post(URL + '/api/v1/query_range', data={'query': 'bench_metric', 'start': START,
                     'end': END - 0.001, 'step': STEP, 'nocache': '1'}, timeout=600)
result = json.loads(resp.content)['data']['result']
ts, vals, labels = [], [], {}
names = sorted({k for r in result for k in r['metric']})
for r in result:
    n = len(r['values'])
    for t, v in r['values']:
        ts.append(t); vals.append(float(v))
    for k in names:
        labels.setdefault(k, []).extend([r['metric'].get(k)] * n)
table = pa.table({'timestamp': pa.array([round(t * 1000) for t in ts], pa.int64()).cast(pa.timestamp('ms', 'UTC')),
                  **{k: pa.array(v, pa.string()) for k, v in labels.items()}, 'value': pa.array(vals, pa.float64())})
""" + rows_check),
        Variant("unistore long (partitions=4: time slices on 4 threads)", setup=unistore_read,
                body="table = unistore.read('prometheus://' + URL[7:], 'bench_metric', partitions=4, **kw)\n"
                     + rows_check),
        Variant("unistore long (one piece, requests of at most 11,000 points)", setup=unistore_read,
                body="table = unistore.read('prometheus://' + URL[7:], 'bench_metric', **kw)\n" + rows_check),
        Variant("unistore wide", setup=unistore_read,
                body="table = unistore.read('prometheus://' + URL[7:], 'bench_metric', shape='wide', **kw)\n"
                     f"assert table.shape == ({points}, {series + 1}), table.shape\n"),
    ]
    try:
        import prometheus_api_client  # noqa: F401
    except ImportError:
        print("prometheus-api-client not installed: that variant is left out")
    else:
        variants.insert(1, Variant(
            "prometheus-api-client -> pandas -> Arrow", setup=common + (
                "import datetime as dt, pyarrow as pa\n"
                "from prometheus_api_client import PrometheusConnect, MetricRangeDataFrame\n"
                "prom = PrometheusConnect(url=URL, disable_ssl=True)\n"),
            body="""
data = prom.custom_query_range('bench_metric', start_time=dt.datetime.fromtimestamp(START, dt.timezone.utc),
                               end_time=dt.datetime.fromtimestamp(END - STEP, dt.timezone.utc), step=str(STEP),
                               params={'nocache': '1'})
frame = MetricRangeDataFrame(data)
table = pa.Table.from_pandas(frame)
""" + rows_check))
    return variants


# -- ArcticDB ------------------------------------------------------------------------------------

def make_arctic(path: str, rows: int) -> None:
    import arcticdb
    import numpy as np
    import pandas as pd

    marker = os.path.join(path, f".rows-{rows}")
    if os.path.exists(marker):
        return
    shutil.rmtree(path, ignore_errors=True)
    lib = arcticdb.Arctic(f"lmdb://{path}", ).get_library("bench", create_if_missing=True)
    rng = np.random.default_rng(10)
    chunk = 2_000_000
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        index = pd.DatetimeIndex(T0_MS * 1_000_000 + (start + np.arange(n, dtype=np.int64)) * 1_000_000_000,
                                 tz="UTC", name="timestamp")
        frame = pd.DataFrame({"value": rng.normal(50, 10, n), "count": rng.integers(0, 1000, n),
                              "ok": rng.random(n) > 0.1}, index=index)
        (lib.write if start == 0 else lib.append)("ticks", frame)
    open(marker, "w").close()


def arctic_variants(path: str) -> list[Variant]:
    # timed: open the store and read, as a one-off read does; imports and unistore's one-time
    # adapter discovery (entry points) are set-up, like the direct paths' imports
    setup = "import arcticdb, pyarrow as pa\n"
    open_lib = f"lib = arcticdb.Arctic('lmdb://{path}').get_library('bench')\n"
    uni = (f"import arcticdb, pandas, unistore\nURI = 'arcticdb+lmdb://{path}?library=bench'\n"
           "unistore.registry.get_adapter('arcticdb+lmdb')\n")
    return [
        Variant("arcticdb read (pandas) + Table.from_pandas", reference=True, setup=setup,
                body=open_lib + "table = pa.Table.from_pandas(lib.read('ticks').data)\n"),
        Variant("arcticdb read, output_format='pyarrow'", setup=setup,
                body=open_lib + "table = lib.read('ticks', output_format='pyarrow').data\n"),
        Variant("unistore read (provenance + fingerprint)", setup=uni,
                body="table = unistore.read(URI, 'ticks')\nassert table.num_rows > 0\n"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--series", type=int, default=100)
    parser.add_argument("--points", type=int, default=12_000, help="points per series (> 11,000 forces a split)")
    parser.add_argument("--arctic-rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=["vm", "arcticdb"], default=None)
    parser.add_argument("--json", default=None, help="write the result rows here")
    args = parser.parse_args()
    results: dict[str, list[dict]] = {}
    if args.only in (None, "vm"):
        with tempfile.TemporaryDirectory(prefix="unistore-bench-vm-") as data_dir:
            proc, port = start_vm(data_dir)
            try:
                load_vm(port, args.series, args.points)
                results["victoria-metrics"] = compare(
                    f"VictoriaMetrics range query: {args.series} series x {args.points} points "
                    f"= {args.series * args.points:,} points", vm_variants(port, args.series, args.points), args.repeat)
            finally:
                proc.terminate()
                proc.wait(timeout=30)
    if args.only in (None, "arcticdb"):
        try:
            import arcticdb  # noqa: F401
        except ImportError:
            print("arcticdb not installed (optional extra, BUSL-1.1): ArcticDB part left out")
        else:
            path = os.path.join(HERE, "data", "arcticdb")
            os.makedirs(path, exist_ok=True)
            make_arctic(path, args.arctic_rows)
            results["arcticdb"] = compare(f"ArcticDB (LMDB) read of {args.arctic_rows:,} rows x 3 columns + index",
                                          arctic_variants(path), args.repeat)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
