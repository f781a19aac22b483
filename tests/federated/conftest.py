"""Stores for the cross-silo SQL tests: the TPC-H-shaped tables loaded once per session."""

from __future__ import annotations

from dataclasses import dataclass

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
