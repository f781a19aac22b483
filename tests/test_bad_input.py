"""Bad input is a short, typed unistore error raised before anything is sent; nothing hangs (issue 9, item 9).

The first half pins each finding of the issue; the second half fuzzes the
public API and the CLI (hypothesis) against embedded stores: whatever goes
in, only a unistore error (or a result) comes out, never a bare
ValueError/TypeError/KeyError/AttributeError or a Rust panic, and every
message stays short.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import io
import sqlite3
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import unistore
from stores import free_port
from unistore import col
from unistore.cli import main
from unistore.errors import BadSpecError, SourceUnavailableError, UnistoreError

#: the longest message any error may carry (query text and values are echoed only in part)
MAX_MESSAGE = 1000
DATA = pa.table({"id": pa.array([1, 2, 3, 4], pa.int64()), "kind": ["a", "b", None, "a"],
                 "amount": [1.5, None, -2.0, 4.25]})


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> dict[str, tuple[str, str | None]]:
    """The same four rows in a Parquet file, SQLite and DuckDB: name -> (uri, table)."""
    root = tmp_path_factory.mktemp("bad_input")
    pq.write_table(DATA, root / "t.parquet")
    with contextlib.closing(sqlite3.connect(root / "t.db")) as con:
        con.execute("CREATE TABLE t (id INTEGER, kind TEXT, amount REAL)")
        con.executemany("INSERT INTO t VALUES (?, ?, ?)", [tuple(r.values()) for r in DATA.to_pylist()])
        con.commit()
    con = duckdb.connect(str(root / "t.duckdb"))
    con.execute("CREATE TABLE t AS SELECT * FROM DATA")
    con.close()
    return {"parquet": (str(root / "t.parquet"), None), "sqlite": (f"sqlite:///{root / 't.db'}", "t"),
            "duckdb": (f"duckdb:///{root / 't.duckdb'}", "t")}


def assert_clean(exc: BaseException) -> None:
    """A unistore error with a short message, not a built-in error or a panic."""
    assert isinstance(exc, UnistoreError), f"{type(exc).__module__}.{type(exc).__name__}: {str(exc)[:300]}"
    assert len(str(exc)) <= MAX_MESSAGE + 40, f"{len(str(exc))} characters: {str(exc)[:200]}..."


# -- the findings ------------------------------------------------------------------------

@pytest.mark.parametrize("store", ["parquet", "sqlite", "duckdb"])
def test_a_generator_in_an_in_filter_is_read_once(stores, store):
    """Issue 9: the spec was built twice, so a generator matched nothing the second time."""
    uri, table = stores[store]
    values = (v for v in [1, 3])
    result = unistore.read(uri, table, filter=[("id", "in", values)])
    assert sorted(result.column("id").to_pylist()) == [1, 3]
    names = (c for c in ["id", "kind"])
    assert unistore.read(uri, table, columns=names).column_names == ["id", "kind"]
    with unistore.source(uri) as src:
        assert src.read(table, filter=col("id").isin(v for v in [2])).num_rows == 1


@pytest.mark.parametrize("store", ["parquet", "sqlite", "duckdb"])
@pytest.mark.parametrize("option, value", [("batch_size", 2**40), ("batch_size", 2**62), ("batch_size", 0),
                                           ("limit", 2**64), ("limit", -1), ("batch_size", 2.0)])
def test_batch_size_and_limit_are_bounded(stores, store, option, value):
    """Issue 9: ``batch_size=2**62`` raised a Rust panic (a BaseException) through ADBC; 2**64 overflowed."""
    uri, table = stores[store]
    with pytest.raises(BadSpecError, match=option):
        unistore.read(uri, table, **{option: value})


def test_a_huge_limit_just_limits(stores):
    uri, table = stores["sqlite"]
    assert unistore.read(uri, table, limit=2**63 - 1).num_rows == 4


def test_a_huge_batch_size_never_reaches_the_mysql_driver():
    """Issue 9: ``batch_size=2**40`` on MySQL aborted the interpreter; now refused before connecting.

    Run in a child process so that a regression aborts the child, not the test session.
    """
    code = ("import unistore\n"
            "try:\n"
            "    unistore.read('mysql://root@127.0.0.1:1/test', 't', batch_size=2**40)\n"
            "except unistore.BadSpecError as e:\n"
            "    print('BadSpecError', e)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("BadSpecError batch_size")


@pytest.mark.parametrize("uri", [123, None, b"t.parquet", 1.5, ["t.parquet"], "postgresql://[::1/db",
                                 "mysql://root@127.0.0.1:99999/x", "http://[zz/x.parquet", ""])
def test_a_location_that_is_not_one_is_a_bad_spec(uri):
    """Issue 9: non-string URIs and malformed hosts raised TypeError / ValueError."""
    with pytest.raises(BadSpecError) as exc:
        unistore.read(uri, "t")
    assert_clean(exc.value)


@pytest.mark.parametrize("store, options", [
    ("sqlite", {"connect_timeout": 5}), ("sqlite", {"threads": 2}), ("sqlite", {"connect_args": {}}),
    ("sqlite", {"transport": "pymysql"}), ("duckdb", {"connect_timeout": 5}), ("duckdb", {"driver": "adbc"}),
    ("duckdb", {"connect_args": {"a": 1}}), ("sqlite", {"storage_options": {}}), ("parquet", {"threads": 2}),
    ("parquet", {"connect_timeout": 1}), ("parquet", {"format": 5}), ("parquet", {"filesystem": "local"}),
    ("parquet", {"storage_options": [1]}), ("duckdb", {"partition_on": "id"}),
])
def test_options_a_store_does_not_take_are_bad_specs(stores, store, options):
    """Issue 9: SQL options an embedded store does not take raised TypeError from the source's constructor."""
    uri, table = stores[store]
    with pytest.raises(BadSpecError) as exc:
        unistore.read(uri, table, **options)
    assert_clean(exc.value)


