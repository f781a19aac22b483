"""PostgreSQL beyond the conformance suite: types, schemas and views, the read-only
guard on the server side, read plans under one exported snapshot, streaming memory,
connection errors. Runs against the server on 127.0.0.1:5432 (scripts/stores.d/10-postgresql.sh).
"""

from __future__ import annotations

import datetime as dt
import decimal
import gc
import random
import threading
import time
import uuid

import pyarrow as pa
import pytest

import unistore
from reference import without_metadata
from stores import missing_store
from stores.servers_sql import PG_PORT, PG_URI, SECRET, pg_available, pg_connect, unique

UTC = dt.timezone.utc


@pytest.fixture(scope="module", autouse=True)
def _server():
    if not pg_available():
        missing_store(f"PostgreSQL on 127.0.0.1:{PG_PORT}")


def sql(*statements: str, params=None) -> None:
    with pg_connect() as con:
        for s in statements:
            con.execute(s, params)


# -- types --------------------------------------------------------------------------

TYPES = [  # (column, SQL type, value, expected Arrow type, expected Python value)
    ("i2", "smallint", 7, pa.int16(), 7),
    ("i4", "integer", -8, pa.int32(), -8),
    ("i8", "bigint", 2**40, pa.int64(), 2**40),
    ("f4", "real", 1.5, pa.float32(), 1.5),
    ("f8", "double precision", 2.25, pa.float64(), 2.25),
    ("num", "numeric(12,3)", decimal.Decimal("123456789.125"), pa.decimal128(12, 3), decimal.Decimal("123456789.125")),
    ("num_wide", "numeric(50,10)", decimal.Decimal("1" * 40 + ".0123456789"), pa.decimal256(50, 10),
     decimal.Decimal("1" * 40 + ".0123456789")),
    ("num_free", "numeric", decimal.Decimal("3.14159265358979323846264"), pa.string(), "3.14159265358979323846264"),
    ("id", "uuid", uuid.UUID("12345678-1234-5678-1234-567812345678"), pa.uuid(),
     uuid.UUID("12345678-1234-5678-1234-567812345678")),
    ("js", "json", '{"a": [1, 2]}', pa.json_(), '{"a": [1, 2]}'),
    ("jsb", "jsonb", '{"b": true}', pa.json_(), '{"b": true}'),
    ("ints", "integer[]", [1, None, 3], pa.list_(pa.int32()), [1, None, 3]),
    ("texts", "text[]", ["x", "y"], pa.list_(pa.string()), ["x", "y"]),
    ("tstz", "timestamptz", dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC), pa.timestamp("us", "UTC"),
     dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)),
    ("ts", "timestamp", dt.datetime(2024, 5, 6, 7, 8, 9, 500000), pa.timestamp("us"),
     dt.datetime(2024, 5, 6, 7, 8, 9, 500000)),
    ("d", "date", dt.date(1999, 12, 31), pa.date32(), dt.date(1999, 12, 31)),
    ("t", "time", dt.time(23, 59, 58, 999999), pa.time64("us"), dt.time(23, 59, 58, 999999)),
    ("iv", "interval", dt.timedelta(days=3, hours=4), pa.month_day_nano_interval(),
     pa.MonthDayNano([0, 3, 4 * 3600 * 10**9])),
    ("b", "bytea", b"\x00\xffbin", pa.binary(), b"\x00\xffbin"),
    ("mood", "unistore_mood", "happy", pa.string(), "happy"),
    ("txt", "text", "héllo 'quoted'", pa.string(), "héllo 'quoted'"),
    ("vc", "varchar(10)", "short", pa.string(), "short"),
    ("flag", "boolean", True, pa.bool_(), True),
]


