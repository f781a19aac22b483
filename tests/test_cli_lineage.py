"""``unistore log`` and ``unistore graph`` run as installed, on a lineage log and manifests made by real reads.

The graph page is opened in headless Chromium (Debian's ``chromium`` and
``chromium-driver``, driven by Selenium): it renders with no console errors,
every input, run and output is on the page with an edge for each link, and its
screenshot is not blank.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stores import missing_store

UNISTORE = str(Path(sys.executable).with_name("unistore"))

PIPELINE = """
import sys, sqlite3, unistore, pyarrow as pa, pyarrow.parquet as pq
unistore.configure_lineage(log="lineage.jsonl")
pq.write_table(pa.table({"id": [1, 2, 3], "amount": [1.0, 2.0, 3.0], "kind": ["a", "b", "c"]}), "orders.parquet")
with unistore.run("train", outputs=["models/model.bin"], manifest="train.json"):
    unistore.read("orders.parquet")
    unistore.read("sqlite:///shop.db", "customers")
unistore.read("orders.parquet")                                   # same content again
pq.write_table(pa.table({"id": [1, 2, 3], "amount": [1.0, 2.5, 3.0], "kind": ["a", "b", "c"]}), "orders.parquet")
unistore.read("orders.parquet")                                   # drifted: amount
pq.write_table(pa.table({"id": [1, 2, 3, 4], "amount": [1.0, 2.5, 3.0, 4.0], "kind": ["a", "b", "c", "d"],
                         "note": ["", "", "", "new"]}), "orders.parquet")
unistore.read("orders.parquet")                                   # drifted: a row and a column
try:
    unistore.read("sqlite:///shop.db", "nope")
except unistore.SourceNotFoundError:
    pass
