"""``unistore demo``: build a small multi-silo data set, read across it, show provenance.

Everything is embedded — Parquet and CSV files, a SQLite database and a
DuckDB database in one folder — so the demo needs no server. It shows the
three things unistore is for: one read call for every silo, the provenance
every result carries, and replay that notices when the data changed — and
then data as code: a catalog (``unistore.yaml``) naming the same silos'
datasets, a lock file pinning them, and ``lock --check`` naming what moved.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import sqlite3
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as ds

from .api import read
from .catalogs import Catalog, format_checks
from .errors import DriftError
from .preview import preview
from .provenance import provenance_of
from .replay import replay


def build(folder: str, *, rows: int = 2_000, seed: int = 7) -> dict[str, str]:
    """Write the demo silos under ``folder`` (replacing earlier ones); return their locations."""
    os.makedirs(folder, exist_ok=True)
    rng = random.Random(seed)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)

    customers = pa.table({
        "customer_id": pa.array(range(1, 201), pa.int64()),
        "country": [rng.choice(["DE", "FR", "NL", "US", "JP"]) for _ in range(200)],
        "segment": [rng.choice(["retail", "pro", "edu"]) for _ in range(200)],
    })
    pacsv.write_csv(customers, os.path.join(folder, "customers.csv"))

    events = pa.table({
        "event_id": pa.array(range(rows), pa.int64()),
        "customer_id": pa.array([rng.randint(1, 200) for _ in range(rows)], pa.int64()),
        "kind": [rng.choice(["view", "click", "cart"]) for _ in range(rows)],
        "ts": pa.array([start + dt.timedelta(minutes=7 * i) for i in range(rows)], pa.timestamp("us", "UTC")),
        "month": [(start + dt.timedelta(minutes=7 * i)).strftime("%Y-%m") for i in range(rows)],
    })
    ds.write_dataset(events, os.path.join(folder, "events"), format="parquet", partitioning=["month"],
                     partitioning_flavor="hive", existing_data_behavior="delete_matching")

    shop = os.path.join(folder, "shop.db")
    if os.path.exists(shop):
        os.remove(shop)
    with sqlite3.connect(shop) as con:
        con.execute("CREATE TABLE orders (order_id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, "
                    "product_id INTEGER, amount NUMERIC(10,2), ordered_at DATETIME, paid BOOLEAN)")
        con.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?)", [
            (i, rng.randint(1, 200), rng.randint(1, 50), round(rng.uniform(5, 500), 2),
             (start + dt.timedelta(hours=3 * i)).replace(tzinfo=None).isoformat(sep=" "), int(rng.random() > 0.1))
            for i in range(1, rows // 2 + 1)])

    warehouse = os.path.join(folder, "warehouse.duckdb")
    if os.path.exists(warehouse):
        os.remove(warehouse)
    con = duckdb.connect(warehouse)
    try:
        con.execute("CREATE TABLE products (product_id BIGINT, name VARCHAR, category VARCHAR, price DECIMAL(10,2))")
        con.executemany("INSERT INTO products VALUES (?, ?, ?, ?)", [
            (i, f"product-{i:02d}", rng.choice(["books", "games", "tools"]), round(rng.uniform(3, 90), 2))
            for i in range(1, 51)])
    finally:
        con.close()
    return {
        "events": os.path.join(folder, "events"),
        "customers": os.path.join(folder, "customers.csv"),
        "orders": f"sqlite:///{os.path.abspath(shop)}",
        "products": f"duckdb:///{os.path.abspath(warehouse)}",
    }


#: the demo's catalog: paths are relative to the catalog's folder, so the folder can move
CATALOG = """\
# unistore.yaml: the demo's datasets by name (unistore catalog list, unistore lock --check)
version: 1
lock: warn
sources:
  files: {uri: ".", description: "Parquet and CSV files next to this catalog"}
  shop: {uri: "sqlite:///shop.db"}
  warehouse: {uri: "duckdb:///warehouse.duckdb"}
datasets:
  events:
    source: files
    path: events
    columns: [event_id, customer_id, kind, ts]
    description: Web events, one row per event (hive-partitioned by month)
    owner: team:web
    tags: [clickstream]
  customers:
    source: files
    path: customers.csv
    description: Customers and their country
    owner: {name: "team:crm", type: MAINTAINER}
    tags: {pii: true}
    tests:   # unistore test: this one fails (there are customers in JP)
      - accepted_values: {column: country, values: [DE, FR, NL, US]}
  paid_orders:
    source: shop
    table: orders
    filter: [[paid, "==", true]]
    description: Orders that were paid
    owner: team:shop
    tests:   # these pass
      - unique: {columns: [order_id]}
      - not_null: {columns: [customer_id]}
      - between: {column: amount, min: 0, max: 1000}
  products:
    source: warehouse
    table: products
    description: The product list
