"""The catalog file and the lock file on an embedded store: parsing, mistakes placed by line, read, lock, check.

The same flows on every server and table format are in tests/test_catalog_stores.py.
"""

from __future__ import annotations

import json
import sqlite3
import textwrap
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import unistore
from catalog_folder import catalog_folder
from unistore.catalogs import DriftWarning, LockEntry, LockFile, format_checks
from unistore.catalogs.document import catalog_schema
from unistore.cli import main

CATALOG = """\
version: 1
lock: strict
sources:
  shop:
    uri: sqlite:///shop.db
    description: the shop's database
datasets:
  orders:
    source: shop
    table: orders
    filter: [[amount, ">", 10]]
    description: Orders over 10
    owner: {name: "team:data", type: MAINTAINER}
    tags: [finance, pii]
  kinds:
    source: shop
    query: SELECT kind, count(*) AS n FROM orders GROUP BY kind
"""


def make_shop(folder: Path, rows: int = 100) -> Path:
    path = folder / "shop.db"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE orders (id INTEGER NOT NULL, amount REAL, kind TEXT)")
        con.executemany("INSERT INTO orders VALUES (?, ?, ?)", [(i, i * 1.5, f"k{i % 3}") for i in range(rows)])
    return path


def bump(folder: Path, order_id: int = 50) -> None:
    with sqlite3.connect(folder / "shop.db") as con:
        con.execute("UPDATE orders SET amount = amount + 1 WHERE id = ?", (order_id,))


@pytest.fixture
def shop(tmp_path, monkeypatch):
    """A folder with shop.db and unistore.yaml, as the current directory."""
    return catalog_folder(tmp_path, monkeypatch, CATALOG, make_shop)


# -- finding and reading a catalog ---------------------------------------------------------------

def test_the_nearest_catalog_is_found_walking_up(shop, monkeypatch):
    (shop / "src" / "deep").mkdir(parents=True)
    monkeypatch.chdir(shop / "src" / "deep")
    cat = unistore.catalog()
    assert cat.path.resolve() == (shop / "unistore.yaml").resolve()
    assert cat.datasets() == ["orders", "kinds"]
    # relative paths in the catalog are relative to its folder, not to the current directory
    assert cat.read("orders", lock="off").num_rows == 93


def test_unistore_catalog_variable_wins(shop, tmp_path_factory, monkeypatch):
    other = tmp_path_factory.mktemp("other")
    make_shop(other, rows=20)
    (other / "elsewhere.yaml").write_text(CATALOG)
    monkeypatch.setenv("UNISTORE_CATALOG", str(other / "elsewhere.yaml"))
    assert unistore.read("catalog:orders", lock="off").num_rows == 13


def test_no_catalog_anywhere_says_how_to_make_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UNISTORE_CATALOG", raising=False)
    with pytest.raises(unistore.CatalogError, match=r"no unistore.yaml in .* \$UNISTORE_CATALOG is not set"):
        unistore.catalog()


def test_read_by_name_carries_the_catalog_in_its_record(shop):
    cat = unistore.catalog()
    table = cat.read("orders", lock="off")
    assert table.num_rows == 93
    part = unistore.provenance_of(table).catalog
    assert part["dataset"] == "orders" and part["description"] == "Orders over 10"
    assert part["owners"] == [{"name": "team:data", "type": "MAINTAINER"}]
    assert part["tags"] == {"finance": "true", "pii": "true"} and part["lock"] is None
    same = unistore.read("catalog:orders", lock="off")
    assert same.equals(table) and unistore.provenance_of(same).catalog["dataset"] == "orders"
    assert cat.read("kinds", lock="off").num_rows == 3


def test_overrides_narrow_the_dataset(shop):
    cat = unistore.catalog()
    table = cat.read("orders", lock="off", columns=["id"], filter=[("id", "<", 20)], limit=5)
    assert table.column_names == ["id"] and table.num_rows == 5
    # the dataset's own filter still holds: amount > 10 means id >= 7
    assert min(table.column("id").to_pylist()) >= 7
    with pytest.raises(unistore.BadSpecError, match="cannot be overridden"):
        cat.read("orders", query="SELECT 1")
    with pytest.raises(unistore.BadSpecError, match="names its own table"):
        unistore.read("catalog:orders", "other_table")


def test_an_unknown_dataset_suggests_the_closest(shop):
    with pytest.raises(unistore.SourceNotFoundError, match="did you mean 'orders'"):
        unistore.catalog().read("ordrs")
    with pytest.raises(unistore.SourceNotFoundError, match="did you mean 'orders'"):
        unistore.read("catalog:ordrs")


