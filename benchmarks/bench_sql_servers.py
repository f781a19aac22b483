"""Issue 3 benchmarks: PostgreSQL and MariaDB, unistore vs the fastest direct paths, side by side.

- PostgreSQL, a table of N rows x 6 mixed columns (bigint, integer, double, text,
  timestamptz, numeric(12,2)): unistore.read vs raw ADBC ``fetch_arrow_table()``
  vs ConnectorX vs ``pandas.read_sql`` + ``pa.Table.from_pandas``.
- PostgreSQL partitioned reads, the same table: unistore ``partitions=1/2/4`` (a plan
  of heap block ranges under one exported snapshot) vs ConnectorX ``partition_num=1/2``
  (key ranges on ``id``, each on a connection of its own, no shared snapshot), with the
  speed-ups over one piece printed as ratios.
- MariaDB, the same table: unistore.read vs ConnectorX vs pandas.read_sql, on the server with the
  binary log on (127.0.0.1:3306: ConnectorX verified by binlog position) and, when it runs, on the one
  without (127.0.0.1:3307, scripts/stores.d/21-mariadb-nobinlog.sh: ConnectorX in its own snapshot),
  then unistore / ConnectorX for each.

    flock /tmp/unistore-bench.lock python benchmarks/bench_sql_servers.py [--rows N] [--repeat R]

The tables are generated on the servers themselves (``generate_series`` / MariaDB's
sequence engine) once and reused while they hold the expected row count.
Each variant runs in a fresh process; peak memory is the process's VmHWM.
"""

from __future__ import annotations

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _data import make_pg_table  # noqa: E402
from _harness import UNISTORE_WARM, Variant, compare  # noqa: E402

PG = "postgresql://postgres@127.0.0.1:5432/test"
MY = "mysql://root@127.0.0.1:3306/test"
#: MariaDB servers: the binary log on, and off (the second is measured only when it runs)
MY_SERVERS = {"binlog on": 3306, "binlog off": 3307}


# drivers are imported before the clock starts, for unistore as for the direct paths
PG_SETUP = UNISTORE_WARM + "import unistore.adapters.sql.postgresql, adbc_driver_postgresql.dbapi"
MY_SETUP = UNISTORE_WARM + "import unistore.adapters.sql.mysql, connectorx, pymysql"


def table_name(rows: int) -> str:
    return f"bench_mixed_{rows}"


def make_postgresql(rows: int) -> str:
    return make_pg_table(table_name(rows), rows, "label", "'customer-' || lpad(((i * 31) % 100000)::text, 6, '0')")


def make_mariadb(rows: int, port: int = 3306) -> str:
    import pymysql

    name = table_name(rows)
    con = pymysql.connect(host="127.0.0.1", port=port, user="root", database="test", autocommit=True)
    try:
        with con.cursor() as cur:
            cur.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'test' AND table_name = %s",
                        [name])
            if cur.fetchone()[0]:
                cur.execute(f"SELECT count(*) FROM `{name}`")
                if cur.fetchone()[0] == rows:
                    return name
            cur.execute(f"DROP TABLE IF EXISTS `{name}`")
            cur.execute(f"""CREATE TABLE `{name}` (id BIGINT PRIMARY KEY, qty INT, amount DOUBLE, label TEXT,
                            ts TIMESTAMP(6) NULL, price DECIMAL(12,2)) ENGINE=InnoDB""")
            cur.execute("SET time_zone = '+00:00'")
            cur.execute(f"""INSERT INTO `{name}` SELECT seq, (seq * 7) % 1000, (seq % 100000) * 1.37,
                            CONCAT('customer-', LPAD((seq * 31) % 100000, 6, '0')),
                            TIMESTAMP'2026-01-01 00:00:00' + INTERVAL seq * 17 SECOND,
                            ((seq * 13) % 1000000) / 100.0
                            FROM seq_1_to_{rows}""")
    finally:
        con.close()
    return name


