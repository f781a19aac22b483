"""Cross-silo SQL on real stores: answers equal DuckDB's over the same data held locally; pushdown is proven
by what each input's record says the store was sent and returned."""

from __future__ import annotations

import datetime as dt
import threading

import pyarrow as pa
import pytest

import unistore
from federated import data

#: a Q3/Q10-shaped join of three stores, written once; {o}, {c}, {l} name the tables
Q3 = """
SELECT o.o_id, o.o_date, c.c_name, ROUND(SUM(l.l_price * (1 - l.l_discount)), 4) AS revenue
FROM {c} c JOIN {o} o ON c.c_id = o.o_cust JOIN {l} l ON l.l_order = o.o_id
WHERE c.c_segment = 'BUILDING' AND o.o_date < DATE '1995-03-15' AND l.l_ship > DATE '1995-03-15'
GROUP BY o.o_id, o.o_date, c.c_name
ORDER BY revenue DESC, o.o_id
LIMIT 10
"""


def fed(query: str, silos) -> str:
    return query.format(o=f"pg.{silos.orders}", c=f"my.{silos.customers}", l="lake")


def local(query: str) -> tuple[str, dict[str, pa.Table]]:
    return query.format(o="orders", c="customers", l="lineitem"), {
        "orders": data.orders(), "customers": data.customers(), "lineitem": data.lineitem()}


def sources(silos) -> dict[str, str]:
    return {"pg": silos.pg, "my": silos.my, "lake": silos.lake}


def test_a_three_store_join_equals_duckdb_over_the_same_data(silos):
    table = unistore.sql(fed(Q3, silos), sources(silos))
    assert table.num_rows == 10
    assert data.rows(table) == data.reference(*local(Q3))


def test_the_order_is_kept_and_recorded(silos):
    table = unistore.sql(fed(Q3, silos), sources(silos))
    query, tables = local(Q3)
    import duckdb

    con = duckdb.connect()
    for name, t in tables.items():
        con.register(name, t)
    assert [tuple(r.values()) for r in table.to_pylist()] == con.execute(query).fetchall()
    assert unistore.provenance_of(table).result.ordered_fingerprint is not None


def test_pushdown_is_in_each_inputs_record(silos):
    table = unistore.sql(fed(Q3, silos), sources(silos))
    record = unistore.provenance_of(table)
    assert record.kind == "query" and record.engine["name"] == "duckdb"
    inputs = {i.source: i.record for i in record.inputs}
    assert set(inputs) == {"pg", "my", "lake"}
    assert record.parents == [i.record.read_id for i in record.inputs]
    pg, my, lake = inputs["pg"], inputs["my"], inputs["lake"]
    # only the columns the query uses, and only the rows its single-table conditions keep
    assert pg.query.columns == ["o_id", "o_cust", "o_date"]
    assert "WHERE" in pg.query.text and '"o_date" <' in pg.query.text and "o_status" not in pg.query.text
    assert pg.query.params == ["1995-03-15"]
    assert pg.result.rows == sum(1 for d in data.orders()["o_date"].to_pylist() if d < dt.date(1995, 3, 15))
    assert my.query.columns == ["c_id", "c_name", "c_segment"] and "WHERE" in my.query.text
    assert my.result.rows == sum(1 for s in data.customers()["c_segment"].to_pylist() if s == "BUILDING")
    assert lake.query.columns == ["l_order", "l_price", "l_discount", "l_ship"]
    assert lake.query.filter == "l_ship > '1995-03-15'"
    assert lake.result.rows == sum(1 for d in data.lineitem()["l_ship"].to_pylist() if d > dt.date(1995, 3, 15))
    # fewer bytes than reading the whole data set: 4 of 5 columns, 780 of 1200 rows
    full = unistore.read(silos.lake)
    assert lake.result.bytes < full.nbytes * 0.8 * 780 / 1200 + 1
    assert record.query.pushed_down["lake"]["filter"] == "l_ship > '1995-03-15'"
    assert record.query.pushed_down["pg." + silos.orders]["limit"] is None  # a join: LIMIT stays in DuckDB
    # every input record is complete and names its snapshot
    for rec in inputs.values():
        assert rec.result.complete and rec.result.fingerprint.startswith("ms128v2:")
    assert set(record.snapshot.value) == {f"pg.{silos.orders}", f"my.{silos.customers}", "lake"}
    assert record.snapshot.consistent is False  # three stores share no instant