def test_scan_streams_a_dataset(shop):
    with unistore.scan("catalog:orders", lock="off", batch_size=10) as reader:
        batches = list(reader)
    assert sum(b.num_rows for b in batches) == 93 and max(b.num_rows for b in batches) == 10


def test_source_opens_a_named_source(shop):
    with unistore.catalog().source("shop") as src:
        assert "orders" in src.tables()
    with pytest.raises(unistore.SourceNotFoundError, match="did you mean 'shop'"):
        unistore.catalog().source("shp")


# -- mistakes in the file: file, line, key ---------------------------------------------------------

def _error(tmp_path: Path, text: str) -> unistore.CatalogError:
    path = tmp_path / "unistore.yaml"
    path.write_text(textwrap.dedent(text))
    with pytest.raises(unistore.CatalogError) as info:
        unistore.catalog(path).validate()
    return info.value


@pytest.mark.parametrize("text, line, key, problem", [
    ("""\
     sources:
       shop: {uri: "sqlite:///shop.db"}
     datasets:
       orders:
         source: shop
         tabel: orders
     """, 6, "datasets.orders.tabel", "unknown key 'tabel' (did you mean 'table'?)"),
    ("""\
     sources:
       shop: {uri: "sqlite:///shop.db"}
     datasets:
       orders:
         source: shpo
         table: orders
     """, 5, "datasets.orders.source", "unknown source 'shpo' (did you mean 'shop'?)"),
    ("""\
     sources:
       shop:
         uri: postgresql://app:${UNISTORE_TEST_UNSET_PW}@db/shop
     datasets: {}
     """, 3, "sources.shop.uri", "environment variable UNISTORE_TEST_UNSET_PW is not set"),
    ("""\
     sources:
       shop: {uri: "sqlite:///shop.db"}
     datasets:
       orders: {source: shop, table: orders}
       orders: {source: shop, table: orders}
     """, 5, None, "duplicate key 'orders' (first on line 4)"),
    ("""\
     sources:
       shop: {uri: "sqlite:///shop.db"}
     datasets:
       orders:
         source: shop
         table: orders
         filter: [[amount, "~", 3]]
     """, 7, "datasets.orders.filter", "operator"),
    ("""\
     sources:
       shop: {uri: "sqlite:///shop.db"}
     datasets:
       orders: {source: shop, table: orders, query: "SELECT 1"}
     """, 4, "datasets.orders.query", "not table and query"),
    ("""\
     lock: sometimes
     sources: {}
     datasets: {}
     """, 1, "lock", "is not one of"),
    ("""\
     sources:
       shop: {uri: "sqlite:///shop.db"}
     datasets:
       orders:
         source: shop
         columns: id
     """, 6, "datasets.orders.columns", "is not of type 'array'"),
    ("""\
     sources:
       shop: {uri: "sqlite:///shop.db"
     datasets: {}
     """, 3, None, "not valid YAML"),
    ("""\
     sources:
       shop: {options: {}}
     datasets: {}
     """, 2, "sources.shop", "missing key 'uri'"),
    ("""\
     sources:
       shop: !!python/object/apply:os.system ["echo hacked"]
     datasets: {}
     """, 2, None, "not valid YAML"),
])
def test_a_mistake_names_file_line_and_key(tmp_path, monkeypatch, text, line, key, problem):
    monkeypatch.delenv("UNISTORE_TEST_UNSET_PW", raising=False)
    err = _error(tmp_path, text)
    assert err.file == str(tmp_path / "unistore.yaml")
    assert (err.line, err.key) == (line, key), str(err)
    assert problem in err.problem
    assert str(err).startswith(f"{tmp_path / 'unistore.yaml'}:{line}: ")
    assert isinstance(err, unistore.BadSpecError) and isinstance(err, ValueError)


def test_the_schema_ships_with_the_package_and_describes_every_key():
    schema = catalog_schema()
    assert schema["$schema"].endswith("2020-12/schema")
    dataset = schema["$defs"]["dataset"]["properties"]
    for key in ("source", "table", "path", "query", "columns", "filter", "time", "description", "owner", "tags",
                "tests", "lock"):
        assert key in dataset
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(schema)


# -- the lock --------------------------------------------------------------------------------------