def bench_partitions(t: str, rows: int, repeat: int) -> None:
    """Partitioned vs one-piece PostgreSQL reads, unistore and ConnectorX side by side, then the ratios.

    A partitioned read can only be faster with cores to spare: the load average is printed beside the
    ratios, because other work on the machine takes the cores the splits would use.
    """
    import importlib.util

    sql = f'SELECT * FROM "{t}"'
    unistore_parts = (1, 2, 4)
    cx_parts = (1, 2) if importlib.util.find_spec("connectorx") is not None else ()
    variants = [Variant(f"unistore.read partitions={n}", setup=PG_SETUP,
                        body=f"table = unistore.read({PG!r}, {t!r}, partitions={n})") for n in unistore_parts]
    variants += [Variant(f"ConnectorX partition_num={n}", reference=True, setup="import connectorx as cx",
                         body=f"table = cx.read_sql({PG!r}, {sql!r}, return_type='arrow'"
                              + (f", partition_on='id', partition_num={n})" if n > 1 else ")"))
                 for n in cx_parts]
    load = os.getloadavg()[0]
    results = {r["variant"]: r for r in compare(
        f"PostgreSQL partitioned reads, {rows:,} rows x 6 columns, {os.cpu_count()} cores", variants, repeat=repeat,
        memory_against="unistore.read partitions=1")}
    print(f"load average (1 min): {load:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} cores")

    def row(name: str) -> dict:
        return results[name]

    one = row("unistore.read partitions=1")
    print("partitioned vs one piece (speed-up = time of one piece / time partitioned, > 1 is faster; "
          "peak = partitioned peak / one-piece peak):")
    for n in unistore_parts[1:]:
        part = row(f"unistore.read partitions={n}")
        print(f"  unistore   partitions={n}:    speed-up {one['seconds'] / part['seconds']:.2f}x, "
              f"peak {part['peak_mb']:.0f} / {one['peak_mb']:.0f} MB = {part['peak_mb'] / one['peak_mb']:.2f}")
    if not cx_parts:
        print("  (connectorx is not installed: no ConnectorX comparison)")
        return
    cx_one = row("ConnectorX partition_num=1")
    for n in cx_parts[1:]:
        part = row(f"ConnectorX partition_num={n}")
        print(f"  ConnectorX partition_num={n}: speed-up {cx_one['seconds'] / part['seconds']:.2f}x, "
              f"peak {part['peak_mb']:.0f} / {cx_one['peak_mb']:.0f} MB = {part['peak_mb'] / cx_one['peak_mb']:.2f}")
    for n in cx_parts[1:]:
        ours, theirs = row(f"unistore.read partitions={n}"), row(f"ConnectorX partition_num={n}")
        print(f"  unistore partitions={n} / ConnectorX partition_num={n}: time {ours['seconds'] / theirs['seconds']:.2f}, "
              f"peak {ours['peak_mb'] / theirs['peak_mb']:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", choices=["postgresql", "partitions", "mariadb"], default=None)
    args = ap.parse_args()

    if args.only in (None, "postgresql"):
        t = make_postgresql(args.rows)
        sql = f'SELECT * FROM "{t}"'
        compare(f"PostgreSQL, {args.rows:,} rows x 6 columns", [
            Variant("raw ADBC fetch_arrow_table", reference=True,
                    setup="import adbc_driver_postgresql.dbapi as pg",
                    body=f"""
con = pg.connect({PG!r}); cur = con.cursor(); cur.execute({sql!r}); table = cur.fetch_arrow_table()
cur.close(); con.close()"""),
            Variant("ConnectorX read_sql(arrow)", reference=True, setup="import connectorx as cx",
                    body=f"table = cx.read_sql({PG!r}, {sql!r}, return_type='arrow')"),
            Variant("unistore.read", setup=PG_SETUP, body=f"table = unistore.read({PG!r}, {t!r})"),
            Variant("pandas.read_sql + from_pandas",
                    setup="import pandas as pd, pyarrow as pa, sqlalchemy as sa",
                    body=f"""
engine = sa.create_engine({PG.replace('postgresql://', 'postgresql+psycopg://')!r})
with engine.connect() as c:
    table = pa.Table.from_pandas(pd.read_sql(sa.text({sql!r}), c))
engine.dispose()"""),
        ], repeat=args.repeat, memory_against="raw ADBC")

    if args.only in (None, "partitions"):
        bench_partitions(make_postgresql(args.rows), args.rows, args.repeat)

    if args.only in (None, "mariadb"):
        bench_mariadb(args.rows, args.repeat)


def bench_mariadb(rows: int, repeat: int) -> None:
    """unistore vs ConnectorX (and pandas) on each MariaDB server that runs, then unistore / ConnectorX for each."""
    import socket

    ratios = {}
    for label, port in MY_SERVERS.items():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        except OSError:
            print(f"\n(MariaDB with the {label} on 127.0.0.1:{port} is not running: scripts/stores.sh starts it)")
            continue
        uri = MY.replace(":3306/", f":{port}/")
        t = make_mariadb(rows, port)
        sql = f"SELECT * FROM `{t}`"
        variants = [
            Variant("ConnectorX read_sql(arrow)", reference=True, setup="import connectorx as cx",
                    body=f"table = cx.read_sql({uri!r}, {sql!r}, return_type='arrow')"),
            Variant("unistore.read", setup=MY_SETUP, body=f"table = unistore.read({uri!r}, {t!r})"),
            Variant("pandas.read_sql + from_pandas",
                    setup="import pandas as pd, pyarrow as pa, sqlalchemy as sa",
                    body=f"""
engine = sa.create_engine({uri.replace('mysql://', 'mysql+pymysql://')!r})
with engine.connect() as c:
    table = pa.Table.from_pandas(pd.read_sql(sa.text({sql!r}), c))
engine.dispose()"""),
        ]
        load = os.getloadavg()[0]
        results = {r["variant"]: r for r in compare(
            f"MariaDB ({label}, 127.0.0.1:{port}), {rows:,} rows x 6 columns", variants, repeat=repeat)}
        ratios[label] = (results["unistore.read"]["seconds"] / results["ConnectorX read_sql(arrow)"]["seconds"],
                         load, os.getloadavg()[0])
    if ratios:
        print("\nMariaDB, unistore.read / ConnectorX read_sql(arrow) (time; load average before and after):")
        for label, (ratio, before, after) in ratios.items():
            print(f"  {label}: {ratio:.2f}x  (load {before:.1f} / {after:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
