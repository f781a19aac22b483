"""Every Python example of docs/stores/timeseries.md runs as written, against the test servers.

The page names the servers ``localhost:8428`` (VictoriaMetrics) and
``localhost:8086`` (InfluxDB); the examples run with those replaced by the
session's servers, which hold the series of tests/stores/timeseries.py.
"""

from __future__ import annotations

from docs_examples import run_examples
from stores import missing_store

def test_examples_run(tmp_path, monkeypatch, victoria_metrics, influxdb_server):
    try:
        import arcticdb  # noqa: F401
    except ImportError:
        missing_store("ArcticDB (optional extra unistore[arcticdb]) for the page's ArcticDB example")
    monkeypatch.chdir(tmp_path)
    run_examples("stores/timeseries.md", at_least=5, replace={
        "localhost:8428": f"127.0.0.1:{victoria_metrics.port}",
        "localhost:8086": f"127.0.0.1:{influxdb_server.port}",
    })