@pytest.fixture(scope="module")
def typed_table():
    name = unique("types")
    sql("DO $$ BEGIN CREATE TYPE unistore_mood AS ENUM ('sad', 'ok', 'happy'); "
        "EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    cols = ", ".join(f"{c} {t}" for c, t, *_ in TYPES)
    sql(f'CREATE TABLE "{name}" (pk int PRIMARY KEY, {cols})')
    names = ", ".join(c for c, *_ in TYPES)
    marks = ", ".join(["%s"] * len(TYPES))
    with pg_connect() as con:
        import psycopg.types.json as pj

        values = [pj.Json(__import__("json").loads(v)) if t in ("json", "jsonb") else v for _, t, v, *_ in TYPES]
        con.execute(f'INSERT INTO "{name}" (pk, {names}) VALUES (1, {marks})', values)
        con.execute(f'INSERT INTO "{name}" (pk) VALUES (2)')  # NULL in every type
    return name


def test_every_type_maps_to_its_exact_arrow_type(typed_table):
    table = unistore.read(PG_URI, typed_table)
    expected = pa.schema([pa.field("pk", pa.int32())] + [pa.field(c, arrow) for c, _, _, arrow, _ in TYPES])
    got = without_metadata(table).schema
    for want in expected:
        assert got.field(want.name).type == want.type, want.name
    row, nulls = table.sort_by("pk").to_pylist()
    for c, _, _, _, value in TYPES:
        if c in ("js", "jsb"):
            assert __import__("json").loads(row[c]) == __import__("json").loads(value)
        elif c == "iv":
            assert row[c] == value
        else:
            assert row[c] == value, c
        assert nulls[c] is None, c


def test_types_of_a_query_and_of_the_table_agree(typed_table):
    by_table = unistore.read(PG_URI, typed_table)
    by_query = unistore.read(PG_URI, query=f'SELECT * FROM "{typed_table}"')
    assert without_metadata(by_query).schema == without_metadata(by_table).schema
    assert (unistore.provenance_of(by_query).result.fingerprint
            == unistore.provenance_of(by_table).result.fingerprint)


def test_filters_bind_values_of_every_kind(typed_table):
    """Values travel as bound settings, never as SQL text: quotes and $1 in a value are just data."""
    sql(f"UPDATE \"{typed_table}\" SET txt = $$it's $1 ' OR 1=1 --$$ WHERE pk = 2")
    try:
        assert unistore.read(PG_URI, typed_table, filter=[("txt", "==", "it's $1 ' OR 1=1 --")],
                             columns=["pk"]).column("pk").to_pylist() == [2]
        for column, value in [("num", decimal.Decimal("123456789.125")),
                              ("tstz", TYPES[13][2]), ("ts", TYPES[14][2]), ("d", TYPES[15][2]),
                              ("t", TYPES[16][2]), ("b", b"\x00\xffbin"), ("flag", True), ("i8", 2**40),
                              ("f8", 2.25)]:
            got = unistore.read(PG_URI, typed_table, filter=[(column, "==", value)], columns=["pk"])
            assert got.column("pk").to_pylist() == [1], column
    finally:
        sql(f'UPDATE "{typed_table}" SET txt = NULL WHERE pk = 2')


def test_a_bound_value_is_evaluated_once_per_statement_not_per_row():
    """A filter's value, read back from its setting, is an InitPlan: a bare current_setting() in a scan's
    filter was evaluated for every row (twice the server time of a literal on a large scan)."""
    with unistore.source(PG_URI) as src:
        session = src.connection.session()
        try:
            text, params = session._params_as_settings(
                "SELECT g FROM generate_series(1, 10) g WHERE g > $1 AND g::text <> $2", [3, "x"])
        finally:
            session.close()
    assert params is None
    with pg_connect() as con:  # EXPLAIN cannot run through ADBC's COPY
        con.execute("SELECT set_config('unistore.p1', '3', false), set_config('unistore.p2', 'x', false)")
        (plan,) = con.execute("EXPLAIN (FORMAT JSON) " + text).fetchone()[0]
        assert con.execute(text).fetchall() == [(g,) for g in range(4, 11)]

    def nodes(node):
        yield node
        for child in node.get("Plans", []):
            yield from nodes(child)

    found = list(nodes(plan["Plan"]))
    scan = next(n for n in found if n["Node Type"] == "Function Scan")
    assert "current_setting" not in scan["Filter"]
    assert sum("InitPlan" in n.get("Subplan Name", "") for n in found) == 2


# -- schemas, views, discovery ----------------------------------------------------------

@pytest.fixture(scope="module")
def schema_and_view():
    schema, table, view = unique("s"), unique("inner"), unique("v")
    sql(f'CREATE SCHEMA "{schema}"',
        f'CREATE TABLE "{schema}"."{table}" (id bigint PRIMARY KEY, label text)',
        f"INSERT INTO \"{schema}\".\"{table}\" SELECT i, 'row ' || i FROM generate_series(1, 5) i",
        f'CREATE VIEW "{view}" AS SELECT id, upper(label) AS label FROM "{schema}"."{table}" WHERE id > 2')
    return schema, table, view


def test_tables_in_other_schemas_and_views_are_listed_and_read(schema_and_view):
    schema, table, view = schema_and_view
    with unistore.source(PG_URI) as src:
        assert f"{schema}.{table}" in src.tables() and view in src.tables()
        assert schema in src.schemas()
        assert src.schema(f"{schema}.{table}") == pa.schema([("id", pa.int64()), ("label", pa.string())])
        inner = src.read(f"{schema}.{table}")
        assert inner.column("label").to_pylist() == [f"row {i}" for i in range(1, 6)]
        by_view = src.read(view, filter=[("id", "<", 5)])
        assert by_view.to_pylist() == [{"id": 3, "label": "ROW 3"}, {"id": 4, "label": "ROW 4"}]
        qualified = src.read(("test", schema, table), columns=["id"])
        assert qualified.num_rows == 5
    record = unistore.provenance_of(inner)
    assert record.source.namespace == f"postgres://127.0.0.1:{PG_PORT}"
    # OpenLineage naming: database.schema.table, with public kept (issue 9, finding 10)
    assert record.source.name == f"test.{schema}.{table}"
    assert unistore.provenance_of(by_view).source.name == f"test.public.{view}"
    assert unistore.provenance_of(qualified).source.name == f"test.{schema}.{table}"


def test_a_table_of_another_database_is_not_found(schema_and_view):
    with pytest.raises(unistore.SourceNotFoundError, match="database"):
        unistore.read(PG_URI, ("postgres", "public", "anything"))


# -- read-only, snapshot, replay ------------------------------------------------------------

def test_a_write_hidden_in_a_function_is_refused_by_the_server():
    """The keyword check cannot see inside functions; the READ ONLY transaction can."""
    name, seq = unique("audit"), unique("seq")
    sql(f'CREATE TABLE "{name}" (n int)', f'CREATE SEQUENCE "{seq}"',
        f'CREATE FUNCTION "{name}_f"() RETURNS int LANGUAGE sql AS $$ INSERT INTO "{name}" VALUES (1) RETURNING n $$')
    with pytest.raises(unistore.ReadOnlyError, match="read-only"):
        unistore.read(PG_URI, query=f'SELECT "{name}_f"() AS n')
    with pytest.raises(unistore.ReadOnlyError):
        unistore.read(PG_URI, query=f"SELECT nextval('\"{seq}\"') AS n")
    with pg_connect() as con:
        assert con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] == 0
        assert con.execute(f'SELECT last_value, is_called FROM "{seq}"').fetchone() == (1, False)