def test_a_limit_over_one_input_is_pushed_down(silos):
    table = unistore.sql(f"SELECT o_id, o_status FROM pg.{silos.orders} WHERE o_priority = 2 LIMIT 3 OFFSET 1",
                         {"pg": silos.pg})
    (pg,) = unistore.provenance_of(table).inputs
    assert table.num_rows == 3
    assert pg.record.query.request["limit"] == 4 and "LIMIT" in pg.record.query.text
    assert pg.record.result.rows == 4


def test_several_tables_of_one_postgresql_source_share_one_snapshot(silos):
    a, b = data.fresh("snap_a"), data.fresh("snap_b")
    from stores.servers_sql import pg_connect

    with pg_connect() as con:
        for name in (a, b):
            con.execute(f'CREATE TABLE "{name}" (k BIGINT, pad TEXT)')
            con.execute(f"INSERT INTO \"{name}\" SELECT g, repeat('x', 200) FROM generate_series(1, 50000) g")
    stop = threading.Event()

    def writer():  # each transaction adds one row to both tables: any one snapshot sees equal counts
        with pg_connect() as con:
            k = 10**6
            while not stop.is_set():
                k += 1
                with con.transaction():
                    con.execute(f'INSERT INTO "{a}" VALUES ({k}, \'w\')')
                    con.execute(f'INSERT INTO "{b}" VALUES ({k}, \'w\')')

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(3):
            table = unistore.sql(f"SELECT (SELECT count(*) FROM pg.{a}) AS na, (SELECT count(*) FROM pg.{b}) AS nb, "
                                 f"(SELECT max(length(pad)) FROM pg.{b}) AS w", {"pg": silos.pg})
            row = table.to_pylist()[0]
            assert row["na"] == row["nb"]
            record = unistore.provenance_of(table)
            snaps = {i.record.snapshot.value for i in record.inputs}
            assert len(snaps) == 1  # both reads report the one exported snapshot
            assert record.snapshot.consistent is True
    finally:
        stop.set()
        thread.join()


def test_tables_of_one_mariadb_source_are_not_claimed_to_share_a_snapshot(silos):
    """InnoDB cannot share a read view between connections: each input is one consistent state, but two
    tables of one MariaDB server were read in two snapshots, and the query's record must not claim one."""
    table = unistore.sql(f"SELECT (SELECT count(*) FROM my.{silos.customers}) AS a, "
                         f"(SELECT count(*) FROM my.{silos.customers} WHERE c_id > 1) AS b", {"my": silos.my})
    record = unistore.provenance_of(table)
    assert len(record.inputs) == 1 and record.snapshot.consistent is True  # one input: one read view
    from stores.servers_sql import my_connect

    con = my_connect()
    other = data.fresh("my_other")
    try:
        with con.cursor() as cur:
            cur.execute(f"CREATE TABLE `{other}` (k BIGINT)")
            cur.execute(f"INSERT INTO `{other}` VALUES (1)")
        table = unistore.sql(f"SELECT (SELECT count(*) FROM my.{silos.customers}) AS a, "
                             f"(SELECT count(*) FROM my.{other}) AS b", {"my": silos.my})
        record = unistore.provenance_of(table)
        assert len(record.inputs) == 2
        assert all(i.record.snapshot.consistent for i in record.inputs)  # each its own read view...
        assert record.snapshot.consistent is False  # ...but not one for both
    finally:
        with con.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS `{other}`")
        con.close()


def test_sqlite_duckdb_and_a_time_series_store_in_one_query(tmp_path, loader_arcticdb):
    series = loader_arcticdb.load_series()
    sqlite_path, duck_path = str(tmp_path / "ref.db"), str(tmp_path / "geo.duckdb")
    sites = pa.table({"site": ["a", "b", "c"], "s_region": pa.array([0, 1, 0], pa.int64())})
    data.load_sqlite(sqlite_path, sites, "sites")
    data.load_duckdb(duck_path, data.regions(), "regions")
    start, end = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), dt.datetime(2024, 1, 1, 2, tzinfo=dt.timezone.utc)
    query = ("SELECT r.r_name, s.site, count(*) AS n, ROUND(avg(m.value), 4) AS mean "
             f"FROM ts.{series.table} m JOIN ref.sites s ON m.site = s.site JOIN geo.regions r ON r.r_id = s.s_region "
             "WHERE m.value > 0 GROUP BY ALL")
    table = unistore.sql(query, {"ts": series.uri, "ref": f"sqlite:///{sqlite_path}", "geo": f"duckdb:///{duck_path}"},
                         ts={"start": start, "end": end, **series.options})
    from stores.timeseries import series_table

    window = series_table().filter(pa.compute.and_(
        pa.compute.greater_equal(series_table()["timestamp"], pa.scalar(start, pa.timestamp("ms", "UTC"))),
        pa.compute.less(series_table()["timestamp"], pa.scalar(end, pa.timestamp("ms", "UTC")))))
    expected = data.reference(query.replace(f"ts.{series.table}", "metric").replace("ref.sites", "sites")
                              .replace("geo.regions", "regions"),
                              {"metric": window, "sites": sites, "regions": data.regions()})
    assert data.rows(table) == expected and table.num_rows == 3
    ts = next(i.record for i in unistore.provenance_of(table).inputs if i.source == "ts")
    assert ts.result.rows == 39 + 120 + 120  # two hours of three sites a minute apart, site a's first 81 are <= 0
    assert ts.query.request["options"]["$map"]["start"] == {"$datetime": start.isoformat()}


