"""MariaDB beyond the conformance suite: types through both transports, the snapshot
(binlog position) and its verification, the server-side read-only guard, other
databases and views, streaming memory, connection errors.
Runs against the server on 127.0.0.1:3306 (scripts/stores.d/20-mariadb.sh), and against
the one without the binary log on 127.0.0.1:3307 (21-mariadb-nobinlog.sh) for what a read
gets there.
"""

from __future__ import annotations

import datetime as dt
import decimal
import gc

import pyarrow as pa
import pytest

import unistore
from reference import without_metadata
from stores import missing_store, wait_for_port
from stores.servers_sql import (MY_NOBINLOG_PORT, MY_NOBINLOG_URI, MY_PORT, MY_URI, SECRET, my_available, my_connect,
                                unique)
from unistore.adapters.sql import mysql as adapter

UTC = dt.timezone.utc


@pytest.fixture(scope="module", autouse=True)
def _server():
    if not my_available():
        missing_store(f"MariaDB on 127.0.0.1:{MY_PORT}")


def sql(*statements: str, params=None, port: int = MY_PORT) -> None:
    con = my_connect(port)
    try:
        with con.cursor() as cur:
            for s in statements:
                cur.execute(s, params)
    finally:
        con.close()


TYPES = [  # (column, SQL type, value inserted, expected Arrow type, expected Python value)
    ("i1", "TINYINT", -5, pa.int8(), -5),
    ("i2", "SMALLINT", 300, pa.int16(), 300),
    ("i3", "MEDIUMINT", 70000, pa.int32(), 70000),
    ("i4", "INT", -8, pa.int32(), -8),
    ("i8", "BIGINT", 2**40, pa.int64(), 2**40),
    ("u8", "BIGINT UNSIGNED", 2**63 + 5, pa.uint64(), 2**63 + 5),
    ("f4", "FLOAT", 1.5, pa.float32(), 1.5),
    ("f8", "DOUBLE", 2.25, pa.float64(), 2.25),
    ("num", "DECIMAL(12,3)", decimal.Decimal("123456789.125"), pa.decimal128(12, 3), decimal.Decimal("123456789.125")),
    ("num_wide", "DECIMAL(50,10)", decimal.Decimal("1" * 40 + ".0123456789"), pa.decimal256(50, 10),
     decimal.Decimal("1" * 40 + ".0123456789")),
    ("id", "UUID", "12345678-1234-5678-1234-567812345678", pa.string(), "12345678-1234-5678-1234-567812345678"),
    ("js", "JSON", '{"a": [1, 2]}', pa.string(), '{"a": [1, 2]}'),
    ("tstz", "TIMESTAMP(6) NULL", dt.datetime(2024, 5, 6, 7, 8, 9, 123456), pa.timestamp("us", "UTC"),
     dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)),
    ("ts", "DATETIME(6)", dt.datetime(2024, 5, 6, 7, 8, 9, 500000), pa.timestamp("us"),
     dt.datetime(2024, 5, 6, 7, 8, 9, 500000)),
    ("d", "DATE", dt.date(1999, 12, 31), pa.date32(), dt.date(1999, 12, 31)),
    ("t", "TIME(6)", dt.timedelta(hours=23, minutes=59, seconds=58, microseconds=999999), pa.time64("us"),
     dt.time(23, 59, 58, 999999)),
    ("b", "BLOB", b"\x00\xffbin", pa.binary(), b"\x00\xffbin"),
    ("vb", "VARBINARY(10)", b"\x01\x02", pa.binary(), b"\x01\x02"),
    ("mood", "ENUM('sad','ok','happy')", "happy", pa.string(), "happy"),
    ("txt", "TEXT", "héllo 'quoted'", pa.string(), "héllo 'quoted'"),
    ("vc", "VARCHAR(10)", "short", pa.string(), "short"),
    ("flag", "BOOLEAN", True, pa.bool_(), True),
    ("yr", "YEAR", 2024, pa.int16(), 2024),
]


@pytest.fixture(scope="module")
def typed_table():
    name = unique("types")
    cols = ", ".join(f"`{c}` {t}" for c, t, *_ in TYPES)
    sql(f"CREATE TABLE `{name}` (pk INT PRIMARY KEY, {cols})")
    names = ", ".join(f"`{c}`" for c, *_ in TYPES)
    marks = ", ".join(["%s"] * len(TYPES))
    con = my_connect()
    try:
        with con.cursor() as cur:
            cur.execute(f"INSERT INTO `{name}` (pk, {names}) VALUES (1, {marks})", [v for _, _, v, *_ in TYPES])
            cur.execute(f"INSERT INTO `{name}` (pk) VALUES (2)")  # NULL in every type
    finally:
        con.close()
    return name


