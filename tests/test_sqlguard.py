"""The SQL classifier: one read-only statement, parsed per dialect (issue 9, findings 3 and 4).

Every statement quoted in the issue is refused on the dialects it was found on;
ordinary reads (CTEs, windows, set operations, quoted text that looks like SQL)
still pass; random text never makes anything but a unistore error escape.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from unistore.errors import BadSpecError, ReadOnlyError
from unistore.sqlguard import DENIED_FUNCTIONS, classify

ALL = ("postgres", "mysql", "sqlite", "duckdb", "generic")

# (dialects, statement) exactly as the issue reports them, plus their close relatives
REFUSED = [
    # finding 3: DuckDB writes and reads files
    (("duckdb",), "EXPLAIN ANALYZE COPY (SELECT 'x') TO '/tmp/x.csv'"),
    (ALL, "SELECT 1 AS \"--\"; COPY t TO '/tmp/y.csv'"),
    (("duckdb",), "EXPORT DATABASE '/tmp/unistore-export'"),
    (("duckdb",), "SELECT * FROM read_text('/etc/hostname')"),
    (("duckdb",), "SELECT * FROM read_csv('/etc/passwd')"),
    (("duckdb",), "SELECT * FROM glob('/etc/*')"),
    (("duckdb",), "SELECT * FROM read_csv_auto('/etc/passwd')"),
    (("duckdb",), "SELECT * FROM read_parquet('/tmp/x.parquet')"),
    (("duckdb",), "SELECT getenv('HOME')"),
    (("duckdb",), "ATTACH '/tmp/other.duckdb'"),
    (("duckdb",), "INSTALL httpfs"),
    (("duckdb",), "LOAD httpfs"),
    (("duckdb", "postgres"), "COPY t TO '/tmp/y.csv'"),
    (ALL, "EXPLAIN SELECT 1"),
    # finding 3: SQLite's ADBC driver drops a hidden second statement
    (("sqlite",), "SELECT 1; DELETE FROM t"),
    (("sqlite",), "SELECT 1 AS \"--\"; DELETE FROM t"),
    (("sqlite",), "SELECT load_extension('/tmp/evil.so')"),
    (("sqlite",), "SELECT writefile('/tmp/x', 'y')"),
    (("sqlite",), "PRAGMA query_only = OFF"),
    (("sqlite",), "ATTACH DATABASE '/tmp/x.db' AS x"),
    # finding 4: side effects through PostgreSQL reads
    (("postgres",), "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid()"),
    (("postgres",), "SELECT pg_catalog.pg_terminate_backend(12345)"),
    (("postgres",), 'SELECT "pg_terminate_backend"(12345)'),
    (("postgres",), "SELECT pg_cancel_backend(12345)"),
    (("postgres",), "SELECT pg_reload_conf()"),
    (("postgres",), "SELECT pg_switch_wal()"),
    (("postgres",), "SELECT pg_create_restore_point('x')"),
    (("postgres",), "SELECT pg_advisory_lock(42)"),
    (("postgres",), "SELECT pg_try_advisory_xact_lock(42)"),
    (("postgres",), "SELECT lo_import('/etc/passwd')"),
    (("postgres",), "SELECT pg_read_file('/etc/passwd')"),
    (("postgres",), "SELECT * FROM pg_ls_dir('/')"),
    (("postgres",), "SELECT set_config('work_mem', '1GB', false)"),
    (("postgres",), "SELECT nextval('s')"),
    (("postgres",), "SELECT x FROM (SELECT setval('s', 1) AS x) AS q"),
    (("postgres",), "SELECT pg_create_logical_replication_slot('s', 'test_decoding')"),
    (("postgres",), "SELECT * FROM dblink('host=x', 'SELECT 1') AS t(a int)"),
    (("postgres",), "SELECT pg_notify('c', 'x')"),
    # finding 4: MariaDB locks held by a pooled connection
    (("mysql",), "SELECT GET_LOCK('unistore', 0)"),
    (("mysql",), "SELECT get_lock('unistore', 0) AS l FROM dual"),
    (("mysql",), "SELECT RELEASE_ALL_LOCKS()"),
    (("mysql",), "SELECT SLEEP(10)"),
    (("mysql",), "SELECT BENCHMARK(1000000000, MD5('x'))"),
    (("mysql",), "SELECT LOAD_FILE('/etc/passwd')"),
    (("mysql",), "SELECT 1 /*! , GET_LOCK('unistore', 0) */"),
    (("mysql",), "SELECT 1 /*!50000 , GET_LOCK('unistore', 0) */"),
    (("mysql",), "SELECT @a := 1"),
    (("mysql",), "SELECT 1 INTO OUTFILE '/tmp/x'"),
    (("mysql",), "SELECT * FROM t LOCK IN SHARE MODE"),
    # writes hidden inside a read
    (("postgres", "duckdb", "generic"), "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d"),
    (("postgres", "duckdb", "generic"), "WITH i AS (INSERT INTO t VALUES (1) RETURNING *) SELECT * FROM i"),
    (("postgres", "duckdb", "generic"), "WITH u AS (UPDATE t SET a = 1 RETURNING *) SELECT * FROM u"),
    (("postgres", "generic"), "SELECT * INTO t2 FROM t"),
    (("postgres", "mysql", "generic"), "SELECT * FROM t FOR UPDATE"),
    (("postgres", "generic"), "SELECT * FROM t FOR SHARE"),
    (ALL, "DELETE FROM t"),
    (ALL, "INSERT INTO t VALUES (1)"),
    (ALL, "UPDATE t SET a = 1"),
    (ALL, "DROP TABLE t"),
    (ALL, "CREATE TABLE t2 AS SELECT 1"),
    (("postgres", "mysql", "duckdb"), "SET x = 1"),
    (("postgres", "mysql"), "CALL p()"),
    (ALL, "BEGIN"),
    (ALL, ""),
    (ALL, " ; "),
]


@pytest.mark.parametrize(("dialects", "sql"), REFUSED)
def test_refused_statements(dialects: tuple[str, ...], sql: str) -> None:
    for dialect in dialects:
        with pytest.raises(ReadOnlyError):
            classify(sql, dialect)


ALLOWED = [
    (ALL, "SELECT 1"),
    (ALL, "SELECT 1;"),
    (ALL, "SELECT id, amount FROM events WHERE kind = 'k1' OR amount > 2.5"),
    (ALL, "WITH a AS (SELECT 1 AS x), b AS (SELECT x + 1 AS y FROM a) SELECT * FROM b"),
    (ALL, "SELECT id, sum(amount) OVER (PARTITION BY kind ORDER BY id) AS s FROM events"),
    (ALL, "SELECT 1 AS a UNION ALL SELECT 2 UNION SELECT 3"),
    (ALL, "SELECT * FROM events WHERE id IN (SELECT id FROM events WHERE amount > 1)"),
    (ALL, "SELECT '; DELETE FROM t; --' AS s"),
    (ALL, "SELECT 'COPY t TO ''/tmp/x''' AS s"),
    (ALL, "SELECT 1 -- a comment; DELETE FROM t\n"),
    (ALL, "/* ; DELETE FROM t */ SELECT 1"),
    (("postgres", "duckdb", "sqlite", "generic"), 'SELECT 1 AS "--", 2 AS "a;b", 3 AS "COPY"'),
    (("mysql",), "SELECT 1 AS `--`, 2 AS `a;b`"),
    (("postgres",), "SELECT $$; DELETE FROM t$$ AS s, $tag$ ; COPY $tag$ AS t"),
    (("postgres",), "SELECT pg_backend_pid(), pg_current_snapshot()::text, current_setting('TimeZone')"),
    (("postgres",), "SELECT * FROM generate_series(1, 10) AS g(n)"),
    (("postgres", "duckdb", "generic"), "VALUES (1, 'a'), (2, 'b')"),
    (("postgres",), "TABLE events"),
    (("duckdb",), "FROM events"),
    (("mysql",), "SELECT @@session.time_zone AS tz"),
    (ALL, "SELECT nextval_like_name FROM t"),
]


@pytest.mark.parametrize(("dialects", "sql"), ALLOWED)
def test_allowed_statements(dialects: tuple[str, ...], sql: str) -> None:
    for dialect in dialects:
        assert classify(sql, dialect).kind in ("select", "union", "values", "subquery")


@pytest.mark.parametrize("dialect", sorted(DENIED_FUNCTIONS))
def test_every_denied_function_is_refused(dialect: str) -> None:
    """The deny-list is enforced as written, whatever class sqlglot parses a name into."""
    for name in DENIED_FUNCTIONS[dialect]:
        called = name.replace("*", "x")
        # a name another dialect's grammar reserves (GLOB in SQLite syntax) may fail to parse: refused too
        match = "function" if dialect in ALL[:4] else None
        with pytest.raises(ReadOnlyError, match=match):
            classify(f"SELECT {called}('a') AS v", dialect)


def test_top_level_order_by_is_reported() -> None:
    assert classify("SELECT * FROM t ORDER BY id", "postgres").ordered
    assert classify("(SELECT 1 AS a) UNION (SELECT 2) ORDER BY 1", "postgres").ordered
    assert not classify("SELECT * FROM (SELECT * FROM t ORDER BY id) AS q", "postgres").ordered
    assert not classify("SELECT * FROM t", "postgres").ordered


def test_messages_are_short_and_name_the_construct() -> None:
    with pytest.raises(ReadOnlyError, match="pg_terminate_backend") as info:
        classify("SELECT pg_terminate_backend(1) FROM " + "t, " * 5000 + "t", "postgres")
    assert len(str(info.value)) < 300
    with pytest.raises(ReadOnlyError) as info:
        classify("SELECT (" * 3000 + "'secret-ish'", "postgres")
    assert len(str(info.value)) < 300


def test_not_text_is_a_bad_spec() -> None:
    with pytest.raises(BadSpecError):
        classify(b"SELECT 1", "postgres")  # type: ignore[arg-type]
    with pytest.raises(BadSpecError):
        classify("SELECT 1", "no-such-dialect")


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=80), dialect=st.sampled_from(ALL))
def test_random_text_only_raises_unistore_errors(text: str, dialect: str) -> None:
    try:
        classify(text, dialect)
    except BadSpecError:
        pass


SQL_WORDS = st.sampled_from(["SELECT", "FROM", "WHERE", "(", ")", ";", "'", '"', "`", "--", "/*", "*/", "$$",
                             "COPY", "WITH", "AS", "t", "1", ",", "UNION", "ORDER BY", "/*!", "\n", "E'\\'", ":="])


@settings(max_examples=300, deadline=None)
@given(words=st.lists(SQL_WORDS, max_size=25), dialect=st.sampled_from(ALL))
def test_sql_like_noise_only_raises_unistore_errors(words: list[str], dialect: str) -> None:
    try:
        classify(" ".join(words), dialect)
    except BadSpecError:
        pass


# -- the statements of the issue against real embedded stores (findings 3) ----------------------------

@pytest.fixture
def duck(tmp_path):
    import duckdb

    path = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t AS SELECT range AS id FROM range(5)")
    con.close()
    return path


DUCKDB_FINDINGS = [
    "EXPLAIN ANALYZE COPY (SELECT 'x') TO '{out}/x.csv'",
    "SELECT 1 AS \"--\"; COPY t TO '{out}/y.csv'",
    "EXPORT DATABASE '{out}/export'",
    "COPY t TO '{out}/z.csv'",
    "SELECT * FROM read_text('/etc/hostname')",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM glob('/etc/*')",
]


@pytest.mark.parametrize("statement", DUCKDB_FINDINGS)
def test_duckdb_reads_cannot_write_or_read_other_files(duck, tmp_path, statement):
    import unistore

    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ReadOnlyError):
        unistore.read(f"duckdb:///{duck}", query=statement.format(out=out))
    assert list(out.iterdir()) == []
    assert unistore.read(f"duckdb:///{duck}", query="SELECT count(*) AS n FROM t").column("n").to_pylist() == [5]


@pytest.mark.parametrize("statement", [s for s in DUCKDB_FINDINGS if ";" not in s] + [
    "SELECT * FROM '/etc/passwd'", "ATTACH '{out}/other.duckdb'", "SET enable_external_access = true"])
def test_duckdb_itself_refuses_what_the_parser_might_miss(duck, tmp_path, statement):
    """The second guard: the statement sent straight to a read session, past the classifier."""
    from unistore.adapters.sql.duckdb import DuckDBSession
    from unistore.errors import QueryError

    out = tmp_path / "out"
    out.mkdir()
    with DuckDBSession(str(duck), None) as session:
        with pytest.raises((ReadOnlyError, QueryError)):
            _, batches = session.execute(statement.format(out=out), None, 100)
            list(batches)
    assert list(out.iterdir()) == []
    with DuckDBSession(str(duck), None) as session:  # the database the user named still reads
        _, batches = session.execute("SELECT count(*) AS n FROM t", None, 100)
        assert [b.to_pylist() for b in batches] == [[{"n": 5}]]


@pytest.fixture
def lite(tmp_path):
    import sqlite3

    path = tmp_path / "shop.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (id INTEGER)")
    con.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(5)])
    con.commit()
    con.close()
    return path


def _rows(path) -> int:
    import sqlite3

    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT count(*) FROM t").fetchone()[0]
    finally:
        con.close()


@pytest.mark.parametrize("driver", ["adbc", "sqlite3"])
@pytest.mark.parametrize("statement", ["SELECT 1 AS a; DELETE FROM t", "SELECT 1 AS \"--\"; DELETE FROM t",
                                       "SELECT * FROM t; DROP TABLE t"])
def test_sqlite_never_runs_a_hidden_second_statement(lite, driver, statement):
    """ADBC's SQLite driver would silently run only the first statement and return its rows."""
    import unistore

    with pytest.raises(ReadOnlyError, match="single statement"):
        unistore.read(f"sqlite:///{lite}", query=statement, driver=driver)
    assert _rows(lite) == 5


@pytest.mark.parametrize("driver", ["adbc", "sqlite3"])
def test_sqlite_itself_refuses_a_write_past_the_parser(lite, driver):
    from unistore.adapters.sql.sqlite import SQLiteSession
    from unistore.errors import QueryError

    with SQLiteSession(str(lite), driver) as session:
        with pytest.raises(QueryError):
            _, batches = session.execute("DELETE FROM t", None, 100)
            list(batches)
    assert _rows(lite) == 5
