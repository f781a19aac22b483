"""Lineage switched on by the user's own configuration, in a fresh process each time, as a pipeline runs.

OpenLineage's variables and files alone turn emission on, ``OPENLINEAGE_DISABLED=true``
turns it off, ``UNISTORE_LINEAGE_LOG`` names the local log, and an explicit
``configure_lineage(...)`` in the code wins over all of them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from unistore.lineage.config import openlineage_configuration

PIPELINE = textwrap.dedent("""
    import sys, unistore
    if len(sys.argv) > 2:
        exec(sys.argv[2])  # what the pipeline's own code configures, if anything
    table = unistore.read(sys.argv[1])
    print(unistore.lineage.configured().origin)
    unistore.lineage.flush(20)
""")


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "events.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3]}), path)
    return path


def pipeline(tmp_path: Path, data: Path, env: dict[str, str], code: str | None = None,
             cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The pipeline in a fresh process whose environment holds only what the test gives (and the basics)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENLINEAGE", "UNISTORE_LINEAGE"))}
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    clean.update({"HOME": str(home), "XDG_CACHE_HOME": str(tmp_path / "cache"),
                  "UNISTORE_LINEAGE_SPOOL": str(tmp_path / "spool"), **env})
    argv = [sys.executable, "-c", PIPELINE, str(data)] + ([code] if code else [])
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=clean, cwd=cwd or tmp_path)
    assert result.returncode == 0, result.stderr
    return result


def wait_for(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_openlineage_url_alone_turns_emission_on(tmp_path, data, collector):
    out = pipeline(tmp_path, data, {"OPENLINEAGE_URL": f"http://127.0.0.1:{collector.port}"})
    assert out.stdout.strip() == "environment: OPENLINEAGE_URL"
    assert wait_for(lambda: len(collector.by_id) == 2)
    assert sorted(e["eventType"] for e in collector.by_id.values()) == ["COMPLETE", "START"]
    assert {d["name"] for e in collector.by_id.values() for d in e["inputs"]} == {str(data)}


def test_transport_variables_alone_turn_emission_on(tmp_path, data):
    events = tmp_path / "ol.jsonl"
    pipeline(tmp_path, data, {"OPENLINEAGE__TRANSPORT__TYPE": "file",
                              "OPENLINEAGE__TRANSPORT__LOG_FILE_PATH": str(events),
                              "OPENLINEAGE__TRANSPORT__APPEND": "true"})
    assert [json.loads(line)["eventType"] for line in events.read_text().splitlines()] == ["START", "COMPLETE"]


@pytest.mark.parametrize("where", ["cwd", "home", "OPENLINEAGE_CONFIG"])
def test_an_openlineage_yml_where_the_client_looks_turns_emission_on(tmp_path, data, where):
    events = tmp_path / f"ol-{where}.jsonl"
    folder = {"cwd": tmp_path / "project", "home": tmp_path / "home" / ".openlineage",
              "OPENLINEAGE_CONFIG": tmp_path / "conf"}[where]
    folder.mkdir(parents=True)
    config = folder / "openlineage.yml"
    config.write_text(f"transport:\n  type: file\n  log_file_path: {events}\n  append: true\n")
    env = {"OPENLINEAGE_CONFIG": str(config)} if where == "OPENLINEAGE_CONFIG" else {}
    out = pipeline(tmp_path, data, env, cwd=tmp_path / "project" if where == "cwd" else None)
    assert out.stdout.startswith("environment: ")
    assert len(events.read_text().splitlines()) == 2


def test_openlineage_disabled_turns_it_off(tmp_path, data, collector):
    out = pipeline(tmp_path, data, {"OPENLINEAGE_URL": f"http://127.0.0.1:{collector.port}",
                                    "OPENLINEAGE_DISABLED": "true"})
    assert out.stdout.strip() == "default"
    time.sleep(1)
    assert collector.received == []


def test_the_local_log_from_an_environment_variable(tmp_path, data):
    log = tmp_path / "lineage.jsonl"
    out = pipeline(tmp_path, data, {"UNISTORE_LINEAGE_LOG": str(log)})
    assert out.stdout.strip() == "environment: UNISTORE_LINEAGE_LOG"
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["source_name"] == str(data) and rows[0]["rows"] == 3


def test_configure_lineage_in_the_code_wins(tmp_path, data, collector):
    env = {"OPENLINEAGE_URL": f"http://127.0.0.1:{collector.port}", "UNISTORE_LINEAGE_LOG": str(tmp_path / "env.jsonl")}
    mine = tmp_path / "mine.jsonl"
    out = pipeline(tmp_path, data, env, code=f"unistore.configure_lineage(log={str(mine)!r})")
    assert out.stdout.strip() == "configure"
    assert len(mine.read_text().splitlines()) == 1 and not (tmp_path / "env.jsonl").exists()
    off = pipeline(tmp_path, data, env, code="unistore.configure_lineage()")
    assert off.stdout.strip() == "configure"
    time.sleep(1)
    assert collector.received == []


def test_what_counts_as_openlineage_configuration(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert openlineage_configuration({}, cwd=empty, home=empty) is None
    assert openlineage_configuration({"OPENLINEAGE_URL": "http://x"}, cwd=empty, home=empty) == "OPENLINEAGE_URL"
    assert openlineage_configuration({"OPENLINEAGE__TRANSPORT__TYPE": "console"}, cwd=empty, home=empty)
    assert openlineage_configuration({"OPENLINEAGE_URL": "http://x", "OPENLINEAGE_DISABLED": "TRUE"},
                                     cwd=empty, home=empty) is None
    assert openlineage_configuration({"OPENLINEAGE_NAMESPACE": "ns"}, cwd=empty, home=empty) is None