@pytest.mark.parametrize("transport", ["auto", "pymysql"])
def test_every_type_maps_to_its_exact_arrow_type(typed_table, transport):
    table = unistore.read(MY_URI, typed_table, transport=transport)
    got = without_metadata(table).schema
    for c, _, _, arrow, _ in TYPES:
        assert got.field(c).type == arrow, c
    row, nulls = table.sort_by("pk").to_pylist()
    for c, _, _, _, value in TYPES:
        assert row[c] == value, c
        assert nulls[c] is None, c


def test_both_transports_return_the_same_data(typed_table):
    fast = unistore.read(MY_URI, typed_table)
    safe = unistore.read(MY_URI, typed_table, transport="pymysql")
    assert unistore.provenance_of(safe).query.pushed_down["transport"] == "pymysql"
    assert unistore.provenance_of(fast).result.fingerprint == unistore.provenance_of(safe).result.fingerprint


def test_decimals_through_connectorx_are_exact_at_their_column_types():
    """ConnectorX returns every DECIMAL as decimal128(38, 10); unistore brings each to its column's precision
    and scale: values within 64 bits a column at a time, larger ones one by one; the same as pymysql's."""
    name = unique("decimals")
    sql(f"CREATE TABLE `{name}` (id INT PRIMARY KEY, d5 DECIMAL(5,0), d12 DECIMAL(12,2), d18 DECIMAL(18,10), "
        "d28 DECIMAL(28,10))",
        f"INSERT INTO `{name}` VALUES (1, 99999, 9999999999.99, 12345678.0123456789, 123456789012345678.0123456789),"
        " (2, -99999, -922337203.68, -0.0000000001, -1.5), (3, NULL, NULL, NULL, NULL), (4, 0, 0.01, 0, 0),"
        " (5, 7, -922337203.67, 92233720.3685477580, 922337203.6854)")
    fast = unistore.read(MY_URI, name)
    safe = unistore.read(MY_URI, name, transport="pymysql")
    assert unistore.provenance_of(fast).query.pushed_down["transport"].startswith("connectorx")
    assert [f.type for f in without_metadata(fast).schema][1:] == [
        pa.decimal128(5, 0), pa.decimal128(12, 2), pa.decimal128(18, 10), pa.decimal128(28, 10)]
    assert without_metadata(fast.sort_by("id")).equals(without_metadata(safe.sort_by("id")))
    assert fast.sort_by("id")["d12"].to_pylist()[:2] == [decimal.Decimal("9999999999.99"),
                                                           decimal.Decimal("-922337203.68")]
    # a value with more digits than the column holds cannot come from the server: it would be refused, not cut
    too_fine = pa.array([decimal.Decimal("1.005")], pa.decimal128(38, 10))
    with pytest.raises(pa.ArrowInvalid):
        adapter._rescaled(too_fine, pa.decimal128(12, 2))
    with pytest.raises(pa.ArrowInvalid):
        adapter._rescaled(pa.array([decimal.Decimal("1000.00")], pa.decimal128(38, 10)), pa.decimal128(5, 2))


def test_decimals_wider_than_connectorx_carries_are_read_through_pymysql():
    """ConnectorX's decimals hold 28 digits, 10 of them after the point: a DECIMAL(30,4) value of 26 integer
    digits made it panic mid-read; such a column sends the read through pymysql."""
    name = unique("wide")
    sql(f"CREATE TABLE `{name}` (id INT PRIMARY KEY, d DECIMAL(30,4))",
        f"INSERT INTO `{name}` VALUES (1, 12345678901234567890123456.7891), (2, 1)")
    table = unistore.read(MY_URI, name)
    assert unistore.provenance_of(table).query.pushed_down["transport"] == "pymysql"
    assert table.sort_by("id")["d"].to_pylist() == [decimal.Decimal("12345678901234567890123456.7891"),
                                                      decimal.Decimal("1.0000")]


@pytest.fixture(scope="module")
def plain_table():
    name = unique("plain")
    sql(f"CREATE TABLE `{name}` (id BIGINT PRIMARY KEY, label VARCHAR(20), price DECIMAL(10,2), "
        "at TIMESTAMP(6) NULL, ok BOOLEAN)",
        f"INSERT INTO `{name}` SELECT seq, CONCAT('row ', seq), seq / 4, TIMESTAMP'2024-01-01 00:00:00' + INTERVAL seq HOUR, "
        f"seq % 2 FROM seq_1_to_50")
    return name