def test_lock_then_strict_reads_verify_and_drift_raises(shop):
    cat = unistore.catalog()
    assert cat.lock() == {"orders": "new", "kinds": "new"}
    lock = json.loads((shop / "unistore.lock").read_text())
    entry = lock["datasets"]["orders"]
    assert entry["rows"] == 93 and entry["source"] == "sqlite:///shop.db" and entry["version"] is None
    assert entry["schema"] == ["id: int64", "amount: double", "kind: string"]
    assert set(entry["columns"]) == {"id", "amount", "kind"}
    table = cat.read("orders")
    assert unistore.provenance_of(table).catalog["lock"] == {
        "file": str(cat.lock_path), "mode": "strict", "entry": "orders", "version": None, "rows": 93,
        "fingerprint": entry["fingerprint"], "status": "verified"}
    bump(shop)
    with pytest.raises(unistore.DriftError, match="columns changed: amount") as info:
        cat.read("orders")
    assert info.value.differences["columns"] == ["amount"]
    with pytest.warns(DriftWarning, match="differs from its entry"):
        table = cat.read("orders", lock="warn")
    assert unistore.provenance_of(table).catalog["lock"]["status"] == "drifted"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cat.read("orders", lock="off")
    # a narrowed read cannot be compared with the whole dataset's fingerprint: recorded as unchecked
    narrowed = cat.read("orders", columns=["id"])
    assert unistore.provenance_of(narrowed).catalog["lock"]["status"] == "unchecked"


def test_check_reports_exactly_what_drifted(shop):
    cat = unistore.catalog()
    cat.lock()
    assert [c.status for c in cat.check()] == ["ok", "ok"]
    bump(shop)
    with sqlite3.connect(shop / "shop.db") as con:
        con.execute("INSERT INTO orders VALUES (1000, 5.0, 'k9')")  # under the filter: orders unchanged in rows
    checks = {c.dataset: c for c in cat.check()}
    assert checks["orders"].status == "drifted" and checks["orders"].columns == ["amount"]
    assert (checks["orders"].locked_rows, checks["orders"].rows) == (93, 93)
    assert checks["kinds"].status == "drifted" and checks["kinds"].rows == 4
    table = format_checks(checks.values())
    assert "orders   drifted  93" in table and "3 -> 4" in table


def test_update_repins_one_dataset_and_unchanged_entries_stay_byte_identical(shop):
    cat = unistore.catalog()
    cat.lock()
    first = (shop / "unistore.lock").read_bytes()
    assert cat.lock() == {"orders": "unchanged", "kinds": "unchanged"}
    assert (shop / "unistore.lock").read_bytes() == first  # the SQLite file's mtime is no reason to rewrite
    bump(shop)
    assert cat.lock(["orders"]) == {"orders": "updated"}
    after = json.loads((shop / "unistore.lock").read_text())["datasets"]
    before = json.loads(first)["datasets"]
    assert after["kinds"] == before["kinds"] and after["orders"] != before["orders"]
    assert [c.status for c in cat.check()] == ["ok", "ok"]


def test_a_changed_definition_and_a_missing_entry_are_named(shop):
    cat = unistore.catalog()
    cat.lock(["orders"])
    with pytest.raises(unistore.DriftError, match="kinds .* is not in .*unistore.lock"):
        cat.read("kinds")
    (shop / "unistore.yaml").write_text(CATALOG.replace('[[amount, ">", 10]]', '[[amount, ">", 20]]'))
    cat = unistore.catalog()
    with pytest.raises(unistore.DriftError, match="changed since it was locked"):
        cat.read("orders")
    checks = {c.dataset: c.status for c in cat.check()}
    assert checks == {"orders": "redefined", "kinds": "unlocked"}
    (shop / "unistore.yaml").write_text(CATALOG.split("  kinds:")[0])
    cat = unistore.catalog()
    cat.lock()
    assert cat.check()[0].status == "ok" and "kinds" not in cat.lockfile().entries


def test_a_malformed_lock_file_is_placed(shop):
    (shop / "unistore.lock").write_text('{\n  "unistore_lock": 1,\n  "datasets": {\n    "orders": {"rows": 1}\n  }\n}\n')
    with pytest.raises(unistore.CatalogError, match=r"unistore.lock:4: datasets.orders: malformed entry"):
        unistore.catalog().read("orders")
    (shop / "unistore.lock").write_text('{\n  "unistore_lock": 1,\n  oops\n}')
    with pytest.raises(unistore.CatalogError, match=r"unistore.lock:3: not a lock file"):
        unistore.catalog().validate()


# -- the lock file's text: deterministic ---------------------------------------------------------

