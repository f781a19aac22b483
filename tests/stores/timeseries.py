"""Time-series stores: the servers (VictoriaMetrics, Prometheus, InfluxDB 1.x) and the one series set.

The servers are started once per test session on free loopback ports with
their own temporary data directories, and stopped at the end. The binaries
come from Debian packages (scripts/stores.d/40-42); a missing binary is a
skip on a developer machine and a failure in CI (``missing_store``).

Prometheus and InfluxDB cannot hold the reference table's types (decimals,
binary, dates), so they join the conformance suite with the ``timeseries``
trait only: they hold the series below, and tests/conformance/test_timeseries.py
runs on them (and on every other store holding the series).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

import pyarrow as pa
import pytest

from stores import Attempt, Loader, SeriesCase, Store, free_port, missing_store, wait_for_port

UTC = dt.timezone.utc

# ArcticDB holds the series only: it cannot hold the reference table's decimal, nullable boolean,
# date and binary columns (ArcticDbNotYetImplemented when writing them).
_SERIES = frozenset({"timeseries"})
STORES = {
    "victoria-metrics": Store("prometheus://127.0.0.1:8428", _SERIES | {"server", "timeout", "secret"}),
    "prometheus": Store("prometheus://127.0.0.1:9090", _SERIES | {"server", "timeout"}),
    "influxdb": Store("influxdb://127.0.0.1:8086/metrics", _SERIES | {"server", "timeout", "secret"}),
    "arcticdb": Store("arcticdb+lmdb:///arctic?library=metrics", _SERIES),
}

# -- the series every time-series store is loaded with ------------------------------------

METRIC = "temp"
SITES = ("a", "b", "c")
T0 = dt.datetime(2024, 1, 1, tzinfo=UTC)
INTERVAL = dt.timedelta(minutes=1)
#: more than Prometheus' 11,000 points per series, so a full-range read must be split
N_POINTS = 12_500
T_END = T0 + N_POINTS * INTERVAL  # exclusive


def sample_value(site_index: int, i: int) -> float:
    return site_index * 1000.0 + (i % 500) * 0.25 - 20.0


def series_table() -> pa.Table:
    """The series in the long shape: timestamp (ms, UTC), site, value — sorted by site, then time."""
    import numpy as np

    base = int(T0.timestamp() * 1000)
    step = int(INTERVAL.total_seconds() * 1000)
    idx = np.arange(N_POINTS, dtype=np.int64)
    times, sites, values = [], [], []
    for s, site in enumerate(SITES):
        times.append(base + idx * step)
        sites.append(np.full(N_POINTS, site, dtype=object))
        values.append(s * 1000.0 + (idx % 500) * 0.25 - 20.0)
    return pa.table({
        "timestamp": pa.array(np.concatenate(times)).cast(pa.timestamp("ms", "UTC")),
        "site": pa.array(np.concatenate(sites), pa.string()),
        "value": pa.array(np.concatenate(values), pa.float64()),
    })


# -- server processes ----------------------------------------------------------------------

@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen
    data_dir: str
    log_path: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _start(name: str, argv: list[str], port: int, data_dir: str, ready_path: str | None = None) -> Server:
    log_path = os.path.join(data_dir, f"{name}.log")
    log = open(log_path, "wb")
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=data_dir, start_new_session=True)
    server = Server(name, port, process, data_dir, log_path)
    if not wait_for_port("127.0.0.1", port, timeout=60) or not _ready(server, ready_path):
        server.stop()
        with open(log_path, "rb") as f:
            tail = f.read()[-2000:].decode(errors="replace")
        pytest.fail(f"{name} did not start on 127.0.0.1:{port}:\n{tail}", pytrace=False)
    return server


def _ready(server: Server, path: str | None, timeout: float = 60.0) -> bool:
    if path is None:
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(server.url + path, timeout=2) as resp:
                if resp.status < 300:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    return False


def http(method: str, url: str, body: bytes | None = None) -> bytes:
    req = urllib.request.Request(url, data=body, method=method)
    with urllib.request.urlopen(req, timeout=60) as resp:
        return resp.read()


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        missing_store(f"{name} (Debian package, scripts/stores.d/)")
    return path  # type: ignore[return-value]


# -- VictoriaMetrics -----------------------------------------------------------------------

def vm_import(server: Server, table: pa.Table, metric: str = METRIC) -> None:
    """Load a long table (timestamp, site, value) through /api/v1/import (JSON lines), then flush."""
    lines = []
    for site in sorted(set(table.column("site").to_pylist())):
        part = table.filter(pa.compute.equal(table.column("site"), site))
        lines.append(json.dumps({
            "metric": {"__name__": metric, "site": site},
            "values": part.column("value").to_pylist(),
            "timestamps": part.column("timestamp").cast(pa.int64()).to_pylist(),
        }))
    http("POST", server.url + "/api/v1/import", "\n".join(lines).encode())
    vm_flush(server)


def vm_flush(server: Server) -> None:
    http("GET", server.url + "/internal/force_flush")
    http("GET", server.url + "/internal/resetRollupResultCache")


@pytest.fixture(scope="session")
def victoria_metrics(tmp_path_factory):
    binary = _binary("victoria-metrics")
    data = str(tmp_path_factory.mktemp("victoria-metrics"))
    port = free_port()
    server = _start("victoria-metrics", [
        binary, f"-httpListenAddr=127.0.0.1:{port}", f"-storageDataPath={data}/data", "-retentionPeriod=100y",
        "-loggerLevel=ERROR",
    ], port, data, "/health")
    vm_import(server, series_table())
    yield server
    server.stop()


# -- Prometheus -------------------------------------------------------------------------------

def openmetrics(table: pa.Table, metric: str = METRIC) -> str:
    """The series as OpenMetrics text for ``promtool tsdb create-blocks-from openmetrics``."""
    out = [f"# TYPE {metric} gauge"]
    for site in sorted(set(table.column("site").to_pylist())):
        part = table.filter(pa.compute.equal(table.column("site"), site))
        ms = part.column("timestamp").cast(pa.int64()).to_pylist()
        for t, v in zip(ms, part.column("value").to_pylist()):
            out.append(f'{metric}{{site="{site}"}} {v!r} {t / 1000:.3f}')
    out.append("# EOF")
    return "\n".join(out) + "\n"


@pytest.fixture(scope="session")
def prometheus_server(tmp_path_factory):
    binary = _binary("prometheus")
    promtool = _binary("promtool")
    data = str(tmp_path_factory.mktemp("prometheus"))
    tsdb = os.path.join(data, "tsdb")
    source = os.path.join(data, "series.om")
    with open(source, "w") as f:
        f.write(openmetrics(series_table()))
    subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", "-q", source, tsdb],
                   check=True, capture_output=True, timeout=300)
    config = os.path.join(data, "prometheus.yml")
    with open(config, "w") as f:
        f.write("global:\n  scrape_interval: 1h\nscrape_configs: []\n")
    port = free_port()
    server = _start("prometheus", [
        binary, f"--config.file={config}", f"--storage.tsdb.path={tsdb}", f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=100y", "--log.level=error",
    ], port, data, "/-/ready")
    yield server
    server.stop()


# -- InfluxDB 1.x -----------------------------------------------------------------------------

INFLUX_DB = "metrics"


def influx_write(server: Server, table: pa.Table, measurement: str = METRIC, db: str = INFLUX_DB) -> None:
    """Line protocol, millisecond precision: ``temp,site=a value=1.5 1704067200000``."""
    ms = table.column("timestamp").cast(pa.int64()).to_pylist()
    lines = [f"{measurement},site={s} value={v!r} {t}"
             for t, s, v in zip(ms, table.column("site").to_pylist(), table.column("value").to_pylist())]
    for start in range(0, len(lines), 20_000):
        http("POST", f"{server.url}/write?db={db}&precision=ms", "\n".join(lines[start:start + 20_000]).encode())


@pytest.fixture(scope="session")
def influxdb_server(tmp_path_factory):
    binary = _binary("influxd")
    data = str(tmp_path_factory.mktemp("influxdb"))
    port, rpc = free_port(), free_port()
    config = os.path.join(data, "influxdb.conf")
    with open(config, "w") as f:
        f.write(f"""reporting-disabled = true