def test_connectorx_is_used_only_with_a_verified_snapshot(plain_table):
    table = unistore.read(MY_URI, plain_table)
    record = unistore.provenance_of(table)
    assert record.query.pushed_down["transport"].startswith("connectorx")
    assert record.snapshot.kind == "mariadb.binlog_position" and record.snapshot.pins["binlog_file"]
    # a read with bound values never goes through ConnectorX (it would need values in the SQL text)
    filtered = unistore.read(MY_URI, plain_table, filter=[("label", "==", "row 3")])
    assert unistore.provenance_of(filtered).query.pushed_down["transport"] == "pymysql"
    assert filtered.column("id").to_pylist() == [3]


def test_a_commit_after_the_snapshot_sends_the_read_through_the_recorded_transaction(plain_table):
    """If anything committed since the snapshot, ConnectorX's own snapshot may differ: it is not used."""
    with unistore.source(MY_URI) as src:
        session = src.session()
        try:
            recorded = session.snapshot()
            sql(f"UPDATE `{plain_table}` SET label = 'changed' WHERE id = 1")
            assert session.connectorx(f"SELECT * FROM `{plain_table}`", 100, None) is None
            _, batches = session.execute(f"SELECT label FROM `{plain_table}` WHERE id = %s", [1], 100)
            assert pa.Table.from_batches(list(batches)).column("label").to_pylist() == ["row 1"]
            assert recorded.value == session.snapshot().value
        finally:
            session.close()
            sql(f"UPDATE `{plain_table}` SET label = 'row 1' WHERE id = 1")


# -- a writer committing while the read starts: the rows are one state, and the record says which -------

class _CommitAfterFirstBatch:
    """A ConnectorX stream that runs ``commit`` once its first batch has arrived (its snapshot exists)."""

    def __init__(self, reader, commit):
        self._reader, self._commit, self.schema = reader, commit, reader.schema

    def read_next_batch(self):
        batch = self._reader.read_next_batch()
        if self._commit is not None:
            self._commit, commit = None, self._commit
            commit()
        return batch

    def __iter__(self):
        while True:
            try:
                yield self.read_next_batch()
            except StopIteration:
                return

    def close(self):
        self._reader.close()


@pytest.fixture
def writer_during_read(monkeypatch):
    """``install(port, statements, when)``: a real writer, on its own connection, commits ``statements`` (one
    transaction) while unistore reads: ``"before"`` ConnectorX starts (after the recorded snapshot was taken)
    or ``"after"`` ConnectorX's first batch arrived. The hook is the one place unistore calls ConnectorX."""
    import connectorx

    def install(port: int, statements: list[str], when: str) -> None:
        def commit() -> None:
            sql("START TRANSACTION", *statements, "COMMIT", port=port)

        class WithWriter:
            @staticmethod
            def read_sql(*args, **kwargs):
                if when == "before":
                    commit()
                reader = connectorx.read_sql(*args, **kwargs)
                return _CommitAfterFirstBatch(reader, commit) if when == "after" else reader

        monkeypatch.setattr(adapter, "_connectorx", lambda: WithWriter)

    return install


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_commit_while_connectorx_starts_sends_the_read_through_the_recorded_transaction(
        plain_table, writer_during_read, when):
    """Binary log on: the record's snapshot is a position, so the rows must be that state; a commit between
    it and ConnectorX's first batch moves the binlog, and the rows come from the recorded transaction."""
    before = unistore.read(MY_URI, plain_table, columns=["id", "label"], transport="pymysql")
    writer_during_read(MY_PORT, [f"UPDATE `{plain_table}` SET label = 'changed' WHERE id = 1"], when)
    try:
        table = unistore.read(MY_URI, plain_table, columns=["id", "label"])
        after = unistore.read(MY_URI, plain_table, columns=["id", "label"], transport="pymysql")
    finally:
        sql(f"UPDATE `{plain_table}` SET label = 'row 1' WHERE id = 1")
    record = unistore.provenance_of(table)
    assert record.query.pushed_down["transport"] == "pymysql"
    assert without_metadata(table.sort_by("id")).equals(without_metadata(before.sort_by("id")))
    assert record.snapshot.value == unistore.provenance_of(before).snapshot.value
    assert after.filter(pa.compute.equal(after["id"], 1))["label"].to_pylist() == ["changed"]


