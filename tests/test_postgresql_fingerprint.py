"""PostgreSQL returns an unordered result in any order; replay must not call that drift (issue 9, finding 1).

Parallel workers are forced on for one role only (``ALTER ROLE ... SET``), so the
settings reach every connection unistore opens as that role and no other session
on the shared server; the role is dropped afterwards.
"""

from __future__ import annotations

import pytest

import unistore
from stores import missing_store
from stores.servers_sql import PG_PORT, pg_available, pg_connect, unique

ROWS = 200_000
PARALLEL = {"max_parallel_workers_per_gather": "2", "parallel_setup_cost": "0", "parallel_tuple_cost": "0",
            "min_parallel_table_scan_size": "0"}
FILTER = [("id", "<", 150_000)]


@pytest.fixture(scope="module")
def parallel_table():
    if not pg_available():
        missing_store(f"PostgreSQL on 127.0.0.1:{PG_PORT}")
    table, role = unique("fp_parallel"), unique("fp_role")
    with pg_connect() as con:
        con.execute(f"CREATE TABLE {table} (id bigint, x double precision, s text)")
        con.execute(f"INSERT INTO {table} SELECT g, g * 0.5, 'row ' || g FROM generate_series(1, {ROWS}) g")
        con.execute(f"ANALYZE {table}")
        con.execute(f"CREATE ROLE {role} LOGIN")
        con.execute(f"GRANT SELECT, UPDATE ON {table} TO {role}")
        for name, value in PARALLEL.items():
            con.execute(f"ALTER ROLE {role} SET {name} = {value}")
    try:
        yield table, f"postgresql://{role}@127.0.0.1:{PG_PORT}/test"
    finally:
        with pg_connect() as con:
            con.execute(f"DROP TABLE IF EXISTS {table}")
            con.execute(f"DROP OWNED BY {role}")
            con.execute(f"DROP ROLE IF EXISTS {role}")


def _plan_is_parallel(table: str, role: str) -> bool:
    with pg_connect() as con:
        con.execute(f"SET ROLE {role}")
        for name, value in PARALLEL.items():
            con.execute(f"SET {name} = {value}")
        plan = "\n".join(r[0] for r in con.execute(f"EXPLAIN SELECT * FROM {table} WHERE id < 150000").fetchall())
    return "Gather" in plan


def test_parallel_reads_give_one_fingerprint_and_replay_identical(parallel_table):
    table, uri = parallel_table
    assert _plan_is_parallel(table, uri.split("//")[1].split("@")[0])  # the setting really is in force
    reads = [unistore.read(uri, table, filter=FILTER) for _ in range(4)]
    records = [unistore.provenance_of(t) for t in reads]
    assert all(t.num_rows == 149_999 for t in reads)
    assert len({r.result.fingerprint for r in records}) == 1
    again = unistore.replay(reads[0], uri=uri)
    assert unistore.provenance_of(again).result.fingerprint == records[0].result.fingerprint


def test_a_no_op_update_that_moves_a_row_replays_identical(parallel_table):
    table, uri = parallel_table
    before = unistore.read(uri, table, filter=FILTER)
    with pg_connect() as con:
        con.execute(f"UPDATE {table} SET x = x WHERE id = 5")  # a new row version at the end of the heap
    again = unistore.replay(before, uri=uri)
    assert again.num_rows == before.num_rows
    assert unistore.provenance_of(again).result.fingerprint == unistore.provenance_of(before).result.fingerprint


def test_a_real_change_is_drift_naming_the_column(parallel_table):
    table, uri = parallel_table
    before = unistore.read(uri, table, filter=FILTER, columns=["id", "x", "s"])
    with pg_connect() as con:
        con.execute(f"UPDATE {table} SET s = 'changed' WHERE id = 7")
    try:
        with pytest.raises(unistore.DriftError) as info:
            unistore.replay(before, uri=uri)
        assert info.value.differences["columns"] == ["s"]
        assert "rows" not in info.value.differences
    finally:
        with pg_connect() as con:
            con.execute(f"UPDATE {table} SET s = 'row 7' WHERE id = 7")