"""


def cli(*argv: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([UNISTORE, *argv], capture_output=True, text=True, timeout=120, cwd=cwd,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder where a small pipeline ran: a lineage log, a run manifest, a Parquet file and a SQLite db."""
    root = tmp_path_factory.mktemp("pipeline")
    with sqlite3.connect(root / "shop.db") as con:
        con.execute("CREATE TABLE customers (id INTEGER, name TEXT)")
        con.executemany("INSERT INTO customers VALUES (?, ?)", [(1, "ada"), (2, "bob")])
    result = subprocess.run([sys.executable, "-c", PIPELINE], cwd=root, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return root


# -- unistore log -----------------------------------------------------------------------------

def test_log_lists_recent_reads(workdir):
    out = cli("log", "--log", "lineage.jsonl", cwd=workdir)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[-1] == "(6 of 6 reads)"
    assert sum("run train" in line for line in lines) == 2
    assert "error: SourceNotFoundError" in out.stdout
    assert cli("log", "--log", "lineage.jsonl", "-n", "2", cwd=workdir).stdout.splitlines()[-1] == "(2 of 6 reads)"


def test_log_filters_by_run_status_and_time(workdir):
    by_run = json.loads(cli("log", "--log", "lineage.jsonl", "--run", "train", "--json", cwd=workdir).stdout)
    assert len(by_run) == 2 and {r["run_name"] for r in by_run} == {"train"}
    assert len(json.loads(cli("log", "--log", "lineage.jsonl", "--run", by_run[0]["run_id"], "--json",
                              cwd=workdir).stdout)) == 2
    errors = json.loads(cli("log", "--log", "lineage.jsonl", "--status", "error", "--json", cwd=workdir).stdout)
    assert len(errors) == 1 and "nope" in errors[0]["error"]
    assert json.loads(cli("log", "--log", "lineage.jsonl", "--since", "1h", "--json", cwd=workdir).stdout)
    assert json.loads(cli("log", "--log", "lineage.jsonl", "--until", "2000-01-01", "--json", cwd=workdir).stdout) == []
    runs = cli("log", "--log", "lineage.jsonl", "--runs", cwd=workdir)
    assert "run train" in runs.stdout and "2 read(s)" in runs.stdout and runs.stdout.endswith("(1 runs)\n")


def test_log_dataset_shows_when_it_drifted_and_by_which_columns(workdir):
    env = {"UNISTORE_LINEAGE_LOG": str(workdir / "lineage.jsonl")}  # the log from the environment
    out = cli("log", "--dataset", "orders.parquet", cwd=workdir, env=env)
    assert out.returncode == 0, out.stderr
    changes = [line.split()[-1] if "DRIFTED" not in line else line.split("DRIFTED: ")[1]
               for line in out.stdout.splitlines()[1:]]
    assert changes == ["first", "same", "columns amount", "columns amount, id, kind; added note"]
    history = json.loads(cli("log", "--dataset", "orders.parquet", "--json", cwd=workdir, env=env).stdout)
    assert history[2]["columns"] == {"changed": ["amount"], "added": [], "removed": []}
    assert history[3]["rows"] == 4 and history[3]["rows_before"] == 3
    assert len({h["snapshot"] for h in history}) == 3  # each change of the file is a new snapshot


def test_log_errors(workdir, tmp_path):
    missing = cli("log", "--dataset", "orders.parqet", "--log", "lineage.jsonl", cwd=workdir)
    assert missing.returncode == 1 and "did you mean " in missing.stderr and "/orders.parquet?" in missing.stderr
    env = {k: v for k, v in os.environ.items() if k != "UNISTORE_LINEAGE_LOG"}
    none = subprocess.run([UNISTORE, "log"], capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert none.returncode == 1 and "UNISTORE_LINEAGE_LOG" in none.stderr
    assert cli("log", "--log", "no.jsonl", cwd=tmp_path).returncode == 1
    assert cli("log", "--log", "lineage.jsonl", "--since", "yesterday-ish", cwd=workdir).returncode == 2


# -- unistore graph ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        missing_store("headless Chromium (Debian packages chromium, chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,900", "--proxy-server=127.0.0.1:9"):  # no network: a fetch would fail loudly
        options.add_argument(arg)
    options.binary_location = chromium
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(driver), options=options)
    yield drv
    drv.quit()


def not_blank(png: bytes) -> bool:
    """A PNG of one flat colour compresses to a handful of distinct byte values; a rendered page does not."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, data = 8, b""
    while pos < len(png):
        length = int.from_bytes(png[pos:pos + 4], "big")
        kind = png[pos + 4:pos + 8]
        if kind == b"IDAT":
            data += png[pos + 8:pos + 8 + length]
        pos += 12 + length
    return len(set(zlib.decompress(data))) > 32


def render(browser, page: Path) -> dict:
    browser.get(page.as_uri())
    nodes = browser.execute_script(
        "return [...document.querySelectorAll('.node')].map(n => ({id: n.id, kind: n.dataset.kind,"
        " text: n.innerText, w: n.getBoundingClientRect().width}))")
    edges = browser.execute_script(
        "return [...document.querySelectorAll('path.edge')].map(p => [p.dataset.from, p.dataset.to,"
        " p.getTotalLength()])")
    return {"nodes": nodes, "edges": edges, "log": browser.get_log("browser"),
            "png": browser.get_screenshot_as_png(), "text": browser.find_element("tag name", "body").text}


def test_graph_of_a_run_manifest_renders_every_input_run_and_output(workdir, browser):
    out = cli("graph", "train.json", "--html", "train.html", cwd=workdir)
    assert out.returncode == 0, out.stderr
    assert "2 input(s) -> 1 run -> 1 output(s)" in out.stdout
    page = (workdir / "train.html").read_text()
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "") and "<script" not in page
    shown = render(browser, workdir / "train.html")
    assert [e for e in shown["log"] if e["level"] in ("SEVERE", "WARNING")] == []
    manifest = json.loads((workdir / "train.json").read_text())
    kinds = {n["id"]: n["kind"] for n in shown["nodes"]}
    assert sorted(kinds.values()) == ["input", "input", "output", "run"]
    for record in manifest["inputs"]:
        node = next(n for n in shown["nodes"] if record["read_id"] in n["text"])
        assert Path(record["source"]["name"]).name in node["text"] and record["snapshot"]["kind"] in node["text"]
        assert node["kind"] == "input" and node["w"] > 100
    assert "models/model.bin" in shown["text"] and manifest["run"]["id"] in shown["text"]
    assert sorted((a, b) for a, b, _ in shown["edges"]) == sorted(
        [(i, "run") for i, k in kinds.items() if k == "input"] + [("run", o) for o, k in kinds.items() if k == "output"])
    assert all(length > 50 for *_, length in shown["edges"])
    assert not_blank(shown["png"])
    (workdir / "train.png").write_bytes(shown["png"])


def test_graph_of_a_written_result_shows_its_read(workdir, browser, tmp_path):
    out = cli("read", "orders.parquet", "--output", str(tmp_path / "copy.parquet"), cwd=workdir)
    assert out.returncode == 0, out.stderr
    record = json.loads(pq.read_schema(tmp_path / "copy.parquet").metadata[b"unistore.provenance"])
    assert cli("graph", str(tmp_path / "copy.parquet"), "--html", str(tmp_path / "r.html"), cwd=workdir).returncode == 0
    shown = render(browser, tmp_path / "r.html")
    assert [e for e in shown["log"] if e["level"] == "SEVERE"] == []
    assert sorted(n["kind"] for n in shown["nodes"]) == ["input", "output", "query"]
    assert record["read_id"] in shown["text"] and record["result"]["fingerprint"][:20] in shown["text"]
    assert len(shown["edges"]) == 2 and not_blank(shown["png"])


def test_a_blank_page_is_told_apart(tmp_path, browser):
    (tmp_path / "blank.html").write_text("<!DOCTYPE html><html><body></body></html>")
    browser.get((tmp_path / "blank.html").as_uri())
    assert not not_blank(browser.get_screenshot_as_png())


def test_graph_errors(workdir, tmp_path):
    pq.write_table(pa.table({"a": [1]}), tmp_path / "plain.parquet")
    plain = cli("graph", str(tmp_path / "plain.parquet"), "--html", str(tmp_path / "x.html"), cwd=workdir)
    assert plain.returncode == 1 and "carries no unistore provenance" in plain.stderr
    assert cli("graph", "train.json", "--html", str(tmp_path / "no" / "x.html"), cwd=workdir).returncode == 1
    assert cli("graph", "nope.json", "--html", str(tmp_path / "x.html"), cwd=workdir).returncode == 1
    (tmp_path / "other.json").write_text('{"a": 1}')
    other = cli("graph", str(tmp_path / "other.json"), "--html", str(tmp_path / "x.html"), cwd=workdir)
    assert other.returncode == 1 and "neither" in other.stderr
