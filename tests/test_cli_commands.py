"""The installed ``unistore`` command, run in a subprocess against real stores: ls, schema, read.

Every test runs the console script users run (next to the interpreter), so the
exit status, stdout and stderr are what a shell sees.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stores.object_stores import parquet_bytes
from stores.timeseries import INTERVAL, METRIC, T0

UNISTORE = str(Path(sys.executable).with_name("unistore"))


def cli(*argv: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([UNISTORE, *argv], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def record_of(stdout: str) -> dict[str, str]:
    """The readable provenance block ``unistore read`` prints after the preview, as label -> value."""
    block = stdout.split("\n<Provenance of ", 1)[1].splitlines()[1:]
    return {line.split()[0]: line.split(None, 1)[1] for line in block}


def rows_of(stdout: str) -> int:
    return int(record_of(stdout)["rows"].split()[0].replace(",", ""))


@pytest.fixture
def partitioned(tmp_path):
    """events/month=2026-09/..., events/month=2026-10/...: two partitions of one table."""
    root = tmp_path / "events"
    for month, ids in (("2026-09", [1, 2]), ("2026-10", [3])):
        (root / f"month={month}").mkdir(parents=True)
        pq.write_table(pa.table({"id": ids, "amount": [i * 1.5 for i in ids]}), root / f"month={month}" / "p.parquet")
    (root / "_SUCCESS").write_text("")
    return root


# -- ls and schema ----------------------------------------------------------------------------

def test_ls_shows_partitions_as_a_column_not_as_tables(partitioned):
    inside = cli("ls", str(partitioned))
    assert inside.returncode == 0, inside.stderr
    assert "month=" not in inside.stdout
    assert inside.stdout.splitlines() == [".  (this folder; partitioned by month)"]
    above = cli("ls", str(partitioned.parent), "--long", "--json")
    assert json.loads(above.stdout) == [{"name": "events", "partitioned_by": ["month"], "columns": 3}]


def test_schema_includes_the_partition_column(partitioned):
    out = cli("schema", str(partitioned))
    assert out.returncode == 0, out.stderr
    lines = {line.split()[0]: line for line in out.stdout.splitlines()}
    assert set(lines) == {"id", "amount", "month"} and "partition column" in lines["month"]
    fields = json.loads(cli("schema", str(partitioned.parent), "events", "--json").stdout)
    assert [f["name"] for f in fields] == ["id", "amount", "month"] and fields[2]["partition"] is True


def test_ls_and_schema_on_a_partitioned_s3_prefix(moto_s3):
    bucket = moto_s3.bucket("cli-partitioned", versioned=False)
    for month in ("2026-09", "2026-10"):
        moto_s3.client().put_object(Bucket=bucket, Key=f"sales/month={month}/part-0.parquet",
                                    Body=parquet_bytes(pa.table({"id": [1, 2], "amount": [3.0, 4.0]})))
    listing = cli("ls", f"s3://{bucket}/sales")
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.splitlines() == [".  (this folder; partitioned by month)"]
    assert json.loads(cli("ls", f"s3://{bucket}", "--json").stdout) == [{"name": "sales"}]
    schema = cli("schema", f"s3://{bucket}", "sales", "--json")
    assert [f["name"] for f in json.loads(schema.stdout)] == ["id", "amount", "month"], schema.stderr
    read = cli("read", f"s3://{bucket}/sales", "--filter", '[["month", "=", "2026-10"]]', "--rows", "5")
    assert read.returncode == 0 and rows_of(read.stdout) == 2


@pytest.fixture
def shop_db(tmp_path):
    path = tmp_path / "store.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA shop; CREATE TABLE shop.orders AS "
                "SELECT range AS id, range * 2 AS amount FROM range(5)")
    con.close()
    return f"duckdb:///{path}"


def test_a_bare_table_name_gets_did_you_mean(shop_db):
    out = cli("read", shop_db, "orders")
    assert out.returncode == 1
    assert "did you mean shop.orders?" in out.stderr and out.stderr.count("\n") == 1
    assert "did you mean shop.orders?" in cli("schema", shop_db, "shop.ordres").stderr
    assert cli("ls", shop_db).stdout.splitlines() == ["shop.orders"]
    schema = cli("schema", shop_db)
    assert schema.returncode == 1 and "name a table" in schema.stderr


# -- read -------------------------------------------------------------------------------------

def test_rows_pushes_the_limit_so_a_preview_reads_only_what_it_shows(tmp_path):
    big = tmp_path / "big.parquet"
    pq.write_table(pa.table({"id": pa.array(range(300_000), pa.int64())}), big, row_group_size=10_000)
    out = cli("read", str(big), "--rows", "3")
    assert out.returncode == 0, out.stderr
    record = record_of(out.stdout)
    assert rows_of(out.stdout) == 3 and record["limit"] == "3"
    assert "read stopped at --rows 3" in out.stdout
    # an explicit --limit wins, and --output reads everything while showing --rows of it
    written = tmp_path / "all.parquet"
    full = cli("read", str(big), "--rows", "2", "--output", str(written))
    assert rows_of(full.stdout) == 300_000 and pq.read_metadata(written).num_rows == 300_000
    assert "limit" not in record_of(full.stdout)
    limited = cli("read", str(big), "--rows", "2", "--limit", "50")
    assert rows_of(limited.stdout) == 50


def test_read_a_time_range_from_prometheus(loader_victoria_metrics):
    case = loader_victoria_metrics.case
    start, end = T0 + 100 * INTERVAL, T0 + 110 * INTERVAL
    out = cli("read", case.uri, METRIC, "--start", start.isoformat(), "--end", end.isoformat(), "--step", "1m",
              "--json")
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)
    assert record["result"]["rows"] == 3 * 10  # three sites, ten one-minute steps in [start, end)
    assert record["source"]["system"] == "prometheus"
    instant = cli("read", case.uri, METRIC, "--rows", "3")  # no range: evaluated now, where no data is
    assert instant.returncode == 0 and "--start, --end and --step" in instant.stderr
    shown = cli("read", case.uri, METRIC, "--start", start.isoformat(), "--end", end.isoformat(), "--step", "1m",
                "--shape", "wide", "--rows", "3")
    assert shown.returncode == 0 and "temp" in shown.stdout.splitlines()[0], shown.stderr


def test_as_of_reads_a_pinned_delta_version(tmp_path):
    import deltalake  # the delta extra: installed by scripts/install.sh, so its absence fails
    path = tmp_path / "dl"
    deltalake.write_deltalake(str(path), pa.table({"id": [1, 2]}))
    deltalake.write_deltalake(str(path), pa.table({"id": [3]}), mode="append")
    uri = f"delta://{path}"
    assert json.loads(cli("read", uri, "--as-of", "0", "--json").stdout)["result"]["rows"] == 2
    assert json.loads(cli("read", uri, "--json").stdout)["result"]["rows"] == 3
    too_old = cli("read", uri, "--as-of", "2020-01-01T00:00:00Z")
    assert too_old.returncode == 1 and "SnapshotUnavailableError" in too_old.stderr


def test_read_with_a_time_column_and_partitions_on_files(tmp_path):
    path = tmp_path / "t.parquet"
    times = [dt.datetime(2026, 1, 1, h, tzinfo=dt.timezone.utc) for h in range(6)]
    pq.write_table(pa.table({"ts": times, "v": range(6)}), path)
    out = cli("read", str(path), "--time-column", "ts", "--start", "2026-01-01T02:00:00Z",
              "--end", "2026-01-01T04:00:00Z", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["result"]["rows"] == 2
    parts = cli("read", str(path), "--partitions", "2", "--json")
    assert parts.returncode == 0 and json.loads(parts.stdout)["result"]["rows"] == 6, parts.stderr


def test_misspelt_options_columns_and_schemes_are_suggested(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"amount": [1, 2]}), path)
    option = cli("read", str(path), "-O", "colums=amount")
    assert option.returncode == 1 and "did you mean columns?" in option.stderr
    flag = cli("read", str(path), "--colums", "amount")
    assert flag.returncode == 2 and "did you mean --columns?" in flag.stderr
    column = cli("read", str(path), "--columns", "amuont")
    assert column.returncode == 1 and "did you mean amount?" in column.stderr
    scheme = cli("read", "sqlit:///x.db", "t")
    assert scheme.returncode == 1 and "did you mean 'sqlite'" in scheme.stderr
    command = cli("raed", str(path))
    assert command.returncode == 2 and "did you mean 'read'?" in command.stderr


def test_errors_are_one_line_and_a_traceback_only_with_debug(tmp_path):
    missing = cli("read", str(tmp_path / "nope.parquet"))
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1 and "Traceback" not in missing.stderr
    debug = cli("read", str(tmp_path / "nope.parquet"), "--debug")
    assert debug.returncode == 1 and "Traceback" in debug.stderr
    assert debug.stderr.splitlines()[-1] == missing.stderr.strip()
    assert cli("--debug", "read", str(tmp_path / "nope.parquet")).stderr.startswith("Traceback")


def test_a_closed_pipe_is_not_an_error(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"id": range(50_000)}), path)
    shell = subprocess.run(f"'{UNISTORE}' read '{path}' --rows 50000 | head -n 2", shell=True,
                           capture_output=True, text=True, timeout=120)
    assert shell.returncode == 0 and len(shell.stdout.splitlines()) == 2 and "Error" not in shell.stderr


# -- progress ---------------------------------------------------------------------------------

@pytest.fixture
def slow_file(tmp_path):
    path = tmp_path / "slow.parquet"
    pq.write_table(pa.table({"id": pa.array(range(400_000), pa.int64())}), path, row_group_size=1_000)
    return path


def test_no_progress_when_stderr_is_not_a_terminal(slow_file, tmp_path):
    out = cli("read", str(slow_file), "--output", str(tmp_path / "o.csv"), env={"UNISTORE_PROGRESS_DELAY": "0"})
    assert out.returncode == 0 and out.stderr == ""


def test_progress_on_a_terminal_shows_rows_bytes_and_rate(slow_file, tmp_path):
    """stderr on a pseudo-terminal, as in a shell: the progress line appears (rows, bytes, rate)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([UNISTORE, "read", str(slow_file), "--output", str(tmp_path / "o.parquet")],
                            stdout=subprocess.PIPE, stderr=follower,
                            env={**os.environ, "UNISTORE_PROGRESS_DELAY": "0"})
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the process closed its end
            break
        if not chunk:
            break
        seen += chunk
    proc.wait(timeout=120)
    os.close(leader)
    text = seen.decode()
    assert proc.returncode == 0
    assert "reading: 400,000 rows" in text and "writing: 400,000 rows" in text
    assert "MB/s" in text or "kB/s" in text


