"""A catalog's data tests as a suite (``unistore test``), and unit data sets (``unistore sample``) on real stores."""

from __future__ import annotations

import random
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import unistore
from catalog_folder import catalog_folder
from stores import missing_store
from stores.servers_sql import PG_PORT, pg_available, pg_connect, unique
from unistore.catalogs.samples import key_hashes
from unistore.cli import main

CATALOG = """\
version: 1
lock: warn
sources:
  shop:
    uri: sqlite:///shop.db
datasets:
  customers:
    source: shop
    table: customers
    columns:
      id: {tests: [not_null, unique]}
  orders:
    source: shop
    table: orders
    columns:
      - id: {tests: [not_null, unique]}
      - amount
      - kind
      - customer_id
    tests:
      - accepted_values: {column: kind, values: [k0, k1, k2]}
        severity: warn
      - between: {column: amount, min: 0, max: 1000}
      - relationships: {column: customer_id, to: customers, field: id}
      - row_count: {min: 50}
"""


def make_shop(folder: Path, *, kinds: int = 3, orphans: bool = False) -> None:
    path = folder / "shop.db"
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE customers (id INTEGER)")
        con.executemany("INSERT INTO customers VALUES (?)", [(i,) for i in range(5)])
        con.execute("CREATE TABLE orders (id INTEGER, amount REAL, kind TEXT, customer_id INTEGER)")
        con.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)",
                        [(i, i * 1.5, f"k{i % kinds}", i % (7 if orphans else 5)) for i in range(100)])


@pytest.fixture
def shop(tmp_path, monkeypatch):
    """A folder with shop.db and unistore.yaml, as the current directory."""
    return catalog_folder(tmp_path, monkeypatch, CATALOG, make_shop)


# -- unistore test ---------------------------------------------------------------------------------