@pytest.mark.parametrize("port", [MY_PORT, MY_NOBINLOG_PORT])
def test_a_ddl_waiting_on_the_read_does_not_stall_it(monkeypatch, port):
    """The read's transaction holds the table's metadata lock (it read the schema). An ALTER TABLE queued behind
    it would make ConnectorX's SELECT queue behind the ALTER until lock_wait_timeout (a day by default): a
    deadlock only the timeout breaks. ConnectorX's statement waits briefly, then the read falls back to the
    recorded transaction, and the ALTER proceeds once the read ends."""
    import threading

    import connectorx

    table = "ddl_during_read"
    sql(f"DROP TABLE IF EXISTS `{table}`", f"CREATE TABLE `{table}` (id INT PRIMARY KEY, v INT)",
        f"INSERT INTO `{table}` VALUES (1, 1), (2, 2)", port=port)
    altered: list[BaseException | None] = []

    def alter() -> None:
        try:
            sql("SET SESSION lock_wait_timeout = 60", f"ALTER TABLE `{table}` ADD COLUMN w INT", port=port)
            altered.append(None)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            altered.append(exc)

    def alter_waiting() -> bool:
        con = my_connect(port)
        try:
            with con.cursor() as cur:
                cur.execute("SELECT count(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'ALTER TABLE%%' "
                            "AND STATE LIKE '%%metadata lock%%'")
                return cur.fetchone()[0] > 0
        finally:
            con.close()

    class AlterFirst:  # the one place unistore calls ConnectorX: an ALTER is queued on the table just before
        @staticmethod
        def read_sql(*args, **kwargs):
            thread.start()
            for _ in range(300):
                if alter_waiting():
                    break
                threading.Event().wait(0.05)
            else:
                raise AssertionError("the ALTER never queued behind the read")
            return connectorx.read_sql(*args, **kwargs)

    thread = threading.Thread(target=alter, daemon=True)
    monkeypatch.setattr(adapter, "_connectorx", lambda: AlterFirst)
    uri = MY_URI if port == MY_PORT else MY_NOBINLOG_URI
    try:
        result = unistore.read(uri, table)
        thread.join(60)
        assert altered == [None]  # the ALTER ran once the read had ended
        assert unistore.provenance_of(result).query.pushed_down["transport"] == "pymysql"
        assert sorted(result["id"].to_pylist()) == [1, 2] and result.column_names == ["id", "v"]
    finally:
        thread.join(60)
        sql(f"DROP TABLE IF EXISTS `{table}`", port=port)


def test_the_snapshot_changes_with_a_commit_and_replay_reports_it(plain_table):
    table = unistore.read(MY_URI, plain_table, columns=["id", "label"])
    sql(f"UPDATE `{plain_table}` SET label = 'other' WHERE id = 2")
    try:
        again = unistore.read(MY_URI, plain_table, columns=["id", "label"])
        assert unistore.provenance_of(again).snapshot.value != unistore.provenance_of(table).snapshot.value
        with pytest.raises(unistore.DriftError) as info:
            unistore.replay(table)
        assert "fingerprint" in info.value.differences
    finally:
        sql(f"UPDATE `{plain_table}` SET label = 'row 2' WHERE id = 2")


def test_the_read_runs_in_a_read_only_consistent_snapshot():
    table = unistore.read(MY_URI, query="SELECT @@session.time_zone AS tz, "
                                        "(SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS "
                                        " WHERE VARIABLE_NAME = 'BINLOG_SNAPSHOT_POSITION') AS pos")
    row = table.to_pylist()[0]
    assert row["tz"] == "+00:00"
    assert unistore.provenance_of(table).snapshot.value.endswith(":" + row["pos"])


@pytest.mark.parametrize("transport", ["auto", "pymysql"])
def test_a_write_hidden_in_a_function_is_refused_by_the_server(transport):
    name = unique("audit")
    sql(f"CREATE TABLE `{name}` (n INT)",
        f"CREATE FUNCTION `{name}_f`() RETURNS INT DETERMINISTIC MODIFIES SQL DATA BEGIN INSERT INTO `{name}` VALUES (1); RETURN 1; END")
    with pytest.raises(unistore.ReadOnlyError, match="READ ONLY"):
        unistore.read(MY_URI, query=f"SELECT `{name}_f`() AS n", transport=transport)
    con = my_connect()
    try:
        with con.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM `{name}`")
            assert cur.fetchone()[0] == 0
    finally:
        con.close()