def test_the_snapshot_is_the_transactions_own():
    table = unistore.read(PG_URI, query="SELECT pg_current_snapshot()::text AS snap, "
                                        "current_setting('transaction_isolation') AS iso, "
                                        "current_setting('transaction_read_only') AS ro")
    row = table.to_pylist()[0]
    record = unistore.provenance_of(table)
    assert record.snapshot.kind == "postgresql.xid_snapshot"
    assert record.snapshot.value == row["snap"]  # captured in the very transaction that read the data
    assert row["iso"] == "repeatable read" and row["ro"] == "on"
    assert record.snapshot.pins["wal_lsn"].count("/") == 1


def test_replay_reports_added_rows():
    name = unique("grow")
    sql(f'CREATE TABLE "{name}" (id int PRIMARY KEY)', f'INSERT INTO "{name}" SELECT generate_series(1, 3)')
    table = unistore.read(PG_URI, name)
    assert unistore.replay(table).num_rows == 3
    sql(f'INSERT INTO "{name}" VALUES (4)')
    with pytest.raises(unistore.DriftError) as info:
        unistore.replay(table)
    assert info.value.differences["rows"] == {"recorded": 3, "now": 4}


def test_a_source_reuses_its_connection():
    with unistore.source(PG_URI) as src:
        pids = {src.read(query="SELECT pg_backend_pid() AS pid").column("pid")[0].as_py() for _ in range(3)}
    assert len(pids) == 1


def test_a_source_opens_every_connection_on_one_adbc_database():
    """Opening an ADBC database loads the type catalog (~100 ms): a source does it once, and the splits
    of a partitioned read or reads side by side connect on that database, even once every earlier
    connection is closed."""
    with unistore.source(PG_URI) as src:
        pg = src.connection
        kept, extra = pg._pool.acquire(), pg._connect()
        database = kept.adbc_database
        assert extra.adbc_database is database
        kept.close()
        extra.close()
        later = pg._connect()
        assert later.adbc_database is database
        later.close()
        assert src.read(query="SELECT 1 AS one").num_rows == 1