"""


def _summary(table: pa.Table) -> str:
    p = provenance_of(table)
    lines = [
        f"  source    {p.source.system}: {p.source.namespace} {p.source.name}",
        f"  snapshot  {p.snapshot.kind} = {p.snapshot.value}",
        f"  query     {' '.join(p.query.text.split())[:110]}",
        f"  result    {p.result.rows} rows, {p.result.bytes} bytes, {p.result.fingerprint}",
        f"  read id   {p.read_id}",
    ]
    return "\n".join(lines)


def run(folder: str = "unistore-demo", *, out: Any = print) -> dict[str, pa.Table]:
    """Build the silos, read across them, join, and show replay catching a change."""
    places = build(folder)
    out(f"Built a demo data set in {os.path.abspath(folder)}/ (Parquet, CSV, SQLite, DuckDB)\n")

    results: dict[str, pa.Table] = {}
    results["events"] = read(places["events"], columns=["event_id", "customer_id", "kind", "ts"],
                             filter=[("kind", "==", "cart"), ("month", "==", "2026-01")])
    results["customers"] = read(places["customers"])
    results["orders"] = read(places["orders"], "orders", filter=[("paid", "==", True), ("amount", ">", 100)])
    results["products"] = read(places["products"], "products", columns=["product_id", "category", "price"])
    # the Parquet events are a time series too: a time range on any time column, pushed into the scan
    results["events, 2026-01-02 (time range)"] = read(
        places["events"], columns=["ts", "customer_id", "kind"], time_column="ts",
        start=dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc), end=dt.datetime(2026, 1, 3, tzinfo=dt.timezone.utc))

    for name, table in results.items():
        out(f"== {name}")
        out(preview(table, 3))
        out(_summary(table) + "\n")

    # Cross-silo work happens in DuckDB over the Arrow tables, zero-copy.
    orders, customers, products = results["orders"], results["customers"], results["products"]  # noqa: F841
    joined = duckdb.sql("""
        SELECT c.country, p.category, count(*) AS orders, sum(o.amount) AS revenue
        FROM orders o JOIN customers c USING (customer_id) JOIN products p USING (product_id)
        GROUP BY ALL ORDER BY revenue DESC LIMIT 5""").to_arrow_table()
    out("== paid orders over 100 by country and category (joined in DuckDB across SQLite, CSV and DuckDB)")
    out(preview(joined, 5))
    out("  derived from reads " + ", ".join(provenance_of(results[n]).read_id for n in ("orders", "customers", "products")))
    results["joined"] = joined

    out("\n== replay: the same read again, checked against its fingerprint")
    replay(results["orders"])
    out("  orders: identical")
    with sqlite3.connect(places["orders"].removeprefix("sqlite:///")) as con:
        con.execute("UPDATE orders SET amount = amount + 1 WHERE order_id = (SELECT min(order_id) FROM orders "
                    "WHERE paid = 1 AND amount > 100)")
    try:
        replay(results["orders"])
        out("  orders: identical (unexpected)")
    except DriftError as exc:
        out(f"  after an UPDATE in shop.db, replay raises DriftError:\n    {exc}")

    cat = data_as_code(folder, places, out)
    data_tests(cat, out)
    return results


def data_as_code(folder: str, places: dict[str, str], out: Any = print) -> Catalog:
    """Name the silos' datasets in a catalog, lock them, change one store, and let ``lock --check`` say which."""
    out("\n== data as code: unistore.yaml names the datasets, unistore.lock pins them")
    with open(os.path.join(folder, "unistore.yaml"), "w") as f:
        f.write(CATALOG)
    cat = Catalog.load(os.path.join(folder, "unistore.yaml"))
    for name in cat.datasets():
        info = cat.describe(name)
        out(f"  {name:<12} {info['source']:<10} {info['description']}")
    cat.lock(progress=lambda name, outcome, entry: out(
        f"  locked {name:<12} {entry.rows:>5} rows  {entry.fingerprint}"))
    orders = cat.read("paid_orders")
    out(f"  catalog:paid_orders read {orders.num_rows} rows, lock status "
        f"{provenance_of(orders).catalog['lock']['status']}")  # type: ignore[index]
    with sqlite3.connect(places["orders"].removeprefix("sqlite:///")) as con:
        con.execute("UPDATE orders SET amount = amount * 2 WHERE order_id = (SELECT min(order_id) FROM orders "
                    "WHERE paid = 1)")
    out("  after another UPDATE in shop.db, `unistore lock --check` reports:")
    out("    " + format_checks(cat.check()).replace("\n", "\n    "))
    return cat


def data_tests(cat: Catalog, out: Any = print) -> Any:
    """Run the catalog's data tests as ``unistore test`` does: one passes, one fails, with what was observed."""
    out("\n== data tests: unistore test runs each dataset's tests while it streams")
    report = cat.test(lock="off", progress=lambda line: out("  " + line))
    out(f"  {report.summary()}; exit code {report.exit_code}")
    return report
