"""A small TPC-H-shaped data set for the cross-silo SQL tests, and loaders into each store."""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

NATIONS = ["FRANCE", "GERMANY", "JAPAN", "BRAZIL"]
SEGMENTS = ["AUTOMOBILE", "BUILDING", "MACHINERY"]


def customers() -> pa.Table:
    n = 40
    return pa.table({"c_id": pa.array(range(1, n + 1), pa.int64()),
                     "c_name": [f"Customer#{i:03d}" for i in range(1, n + 1)],
                     "c_nation": pa.array([i % len(NATIONS) for i in range(1, n + 1)], pa.int64()),
                     "c_segment": [SEGMENTS[i % 3] for i in range(1, n + 1)]})


def orders() -> pa.Table:
    n = 300
    day = dt.date(1995, 1, 1)
    return pa.table({"o_id": pa.array(range(1, n + 1), pa.int64()),
                     "o_cust": pa.array([(i * 7) % 40 + 1 for i in range(n)], pa.int64()),
                     "o_date": pa.array([day + dt.timedelta(days=(i * 3) % 180) for i in range(n)], pa.date32()),
                     "o_status": ["F" if i % 4 else "O" for i in range(n)],
                     "o_priority": pa.array([i % 5 for i in range(n)], pa.int64())})


def lineitem() -> pa.Table:
    n = 1200
    day = dt.date(1995, 1, 5)
    return pa.table({"l_order": pa.array([i % 300 + 1 for i in range(n)], pa.int64()),
                     "l_qty": pa.array([float(i % 50 + 1) for i in range(n)], pa.float64()),
                     "l_price": pa.array([round(100.0 + (i * 37) % 900 + 0.25, 2) for i in range(n)], pa.float64()),
                     "l_discount": pa.array([(i % 10) / 100 for i in range(n)], pa.float64()),
                     "l_ship": pa.array([day + dt.timedelta(days=(i * 5) % 200) for i in range(n)], pa.date32())})


def nations() -> pa.Table:
    return pa.table({"n_id": pa.array(range(len(NATIONS)), pa.int64()), "n_name": NATIONS,
                     "n_region": pa.array([0, 0, 1, 2], pa.int64())})


def regions() -> pa.Table:
    return pa.table({"r_id": pa.array([0, 1, 2], pa.int64()), "r_name": ["EUROPE", "ASIA", "AMERICA"]})


def fresh(name: str) -> str:
    return f"{name}_{uuid.uuid4().hex[:8]}"


def load_postgresql(table: pa.Table, name: str) -> None:
    from stores.servers_sql import pg_connect

    types = {pa.int64(): "BIGINT", pa.string(): "TEXT", pa.float64(): "DOUBLE PRECISION", pa.date32(): "DATE"}
    cols = ", ".join(f'"{f.name}" {types[f.type]}' for f in table.schema)
    with pg_connect() as con:
        con.execute(f'CREATE TABLE "{name}" ({cols})')
        with con.cursor() as cur:
            cur.executemany(f'INSERT INTO "{name}" VALUES ({", ".join(["%s"] * table.num_columns)})',
                            [tuple(r.values()) for r in table.to_pylist()])
        con.execute(f'ANALYZE "{name}"')


def load_mariadb(table: pa.Table, name: str) -> None:
    from stores.servers_sql import my_connect

    types = {pa.int64(): "BIGINT", pa.string(): "VARCHAR(100)", pa.float64(): "DOUBLE", pa.date32(): "DATE"}
    cols = ", ".join(f"`{f.name}` {types[f.type]}" for f in table.schema)
    con = my_connect()
    try:
        with con.cursor() as cur:
            cur.execute(f"CREATE TABLE `{name}` ({cols}) ENGINE=InnoDB")
            cur.executemany(f"INSERT INTO `{name}` VALUES ({', '.join(['%s'] * table.num_columns)})",
                            [tuple(r.values()) for r in table.to_pylist()])
    finally:
        con.close()


def load_s3(server, bucket: str, table: pa.Table, prefix: str) -> str:
    """Two Parquet objects under ``prefix``; the data set's URI."""
    half = table.num_rows // 2
    for i, part in enumerate((table.slice(0, half), table.slice(half))):
        sink = pa.BufferOutputStream()
        pq.write_table(part, sink, row_group_size=100)
        server.client().put_object(Bucket=bucket, Key=f"{prefix}/part-{i}.parquet", Body=sink.getvalue().to_pybytes())
    return f"s3://{bucket}/{prefix}"


def load_sqlite(path: str, table: pa.Table, name: str) -> None:
    types = {pa.int64(): "INTEGER", pa.string(): "TEXT", pa.float64(): "REAL", pa.date32(): "DATE"}
    with sqlite3.connect(path) as con:
        con.execute(f'CREATE TABLE "{name}" ({", ".join(f"{f.name} {types[f.type]}" for f in table.schema)})')
        con.executemany(f'INSERT INTO "{name}" VALUES ({", ".join("?" * table.num_columns)})',
                        [tuple(r.values()) for r in table.to_pylist()])


def load_duckdb(path: str, table: pa.Table, name: str) -> None:
    con = duckdb.connect(path)
    try:
        con.register("incoming", table)
        con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM incoming')
    finally:
        con.close()


def reference(query: str, tables: dict[str, pa.Table]) -> list[tuple]:
    """The same query run by DuckDB over the same data held locally (the reference answer), rows sorted."""
    con = duckdb.connect()
    for name, table in tables.items():
        con.register(name, table)
    return sorted(con.execute(query).fetchall(), key=repr)


def rows(table: pa.Table) -> list[tuple]:
    return sorted((tuple(r.values()) for r in table.to_pylist()), key=repr)