def test_a_type_created_after_the_source_opened_decodes_as_on_a_new_source():
    """ADBC loads the type catalog once per database: a source sharing its first database would decode an
    enum created since as opaque binary, on its kept connection, on new ones and on a plan's splits, and
    fingerprint the table differently from a new source (false drift)."""
    table, mood = unique("moods"), unique("mood")
    with unistore.source(PG_URI) as src:
        assert src.read(query="SELECT 1 AS one").num_rows == 1  # the kept connection and database exist
        sql(f"CREATE TYPE {mood} AS ENUM ('happy', 'sad')",
            f"CREATE TABLE {table} (id integer PRIMARY KEY, m {mood})",
            f"INSERT INTO {table} SELECT i, CASE WHEN i % 2 = 0 THEN 'happy' ELSE 'sad' END::{mood} "
            "FROM generate_series(1, 200) i")
        try:
            plain = src.read(table)
            split = src.read(table, partitions=2)
            assert len(_plan_of(split)["splits"]) == 2
            barrier = threading.Barrier(2)
            side: list[pa.Table] = []

            def read() -> None:
                barrier.wait()
                side.append(src.read(table))

            threads = [threading.Thread(target=read) for _ in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            with unistore.source(PG_URI) as fresh:
                expected = fresh.read(table)
            assert expected.schema.field("m").type == pa.string()
            for got in (plain, split, *side):
                assert got.schema.field("m").type == pa.string()
                assert sorted(got.column("m").to_pylist()) == sorted(expected.column("m").to_pylist())
                assert (unistore.provenance_of(got).result.fingerprint
                        == unistore.provenance_of(expected).result.fingerprint)
            assert len(side) == 2
        finally:
            sql(f"DROP TABLE {table}", f"DROP TYPE {mood}")


def test_transactions_start_and_end_in_one_message_each(monkeypatch, accounts):
    """BEGIN with its SETs, and the ROLLBACK that gives a connection back, go as one simple-protocol
    message each: as prepared statements they cost two or three round trips apiece, which every split
    of a plan paid before its rows moved."""
    import adbc_driver_manager.dbapi as dbapi

    sent: list[tuple[str, str]] = []
    for method in ("execute", "executescript"):
        original = getattr(dbapi.Cursor, method)

        def spy(self, sql, *args, _original=original, _method=method, **kwargs):
            sent.append((_method, sql))
            return _original(self, sql, *args, **kwargs)

        monkeypatch.setattr(dbapi.Cursor, method, spy)
    with unistore.source(PG_URI) as src:
        assert src.read(accounts, partitions=2).num_rows == ACCOUNTS
    control = [(m, sql) for m, sql in sent if sql.split()[0] in ("BEGIN", "SET", "ROLLBACK")]
    assert control and all(m == "executescript" for m, _ in control), control
    split_starts = [sql for _, sql in control if "SET TRANSACTION SNAPSHOT" in sql]
    assert len(split_starts) == 2 and all(sql.startswith("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; ")
                                          for sql in split_starts)


# -- read plans: partitions= under one exported snapshot ----------------------------------

ACCOUNTS = 4000
BALANCE = 100


@pytest.fixture
def accounts():
    name = unique("accounts")
    sql(f'CREATE TABLE "{name}" (id bigint PRIMARY KEY, balance bigint NOT NULL, note text)',
        f"INSERT INTO \"{name}\" SELECT i, {BALANCE}, 'n' || i FROM generate_series(1, {ACCOUNTS}) i")
    return name


def _plan_of(table: pa.Table) -> dict:
    return unistore.provenance_of(table).query.pushed_down["plan"]


def test_partitioned_read_equals_a_single_read(accounts):
    sql(f'ANALYZE "{accounts}"')  # catalog statistics: the splits get row estimates
    single = unistore.read(PG_URI, accounts)
    split = unistore.read(PG_URI, accounts, partitions=3, batch_size=500)
    assert without_metadata(split).sort_by("id").equals(without_metadata(single).sort_by("id"))
    record = unistore.provenance_of(split)
    plan = record.query.pushed_down["plan"]
    assert plan["method"] == "ctid ranges" and len(plan["splits"]) == 3  # heap block ranges, no key needed
    assert [list(s["covers"]) for s in plan["splits"]] == [["ctid"]] * 3
    assert plan["consistent"] and "exported snapshot" in plan["consistency"]
    assert sum(s["rows"] for s in plan["splits"]) == ACCOUNTS
    assert sum(s["rows_estimate"] for s in plan["splits"]) == pytest.approx(ACCOUNTS, rel=0.05)
    assert all(s["bytes_estimate"] > 0 for s in plan["splits"])
    assert record.result.rows == ACCOUNTS and record.result.complete
    assert "UNION ALL" in record.query.text and record.query.text.count("ctid") == 4  # 3 ranges: 4 bounds
    # the digest is a multiset's: batches merged in arrival order give the fingerprint of one read
    assert record.result.fingerprint == unistore.provenance_of(single).result.fingerprint
    assert record.snapshot.kind == "postgresql.xid_snapshot" and record.snapshot.pins["wal_lsn"]
    by_key = unistore.read(PG_URI, accounts, partitions=3, partition_on="id")
    assert _plan_of(by_key)["method"] == "key ranges"
    assert [s["covers"] for s in _plan_of(by_key)["splits"]] == [{"id": [None, 1334]}, {"id": [1334, 2668]},
                                                                {"id": [2668, None]}]
    assert without_metadata(by_key).sort_by("id").equals(without_metadata(single).sort_by("id"))
    # the same request reads the same splits: replay verifies it
    assert unistore.replay(split).num_rows == ACCOUNTS


def test_a_small_table_is_cut_on_its_integer_key_and_a_view_needs_one(accounts):
    """A table of fewer blocks than splits is cut on its key; a view has no blocks and no key of its own."""
    small, view = unique("small"), unique("v")
    sql(f'CREATE TABLE "{small}" (id int PRIMARY KEY, note text)',
        f"INSERT INTO \"{small}\" SELECT i, 'n' || i FROM generate_series(1, 10) i",
        f'CREATE VIEW "{view}" AS SELECT id, note FROM "{accounts}" WHERE id <= 100')
    table = unistore.read(PG_URI, small, partitions=3)
    assert _plan_of(table)["method"] == "key ranges" and len(_plan_of(table)["splits"]) == 3
    assert sorted(table.column("id").to_pylist()) == list(range(1, 11))
    with pytest.raises(unistore.BadSpecError, match="partition_on"):
        unistore.read(PG_URI, view, partitions=2)
    by_key = unistore.read(PG_URI, view, partitions=2, partition_on="id")
    assert [s["rows"] for s in _plan_of(by_key)["splits"]] == [50, 50]


def test_a_query_with_partitions_is_read_in_one_piece(accounts):
    table = unistore.read(PG_URI, query=f'SELECT id FROM "{accounts}"', partitions=2)
    assert table.num_rows == ACCOUNTS
    plan = _plan_of(table)
    assert plan["method"] == "whole read" and len(plan["splits"]) == 1


@pytest.mark.parametrize("options", [{}, {"partition_on": "id"}], ids=["blocks", "key"])
def test_partitions_share_one_snapshot_while_another_connection_writes(accounts, options):
    """Writes committed while a partitioned stream is open are invisible to every partition."""
    before = unistore.read(PG_URI, accounts)
    reader = unistore.scan(PG_URI, accounts, partitions=4, batch_size=256, **options)
    _write_everywhere(accounts)
    with reader:
        seen = pa.Table.from_batches(list(reader))
    assert without_metadata(seen).sort_by("id").equals(without_metadata(before).sort_by("id"))
    now = unistore.read(PG_URI, accounts)
    assert now.num_rows == ACCOUNTS  # one deleted, one inserted: the writes did happen


def _write_everywhere(accounts: str) -> None:
    """Touch every range: move money (the updated rows move to other blocks), delete, insert."""
    with pg_connect() as con:
        con.execute(f'UPDATE "{accounts}" SET balance = balance - 50 WHERE id = 1')
        con.execute(f'UPDATE "{accounts}" SET balance = balance + 50 WHERE id = {ACCOUNTS}')
        con.execute(f'DELETE FROM "{accounts}" WHERE id = {ACCOUNTS // 2}')
        con.execute(f"INSERT INTO \"{accounts}\" VALUES ({ACCOUNTS * 3 // 4 + 10**6}, 1, 'new')")


SCAN_SPLITS_ELSEWHERE = """
import pickle, sys
import pyarrow as pa, pyarrow.feather as feather
import unistore

uri, spec, splits, snapshot = pickle.load(open(sys.argv[1], "rb"))
tables = []
with unistore.source(uri) as src:  # a connection of this process, not the planner's
    for split in splits:
        scan = src.connection.scan_split(spec, split)
        try:
            assert scan.snapshot == snapshot, (scan.snapshot, snapshot)
            tables.append(pa.Table.from_batches(list(scan.batches), schema=scan.schema))
        finally:
            scan.close()
feather.write_feather(pa.concat_tables(tables), sys.argv[2])
"""


def test_a_planner_looks_its_table_up_once(monkeypatch, accounts):
    """The planner asks for the table's schema, size and key: the name is resolved once per transaction."""
    import adbc_driver_manager.dbapi as dbapi

    sent: list[str] = []
    original = dbapi.Cursor.execute

    def spy(self, sql, *args, **kwargs):
        sent.append(sql)
        return original(self, sql, *args, **kwargs)

    with unistore.source(PG_URI) as src:
        spec = unistore.ReadSpec.build(accounts, partitions=2, partition_on="id")
        monkeypatch.setattr(dbapi.Cursor, "execute", spy)
        with src.connection.plan(spec, 2) as plan:
            assert len(plan.splits) == 2
    assert sum("to_regclass" in sql for sql in sent) == 1, sent


def test_a_split_sends_its_data_query_and_no_catalog_query(monkeypatch, accounts):
    """The planner's table schema travels in the split (the planner's lock keeps it valid), so a split
    starts its transaction and sends the data query, nothing else."""
    import adbc_driver_manager.dbapi as dbapi

    with unistore.source(PG_URI) as src:
        spec = unistore.ReadSpec.build(accounts, partitions=2, columns=["id", "note"])
        with src.connection.plan(spec, 2) as plan:
            sent: list[str] = []
            original = dbapi.Cursor.execute

            def spy(self, sql, *args, **kwargs):
                sent.append(sql)
                return original(self, sql, *args, **kwargs)

            monkeypatch.setattr(dbapi.Cursor, "execute", spy)
            scan = src.connection.scan_split(spec, plan.splits[1])
            try:
                assert scan.schema.names == ["id", "note"]
                assert sum(b.num_rows for b in scan.batches) > 0
            finally:
                scan.close()
            with pytest.raises(unistore.BadSpecError, match="nope"):  # columns still checked, locally
                src.connection.scan_split(unistore.ReadSpec.build(accounts, partitions=2, columns=["nope"]),
                                          plan.splits[0])
    assert len(sent) == 1 and sent[0].split()[:4] == ['SELECT', '"id",', '"note"', 'FROM'] and "ctid" in sent[0], sent


@pytest.mark.parametrize("options", [{}, {"partition_on": "id"}], ids=["blocks", "key"])
def test_splits_scanned_in_another_process_read_the_planned_state(accounts, options, tmp_path):
    """Plan, let a writer commit, then scan the pickled splits in another process: exactly the planned state."""
    import pickle
    import subprocess
    import sys

    import pyarrow.feather as feather

    before = unistore.read(PG_URI, accounts)
    with unistore.source(PG_URI) as src:
        spec = unistore.ReadSpec.build(accounts, partitions=3, **options)
        with src.connection.plan(spec, 3) as plan:
            assert len(plan.splits) == 3
            _write_everywhere(accounts)  # after the plan, before any split runs
            shipped = tmp_path / "splits.pickle"
            shipped.write_bytes(pickle.dumps((PG_URI, spec, plan.splits, plan.snapshot)))
            done = subprocess.run([sys.executable, "-c", SCAN_SPLITS_ELSEWHERE, str(shipped), str(tmp_path / "t")],
                                  capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr[-3000:]
    seen = feather.read_table(tmp_path / "t")
    assert without_metadata(seen).sort_by("id").equals(without_metadata(before).sort_by("id"))
    assert unistore.read(PG_URI, accounts).num_rows == ACCOUNTS  # the writes did happen


def test_a_split_of_a_released_plan_says_its_snapshot_is_gone(accounts):
    with unistore.source(PG_URI) as src:
        spec = unistore.ReadSpec.build(accounts, partitions=2)
        plan = src.connection.plan(spec, 2)
        plan.close()  # the planner's transaction ends, and the exported snapshot with it
        with pytest.raises(unistore.SnapshotUnavailableError, match="released") as info:
            src.connection.scan_split(spec, plan.splits[1])
        assert "plan the read again" in str(info.value)
        assert src.read(accounts, partitions=2).num_rows == ACCOUNTS  # the source still reads


def test_a_plan_keeps_truncate_waiting_and_a_split_queued_behind_it_gives_up(accounts, monkeypatch):
    """TRUNCATE is not MVCC-safe: the planner's lock keeps it from emptying the table under the splits. A split
    queued behind the waiting TRUNCATE would wait for it, and it for the plan: the split gives up instead."""
    from unistore.adapters.sql import postgresql

    monkeypatch.setattr(postgresql, "SPLIT_LOCK_TIMEOUT", "1s")
    with unistore.source(PG_URI) as src:
        spec = unistore.ReadSpec.build(accounts, partitions=2)
        plan = src.connection.plan(spec, 2)
        truncate = threading.Thread(target=sql, args=(f'TRUNCATE "{accounts}"',))
        try:
            truncate.start()
            with pg_connect() as con:
                while not con.execute("SELECT count(*) FROM pg_locks WHERE relation = %s::regclass AND NOT granted",
                                      [f'"{accounts}"']).fetchone()[0]:
                    time.sleep(0.05)
            with pytest.raises(unistore.SourceUnavailableError, match="lock"):
                src.connection.scan_split(spec, plan.splits[0])
        finally:
            plan.close()
            truncate.join()
    assert unistore.read(PG_URI, accounts).num_rows == 0  # the TRUNCATE went ahead once the plan was released


@pytest.mark.parametrize("options", [{}, {"partition_on": "id"}], ids=["blocks", "key"])
def test_partitions_stay_consistent_under_a_concurrent_writer(accounts, options):
    """A writer moves money between accounts all the time; every read must see the total intact."""
    stop = threading.Event()
    commits = []

    def writer() -> None:
        rng = random.Random(1)
        with pg_connect() as con:
            while not stop.is_set():
                a, b = rng.randrange(1, ACCOUNTS + 1), rng.randrange(1, ACCOUNTS + 1)
                with con.transaction():
                    con.execute(f'UPDATE "{accounts}" SET balance = balance - 7 WHERE id = %s', [a])
                    con.execute(f'UPDATE "{accounts}" SET balance = balance + 7 WHERE id = %s', [b])
                commits.append(1)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(commits) < 5:
            stop.wait(0.01)
        for _ in range(5):
            table = unistore.read(PG_URI, accounts, partitions=4, batch_size=200, **options)
            assert table.num_rows == ACCOUNTS
            assert sum(table.column("balance").to_pylist()) == ACCOUNTS * BALANCE
    finally:
        stop.set()
        thread.join()
    assert len(commits) > 5


def test_partition_options_are_checked(accounts):
    with pytest.raises(unistore.BadSpecError, match="partitions"):
        unistore.read(PG_URI, accounts, partitions=0)
    with pytest.raises(unistore.BadSpecError, match="integer"):
        unistore.read(PG_URI, accounts, partitions=2, partition_on="note")
    with pytest.raises(unistore.BadSpecError, match="not in table"):
        unistore.read(PG_URI, accounts, partitions=2, partition_on="nope")
    with pytest.raises(unistore.BadSpecError, match="table reads"):
        unistore.read(PG_URI, query=f'SELECT * FROM "{accounts}"', partitions=2, partition_on="id")
    with pytest.raises(unistore.BadSpecError, match="partitions=N"):
        unistore.read(PG_URI, accounts, partition_on="id")


def test_partitioned_read_with_a_filter_and_explicit_column(accounts):
    table = unistore.read(PG_URI, accounts, partitions=2, partition_on="balance",
                          filter=[("id", "<=", 10)], columns=["id"])
    assert sorted(table.column("id").to_pylist()) == list(range(1, 11))


# -- streaming memory --------------------------------------------------------------------------

BIG_ROWS = 400_000


@pytest.fixture(scope="module")
def big_table():
    """~100 MB as Arrow (400k rows x 250 bytes of text), cached across runs."""
    name = f"unistore_big_{BIG_ROWS}"
    with pg_connect() as con:
        exists = con.execute("SELECT to_regclass(%s) IS NOT NULL", [name]).fetchone()[0]
        if not exists or con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] != BIG_ROWS:
            con.execute(f'DROP TABLE IF EXISTS "{name}"')
            con.execute(f'CREATE TABLE "{name}" (id bigint PRIMARY KEY, body text)')
            con.execute(f"INSERT INTO \"{name}\" SELECT i, repeat(md5(i::text), 8) FROM generate_series(1, {BIG_ROWS}) i")
    return name


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


@pytest.mark.parametrize("options", [{}, {"partitions": 2}, {"filter": [("id", ">", 0)]}], ids=["one", "partitions", "filter"])
def test_scan_memory_stays_bounded(big_table, options):
    """Reading ~100 MB batch by batch never holds more than a fraction of it."""
    gc.collect()
    start = _rss_mb()
    peak = start
    rows = 0
    table_mb = 0.0
    with unistore.scan(PG_URI, big_table, batch_size=10_000, **options) as reader:
        for batch in reader:
            rows += batch.num_rows
            table_mb += batch.nbytes / 2**20
            peak = max(peak, _rss_mb())
    assert rows == BIG_ROWS and table_mb > 100
    assert peak - start < 0.5 * table_mb, f"RSS grew {peak - start:.0f} MB while streaming {table_mb:.0f} MB"


# -- connection errors -------------------------------------------------------------------------------

def test_right_password_reads_and_never_records_it():
    table = unistore.read(f"postgresql+psycopg://unistore_auth:{SECRET}@127.0.0.1:{PG_PORT}/test",
                          query="SELECT current_user AS u")
    assert table.column("u").to_pylist() == ["unistore_auth"]
    assert SECRET not in unistore.provenance_of(table).to_json()


def test_unknown_database_is_not_found():
    with pytest.raises(unistore.SourceNotFoundError, match="no_such_db"):
        unistore.read(f"postgres://postgres@127.0.0.1:{PG_PORT}/no_such_db", "x")


def test_unknown_table_is_not_found():
    with pytest.raises(unistore.SourceNotFoundError, match="no_such_table"):
        unistore.read(PG_URI, "public.no_such_table")


# -- the generic DB-API fallback ------------------------------------------------------------------

def test_the_generic_dbapi_path_reads_the_same_data_as_adbc(accounts):
    fast = unistore.read(PG_URI, accounts)
    generic = unistore.read(PG_URI.replace("postgresql://", "postgresql+psycopg://"), accounts, driver="dbapi")
    record = unistore.provenance_of(generic)
    assert record.snapshot.kind == "postgresql.transaction" and record.snapshot.consistent
    assert without_metadata(generic).equals(without_metadata(fast))
    assert record.result.fingerprint == unistore.provenance_of(fast).result.fingerprint


def test_the_generic_path_runs_read_only(accounts):
    name = unique("audit")
    sql(f'CREATE TABLE "{name}" (n int)',
        f'CREATE FUNCTION "{name}_f"() RETURNS int LANGUAGE sql AS $$ INSERT INTO "{name}" VALUES (1) RETURNING n $$')
    with pytest.raises(unistore.ReadOnlyError):
        unistore.read(PG_URI, query=f'SELECT "{name}_f"() AS n', driver="dbapi")
    with pg_connect() as con:
        assert con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] == 0


