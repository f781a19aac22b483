"""Read plans of SQLite and DuckDB files beyond the conformance suite: what a read is cut on, the
one state the plan pins and every split checks, splits in another process, and the key-range
arithmetic every SQL store shares. (MariaDB's plans are in test_mysql.py.)
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import pickle
import sqlite3
import subprocess
import sys

import duckdb
import pyarrow as pa
import pytest

import unistore
from reference import without_metadata
from unistore.adapters.sql.base import key_ranges

ROWS = 100


class FileDB:
    """One database file with table ``t`` (id, nullable grp, aware timestamp), and a way to change it."""

    def __init__(self, kind: str, path: str, journal: str = "delete"):
        self.kind, self.path = kind, path
        self.uri = f"{'duckdb' if kind == 'duckdb' else 'sqlite'}:///{path}"
        self.options = {} if kind == "duckdb" else {"driver": kind.split("-")[1]}
        rows = [(i, None if i % 10 == 0 else i % 7, f"2026-01-01 00:00:{i % 60:02d}+00") for i in range(1, ROWS + 1)]
        if kind == "duckdb":
            con = duckdb.connect(path)
            con.execute("CREATE TABLE t (id BIGINT, grp INTEGER, placed TIMESTAMPTZ, label VARCHAR)")
            con.executemany("INSERT INTO t VALUES (?, ?, ?, 'x')", rows)
            con.close()
        else:
            with sqlite3.connect(path) as con:
                con.execute(f"PRAGMA journal_mode = {journal}")
                con.execute("CREATE TABLE t (id INTEGER, grp INTEGER, placed TIMESTAMPTZ, label TEXT)")
                con.executemany("INSERT INTO t VALUES (?, ?, ?, 'x')", rows)
            con.close()

    def write(self) -> None:
        if self.kind == "duckdb":
            con = duckdb.connect(self.path)
            con.execute("UPDATE t SET label = label || 'y' WHERE id = 1")
            con.close()
        else:
            with sqlite3.connect(self.path) as con:
                con.execute("UPDATE t SET label = label || 'y' WHERE id = 1")
            con.close()


@pytest.fixture(params=["sqlite-adbc", "sqlite-sqlite3", "duckdb"])
def db(request, tmp_path):
    return FileDB(request.param, str(tmp_path / "plans.db"))


def _plan(db: FileDB, n: int, **options):
    src = unistore.source(db.uri, **db.options)
    spec = unistore.ReadSpec.build("t", partitions=n, **options)
    return src, spec, src.connection.plan(spec, n)


def _ids(src, spec, split) -> list[int]:
    scan = src.connection.scan_split(spec, split)
    try:
        return [i for batch in scan.batches for i in batch.column("id").to_pylist()]
    finally:
        scan.close()


def _read_split(uri: str, options: dict, spec: unistore.ReadSpec, split) -> list[int]:
    """What a distributed engine's worker does: open the source anew and run one pickled split."""
    with unistore.source(uri, **options) as src:
        return _ids(src, spec, split)


@pytest.mark.parametrize("low, high, n", [(1, 100, 4), (0, 6, 3), (-5, 5, 64), (7, 7, 3), (1, 2, 5)])
def test_key_ranges_cut_every_key_once_and_leave_the_ends_open(low, high, n):
    ranges = key_ranges(low, high, n)
    assert 1 <= len(ranges) <= min(n, high - low + 1)
    assert ranges[0][0] is None and ranges[-1][1] is None
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))  # contiguous
    widths = [(hi if hi is not None else high + 1) - (lo if lo is not None else low) for lo, hi in ranges]
    assert sum(widths) == high - low + 1 and max(widths) - min(widths) <= 1
    assert key_ranges(None, None, n) == [(None, None)]  # no rows


def test_a_table_is_cut_on_its_rowid_and_every_split_reads_the_plans_state(db):
    whole = unistore.read(db.uri, "t", **db.options)
    split = unistore.read(db.uri, "t", partitions=4, **db.options)
    assert without_metadata(split).sort_by("id").equals(without_metadata(whole).sort_by("id"))
    assert split.schema.field("placed").type == pa.timestamp("us", "UTC")  # every split's connection reads in UTC
    record = unistore.provenance_of(split)
    plan = record.query.pushed_down["plan"]
    assert plan["method"] == "key ranges" and plan["consistent"] is True and len(plan["splits"]) == 4
    assert all(list(s["covers"]) == ["rowid"] for s in plan["splits"])
    assert record.snapshot == unistore.provenance_of(whole).snapshot and record.snapshot.consistent


