"""Stores for the cross-silo SQL tests: the TPC-H-shaped tables loaded once per session."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pytest

from federated import data


@dataclass
class Silos:
    pg: str
    my: str
    lake: str
    orders: str
    customers: str


@pytest.fixture(scope="session")
def silos(moto_s3):
    """orders in PostgreSQL, customers in MariaDB, lineitem as Parquet on the S3 test server."""
    from stores import missing_store
    from stores.servers_sql import MY_URI, PG_URI, my_available, pg_available

    if not pg_available():
        missing_store("PostgreSQL")
    if not my_available():
        missing_store("MariaDB")
    orders, customers = data.fresh("orders"), data.fresh("customers")
    data.load_postgresql(data.orders(), orders)
    data.load_mariadb(data.customers(), customers)
    bucket = moto_s3.bucket(data.fresh("lake").replace("_", "-"), versioned=True)
    lake = data.load_s3(moto_s3, bucket, data.lineitem(), "lineitem")
    return Silos(pg=PG_URI, my=MY_URI, lake=lake, orders=orders, customers=customers)


class Explaining:
    """The real DuckDB connection of a query; it also notes what each input gave it and the plan of the
    query, which DuckDB is asked for before running it."""

    def __init__(self, con):
        self.con, self.given, self.plans = con, {}, []

    def __getattr__(self, name):
        return getattr(self.con, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self.con.__exit__(*exc)

    def register(self, name, data):
        self.given[name] = data.num_rows if isinstance(data, pa.Table) else None
        return self.con.register(name, data)

    def sql(self, query, params=None):
        self.plans.append(self.con.sql("EXPLAIN (FORMAT json) " + query, params=params).fetchall()[0][1])
        return self.con.sql(query, params=params)

    def estimates(self) -> list[int]:
        """The row counts DuckDB's optimizer assumed for the inputs, smallest first."""
        import json

        def scans(node):
            if node["name"] == "PYTHON_ARROW_SCAN":
                yield int(node["extra_info"]["Estimated Cardinality"])
            for child in node["children"]:
                yield from scans(child)

        (plan,) = self.plans
        return sorted(n for root in json.loads(plan) for n in scans(root))


@pytest.fixture
def explaining(monkeypatch):
    """The connections unistore.sql opens, as :class:`Explaining` ones."""
    import duckdb

    made: list[Explaining] = []
    connect = duckdb.connect

    def explaining_connect(*args, **kwargs):
        made.append(Explaining(connect(*args, **kwargs)))
        return made[-1]

    monkeypatch.setattr(duckdb, "connect", explaining_connect)
    return made