bind-address = "127.0.0.1:{rpc}"
[meta]
  dir = "{data}/meta"
[data]
  dir = "{data}/data"
  wal-dir = "{data}/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:{port}"
  log-enabled = false
[continuous_queries]
  enabled = false
""")
    server = _start("influxd", [binary, "run", "-config", config], port, data, "/ping")
    http("POST", f"{server.url}/query?" + urllib.parse.urlencode({"q": f"CREATE DATABASE {INFLUX_DB}"}))
    influx_write(server, series_table())
    yield server
    server.stop()


# -- a server that accepts connections and never answers ----------------------------------------

@pytest.fixture(scope="session")
def silent_server():
    """host:port of a listener that never replies: reads from it must time out, not hang."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(timeout=2)
    for conn in held:
        conn.close()
    listener.close()


# -- the time-series stores as conformance loaders ------------------------------------------------

class SeriesLoader(Loader):
    """A store holding the series set only, loaded once per session by the fixture that started it."""

    def __init__(self, case: SeriesCase):
        self.name, self.case = case.name, case

    def load_series(self) -> SeriesCase:
        return self.case


class PrometheusLoader(SeriesLoader):
    def unreachable(self, port: int) -> Attempt:
        return Attempt(f"prometheus://127.0.0.1:{port}", options={"query": "up", "timeout": 2})

    def silent(self, address: str) -> Attempt:
        window = {"start": T0 + 1_000 * INTERVAL, "end": T0 + 1_060 * INTERVAL, "step": INTERVAL}
        return Attempt(f"prometheus://{address}", options={"query": "up", **window, "timeout": 1, "max_points": 10},
                       match="did not answer within 1 s")