def test_views_and_tables_of_other_databases(plain_table):
    other, view = "unistore_other", unique("v")
    sql(f"CREATE DATABASE IF NOT EXISTS {other}",
        f"CREATE TABLE {other}.`{plain_table}` (id INT PRIMARY KEY, x TEXT)",
        f"INSERT INTO {other}.`{plain_table}` VALUES (1, 'elsewhere')",
        f"CREATE VIEW `{view}` AS SELECT id, UPPER(label) AS label FROM `{plain_table}` WHERE id > 48")
    with unistore.source(MY_URI) as src:
        assert view in src.tables() and plain_table in src.tables()
        assert other in src.schemas()
        assert src.read(view).to_pylist() == [{"id": 49, "label": "ROW 49"}, {"id": 50, "label": "ROW 50"}]
        elsewhere = src.read(f"{other}.{plain_table}")
        assert elsewhere.to_pylist() == [{"id": 1, "x": "elsewhere"}]
    record = unistore.provenance_of(elsewhere)
    assert record.source.namespace == f"mysql://127.0.0.1:{MY_PORT}"
    assert record.source.name == f"{other}.{plain_table}"
    assert unistore.provenance_of(unistore.read(MY_URI, plain_table, limit=1)).source.name == f"test.{plain_table}"


# -- streaming memory ----------------------------------------------------------------------

BIG_ROWS = 300_000


@pytest.fixture(scope="module")
def big_table():
    name = f"unistore_big_{BIG_ROWS}"
    con = my_connect()
    try:
        with con.cursor() as cur:
            cur.execute(f"CREATE TABLE IF NOT EXISTS `{name}` (id BIGINT PRIMARY KEY, body TEXT)")
            cur.execute(f"SELECT count(*) FROM `{name}`")
            if cur.fetchone()[0] != BIG_ROWS:
                cur.execute(f"DELETE FROM `{name}`")
                cur.execute(f"INSERT INTO `{name}` SELECT seq, REPEAT(MD5(seq), 8) FROM seq_1_to_{BIG_ROWS}")
    finally:
        con.close()
    return name


#: the measurement, in a child process: RSS counts what glibc keeps of freed memory, and glibc raises its
#: mmap threshold to the size of the buffers freed (then keeps later ones in its per-thread arenas), so how
#: much RSS a stream adds depended on what the process had allocated and freed before (a test run in
#: another order, or a TLS context loaded per connection, moved it by 40 MB). With the threshold fixed,
#: large buffers are mapped and unmapped as they live and die, and RSS follows the memory held.
MEMORY_CHILD = """
import gc, json, sys
import connectorx, unistore
from unistore.fingerprint import Fingerprinter

uri, table, options = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
if "filter" in options:
    options["filter"] = [tuple(term) for term in options["filter"]]  # JSON made the terms lists

def rss():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024

# one warm-up stream first: the first read of a transport pays one-time costs (driver runtime and thread
# pools, import-time caches) that say nothing about whether a stream holds its batches
with unistore.scan(uri, table, batch_size=5_000, **options) as reader:
    for _ in reader:
        pass
gc.collect()
start = peak = rss()
rows, table_mb = 0, 0.0
with unistore.scan(uri, table, batch_size=5_000, **options) as reader:
    for batch in reader:
        rows += batch.num_rows
        table_mb += batch.nbytes / 2**20
        peak = max(peak, rss())
grew = peak - start
# ConnectorX alone, to a consumer as slow as unistore's (it fingerprints)
gc.collect()
start = peak = rss()
digest = None
for batch in connectorx.read_sql(uri, f"SELECT * FROM {table}", return_type="arrow_stream", batch_size=5_000):
    digest = digest or Fingerprinter(batch.schema)
    digest.update(batch)
    peak = max(peak, rss())
print(json.dumps({"rows": rows, "table_mb": table_mb, "grew": grew, "driver": peak - start}))
"""


@pytest.mark.parametrize("options", [{}, {"transport": "pymysql"}, {"filter": [("id", ">", 0)]}],
                         ids=["connectorx", "pymysql", "filter"])
def test_scan_memory_stays_bounded(big_table, options):
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(128 * 1024), "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", MEMORY_CHILD, MY_URI, big_table, json.dumps(options)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    m = json.loads(out.stdout.strip().splitlines()[-1])
    assert m["rows"] == BIG_ROWS and m["table_mb"] > 75
    # ConnectorX's own threads read ahead of a slower consumer into buffers of their own: what unistore adds on
    # top of the driver is the bound (holding every batch would add the whole stream, 77 MB, to the driver's
    # growth: the slack stays below that)
    driver = m["driver"] if not options else 0.0
    assert m["grew"] < driver + (0.75 if not options else 0.5) * m["table_mb"], (
        f"RSS grew {m['grew']:.0f} MB while streaming {m['table_mb']:.0f} MB (the driver alone: {driver:.0f} MB)")


# -- connection errors ----------------------------------------------------------------------------

def test_right_password_reads_through_the_fast_path_and_never_records_it(plain_table):
    table = unistore.read(f"mysql+pymysql://unistore_auth:{SECRET}@127.0.0.1:{MY_PORT}/test", plain_table)
    assert table.num_rows == 50
    record = unistore.provenance_of(table)
    assert record.query.pushed_down["transport"].startswith("connectorx")
    assert SECRET not in record.to_json()


