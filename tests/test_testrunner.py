"""The data test runner core: named reads with their checks, PASS/FAIL/WARN lines, exit code, JUnit XML parsed back."""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET

import pyarrow as pa
import pyarrow.parquet as pq

from unistore import checks as C
from unistore.testrunner import DataTestCase, run_data_tests


def _cases(tmp_path, *, failing: bool = True):
    pq.write_table(pa.table({"id": [1, 2, 3], "status": ["paid", "paid", "lost"]}), tmp_path / "orders.parquet")
    with sqlite3.connect(tmp_path / "shop.db") as con:
        con.execute("CREATE TABLE customers (id INTEGER NOT NULL, name TEXT)")
        con.executemany("INSERT INTO customers VALUES (?, ?)", [(1, "a"), (2, None), (2, "c")])
    orders = DataTestCase("orders", str(tmp_path / "orders.parquet"), checks=(
        C.not_null("id"), C.unique("id"),
        {"accepted_values": {"column": "status", "values": ["paid"]}, "severity": "warn"}))
    customers = DataTestCase("customers", f"sqlite:///{tmp_path / 'shop.db'}", "customers", checks=(
        C.row_count(min=1), *( [C.unique("id"), C.not_null("name", key="id")] if failing else [])))
    missing = DataTestCase("gone", f"sqlite:///{tmp_path / 'shop.db'}", "no_such_table", checks=(C.row_count(min=1),))
    return [orders, customers] + ([missing] if failing else [])


def test_a_run_reports_every_test_and_fails_on_errors(tmp_path):
    seen: list[str] = []
    report = run_data_tests(_cases(tmp_path), progress=seen.append)
    assert report.exit_code == 1
    assert report.counts() == {"PASS": 3, "FAIL": 2, "WARN": 1, "ERROR": 1}
    lines = report.lines()
    assert seen == lines[:-1]
    assert lines[0].startswith("orders (") and ": WARN 2 passed, 0 failed, 1 warned" in lines[0]
    assert any(line.startswith("  WARN  accepted_values(status)") and '"lost"' in line for line in lines)
    assert any(line.startswith("  FAIL  unique(id)") for line in lines)
    assert any(line.startswith("  FAIL  not_null(name)") and "e.g. [2]" in line for line in lines)
    assert any(line.startswith("gone (") and "ERROR SourceNotFoundError" in line for line in lines)
    assert lines[-1].startswith("3 passed, 2 failed, 1 warned, 1 error(s) in 3 data set(s)")


def test_a_clean_run_exits_zero(tmp_path):
    report = run_data_tests(_cases(tmp_path, failing=False))
    assert report.exit_code == 0 and report.counts()["FAIL"] == 0


def test_junit_xml_parses_back(tmp_path):
    report = run_data_tests(_cases(tmp_path))
    root = ET.fromstring(report.junit_xml())
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert list(suites) == ["orders", "customers", "gone"]
    orders = suites["orders"]
    assert (orders.get("tests"), orders.get("failures"), orders.get("errors")) == ("3", "0", "0")
    warn = next(c for c in orders.iter("testcase") if c.get("name") == "accepted_values(status)")
    assert warn.find("failure") is None and warn.find("system-out").text.startswith("WARN")
    customers = suites["customers"]
    assert customers.get("failures") == "2"
    failed = {c.get("name"): c.find("failure") for c in customers.iter("testcase")}
    assert failed["row_count"] is None and failed["unique(id)"].get("type") == "unique"
    props = {p.get("name"): p.get("value") for p in customers.iter("property")}
    assert props["rows"] == "3" and props["read_id"]
    (read,) = suites["gone"].iter("testcase")
    assert read.get("name") == "read" and read.find("error") is not None