@pytest.mark.parametrize("journal", ["delete", "wal"])
def test_a_split_that_finds_the_file_changed_refuses_to_read(tmp_path, journal):
    for kind in ["sqlite-adbc", "sqlite-sqlite3"] + (["duckdb"] if journal == "delete" else []):
        db = FileDB(kind, str(tmp_path / f"{kind}-{journal}.db"), journal)
        src, spec, plan = _plan(db, 2)
        with src:
            assert len(_ids(src, spec, plan.splits[0])) > 0
            plan.close()  # nothing holds the file any more
            db.write()
            with pytest.raises(unistore.SnapshotUnavailableError, match="changed after the read was planned"):
                _ids(src, spec, pickle.loads(pickle.dumps(plan.splits[1])))


def test_an_open_sqlite_plan_keeps_writers_from_committing(tmp_path):
    """Rollback-journal mode: the planner's read transaction holds the shared lock until the plan is released."""
    db = FileDB("sqlite-sqlite3", str(tmp_path / "locked.db"))
    src, spec, plan = _plan(db, 2)
    with src:
        writer = sqlite3.connect(db.path, timeout=0)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            writer.execute("UPDATE t SET label = 'y' WHERE id = 1")
            writer.commit()
        writer.rollback()
        assert sorted(_ids(src, spec, plan.splits[0]) + _ids(src, spec, plan.splits[1])) == list(range(1, ROWS + 1))
        plan.close()
        writer.execute("UPDATE t SET label = 'y' WHERE id = 1")
        writer.commit()
        writer.close()


def test_an_open_duckdb_plan_keeps_every_writer_out(tmp_path):
    db = FileDB("duckdb", str(tmp_path / "locked.duckdb"))
    write = [sys.executable, "-c", f"import duckdb; duckdb.connect({db.path!r}).execute('DELETE FROM t')"]
    src, spec, plan = _plan(db, 2)
    with src:
        other_process = subprocess.run(write, capture_output=True, text=True)
        assert other_process.returncode != 0 and "lock" in other_process.stderr
        with pytest.raises(duckdb.ConnectionException, match="different configuration"):
            duckdb.connect(db.path)  # a writer in this process
        assert len(_ids(src, spec, plan.splits[1])) > 0
        plan.close()
    assert subprocess.run(write).returncode == 0


def test_a_pickled_split_runs_in_another_process(db):
    src, spec, plan = _plan(db, 3)
    with src, plan:
        shipped = [pickle.loads(pickle.dumps(s)) for s in plan.splits]
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            ids = [i for s in shipped for i in pool.submit(_read_split, db.uri, db.options, spec, s).result()]
    assert sorted(ids) == list(range(1, ROWS + 1))


def test_partition_on_cuts_a_nullable_column_and_keeps_its_nulls_in_the_first_split(db):
    table = unistore.read(db.uri, "t", partitions=3, partition_on="grp", **db.options)
    assert sorted(table.column("id").to_pylist()) == list(range(1, ROWS + 1))
    splits = unistore.provenance_of(table).query.pushed_down["plan"]["splits"]
    assert [s["covers"] for s in splits] == [{"grp": [None, 2]}, {"grp": [2, 5]}, {"grp": [5, None]}]
    assert splits[0]["rows"] == sum(1 for i in range(1, ROWS + 1) if i % 10 == 0 or i % 7 < 2)
    with pytest.raises(unistore.BadSpecError, match="must be an integer column"):
        unistore.read(db.uri, "t", partitions=2, partition_on="label", **db.options)


def test_views_queries_and_limits_are_read_in_one_piece(db):
    if db.kind == "duckdb":
        con = duckdb.connect(db.path)
        con.execute("CREATE VIEW v AS SELECT * FROM t")
        con.close()
    else:
        with sqlite3.connect(db.path) as con:
            con.execute("CREATE VIEW v AS SELECT * FROM t")
        con.close()
    with unistore.source(db.uri, **db.options) as src:
        for spec in [unistore.ReadSpec.build("v"), unistore.ReadSpec.build(query="SELECT * FROM t"),
                     unistore.ReadSpec.build("t", limit=5)]:
            with src.connection.plan(spec, 4) as plan:
                assert len(plan.splits) == 1 and plan.method == "whole read"


def test_a_without_rowid_table_is_cut_on_its_integer_primary_key(tmp_path):
    path = str(tmp_path / "keyed.db")
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE k (code INTEGER PRIMARY KEY, name TEXT) WITHOUT ROWID")
        con.executemany("INSERT INTO k VALUES (?, 'x')", [(i,) for i in range(10, 40)])
    con.close()
    table = unistore.read(f"sqlite:///{path}", "k", partitions=3)
    assert sorted(table.column("code").to_pylist()) == list(range(10, 40))
    splits = unistore.provenance_of(table).query.pushed_down["plan"]["splits"]
    assert [s["covers"] for s in splits] == [{"code": [None, 20]}, {"code": [20, 30]}, {"code": [30, None]}]