@pytest.mark.parametrize("connect_args", [[("a", 1)], "sslmode=disable", 5])
@pytest.mark.parametrize("uri", ["postgresql://postgres@127.0.0.1:1/test", "mysql://root@127.0.0.1:1/test",
                                 "mssql+pyodbc://u@127.0.0.1:1/db"])
def test_connect_args_must_be_a_mapping(uri, connect_args):
    """Issue 9: a non-dict ``connect_args`` raised AttributeError/TypeError/ValueError (before: after connecting)."""
    with pytest.raises(BadSpecError, match="connect_args must be a dict"):
        unistore.read(uri, "t", connect_args=connect_args)


def test_a_misspelt_read_option_suggests_the_right_one(stores):
    uri, table = stores["sqlite"]
    with pytest.raises(BadSpecError) as exc:
        unistore.read(uri, table, colums=["id"])
    message = str(exc.value)
    assert "did you mean columns?" in message
    for known in ("columns", "filter", "limit", "query", "params", "as_of", "batch_size", "start", "end",
                  "time_column"):
        assert known in message
    with pytest.raises(BadSpecError, match="did you mean limit"):
        unistore.read(stores["parquet"][0], limt=3)
    with pytest.raises(BadSpecError, match="did you mean storage_options"):
        unistore.source(stores["parquet"][0], storage_option={})


@pytest.mark.parametrize("bad", [
    {"filter": [("id", "in", [object()] * 200_000)]},
    {"filter": [("x" * 200_000, "==", 1)]},
    {"filter": [("id", "y" * 200_000, 1)]},
    {"filter": [("id", "==", 1, 2, 3) + ("z",) * 100_000]},
    {"columns": ["id"] * 200_000},
    {"table": ["a", ""] * 100_000},
    {"as_of": [1] * 100_000},
    {"batch_size": 10**5000},
    {"limit": -(10**5000)},
    {"time_column": "id", "start": "x" * 200_000},
    {"format": "q" * 200_000},
])
def test_messages_stay_short(stores, bad):
    """Issue 9: some messages were 100 k characters long (a huge value echoed whole)."""
    uri, table = stores["parquet"]
    bad = dict(bad)
    table = bad.pop("table", table)
    with pytest.raises(UnistoreError) as exc:
        unistore.read(uri, table, **bad)
    assert_clean(exc.value)
    assert len(str(exc.value)) < 500