def test_a_dialect_without_its_driver_names_what_to_install():
    with pytest.raises((unistore.MissingExtraError, unistore.UnknownSchemeError)):
        unistore.source("mssql+nosuchdriver://user@127.0.0.1/db")


# -- the user page's examples run as written ------------------------------------------------------

def test_the_sql_servers_page_examples_run(tmp_path, monkeypatch):
    from docs_examples import run_examples

    monkeypatch.chdir(tmp_path)
    run_examples("stores/sql-servers.md", at_least=5)


# -- reads cannot write or reach other sessions (issue 9, finding 4) ------------------------------------

@pytest.mark.parametrize("call", ["pg_terminate_backend({pid})", "pg_cancel_backend({pid})",
                                  "pg_catalog.pg_terminate_backend({pid})"])
def test_a_read_cannot_end_another_session(call):
    with pg_connect() as victim:
        pid = victim.execute("SELECT pg_backend_pid()").fetchone()[0]
        with pytest.raises(unistore.ReadOnlyError, match="pg_"):
            unistore.read(PG_URI, query=f"SELECT {call.format(pid=pid)} AS killed")
        assert victim.execute("SELECT 1").fetchone() == (1,)  # the victim survived


@pytest.mark.parametrize("statement", ["SELECT pg_reload_conf()", "SELECT pg_switch_wal()",
                                       "SELECT pg_create_restore_point('unistore')",
                                       "SELECT set_config('work_mem', '1GB', false)",
                                       "SELECT pg_read_file('/etc/hostname')"])