def test_unknown_database_is_not_found():
    with pytest.raises(unistore.SourceNotFoundError, match="no_such_db"):
        unistore.read(f"mysql://root@127.0.0.1:{MY_PORT}/no_such_db", "x")


def test_unknown_table_is_not_found():
    with pytest.raises(unistore.SourceNotFoundError, match="no_such_table"):
        unistore.read(MY_URI, "no_such_table")


def test_the_generic_dbapi_path_reads_the_same_rows(plain_table):
    generic = unistore.read(f"mysql+pymysql://root@127.0.0.1:{MY_PORT}/test", plain_table, driver="dbapi")
    fast = unistore.read(MY_URI, plain_table)
    record = unistore.provenance_of(generic)
    assert record.snapshot.kind == "mysql.transaction" and record.snapshot.pins["read_only_transaction"]
    # the generic path keeps the session's time zone: TIMESTAMP comes back naive
    assert generic.schema.field("at").type == pa.timestamp("us")
    assert without_metadata(generic.drop_columns(["at"])).equals(without_metadata(fast.drop_columns(["at"])))


# -- reads cannot take locks that outlive them (issue 9, finding 4) ---------------------------------------

def _lock_holder(name: str):
    con = my_connect()
    try:
        with con.cursor() as cur:
            cur.execute("SELECT IS_USED_LOCK(%s)", [name])
            return cur.fetchone()[0]
    finally:
        con.close()


@pytest.mark.parametrize("transport", ["connectorx", "pymysql"])
def test_get_lock_is_refused_and_never_held_by_the_pool(transport):
    name = unique("lock")
    with unistore.source(MY_URI, transport=transport) as src:
        for statement in (f"SELECT GET_LOCK('{name}', 0) AS l", f"SELECT 1 AS a /*! , GET_LOCK('{name}', 0) */"):
            with pytest.raises(unistore.ReadOnlyError):
                src.read(query=statement)
            assert _lock_holder(name) is None


def test_a_lock_taken_inside_a_function_is_released_when_the_connection_is_pooled():
    name, fn = unique("lock"), unique("locker")
    sql(f"CREATE FUNCTION `{fn}`() RETURNS INT NOT DETERMINISTIC NO SQL RETURN GET_LOCK('{name}', 0)")
    with unistore.source(MY_URI, transport="pymysql") as src:
        assert src.read(query=f"SELECT `{fn}`() AS l").column("l").to_pylist() == [1]
        assert _lock_holder(name) is None


# -- nothing held after an early close; pooled connections checked (issue 9, findings 8 and 9) ----------

def _busy_sessions(table: str) -> list[tuple]:
    con = my_connect()
    try:
        with con.cursor() as cur:
            cur.execute("SELECT id, command, state FROM information_schema.processlist "
                        "WHERE id <> CONNECTION_ID() AND info LIKE %s", [f"%{table}%"])
            return list(cur.fetchall())
    finally:
        con.close()


@pytest.mark.parametrize("transport", ["pymysql", "connectorx"])
def test_leaving_a_scan_early_releases_the_server_at_once(big_table, transport):
    gc.disable()  # nothing may depend on the garbage collector
    try:
        with unistore.source(MY_URI, transport=transport) as src:
            for _ in range(40):  # the loop of the issue: early-closed scan, then a read of a small table
                with src.scan(big_table, batch_size=1_000) as reader:
                    next(iter(reader))
                assert unistore.provenance_of(reader).result.complete is False
                assert src.read(query="SELECT 1 AS a").num_rows == 1
            if transport == "pymysql":  # ConnectorX's own connection stops when the server next writes to it
                assert _busy_sessions(big_table) == []
    finally:
        gc.enable()


def test_a_pooled_connection_killed_while_idle_is_replaced(plain_table):
    with unistore.source(MY_URI, transport="pymysql") as src:
        cid = src.read(query="SELECT CONNECTION_ID() AS c").column("c")[0].as_py()
        sql(f"KILL {int(cid)}")
        assert src.read(plain_table).num_rows > 0
        assert src.read(query="SELECT CONNECTION_ID() AS c").column("c")[0].as_py() != cid


# -- read plans (partitions=) ------------------------------------------------------------------

def _read_split(uri: str, spec: unistore.ReadSpec, split) -> list[int]:
    """What a distributed engine's worker does: open the source anew and run one pickled split."""
    with unistore.source(uri) as src:
        scan = src.connection.scan_split(spec, split)
        try:
            return [i for batch in scan.batches for i in batch.column("id").to_pylist()]
        finally:
            scan.close()