def test_a_refused_http_connection_is_unavailable_not_missing():
    """Issue 9: fsspec reports a refused connection as FileNotFoundError; that is not "not found"."""
    with pytest.raises(SourceUnavailableError, match="cannot reach"):
        unistore.read(f"http://127.0.0.1:{free_port()}/x.parquet")


@pytest.mark.timeout(60)
def test_a_refused_s3_connection_is_unavailable_not_missing(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "unistore-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "unistore-test-secret")
    with pytest.raises(SourceUnavailableError, match="cannot reach"):
        unistore.read("s3://unistore-no-bucket/x.parquet")


@pytest.mark.timeout(20)
def test_gcs_without_a_reachable_endpoint_fails_fast(monkeypatch):
    """Issue 9: ``gs://`` without a network took 50 s (credential discovery, then retries with back-off)."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(SourceUnavailableError, match="cannot reach gs://unistore-bucket/x.parquet"):
        unistore.read("gs://unistore-bucket/x.parquet")
    with pytest.raises(SourceUnavailableError):
        unistore.read("gs://unistore-bucket/x.parquet",
                      storage_options={"endpoint_url": f"http://127.0.0.1:{free_port()}"})


@pytest.mark.timeout(20)
@pytest.mark.parametrize("uri", ["file:///", "/", "file:///**/*.parquet", "local:///"])
def test_the_whole_disk_is_never_walked(uri):
    """Issue 9: ``file:///`` listed every file on the disk before failing."""
    with pytest.raises(BadSpecError, match="whole disk"):
        unistore.read(uri)


def test_a_folder_too_large_to_be_a_data_set_is_refused(tmp_path, monkeypatch):
    from unistore.adapters.files import source as files_source

    monkeypatch.setattr(files_source, "MAX_LISTED", 20)
    for i in range(25):
        pq.write_table(DATA, tmp_path / f"part-{i}.parquet")
    with pytest.raises(BadSpecError, match="more than 20 files"):
        unistore.read(tmp_path)
    monkeypatch.setattr(files_source, "MAX_LISTED", 100)
    assert unistore.read(tmp_path).num_rows == 25 * DATA.num_rows


# -- CSV nulls (issue 9, item 11) ----------------------------------------------------------

def test_csv_nulls_round_trip_through_pyarrow(tmp_path):
    """A null written by pyarrow.csv is an unquoted empty field; the quoted empty string stays a string."""
    table = pa.table({"s": ["a", None, ""], "i": pa.array([1, None, 3], pa.int64())})
    pacsv.write_csv(table, tmp_path / "t.csv")
    result = unistore.read(tmp_path / "t.csv")
    assert result.column("s").to_pylist() == ["a", None, ""]
    assert result.column("i").to_pylist() == [1, None, 3]


def test_csv_nulls_read_as_pandas_polars_and_duckdb_read_them(tmp_path):
    import pandas as pd  # a test dependency (the test extra): never skipped
    pd.DataFrame({"s": ["a", None, "c"], "n": [1.0, None, 2.0]}).to_csv(tmp_path / "t.csv", index=False)
    result = unistore.read(tmp_path / "t.csv")
    assert result.column("s").to_pylist() == ["a", None, "c"]
    assert result.column("n").to_pylist() == [1.0, None, 2.0]
    duck = duckdb.sql(f"SELECT s FROM read_csv('{tmp_path / 't.csv'}')").fetchall()
    assert [r[0] for r in duck] == result.column("s").to_pylist()


# -- fuzzing the public API ------------------------------------------------------------------

_KNOWN_OPTIONS = ["columns", "filter", "limit", "params", "as_of", "batch_size", "query", "start", "end", "step",
                  "shape", "time_column", "format", "fragment_readahead", "batch_readahead", "storage_options",
                  "partitioning", "schema", "data_path", "filesystem", "driver", "threads", "connect_timeout",
                  "connect_args", "transport", "partitions", "partition_on", "timeout", "headers", "verify"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=2**31, max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12), st.binary(max_size=6),
    st.decimals(allow_nan=False, allow_infinity=False, places=2), st.dates(), st.datetimes(),
    st.sampled_from([dt.time(1, 2), dt.timedelta(seconds=3), decimal.Decimal("NaN"), object(), "id", "kind"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4), st.tuples(inner, inner),
                                                      st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                      max_leaves=8)
columns_st = st.sampled_from(["id", "kind", "amount", "nope", "", "ID"]) | st.text(max_size=6)
ops = st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "in", "not in", "is null", "is not null", "=", "<>",
                       "like", "", "IN"]) | st.text(max_size=4)
