"""A catalog's data tests: declared per dataset and per column, validated with their line, run on catalog reads.

The runner (``unistore test``), the pytest plugin and samples are in tests/test_catalog_testing.py.
"""

from __future__ import annotations

import sqlite3
import textwrap
import warnings
from pathlib import Path

import pytest

import unistore
from catalog_folder import catalog_folder
from unistore.cli import main
from unistore.errors import CatalogError, DataTestWarning

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
      - id: {description: the order, tests: [not_null, unique]}
      - amount
      - kind
      - customer_id
    tests:
      - accepted_values: {column: kind, values: [k0, k1, k2]}
      - between: {column: amount, min: 0, max: 1000}
      - relationships: {column: customer_id, to: customers, field: id}
      - row_count: {min: 1}
        severity: warn
"""


def make_shop(folder: Path, *, orphans: bool = False, kinds: int = 3) -> None:
    with sqlite3.connect(folder / "shop.db") as con:
        con.execute("CREATE TABLE customers (id INTEGER)")
        con.executemany("INSERT INTO customers VALUES (?)", [(i,) for i in range(5)])
        con.execute("CREATE TABLE orders (id INTEGER, amount REAL, kind TEXT, customer_id INTEGER)")
        con.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)",
                        [(i, i * 1.5, f"k{i % kinds}", i % (7 if orphans else 5)) for i in range(100)])


@pytest.fixture
def shop(tmp_path, monkeypatch):
    """A folder with shop.db and unistore.yaml, as the current directory."""
    return catalog_folder(tmp_path, monkeypatch, CATALOG, make_shop)


def test_tests_become_checks_per_dataset_and_per_column(shop):
    cat = unistore.catalog()
    names = [c.result_name(c.columns_tested()[0]) if c.columns_tested() else c.result_name()
             for c in cat.dataset("orders").checks]
    assert names == ["accepted_values(kind)", "between(amount)", "relationships(customer_id)", "row_count",
                     "not_null(id)", "unique(id)"]
    assert cat.dataset("orders").columns == ("id", "amount", "kind", "customer_id")
    assert cat.dataset("customers").columns == ("id",)
    assert cat.describe("orders")["tests"] == 4  # as written under tests: (column tests come on top)


def test_catalog_read_runs_the_tests_and_records_them(shop):
    orders = unistore.catalog().read("orders")
    record = unistore.provenance_of(orders)
    assert [r.success for r in record.checks] == [True] * 6
    assert record.catalog["tests"] == {"declared": 6, "run": True}
    rel = next(r for r in record.checks if r.assertion == "relationships")
    assert rel.observed["reference_keys"] == 5 and rel.observed["reference_read_id"]


def test_a_failing_error_test_raises_with_the_table_and_a_warn_test_warns(shop):
    (shop / "shop.db").unlink()
    make_shop(shop, orphans=True)
    cat = unistore.catalog()
    with pytest.raises(unistore.DataTestError) as info:
        cat.read("orders")
    assert [r.name for r in info.value.results] == ["relationships(customer_id)"]
    assert info.value.results[0].failing_rows == 28 and info.value.results[0].examples == [5, 6]
    assert info.value.table.num_rows == 100
    assert unistore.provenance_of(info.value.table).catalog["dataset"] == "orders"
    # the same through unistore.read("catalog:...") and a stream, whose verdict comes at its end
    with pytest.raises(unistore.DataTestError):
        unistore.read("catalog:orders")
    reader = cat.scan("orders", batch_size=7)
    with pytest.raises(unistore.DataTestError):
        for _ in reader:
            pass
    with pytest.warns(DataTestWarning, match="row_count"):
        cat.read("orders", filter=[("id", "<", 0)], tests=True, checks=[])  # 0 rows: the warn test fails


def test_narrowed_reads_skip_the_dataset_tests_unless_asked(shop):
    cat = unistore.catalog()
    few = cat.read("orders", columns=["id", "kind"])
    record = unistore.provenance_of(few)
    assert record.checks is None
    assert record.catalog["tests"]["run"] is False and "narrowed" in record.catalog["tests"]["skipped"]
    with pytest.raises(unistore.BadSpecError, match="amount"):  # the tests need columns the read leaves out
        cat.read("orders", columns=["id", "kind"], tests=True)
    extra = cat.read("orders", tests=False, checks=[unistore.checks.row_count(max=10, severity="warn")],
                     limit=5)
    assert [r.name for r in unistore.provenance_of(extra).checks] == ["row_count"]
    with pytest.raises(unistore.BadSpecError, match="tests= takes True or False"):
        cat.read("orders", tests="yes")


def test_locking_does_not_test_and_a_strict_read_checks_the_lock_before_the_verdict(shop):
    cat = unistore.catalog()
    (shop / "shop.db").unlink()
    make_shop(shop, orphans=True)
    assert cat.lock() == {"customers": "new", "orders": "new"}  # failing tests do not stop a lock
    with pytest.raises(unistore.DataTestError) as info:
        cat.read("orders", lock="strict")
    assert unistore.provenance_of(info.value.table).catalog["lock"]["status"] == "verified"
    reader = cat.scan("orders", lock="strict")
    with pytest.raises(unistore.DataTestError):
        reader.read_all()


MALFORMED = [
    # (what replaces what in CATALOG, the line, the key, the message)
    ("      - row_count: {min: 1}", "      - row_cont: {min: 1}", 24, "datasets.orders.tests[3].row_cont",
     "did you mean 'row_count'"),
    ("        severity: warn", "        severity: fatal", 25, "datasets.orders.tests[3].severity", "fatal"),
    ("accepted_values: {column: kind, values: [k0, k1, k2]}", "accepted_values: {column: kind}", 21,
     "datasets.orders.tests[0].accepted_values", "values"),
    ("to: customers, field: id", "to: customer, field: id", 23, "datasets.orders.tests[2]",
     "no such dataset (did you mean 'customers'?)"),
    ("id: {description: the order, tests: [not_null, unique]}", "id: {tests: [not_null, uniqe]}", 16,
     "datasets.orders.columns[0].id.tests[1]", "unknown value 'uniqe' (did you mean 'unique'?)"),
    ("      id: {tests: [not_null, unique]}", "      id: {tsets: [not_null]}", 11, "datasets.customers.columns.id.tsets",
     "known keys: description, tests"),
    ("between: {column: amount, min: 0, max: 1000}", "between: {column: amount, min: 0, max: 1000, maxi: 3}", 22,
     "datasets.orders.tests[1].between.maxi", "did you mean 'max'"),
    ("between: {column: amount, min: 0, max: 1000}", "freshness: {column: amount, max_age: 7 weeks}", 22,
     "datasets.orders.tests[1]", "bad data test: max_age"),
    ("      - row_count: {min: 1}\n        severity: warn", "      - unique: {columns: [id]}", 20,
     "datasets.orders.tests", "repeated: unique(id)"),
]


@pytest.mark.parametrize(("old", "new", "line", "key", "message"), MALFORMED)
def test_a_malformed_test_is_placed_by_file_line_and_key(shop, old, new, line, key, message):
    assert old in CATALOG
    (shop / "bad.yaml").write_text(CATALOG.replace(old, new))
    with pytest.raises(CatalogError) as info:
        unistore.catalog("bad.yaml")
    err = info.value
    assert (err.line, err.key) == (line, key), str(err)
    assert message in str(err)
    assert str(err).startswith(f"bad.yaml:{line}: {key}: ")


def test_catalog_check_cli_reports_a_malformed_test(shop, capsys):
    (shop / "bad.yaml").write_text(CATALOG.replace("row_count: {min: 1}", "row_count: {min: -1}"))
    assert main(["catalog", "check", "--catalog", "bad.yaml"]) == 1
    err = capsys.readouterr().err
    assert "bad.yaml:24: datasets.orders.tests[3].row_count.min" in err
    assert main(["catalog", "check"]) == 0


def test_the_shipped_schema_accepts_the_documented_test_shapes(shop):
    text = textwrap.dedent("""\
        sources: {s: {uri: sqlite:///shop.db}}
        datasets:
          d:
            source: s
            table: orders
            columns: [id, {kind: null}]
            tests:
              - not_null: {columns: [id, kind]}
              - unique: {columns: id}
              - expression: "amount >= 0"
                name: positive
                key: id
              - expression: {sql: "kind <> ''"}
              - freshness: {column: ts, max_age: 7d}
              - schema: {columns: {id: int64}, exact: false}
              - relationships: {column: id, to: "sqlite:///other.db", table: t}
        """)
    (shop / "shapes.yaml").write_text(text)
    cat = unistore.catalog("shapes.yaml")
    assert len(cat.dataset("d").checks) == 7
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cat.dataset("d").columns == ("id", "kind")
