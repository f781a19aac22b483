"""Catalog datasets as inputs of cross-silo SQL, on real stores: SQLite and PostgreSQL (the latter through a
``${VAR}`` password) and Delta Lake (versions), in a catalog in a fresh folder.

A catalog input is read as the dataset defines it (its columns, its filter
ANDed with the query's), pinned and checked against the lock like
``Catalog.read``; its record in the query's record names the catalog entry.
"""

from __future__ import annotations

import json
import uuid
import warnings

import duckdb
import pytest

import unistore
from reference import TABLE
from stores.servers_sql import PG_PORT, SECRET
from unistore.catalogs import DriftWarning
from unistore.cli import main
from unistore.lineage.openlineage import build_events, read_job

pytestmark = pytest.mark.server

JOIN = ("SELECT o.id, o.amount, p.kind FROM orders o JOIN pg.{t} p ON o.id = p.id "
        "WHERE p.kind = 'a' AND o.id < 40 ORDER BY o.id")


class Shop:
    def __init__(self, pg, sqlite, delta):
        self.pg, self.sqlite, self.delta = pg, sqlite, delta

    def catalog(self) -> str:
        return json.dumps({"version": 1, "lock": "warn", "sources": {
            "shop": {"uri": self.sqlite.uri, "options": self.sqlite.options},
            "warehouse": {"uri": f"postgresql://unistore_auth:${{UNISTORE_TEST_DB_PW}}@127.0.0.1:{PG_PORT}/test"},
            "lake": {"uri": self.delta.uri},
        }, "datasets": {
            "orders": {"source": "shop", "table": self.sqlite.table, "columns": ["id", "kind", "amount"],
                       "filter": [["amount", ">", 0]], "description": "positive orders", "owner": "team:shop"},
            "accounts": {"source": "warehouse", "table": self.pg.table, "columns": ["id", "kind", "amount"],
                         "lock": "strict"},
            "events": {"source": "lake", "columns": ["id", "amount"], "lock": "strict"},
        }}, indent=2)


@pytest.fixture
def shop(loader_postgresql, loader_sqlite, loader_delta, tmp_path, monkeypatch):
    monkeypatch.setenv("UNISTORE_TEST_DB_PW", SECRET)
    tag = uuid.uuid4().hex[:8]
    s = Shop(loader_postgresql.load(f"sqlcat_pg_{tag}", TABLE), loader_sqlite.load(f"sqlcat_sq_{tag}", TABLE),
             loader_delta.load(f"sqlcat_dl_{tag}", TABLE))
    (tmp_path / "unistore.yaml").write_text(s.catalog())  # JSON is YAML
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UNISTORE_CATALOG", raising=False)
    return s


def reference(query: str) -> list[tuple]:
    con = duckdb.connect()
    con.register("ref", TABLE)
    return con.execute(query).fetchall()


def test_a_catalog_dataset_joins_a_uri_source_under_its_own_filter(shop):
    table = unistore.sql(JOIN.format(t=shop.pg.table), {"orders": "catalog:orders", "pg": shop.pg.uri})
    expected = reference("SELECT o.id, o.amount, p.kind FROM ref o JOIN ref p ON o.id = p.id "
                         "WHERE o.amount > 0 AND p.kind = 'a' AND o.id < 40 ORDER BY o.id")
    assert expected and [tuple(r.values()) for r in table.to_pylist()] == expected
    record = unistore.provenance_of(table)
    assert record.query.request["sources"]["orders"] == "catalog:orders"
    inputs = {i.source: i.record for i in record.inputs}
    orders = inputs["orders"]
    # no lock file yet and mode warn: read as defined plus what the query pushed down
    assert orders.catalog["dataset"] == "orders" and orders.catalog["lock"] is None
    assert orders.catalog["description"] == "positive orders"
    assert orders.query.columns == ["id", "amount"]  # the dataset's columns, narrowed to what the query uses
    assert "amount > 0" in orders.query.filter and "id < 40" in orders.query.filter
    assert orders.result.rows == sum(1 for r in TABLE.to_pylist() if (r["amount"] or 0) > 0 and r["id"] < 40)
    assert inputs["pg"].catalog is None
    # the catalog input takes part in column lineage like any other: amount comes from the SQLite table
    (field,) = record.column_lineage["fields"]["amount"]["inputFields"]
    assert (field["name"], field["field"]) == (orders.source.name, "amount")