predicates = st.one_of(
    st.tuples(columns_st, ops, values),
    st.tuples(columns_st, ops),
    st.tuples(columns_st, ops, st.lists(scalars, max_size=4)),
    st.tuples(columns_st, ops, st.lists(scalars, max_size=3).map(iter)),  # one-shot iterables
    st.tuples(values), st.tuples(),
)


def _expression(draw_col, op_index, value):
    c = col(draw_col)
    return [lambda: c == value, lambda: c != value, lambda: c < value, lambda: c >= value,
            lambda: c.isin(value), lambda: c.not_in(value), lambda: c.is_null(), lambda: ~(c > value),
            lambda: (c > value) | c.is_null(), lambda: (c <= value) & c.is_not_null()][op_index]()


filters = st.one_of(
    st.none(),
    st.lists(predicates, max_size=3),
    st.lists(st.lists(predicates, max_size=2), max_size=2),
    predicates,
    # built when the read runs, so that an error in the expression itself is checked too
    st.builds(lambda c, i, v: lambda: _expression(c, i, v), st.sampled_from(["id", "kind", "amount", "nope"]),
              st.integers(0, 9), values),
    values,
)
read_kwargs = st.fixed_dictionaries({}, optional={
    "columns": st.one_of(st.lists(columns_st, max_size=3), columns_st, values),
    "filter": filters,
    "limit": st.one_of(st.integers(), st.integers(min_value=2**62), values),
    "batch_size": st.one_of(st.integers(min_value=-5, max_value=2**70), values),
    "as_of": values,
    "params": values,
    "query": st.one_of(st.sampled_from(["SELECT * FROM t", "SELECT id FROM t WHERE id > :x", "DELETE FROM t",
                                        "SELECT 1; SELECT 2", "", "SELECT * FROM nope"]), st.text(max_size=20)),
})
extra_options = st.dictionaries(st.one_of(st.sampled_from(_KNOWN_OPTIONS), st.text(min_size=1, max_size=8)),
                                values, max_size=2)
tables = st.one_of(st.none(), st.just("t"), st.just("t.parquet"), st.text(max_size=10),
                   st.lists(st.text(max_size=4), max_size=3), st.tuples(st.just("main"), st.just("t")), values)
FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.filter_too_much])


def _attempt(call) -> None:
    try:
        result = call()
        if isinstance(result, pa.RecordBatchReader):
            with result:
                result.read_all()
    except UnistoreError as exc:
        assert_clean(exc)
    except BaseException as exc:  # noqa: BLE001 - the point: nothing but unistore errors
        if isinstance(exc, KeyboardInterrupt):
            raise
        pytest.fail(f"{type(exc).__module__}.{type(exc).__name__} escaped: {str(exc)[:300]}")


@FUZZ
@given(store=st.sampled_from(["parquet", "sqlite", "duckdb"]), table=tables, kwargs=read_kwargs,
       options=extra_options, how=st.sampled_from(["read", "scan", "source"]))
def test_fuzz_the_public_api_raises_only_unistore_errors(stores, store, table, kwargs, options, how):
    uri, default_table = stores[store]
    table = default_table if table == "t" else table
    options = {k: v for k, v in options.items() if k not in kwargs}

    def call():
        if callable(kwargs.get("filter")):
            kwargs["filter"] = kwargs["filter"]()
        if how == "read":
            return unistore.read(uri, table, **kwargs, **options)
        if how == "scan":
            return unistore.scan(uri, table, **kwargs, **options)
        with unistore.source(uri) as src:
            return src.read(table, **kwargs, **options)
    _attempt(call)