def test_server_control_functions_are_refused_before_they_are_sent(statement):
    # the WAL file, not the exact position: background writers (autovacuum, other sessions) move the position,
    # while pg_switch_wal() would start a new file; a reload would change the load time
    state = "SELECT pg_walfile_name(pg_current_wal_lsn()), pg_conf_load_time()"
    with pg_connect() as con:
        before = con.execute(state).fetchone()
    with pytest.raises(unistore.ReadOnlyError):
        unistore.read(PG_URI, query=statement)
    with pg_connect() as con:
        assert con.execute(state).fetchone() == before


def _advisory_holders(key: int) -> list[int]:
    with pg_connect() as con:
        return [r[0] for r in con.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = %s AND granted", [key]).fetchall()]


def test_an_advisory_lock_is_refused_and_never_held_by_the_pool():
    with unistore.source(PG_URI) as src:
        with pytest.raises(unistore.ReadOnlyError, match="pg_advisory_lock"):
            src.read(query="SELECT pg_advisory_lock(424242) AS l")
        assert _advisory_holders(424242) == []
        # a function the classifier cannot see into takes one: the pooled connection lets it go
        name = unique("locker")
        sql(f'CREATE FUNCTION "{name}"() RETURNS int LANGUAGE sql AS $$ SELECT pg_advisory_lock(424243); SELECT 1 $$')
        assert src.read(query=f'SELECT "{name}"() AS l').column("l").to_pylist() == [1]
        assert _advisory_holders(424243) == []


# -- nothing held after an early close (issue 9, finding 8) --------------------------------------------

def _sessions(app: str) -> list[tuple[str, str]]:
    with pg_connect() as con:
        return con.execute("SELECT state, coalesce(backend_xid::text, '') FROM pg_stat_activity "
                           "WHERE application_name = %s", [app]).fetchall()


@pytest.mark.parametrize("how", ["with", "close"])
def test_leaving_a_scan_early_releases_the_server_and_reports_abort_at_once(big_table, lineage_events, how):
    from unistore.lineage.openlineage import end_state

    app = unique("early")  # this test's sessions, whatever else runs on the server
    gc.disable()  # nothing may depend on the garbage collector
    try:
        with unistore.source(PG_URI, connect_args={"application_name": app}) as src:
            if how == "with":
                with src.scan(big_table, batch_size=1_000) as reader:
                    next(iter(reader))
            else:
                reader = src.scan(big_table, batch_size=1_000)
                reader.read_next_batch()
                reader.close()
            # no session of ours is left active or idle in a transaction
            assert all(state == "idle" for state, _ in _sessions(app)), _sessions(app)
            record = unistore.provenance_of(reader)
            assert record.result.complete is False
            [event] = [e for e in lineage_events if e.record is not None and e.record.read_id == record.read_id]
            assert end_state(None, event.record.to_dict()) == "ABORT"
            assert src.read(query="SELECT 1 AS a").num_rows == 1
    finally:
        gc.enable()


def test_early_closed_scans_never_leak_into_the_next_read(big_table, accounts):
    """The loop of the issue: 40 x (early-closed scan of a big table, then a read of a small one)."""
    app = unique("loop")
    gc.disable()
    try:
        with unistore.source(PG_URI, connect_args={"application_name": app}) as src:
            for _ in range(40):
                with src.scan(big_table, batch_size=1_000) as reader:
                    next(iter(reader))
                assert src.read(accounts).num_rows > 0
                assert all(state == "idle" for state, _ in _sessions(app)), _sessions(app)
    finally:
        gc.enable()


# -- pooled connections are checked (issue 9, finding 9) -------------------------------------------------

def test_a_source_keeps_the_connections_of_a_plan_for_the_next_one(accounts):
    """After a plan of two splits, its three connections (planner and splits) wait for the next plan,
    which opens none; an unpartitioned source keeps its one."""
    app = unique("plans")

    def backends() -> set[int]:
        with pg_connect() as con:
            return {r[0] for r in con.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s",
                                              [app]).fetchall()}

    with unistore.source(PG_URI, connect_args={"application_name": app}) as src:
        assert src.read(accounts).num_rows == ACCOUNTS
        assert len(backends()) == 1
        assert src.read(accounts, partitions=2).num_rows == ACCOUNTS
        kept = backends()
        assert len(kept) == 3
        assert src.read(accounts, partitions=2).num_rows == ACCOUNTS
        assert backends() == kept