_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_json = st.recursive(st.none() | st.booleans() | st.integers(-2**53, 2**53) | _text,
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
                     max_leaves=8)
_entries = st.builds(
    LockEntry, source=_text, definition=_text, snapshot=st.dictionaries(_text, _json, max_size=4),
    version=st.none() | _text, rows=st.integers(0, 2**62), schema=st.lists(_text, max_size=4),
    schema_fingerprint=_text, fingerprint=_text, columns=st.dictionaries(_text, _text, max_size=4))


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(_text, _entries, max_size=5), st.randoms())
def test_the_same_entries_always_write_the_same_bytes(entries, rnd):
    names = list(entries)
    rnd.shuffle(names)
    shuffled = {n: entries[n] for n in names}
    text = LockFile(Path("unistore.lock"), entries).dumps()
    assert LockFile(Path("unistore.lock"), shuffled).dumps() == text
    data = json.loads(text)
    again = LockFile(Path("unistore.lock"), {n: LockEntry.from_dict(e) for n, e in data["datasets"].items()})
    assert again.dumps() == text  # written, read back, written again: the same bytes
    assert text.startswith('{\n  "unistore_lock": 1,\n')


def test_locking_twice_from_the_same_state_writes_the_same_bytes(shop, tmp_path_factory):
    cat = unistore.catalog()
    cat.lock()
    first = (shop / "unistore.lock").read_bytes()
    (shop / "unistore.lock").unlink()
    cat.lock()
    assert (shop / "unistore.lock").read_bytes() == first


# -- the command line ---------------------------------------------------------------------------

def test_cli_lock_check_and_catalog_commands(shop, capsys):
    assert main(["catalog", "check"]) == 0
    assert "2 dataset(s), 1 source(s), lock mode strict; valid" in capsys.readouterr().out
    assert main(["lock"]) == 0
    out, err = capsys.readouterr()
    assert "locked orders: new (93 rows, ms128v2:" in err and "wrote" in out
    assert main(["lock", "--check"]) == 0
    assert "2 of 2 dataset(s) match unistore.lock" in capsys.readouterr().out
    bump(shop)
    assert main(["lock", "--check"]) == 1
    out = capsys.readouterr().out
    lines = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert lines["orders"][:4] == ["orders", "drifted", "93", "amount"] and lines["kinds"][1] == "ok"
    assert main(["lock", "--check", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert [(r["dataset"], r["status"], r["columns"]) for r in report] == [("orders", "drifted", ["amount"]),
                                                                           ("kinds", "ok", [])]
    assert main(["lock", "--update", "orders"]) == 0
    capsys.readouterr()
    assert main(["lock", "--check"]) == 0
    capsys.readouterr()
    assert main(["catalog", "list"]) == 0
    out = capsys.readouterr().out
    assert "orders" in out and "locked" in out and "Orders over 10" in out
    assert main(["catalog", "describe", "orders"]) == 0
    out = capsys.readouterr().out
    assert "owners   team:data (MAINTAINER)" in out and "amount: double" in out and "finance, pii" in out
    assert main(["catalog", "describe", "nope"]) == 1
    assert "SourceNotFoundError" in capsys.readouterr().err


def test_cli_reports_a_broken_catalog_with_its_line(shop, capsys):
    (shop / "unistore.yaml").write_text(CATALOG.replace("table: orders", "tabel: orders"))
    assert main(["catalog", "check"]) == 1
    err = capsys.readouterr().err
    assert "unistore.yaml:10: datasets.orders.tabel: unknown key 'tabel'" in err and err.count("\n") == 1


def test_without_a_lock_file_warn_is_quiet_and_strict_insists(shop):
    (shop / "unistore.yaml").write_text(CATALOG.replace("lock: strict", "lock: warn"))
    cat = unistore.catalog()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cat.read("orders").num_rows == 93
    with pytest.raises(unistore.DriftError, match="is not in .*unistore.lock"):
        cat.read("orders", lock="strict")
    cat.lock(["kinds"])  # now there is a lock file, without orders in it
    with pytest.warns(DriftWarning, match="orders .* is not in"):
        cat.read("orders")


def test_a_strict_scan_checks_the_lock_when_the_stream_ends(shop):
    cat = unistore.catalog()
    cat.lock()
    with cat.scan("orders", batch_size=10) as reader:
        assert sum(b.num_rows for b in reader) == 93
    bump(shop)
    reader = cat.scan("orders", batch_size=10)
    with pytest.raises(unistore.DriftError, match="columns changed: amount"):
        for _ in reader:
            pass