def test_sql_scan_streams_and_completes_its_record(silos):
    with unistore.sql_scan(f"SELECT o_id FROM pg.{silos.orders} WHERE o_status = 'O'", {"pg": silos.pg}) as reader:
        assert unistore.provenance_of(reader).result.complete is False
        total = sum(b.num_rows for b in reader)
    record = unistore.provenance_of(reader)
    assert record.result.complete and record.result.rows == total == 75
    assert record.inputs[0].record.result.rows == 75


def test_duckdb_orders_a_join_knowing_the_size_of_every_input(silos, explaining):
    """DuckDB takes an Arrow stream for one row, so the largest input could become a hash join's build side:
    the inputs of a join are registered as tables, whose row counts its optimizer sees."""
    unistore.sql(fed(Q3, silos), sources(silos))
    (con,) = explaining
    assert None not in con.given.values()
    assert con.estimates() == sorted(con.given.values())


def test_inputs_only_put_one_after_the_other_are_streamed(silos, explaining):
    """A UNION has no join to order: its inputs stream into DuckDB (their memory stays bounded)."""
    query = (f"SELECT o_id AS id FROM pg.{silos.orders} WHERE o_priority = 3 "
             f"UNION ALL SELECT c_id FROM my.{silos.customers}")
    table = unistore.sql(query, sources(silos))
    assert table.num_rows == 60 + data.customers().num_rows
    (con,) = explaining
    assert list(con.given.values()) == [None, None]


def test_a_declared_source_the_query_does_not_name_is_not_opened(silos):
    """Sources declared once for many queries: a query opens those it reads (an unreachable one it does not
    name is no error), and its record still lists every declared source, so a replay takes the same mapping."""
    unused = "postgresql://reader:hunter22@127.0.0.1:1/nowhere"
    declared = {**sources(silos), "other": unused}
    with pytest.raises(unistore.SourceUnavailableError):
        unistore.sql("SELECT count(*) AS n FROM other.t", declared)
    table = unistore.sql(f"SELECT count(*) AS n FROM pg.{silos.orders}", declared)
    assert table.column("n").to_pylist() == [300]
    record = unistore.provenance_of(table)
    assert [i.source for i in record.inputs] == ["pg"]
    assert record.query.request["sources"]["other"] == "postgresql://reader@127.0.0.1:1/nowhere"
    assert "hunter22" not in record.to_json()
    assert unistore.replay(table, sources=declared).column("n").to_pylist() == [300]


def test_an_open_source_can_be_passed_and_is_left_open(silos):
    with unistore.source(silos.pg) as pg:
        t = unistore.sql(f"SELECT count(*) AS n FROM pg.{silos.orders}", {"pg": pg})
        assert t.column("n").to_pylist() == [300]
        assert pg.read(silos.orders, columns=["o_id"], limit=1).num_rows == 1


def test_params_bind_and_are_pushed(silos):
    t = unistore.sql(f"SELECT o_id FROM pg.{silos.orders} WHERE o_priority = $p", {"pg": silos.pg}, params={"p": 3})
    assert t.num_rows == 60
    (pg,) = unistore.provenance_of(t).inputs
    assert pg.record.result.rows == 60 and pg.record.query.filter == "o_priority == 3"