def test_an_object_from_catalog_input_and_the_command_line(shop, capsys):
    cat = unistore.catalog()
    table = unistore.sql("SELECT count(*) AS n FROM orders", {"orders": cat.input("orders", lock="off")})
    assert table.column("n").to_pylist() == [sum(1 for a in TABLE.column("amount").to_pylist() if (a or 0) > 0)]
    assert main(["sql", "SELECT max(id) AS m FROM orders", "--source", "orders=catalog:orders"]) == 0
    assert "catalog:orders" in capsys.readouterr().out


def test_unknown_datasets_and_wrong_references_fail_before_anything_is_read(shop, lineage_events):
    with pytest.raises(unistore.SourceNotFoundError, match="did you mean 'orders'"):
        unistore.sql("SELECT * FROM orders", {"orders": "catalog:ordres"})
    with pytest.raises(unistore.BadSpecError, match="refer to it as orders"):
        unistore.sql("SELECT * FROM orders.x", {"orders": "catalog:orders"})
    with pytest.raises(unistore.BadSpecError, match="did you mean 'amount'"):
        unistore.sql("SELECT amont FROM orders", {"orders": "catalog:orders"})
    with pytest.raises(unistore.BadSpecError, match="cannot be overridden"):
        unistore.sql("SELECT * FROM orders", {"orders": "catalog:orders"}, orders={"table": "other"})
    assert lineage_events == []


def test_a_locked_delta_dataset_is_read_at_its_pin_after_an_overwrite(shop):
    cat = unistore.catalog()
    cat.lock(["events"])
    shop.delta.mutate()
    query = "SELECT id, amount FROM events WHERE id <= 10 ORDER BY id"
    table = unistore.sql(query, {"events": "catalog:events"})
    assert [tuple(r.values()) for r in table.to_pylist()] == reference(
        "SELECT id, amount FROM ref WHERE id <= 10 ORDER BY id")
    record = unistore.provenance_of(table)
    (events,) = record.inputs
    lock = events.record.catalog["lock"]
    assert lock["status"] == "verified" and lock["entry"] == "events" and lock["mode"] == "strict"
    assert lock["version"] == cat.describe("events")["lock"]["version"] and lock["version"].startswith("delta.")
    assert events.record.snapshot.to_dict() == cat.lockfile().entries["events"].snapshot
    # checked means read as defined: the query's condition ran in DuckDB, not in the store
    assert record.query.pushed_down["events"]["filter"] is None and events.record.result.rows == TABLE.num_rows
    fresh = unistore.sql(query, {"events": "catalog:events"}, events={"lock": "off"})
    assert fresh.to_pylist() != table.to_pylist()  # the table did change
    # a replay resolves catalog:events again and reads the recorded request at the recorded version
    again = unistore.replay(table)
    assert again.to_pylist() == table.to_pylist()
    assert unistore.replay(fresh).to_pylist() == fresh.to_pylist()  # each at the version it read


def test_strict_drift_raises_and_warn_warns_with_no_secret_anywhere(shop, lineage_events):
    cat = unistore.catalog()
    cat.lock(["accounts"])
    query = "SELECT a.id, o.amount FROM accounts a JOIN orders o ON a.id = o.id WHERE a.id < 5"
    ok = unistore.sql(query, {"accounts": "catalog:accounts", "orders": "catalog:orders"})
    accounts = next(i.record for i in unistore.provenance_of(ok).inputs if i.source == "accounts")
    assert accounts.catalog["lock"]["status"] == "verified"
    shop.pg.mutate()
    with pytest.raises(unistore.DriftError, match=r"catalog:accounts .* differs from its entry") as drift:
        unistore.sql(query, {"accounts": "catalog:accounts", "orders": "catalog:orders"})
    assert drift.value.differences["columns"] == ["amount"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warned = unistore.sql(query, {"accounts": "catalog:accounts", "orders": "catalog:orders"},
                              accounts={"lock": "warn"})
    assert any(issubclass(w.category, DriftWarning) for w in caught)
    accounts = next(i.record for i in unistore.provenance_of(warned).inputs if i.source == "accounts")
    assert accounts.catalog["lock"]["status"] == "drifted" and accounts.catalog["lock"]["changed"]
    seen = [str(drift.value), repr(drift.value.fields()), unistore.provenance_of(ok).to_json(),
            unistore.provenance_of(warned).to_json()] + [str(w.message) for w in caught]
    for event in lineage_events:
        seen.append(json.dumps(build_events(read_job(event, "tests")), default=str))
    assert len(seen) > 5
    for text in seen:
        assert SECRET not in text