@pytest.mark.server
def test_postgresql_ls_schema_and_a_bare_table_name():
    from stores.servers_sql import PG_PORT, PG_URI, pg_available, pg_connect, unique

    if not pg_available():
        from stores import missing_store

        missing_store(f"PostgreSQL on 127.0.0.1:{PG_PORT}")
    schema = unique("a_shop")  # sorts first among the suffix matches a shared database may hold
    with pg_connect() as con:
        con.execute(f'CREATE SCHEMA "{schema}"')
        con.execute(f'CREATE TABLE "{schema}".orders (id BIGINT PRIMARY KEY, amount NUMERIC(10, 2))')
        con.execute(f'INSERT INTO "{schema}".orders SELECT g, g * 1.5 FROM generate_series(1, 50) g')
    try:
        assert f"{schema}.orders" in cli("ls", PG_URI).stdout.splitlines()
        fields = json.loads(cli("schema", PG_URI, f"{schema}.orders", "--json").stdout)
        assert [(f["name"], f["type"]) for f in fields] == [("id", "int64"), ("amount", "decimal128(10, 2)")]
        bare = cli("read", PG_URI, "orders")
        hint = bare.stderr.split("did you mean ", 1)[1]  # the shared test database may hold other orders tables
        assert bare.returncode == 1 and f"{schema}.orders" in hint
        out = cli("read", PG_URI, f"{schema}.orders", "--rows", "3")
        assert out.returncode == 0 and rows_of(out.stdout) == 3 and "LIMIT" in record_of(out.stdout)["query"]
    finally:
        with pg_connect() as con:
            con.execute(f'DROP SCHEMA "{schema}" CASCADE')