def test_replay_is_identical_then_names_the_drifted_input_and_column(silos):
    a = data.fresh("drift")
    data.load_postgresql(data.orders(), a)
    query = f"SELECT c.c_name, count(*) AS n FROM pg.{a} o JOIN my.{silos.customers} c ON o.o_cust = c.c_id GROUP BY 1"
    table = unistore.sql(query, {"pg": silos.pg, "my": silos.my})
    again = unistore.replay(table)
    assert data.rows(again) == data.rows(table)
    assert unistore.provenance_of(again).parents[0] == unistore.provenance_of(table).read_id
    from stores.servers_sql import pg_connect

    with pg_connect() as con:
        con.execute(f'UPDATE "{a}" SET o_cust = 1 WHERE o_id = 5')
    with pytest.raises(unistore.DriftError) as info:
        unistore.replay(unistore.provenance_of(table).to_json())
    drift = info.value.differences
    assert list(drift["inputs"]) == [f"pg.{a}"]
    assert drift["inputs"][f"pg.{a}"]["columns"] == ["o_cust"]
    assert set(drift["result"]["columns"]) == {"n"}


@pytest.mark.parametrize("query, error, match", [
    ("SELECT * FROM pgg.{o}", unistore.BadSpecError, r"unknown source 'pgg'.*did you mean 'pg'"),
    ("SELECT * FROM pg.{o}x", unistore.SourceNotFoundError, r"did you mean pg\.{o}"),
    ("SELECT o_statu FROM pg.{o}", unistore.BadSpecError, r"unknown column 'o_statu'.*did you mean 'o_status'"),
    ("DELETE FROM pg.{o}", unistore.ReadOnlyError, "DELETE"),
    ("SELECT 1; SELECT 2", unistore.ReadOnlyError, "single statement"),
    ("SELECT * FROM read_csv('/etc/passwd')", unistore.ReadOnlyError, "read_csv"),
    ("SELECT * FROM pg.{o} o JOIN my.{c} c ON o.o_id = c.c_name", unistore.BadSpecError, "type mismatch"),
    # sampling happens before WHERE in DuckDB, but filters are pushed into the stores: the sample would differ
    ("SELECT count(*) FROM pg.{o} o TABLESAMPLE reservoir(5 ROWS)", unistore.BadSpecError, "sampling"),
    ("SELECT count(*) FROM pg.{o} o, my.{c} c WHERE o.o_cust = c.c_id USING SAMPLE reservoir(5 ROWS) REPEATABLE (7)",
     unistore.BadSpecError, "sampling"),
    # parts of a table reference that replacing it by its input's view silently dropped
    ("SELECT x.o_id FROM pg.{o} AS x(o_status, o_id)", unistore.BadSpecError, "column alias list"),
    ("SELECT * FROM pg.{o} PIVOT (count(*) FOR o_status IN ('open'))", unistore.BadSpecError, "PIVOT"),
])
def test_bad_queries_fail_before_any_data_is_read(silos, query, error, match):
    seen = []

    class Sink:
        def emit(self, event):
            seen.append(event)

    sink = unistore.lineage.add_sink(Sink())
    try:
        with pytest.raises(error, match=match.format(o=silos.orders)):
            unistore.sql(query.format(o=silos.orders, c=silos.customers), sources(silos))
    finally:
        unistore.lineage.remove_sink(sink)
    assert seen == []  # no read started


def test_bad_arguments_are_refused(silos):
    with pytest.raises(unistore.BadSpecError, match="did you mean 'pg'"):
        unistore.sql("SELECT 1 FROM pg.x", {"pg": silos.pg}, pgg={"start": 1})
    with pytest.raises(unistore.BadSpecError, match="identifier"):
        unistore.sql("SELECT 1", {"p-g": silos.pg})
    with pytest.raises(unistore.BadSpecError, match="reads no declared source"):
        unistore.sql("SELECT 1", {"pg": silos.pg})


def test_the_query_cannot_reach_outside_its_inputs(silos, tmp_path):
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    with pytest.raises(unistore.ReadOnlyError):  # the classifier refuses file functions
        unistore.sql(f"SELECT * FROM pg.{silos.orders}, read_csv('{secret}')", {"pg": silos.pg})
    with pytest.raises(unistore.BadSpecError, match="unknown source"):  # a file named as a table is no input
        unistore.sql(f"SELECT * FROM pg.{silos.orders} o, '{secret}' s", {"pg": silos.pg})
    # a file function the classifier does not know: DuckDB's own guard (external access off) refuses it
    with pytest.raises(unistore.QueryError, match="disabled by configuration"):
        unistore.sql(f"SELECT * FROM pg.{silos.orders} o, read_single_csv_file('{secret}') s", {"pg": silos.pg})