def test_a_partitioned_read_cuts_the_primary_key_and_each_split_has_its_own_snapshot(plain_table):
    whole = unistore.read(MY_URI, plain_table)
    split = unistore.read(MY_URI, plain_table, partitions=3)
    assert without_metadata(split).sort_by("id").equals(without_metadata(whole))
    record = unistore.provenance_of(split)
    plan = record.query.pushed_down["plan"]
    assert plan["method"] == "key ranges" and plan["consistent"] is False
    assert "CONSISTENT SNAPSHOT" in plan["consistency"]
    assert [s["covers"] for s in plan["splits"]] == [{"id": [None, 18]}, {"id": [18, 34]}, {"id": [34, None]}]
    assert [s["rows"] for s in plan["splits"]] == [17, 16, 17]
    # the record's snapshot is the first split's, and says it is not the state of the whole read
    assert record.snapshot.kind == "mariadb.binlog_position" and record.snapshot.consistent is False
    assert record.query.text.replace("\n", "") == f"SELECT * FROM `{plain_table}`"


def test_splits_keep_connectorx_and_run_in_another_process(plain_table):
    import concurrent.futures
    import multiprocessing
    import pickle

    spec = unistore.ReadSpec.build(plain_table, partitions=2)
    with unistore.source(MY_URI) as src, src.connection.plan(spec, 2) as plan:
        assert plan.snapshot is None  # nothing to pin: each split takes its own when it starts
        scan = src.connection.scan_split(spec, plan.splits[0])
        try:
            assert sum(b.num_rows for b in scan.batches) == 25
        finally:
            scan.close()
        # the range bounds are integers written into the SQL, so the split needs no parameter for ConnectorX
        assert scan.query.pushed_down["transport"].startswith("connectorx")
        assert "`id` < 26" in scan.query.text
        shipped = pickle.loads(pickle.dumps(plan.splits[1]))
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            assert sorted(pool.submit(_read_split, MY_URI, spec, shipped).result()) == list(range(26, 51))


def test_a_split_reads_the_state_it_finds_when_it_starts(plain_table):
    spec = unistore.ReadSpec.build(plain_table, columns=["id", "label"], partitions=2)
    with unistore.source(MY_URI) as src, src.connection.plan(spec, 2) as plan:
        sql(f"UPDATE `{plain_table}` SET label = 'moved on' WHERE id = 1")
        try:
            scan = src.connection.scan_split(spec, plan.splits[0])
            rows = pa.Table.from_batches(list(scan.batches), schema=scan.schema)
            scan.close()
        finally:
            sql(f"UPDATE `{plain_table}` SET label = 'row 1' WHERE id = 1")
    assert rows.filter(pa.compute.equal(rows["id"], 1))["label"].to_pylist() == ["moved on"]


def test_partition_on_cuts_a_nullable_integer_column_and_keeps_its_nulls():
    name = unique("grouped")
    sql(f"CREATE TABLE `{name}` (id INT PRIMARY KEY, grp INT NULL, label VARCHAR(10))",
        f"INSERT INTO `{name}` SELECT seq, IF(seq % 5 = 0, NULL, seq % 7), 'x' FROM seq_1_to_40")
    table = unistore.read(MY_URI, name, partitions=3, partition_on="grp")
    assert sorted(table.column("id").to_pylist()) == list(range(1, 41))
    plan = unistore.provenance_of(table).query.pushed_down["plan"]
    assert [s["covers"] for s in plan["splits"]] == [{"grp": [None, 2]}, {"grp": [2, 5]}, {"grp": [5, None]}]
    # the first split holds grp 0 and 1, and the NULLs
    assert plan["splits"][0]["rows"] == sum(1 for i in range(1, 41) if i % 5 == 0 or i % 7 < 2)
    for option, match in [("label", "must be an integer column"), ("nope", "not in table")]:
        with pytest.raises(unistore.BadSpecError, match=match):
            unistore.read(MY_URI, name, partitions=2, partition_on=option)
    with pytest.raises(unistore.BadSpecError, match="needs partitions"):
        unistore.read(MY_URI, name, partition_on="grp")


def test_views_queries_and_limits_are_read_in_one_piece(plain_table):
    view = unique("v")
    sql(f"CREATE VIEW `{view}` AS SELECT * FROM `{plain_table}`")
    with unistore.source(MY_URI) as src:
        for spec in [unistore.ReadSpec.build(view), unistore.ReadSpec.build(query=f"SELECT * FROM `{plain_table}`"),
                     unistore.ReadSpec.build(plain_table, limit=5)]:
            with src.connection.plan(spec, 4) as plan:
                assert len(plan.splits) == 1 and plan.consistent