def test_unistore_test_passes_then_fails_with_junit_xml(shop, capsys):
    assert main(["test", "--junit-xml", "ok.xml"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("customers (sqlite:///shop.db, 5 rows, read ") and ": PASS 2 passed" in out[0]
    assert any(line.startswith("  PASS  relationships(customer_id)  observed") for line in out)
    assert out[-1].startswith("8 passed, 0 failed, 0 warned, 0 error(s) in 2 data set(s)")

    make_shop(shop, kinds=4, orphans=True)
    assert main(["test", "orders", "--junit-xml", "bad.xml"]) == 1
    out = capsys.readouterr().out
    assert "  WARN  accepted_values(kind)  observed 25, 25 failing row(s)" in out
    assert "  FAIL  relationships(customer_id)  observed" in out and "28 failing row(s), e.g. [5, 6]" in out
    suites = ET.parse(shop / "bad.xml").getroot()
    (suite,) = suites.findall("testsuite")
    assert (suite.get("name"), suite.get("tests"), suite.get("failures"), suite.get("errors")) == \
        ("orders", "6", "1", "0")
    failed = [c for c in suite.findall("testcase") if c.find("failure") is not None]
    assert [c.get("name") for c in failed] == ["relationships(customer_id)"]
    warned = [c for c in suite.findall("testcase") if c.find("system-out") is not None]
    assert warned[0].find("system-out").text.startswith("WARN observed 25")
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["rows"] == "100" and props["source"] == "sqlite:///shop.db"


def test_unistore_test_lock_tests_the_locked_versions(shop, capsys):
    assert main(["test", "--lock"]) == 1  # nothing locked yet: an error per dataset
    assert "ERROR DriftError" in capsys.readouterr().out
    assert main(["lock"]) == 0
    assert main(["test", "--lock"]) == 0
    make_shop(shop, orphans=True)  # the data moves on: the locked versions no longer exist in SQLite
    assert main(["test", "--lock", "orders"]) == 1
    out = capsys.readouterr().out
    assert "ERROR DriftError" in out and "differs from its entry" in out
    assert main(["test", "nosuch"]) == 1
    assert "no dataset 'nosuch'" in capsys.readouterr().err


def test_catalog_test_api_and_no_tests(shop, capsys):
    report = unistore.catalog().test(["customers"])
    assert report.exit_code == 0 and [r.name for r in report.outcomes[0].results] == ["not_null(id)", "unique(id)"]
    (shop / "plain.yaml").write_text("sources: {s: {uri: sqlite:///shop.db}}\ndatasets: {d: {source: s, table: orders}}\n")
    assert main(["test", "--catalog", "plain.yaml"]) == 0
    assert "no dataset declares tests" in capsys.readouterr().out


# -- unit data sets --------------------------------------------------------------------------------

def test_sample_is_a_pinned_tested_subset_with_lineage(shop, capsys):
    (shop / "data").mkdir()
    assert main(["sample", "orders", "--rows", "10", "--seed", "7", "--out", "data/orders.parquet"]) == 0
    out = capsys.readouterr().out
    assert "  PASS  unique(id)" in out and "row_count" not in out  # a sample is small by design
    assert "wrote data/orders.parquet: 10 of 100 rows of orders (key id, seed 7" in out

    again = unistore.catalog().sample("orders", 10, seed=7)
    back = unistore.read("data/orders.parquet")
    assert back.column("id").to_pylist() == again.column("id").to_pylist()
    fewer = unistore.catalog().sample("orders", 4, seed=7)
    assert fewer.column("id").to_pylist() == again.column("id").to_pylist()[:4]
    other = unistore.catalog().sample("orders", 10, seed=8)
    assert set(other.column("id").to_pylist()) != set(again.column("id").to_pylist())

    record = unistore.provenance_of(back)  # the file's read leads back to the sample and the production read
    assert record.catalog["sample_of"] == "orders" and record.catalog["sample"]["seed"] == 7
    sample = unistore.provenance.lookup(record.parents[0])
    assert sample.derived and sample.result.rows == 10
    production = unistore.provenance.lookup(sample.parents[0])
    assert production.source.name.endswith("shop.db/orders") and production.result.rows == 100
    assert sample.parent.read_id == production.read_id

    lock = unistore.catalog().lockfile()
    entry = lock.samples["data/orders.parquet"]
    assert (entry["dataset"], entry["key"], entry["seed"], entry["rows"]) == ("orders", ["id"], 7, 10)
    assert entry["fingerprint"] == unistore.provenance_of(again).result.fingerprint
    assert entry["tests"] == {"passed": 5, "failed": 0}
    assert main(["lock"]) == 0  # locking keeps the samples
    assert unistore.catalog().lockfile().samples == lock.samples


def test_a_sample_failing_its_tests_is_not_written(shop):
    make_shop(shop, orphans=True)
    with pytest.raises(unistore.DataTestError, match="relationships"):
        unistore.catalog().sample("orders", 30, seed=1, out="o.parquet")
    assert not (shop / "o.parquet").exists()
    table = unistore.catalog().sample("orders", 30, seed=1, out="o.parquet", tests=False)
    assert table.num_rows == 30 and (shop / "o.parquet").exists()
    with pytest.raises(unistore.BadSpecError, match="Parquet"):
        unistore.catalog().sample("orders", 3, out="o.csv")
    with pytest.raises(unistore.BadSpecError, match="rows >= 1"):
        unistore.catalog().sample("orders", 0)
    with pytest.raises(unistore.BadSpecError, match="nosuch"):
        unistore.catalog().sample("orders", 3, key=["nosuch"])


def _rows(n: int) -> list[tuple[str, int, float]]:
    return [(["eu", "us", "apac"][i % 3], i, i * 0.5) for i in range(n)]


def test_sampling_picks_the_same_keys_in_postgresql_parquet_and_duckdb(tmp_path, monkeypatch):
    import duckdb

    if not pg_available():
        missing_store(f"PostgreSQL on 127.0.0.1:{PG_PORT}")  # a failure in CI, a skip on a developer's machine

    rows = _rows(1000)
    shuffled = rows[:]
    random.Random(3).shuffle(shuffled)
    table = unique("sample_src")
    with pg_connect() as con:  # INTEGER (int32) keys, inserted in a shuffled order
        con.execute(f"CREATE TABLE {table} (region TEXT NOT NULL, id INTEGER NOT NULL, amount DOUBLE PRECISION)")
        with con.cursor() as cur:
            cur.executemany(f"INSERT INTO {table} VALUES (%s, %s, %s)", shuffled)
    pq.write_table(pa.table({"region": pa.array([r[0] for r in rows]).dictionary_encode(),
                             "id": pa.array([r[1] for r in rows], pa.int64()),
                             "amount": [r[2] for r in rows]}), tmp_path / "orders.parquet")
    with duckdb.connect(str(tmp_path / "shop.duckdb")) as con:
        con.execute("CREATE TABLE orders (region VARCHAR, id BIGINT, amount DOUBLE)")
        con.executemany("INSERT INTO orders VALUES (?, ?, ?)", list(reversed(rows)))
    tests = "    tests: [{unique: {columns: [region, id]}}]\n"
    (tmp_path / "unistore.yaml").write_text(
        "sources:\n"
        f"  pg: {{uri: 'postgresql://postgres@127.0.0.1:{PG_PORT}/test'}}\n"
        "  files: {uri: .}\n"
        "  duck: {uri: 'duckdb:///shop.duckdb'}\n"
        "datasets:\n"
        f"  pg_orders:\n    source: pg\n    table: {table}\n{tests}"
        f"  file_orders:\n    source: files\n    path: orders.parquet\n{tests}"
        f"  duck_orders:\n    source: duck\n    table: orders\n{tests}")
    monkeypatch.chdir(tmp_path)
    cat = unistore.catalog()
    try:
        picked = {}
        for name in ("pg_orders", "file_orders", "duck_orders"):
            sample = cat.sample(name, 50, seed=7, out=f"{name}.parquet")
            picked[name] = sorted(zip(sample.column("region").to_pylist(), sample.column("id").to_pylist()))
            assert unistore.provenance_of(sample).catalog["sample"]["key"] == ["region", "id"]
        assert len(picked["pg_orders"]) == 50
        assert picked["pg_orders"] == picked["file_orders"] == picked["duck_orders"]
        assert sorted(cat.lockfile().samples) == ["duck_orders.parquet", "file_orders.parquet", "pg_orders.parquet"]

        # stable as the table grows: rows already there when the smaller sample was taken keep their place
        with pg_connect() as con, con.cursor() as cur:
            cur.executemany(f"INSERT INTO {table} VALUES (%s, %s, %s)", _rows(1300)[1000:])
        grown = cat.sample("pg_orders", 50, seed=7)
        grown_keys = sorted(zip(grown.column("region").to_pylist(), grown.column("id").to_pylist()))
        old = [k for k in grown_keys if k[1] < 1000]
        assert set(old) <= set(picked["pg_orders"]) and len(grown_keys) == 50
    finally:
        with pg_connect() as con:
            con.execute(f"DROP TABLE IF EXISTS {table}")


def test_key_hashes_do_not_depend_on_the_arrow_type():
    a = pa.table({"k": pa.array([1, 2, 3], pa.int32()), "s": pa.array(["x", "y", "z"])})
    b = pa.table({"k": pa.array([1, 2, 3], pa.int64()), "s": pa.array(["x", "y", "z"], pa.large_string())})
    c = pa.table({"k": pa.array([1, 2, 3], pa.decimal128(10, 0)), "s": pa.array(["x", "y", "z"]).dictionary_encode()})
    assert (key_hashes(a, ["k", "s"], 7) == key_hashes(b, ["k", "s"], 7)).all()
    assert (key_hashes(a, ["k", "s"], 7) == key_hashes(c, ["k", "s"], 7)).all()
    assert not (key_hashes(a, ["k", "s"], 7) == key_hashes(a, ["k", "s"], 8)).any()


# -- the pytest plugin -----------------------------------------------------------------------------

def _pytest(folder: Path, *args: str) -> Any:
    import os
    import subprocess
    import sys

    src = str(Path(unistore.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("UNISTORE_CATALOG", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                           "-q", "-rA", *args], cwd=folder, env=env, capture_output=True, text=True, timeout=300)


def test_pytest_plugin_collects_the_data_tests_beside_code_tests(shop):
    (shop / "test_code.py").write_text("def test_code():\n    assert 1 + 1 == 2\n")
    plain = _pytest(shop)  # opt-in: without a catalog, only the code tests
    assert plain.returncode == 0 and "1 passed" in plain.stdout, plain.stdout + plain.stderr

    ok = _pytest(shop, "--unistore-catalog", "unistore.yaml")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "9 passed" in ok.stdout
    assert "PASSED unistore.yaml::orders::relationships(customer_id)" in ok.stdout

    make_shop(shop, kinds=4, orphans=True)
    (shop / "pytest.ini").write_text("[pytest]\nunistore_catalog = unistore.yaml\n")  # the ini value works too
    bad = _pytest(shop, "-k", "orders")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "1 failed, 5 passed, 3 deselected" in bad.stdout
    assert "FAILED unistore.yaml::orders::relationships(customer_id)" in bad.stdout
    assert "28 failing row(s), e.g. [5, 6]" in bad.stdout
    assert "DataTestWarning: orders: WARN  accepted_values(kind)" in bad.stdout

    locked = _pytest(shop, "--unistore-lock", "-k", "customers")  # nothing locked: the dataset cannot be read
    assert locked.returncode == 1 and "2 failed" in locked.stdout and "DriftError" in locked.stdout


def test_unistore_modules_imported_during_a_test_run_are_not_assertion_rewritten(tmp_path):
    # a module pytest rewrites is parsed with ast.parse on import, which on Python 3.11 can fail when two
    # reader threads import at once (a federated query opens its inputs in parallel)
    (tmp_path / "test_loader.py").write_text(
        "import sys\n"
        "def test_loader():\n"
        "    before = set(sys.modules)\n"
        "    import unistore.federated.query\n"
        "    new = {m: type(sys.modules[m].__loader__).__name__ for m in set(sys.modules) - before\n"
        "           if m.startswith('unistore.')}\n"
        "    assert 'unistore.federated.query' in new\n"
        "    assert 'AssertionRewritingHook' not in new.values(), new\n")
    run = _pytest(tmp_path)
    assert run.returncode == 0 and "1 passed" in run.stdout, run.stdout + run.stderr


def test_the_plugin_is_registered_as_a_pytest11_entry_point():
    import tomllib

    data = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert data["project"]["entry-points"]["pytest11"] == {"unistore": "unistore.pytest_plugin"}