@FUZZ
@given(uri=st.one_of(st.text(max_size=30), st.binary(max_size=10), values,
                     st.builds(lambda s, rest: f"{s}://{rest}",
                               st.sampled_from(["file", "sqlite", "duckdb", "postgresql", "mysql", "s3", "gs",
                                                "http", "memory", "delta", "iceberg", "prometheus", "nosuch",
                                                "influxdb", "arcticdb+lmdb"]),
                               st.text(alphabet="[]:@/?#%x1.", max_size=12))),
       options=extra_options)
def test_fuzz_locations_raise_only_unistore_errors(uri, options):
    """Only loopback: every generated host is refused or unresolvable, and nothing may hang."""
    if isinstance(uri, str) and uri.split("://", 1)[0] in ("s3", "gs", "http", "https", "prometheus", "influxdb"):
        uri = uri.split("://", 1)[0] + f"://127.0.0.1:{free_port()}/x"
    _attempt(lambda: unistore.read(uri, **options))


@FUZZ
@given(spec=read_kwargs, table=tables, options=extra_options)
def test_fuzz_readspec_build(spec, table, options):
    from unistore.spec import ReadSpec

    options = {k: v for k, v in options.items() if k not in spec and k != "table"}
    _attempt(lambda: ReadSpec.build(table, **spec, **options))


# -- fuzzing the command line ----------------------------------------------------------------

cli_values = st.one_of(st.text(max_size=15), st.sampled_from([
    '[["id", ">", 1]]', '{"a": 1}', "[]", "[[]]", '[["id", "in", [1, 2]]]', '[[["id", "==", 1]], [["kind", "is null"]]]',
    "id,kind", "nope", "-1", "0", "3", "2e9", "99999999999999999999999", "SELECT * FROM t", "x.parquet", "/no/such/dir/x.csv",
]))
cli_flags = st.lists(st.tuples(st.sampled_from(["--table", "--query", "--columns", "--filter", "--limit", "--output",
                                                "--rows", "-t", "-q", "-c", "-f", "-n", "--bogus"]), cli_values),
                     max_size=4)


def _run_cli(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse: usage errors exit 2, --help exits 0
            code = exc.code if isinstance(exc.code, int) else 1
    return code, err.getvalue()


@FUZZ
@given(store=st.sampled_from(["parquet", "sqlite", "duckdb", "nosuch://x", "postgresql://[::1/db"]), flags=cli_flags)
def test_fuzz_the_cli_gives_one_line_and_an_exit_code(stores, tmp_path_factory, store, flags):
    uri = stores[store][0] if store in stores else store
    out_dir = tmp_path_factory.mktemp("cli_out")
    argv = ["read", uri]
    for flag, value in flags:
        if flag in ("--output",) and value.endswith((".parquet", ".csv")) and not value.startswith("/"):
            value = str(out_dir / value)
        argv += [flag, value]
    try:
        code, err = _run_cli(argv)
    except BaseException as exc:  # noqa: BLE001
        pytest.fail(f"{type(exc).__name__} escaped the CLI for {argv}: {str(exc)[:300]}")
    assert code in (0, 1, 2), (argv, code, err)
    if code == 1:
        assert err.startswith("unistore: ") and err.count("\n") == 1, err
        assert len(err) <= MAX_MESSAGE + 100
    if code == 2:
        assert "usage:" in err


@pytest.mark.parametrize("argv, code", [
    (["read", "{uri}", "--filter", '{"a": 1}'], 2),
    (["read", "{uri}", "--limit", "-4"], 2),
    (["read", "{uri}", "--output", "/no/such/folder/x.csv"], 1),
    (["read", "{uri}", "--columns", "nope"], 1),
    (["read", "{uri}", "--filter", '[["id", ">", 2]]'], 0),
])
def test_cli_in_a_real_process(stores, argv, code):
    """A few runs of the installed ``unistore`` command: the exit code and one line on stderr."""
    argv = [a.replace("{uri}", stores["parquet"][0]) for a in argv]
    done = subprocess.run([str(Path(sys.executable).with_name("unistore")), *argv], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == code, done.stderr
    if code == 1:
        assert done.stderr.startswith("unistore: ") and done.stderr.count("\n") == 1
    if code == 2:
        assert done.stderr.startswith("usage:") and "Traceback" not in done.stderr