# -- the server without the binary log (127.0.0.1:3307) ------------------------------------------

@pytest.fixture(scope="module")
def nobinlog_table():
    """100 rows on the server without the binary log, ``v`` summing to 100 * 50."""
    if not wait_for_port("127.0.0.1", MY_NOBINLOG_PORT, timeout=5):
        missing_store(f"MariaDB without the binary log on 127.0.0.1:{MY_NOBINLOG_PORT}")
    name = unique("nobinlog")
    sql(f"CREATE TABLE `{name}` (id BIGINT PRIMARY KEY, v DECIMAL(12,2), label VARCHAR(20))",
        f"INSERT INTO `{name}` SELECT seq, 50, CONCAT('row ', seq) FROM seq_1_to_100", port=MY_NOBINLOG_PORT)
    return name


def test_without_the_binary_log_connectorx_reads_in_its_own_snapshot_and_the_record_says_so(nobinlog_table):
    fast = unistore.read(MY_NOBINLOG_URI, nobinlog_table)
    safe = unistore.read(MY_NOBINLOG_URI, nobinlog_table, transport="pymysql")
    record = unistore.provenance_of(fast)
    assert record.query.pushed_down["transport"] == adapter.CX_OWN_SNAPSHOT
    assert unistore.provenance_of(safe).query.pushed_down["transport"] == "pymysql"
    # no position names the state; the rows are still one read view, and the same through either transport
    assert record.snapshot.value == "gtid:none" and record.snapshot.consistent
    assert record.snapshot.pins["binlog"].startswith("off") and record.snapshot.pins["binlog_position"] is None
    assert record.result.fingerprint == unistore.provenance_of(safe).result.fingerprint
    assert without_metadata(fast).schema == without_metadata(safe).schema


@pytest.mark.parametrize("when", ["before", "after"])
def test_without_the_binary_log_the_rows_are_connectorx_s_one_state(nobinlog_table, writer_during_read, when):
    """A transfer between the first and the last row, committed while the read starts, is in the rows whole
    (committed before ConnectorX's snapshot) or not at all (after it): never half of it."""
    writer_during_read(MY_NOBINLOG_PORT, [f"UPDATE `{nobinlog_table}` SET v = v - 10 WHERE id = 1",
                                          f"UPDATE `{nobinlog_table}` SET v = v + 10 WHERE id = 100"], when)
    try:
        table = unistore.read(MY_NOBINLOG_URI, nobinlog_table, batch_size=10)
    finally:
        sql(f"UPDATE `{nobinlog_table}` SET v = 50", port=MY_NOBINLOG_PORT)
    assert unistore.provenance_of(table).query.pushed_down["transport"] == adapter.CX_OWN_SNAPSHOT
    v = dict(zip(table["id"].to_pylist(), table["v"].to_pylist()))
    assert sum(v.values()) == 100 * 50
    assert (v[1], v[100]) == ((40, 60) if when == "before" else (50, 50))


def test_without_the_binary_log_splits_read_through_connectorx(nobinlog_table):
    spec = unistore.ReadSpec.build(nobinlog_table, partitions=2)
    with unistore.source(MY_NOBINLOG_URI) as src, src.connection.plan(spec, 2) as plan:
        assert not plan.consistent
        for split in plan.splits:
            scan = src.connection.scan_split(spec, split)
            try:
                assert sum(b.num_rows for b in scan.batches) == 50
            finally:
                scan.close()
            assert scan.query.pushed_down["transport"] == adapter.CX_OWN_SNAPSHOT
            assert scan.snapshot.consistent is False  # one split of several, each its own state


# -- connecting ------------------------------------------------------------------------------------

def test_connections_use_pymysqls_tls_settings_without_loading_the_ca_bundle():
    """pymysql's PREFERRED mode (TLS if the server offers it, certificate not verified) builds a context that
    loads the system's CA bundle on every connect, then turns verification off: unistore's is the same
    context, made once, without the bundle."""
    import pymysql

    theirs, ours = pymysql.connections.Connection._create_ssl_ctx(None, {}), adapter._preferred_tls()
    for setting in ("verify_mode", "check_hostname", "options", "minimum_version", "maximum_version", "protocol"):
        assert getattr(ours, setting) == getattr(theirs, setting), setting
    assert ours.cert_store_stats()["x509_ca"] == 0
    with unistore.source(MY_URI) as src:
        first, second = src.connection._connect(), src.connection._connect()
        try:
            assert first.ctx is second.ctx is ours
        finally:
            first.close()
            second.close()