class InfluxDBLoader(SeriesLoader):
    def unreachable(self, port: int) -> Attempt:
        return Attempt(f"influxdb://127.0.0.1:{port}/db", METRIC, {"timeout": 2})

    def silent(self, address: str) -> Attempt:
        return Attempt(f"influxdb://{address}/db", METRIC, {"timeout": 1}, match="did not answer within 1 s")


class ArcticDBLoader(Loader):
    """The series in one ArcticDB symbol on LMDB, indexed by time with the site as a column."""

    name = "arcticdb"

    def __init__(self, path: str):
        self.path = path

    def load_series(self) -> SeriesCase:
        import gc

        import arcticdb

        writer = arcticdb.Arctic(f"lmdb://{self.path}")
        frame = series_table().sort_by([("timestamp", "ascending"), ("site", "ascending")]).to_pandas()
        writer.get_library("metrics", create_if_missing=True).write(METRIC, frame.set_index("timestamp"))
        del writer  # LMDB: one Arctic per path and process; unistore opens its own for the reads
        gc.collect()
        return SeriesCase(self.name, f"arcticdb+lmdb://{self.path}?library=metrics", METRIC, {"labels": ["site"]},
                          wide_prefix=METRIC)


@pytest.fixture(scope="session")
def loader_victoria_metrics(victoria_metrics):
    secret = "prom-Secret-pw"  # VictoriaMetrics takes any credentials: the point is where they end up
    secret_uri = f"prometheus://reader:{secret}@127.0.0.1:{victoria_metrics.port}"
    window = {"start": T0 + 1_000 * INTERVAL, "end": T0 + 1_060 * INTERVAL, "step": INTERVAL}
    return PrometheusLoader(SeriesCase("victoria-metrics", f"prometheus://127.0.0.1:{victoria_metrics.port}", METRIC,
                                       evaluates=True, wide_prefix=METRIC, secret_uri=secret_uri, secret=secret,
                                       failing_with_secret=Attempt(secret_uri, options={"query": "sum(", **window})))


@pytest.fixture(scope="session")
def loader_prometheus(prometheus_server):
    return PrometheusLoader(SeriesCase("prometheus", f"prometheus://127.0.0.1:{prometheus_server.port}", METRIC,
                                   evaluates=True, wide_prefix=METRIC))


@pytest.fixture(scope="session")
def loader_influxdb(influxdb_server):
    secret = "influx-Secret-pw"  # authentication is off: the point is where the credentials end up
    secret_uri = f"influxdb://reader:{secret}@127.0.0.1:{influxdb_server.port}/{INFLUX_DB}"
    return InfluxDBLoader(SeriesCase("influxdb", f"influxdb://127.0.0.1:{influxdb_server.port}/{INFLUX_DB}", METRIC,
                                     wide_prefix=METRIC, secret_uri=secret_uri, secret=secret,
                                     failing_with_secret=Attempt(secret_uri, options={"query": "SELECT FROM"})))


@pytest.fixture(scope="session")
def loader_arcticdb(tmp_path_factory):
    try:
        import arcticdb  # noqa: F401
    except ImportError:
        missing_store("ArcticDB (optional extra unistore[arcticdb])")
    return ArcticDBLoader(str(tmp_path_factory.mktemp("arctic-ts")))