def test_a_pooled_connection_killed_while_idle_is_replaced(accounts):
    with unistore.source(PG_URI) as src:
        pid = src.read(query="SELECT pg_backend_pid() AS pid").column("pid")[0].as_py()
        with pg_connect() as admin:
            assert admin.execute("SELECT pg_terminate_backend(%s, 5000)", [pid]).fetchone() == (True,)
        assert src.read(accounts).num_rows > 0
        assert src.read(query="SELECT pg_backend_pid() AS pid").column("pid")[0].as_py() != pid


def test_partition_options_are_checked_before_any_catalog_query():
    """A malformed option is a BadSpecError even for a table that does not exist (issue 9, finding 9)."""
    with unistore.source(PG_URI) as src:
        for options in ({"partitions": 0}, {"partitions": "2"}, {"partition_on": "id"}, {"partitions": 2 ** 70}):
            with pytest.raises(unistore.BadSpecError):
                src.spec("no_such_table_anywhere", **options)
            with pytest.raises(unistore.BadSpecError):
                src.read("no_such_table_anywhere", **options)
        with pytest.raises(unistore.BadSpecError, match="table reads"):
            src.spec(query="SELECT 1 AS a", partitions=2, partition_on="a")


def test_string_parameters_are_cast_and_others_keep_their_arrow_type():
    """Under a parallel plan the ADBC driver sometimes declared a string parameter ``refcursor`` (seen as
    "function to_regclass(refcursor) does not exist" and "set_config(refcursor, ...)"): strings get a cast."""
    import sqlalchemy as sa

    from unistore.adapters.sql.postgresql import _Dialect

    c = sa.column
    stmt = sa.select(c("a")).select_from(sa.table("t")).where(
        sa.and_(c("a") == "x", c("b") > 10**18, c("k").in_(["p", "q"]), c("e") >= dt.datetime(2024, 1, 1)))
    sql = str(stmt.compile(dialect=_Dialect(), compile_kwargs={"render_postcompile": True}))
    assert "a = $1::VARCHAR" in sql and "IN ($4::VARCHAR, $5::VARCHAR)" in sql
    assert "b > $2 " in sql and "e >= $3" in sql  # ints and datetimes keep the type ADBC binds them with
    with pg_connect() as con:  # the server reads a parameter declared refcursor once it is cast
        assert con.execute("SELECT to_regclass(%s::refcursor::text)::text", ["pg_class"]).fetchone() == ("pg_class",)
