"""Every Python example of docs/stores/timeseries.md runs as written, against the test servers.

The page names the servers ``localhost:8428`` (VictoriaMetrics) and
``localhost:8086`` (InfluxDB); the examples run with those replaced by the
session's servers, which hold the series of tests/stores/timeseries.py.
"""

from __future__ import annotations

import pathlib
import re

from stores import missing_store

PAGE = pathlib.Path(__file__).resolve().parents[2] / "docs" / "stores" / "timeseries.md"


def test_examples_run(tmp_path, monkeypatch, victoria_metrics, influxdb_server):
    try:
        import arcticdb  # noqa: F401
    except ImportError:
        missing_store("ArcticDB (optional extra unistore[arcticdb]) for the page's ArcticDB example")
    text = PAGE.read_text()
    text = text.replace("localhost:8428", f"127.0.0.1:{victoria_metrics.port}")
    text = text.replace("localhost:8086", f"127.0.0.1:{influxdb_server.port}")
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    assert len(blocks) >= 5
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "docs_example"}
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"timeseries.md[{i}]", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the message says which block failed
            raise AssertionError(f"example {i} of docs/stores/timeseries.md failed: {exc!r}\n{block}") from exc
