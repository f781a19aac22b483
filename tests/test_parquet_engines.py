"""Parquet read by pyarrow and by DuckDB: the same table, types, row order and fingerprint, whatever the shape.

Every shape (whole read, projection, each kind of filter, limits, hive partitions,
nulls and NaN) is read twice from the same files, once with ``engine="pyarrow"``
and once with ``engine="duckdb"``, from local disk (by path, and through the
snapshot file system when a name holds glob characters), fsspec's memory file
system and moto's S3 server (versioned: the pinned versions; unversioned).
"""

from __future__ import annotations

import datetime as dt
import decimal
import os
import subprocess
import sys
import uuid
from zoneinfo import ZoneInfo

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import unistore
from reference import FILTER_CASES, TABLE
from stores.object_stores import HTTP_TOKEN, parquet_bytes
from unistore import col
from unistore.adapters.files import duckdb_databases as databases, duckdb_parquet
from unistore.errors import BadSpecError, QueryError

N = TABLE.num_rows
PARIS = ZoneInfo("Europe/Paris")


def _wide(table: pa.Table) -> pa.Table:
    """The reference table plus the types DuckDB returns differently before the cast (and NaN)."""
    n = table.num_rows
    score = [None if i % 13 == 0 else (float("nan") if i % 4 == 0 else i / 8) for i in range(n)]
    extra = {
        "score": pa.array(score, pa.float64()),
        # one number, NaN and null: row-group statistics say min = max = 1
        "level": pa.array([None if i % 5 == 2 else (float("nan") if i % 3 == 0 else 1.0) for i in range(n)]),
        "small": pa.array([i % 7 for i in range(n)], pa.int32()),
        "u8": pa.array([i % 200 for i in range(n)], pa.uint8()),
        "f32": pa.array([i / 4 for i in range(n)], pa.float32()),
        "clock": pa.array([dt.time(i % 24, i % 60) for i in range(n)], pa.time32("ms")),
        "tsm": pa.array([dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(hours=5 * i) for i in range(n)],
                        pa.timestamp("ms", "Europe/Paris")),
        "big": pa.array([f"text-{i:03d}" for i in range(n)], pa.large_string()),
        "code": pa.array([bytes([i % 5, i % 3]) for i in range(n)], pa.binary(2)),
        "tags": pa.array([None if i % 6 == 1 else [f"t{j}" for j in range(i % 3)] for i in range(n)],
                         pa.list_(pa.string())),
        "pair": pa.array([{"a": i, "b": None if i % 2 else str(i)} for i in range(n)],
                         pa.struct([("a", pa.int64()), ("b", pa.string())])),
    }
    for name, values in extra.items():
        table = table.append_column(name, values)
    return table


WIDE = _wide(TABLE)

#: read shapes for a flat folder of files: name -> read options
SHAPES: dict[str, dict] = {
    "whole": {},
    "projection": {"columns": ["payload", "id", "ts_tz", "tags"]},
    "limit": {"limit": 7},
    "limit-filtered": {"limit": 5, "filter": [("amount", ">", 0)]},
    **{f"filter-{name}": {"filter": case} for name, (case, _) in FILTER_CASES.items()},
    "filter-projected-away": {"columns": ["id"], "filter": [("kind", "==", "a"), ("amount", "<", 10)]},
    # NaN: pyarrow compares it false; DuckDB ranks it above every number
    "nan-gt": {"filter": [("score", ">", 2.0)]},
    "nan-ge": {"filter": [("score", ">=", 0)]},
    "nan-lt": {"filter": [("score", "<", 5)]},
    "nan-ne": {"filter": [("score", "!=", 0.5)]},
    "nan-not-in": {"filter": [("score", "not in", [0.5, 1.0])]},
    "nan-in": {"filter": [("score", "in", [0.5, 1.0])]},
    "nan-stats-lt": {"filter": [("level", "<", 2)]},
    "nan-stats-eq": {"filter": [("level", "==", 1)]},
    "nan-stats-ne": {"filter": [("level", "!=", 1)]},
    "nan-stats-in": {"filter": [("level", "in", [1.0])]},
    "nan-stats-not-in": {"filter": [("level", "not in", [1.0])]},
    "nan-or": {"filter": [[("score", ">", 2.0)], [("kind", "==", "a")]]},
    "nan-projected-away": {"columns": ["id"], "filter": [("level", "<", 2), ("id", ">", 3)]},
    "nan-limit": {"limit": 6, "filter": [("score", "<=", 5)]},
    "float-on-int": {"filter": [("id", ">", 20.5)]},
    "int32-in": {"filter": [("small", "in", [1, 3])]},
    "uint8": {"filter": [("u8", ">=", 30)]},
    "float32": {"filter": [("f32", "<", 3.3)]},
    "time": {"filter": [("clock", "<", dt.time(6, 30))]},
    "timestamp-ms-zone": {"filter": col("tsm") >= dt.datetime(2024, 1, 5, 7, tzinfo=PARIS)},
    "large-string": {"filter": [("big", ">=", "text-040")]},
    "fixed-binary": {"filter": [("code", "==", b"\x01\x01")]},
    "binary": {"filter": [("payload", "<", b"\x10")]},
    "decimal-scale": {"filter": [("price", "<", decimal.Decimal("12.345"))]},
    # predicates DuckDB would judge otherwise stay with pyarrow (the residual)
    "residual-and": {"columns": ["id"], "filter": [("small", "in", [1.0, 2.0]), ("id", ">", 5)]},
    "residual-or": {"filter": [[("small", "in", [1.0])], [("kind", "==", "c")]]},
}


def _stripped(schema: pa.Schema) -> pa.Schema:
    """``schema`` without unistore's own metadata (read ids differ between two reads)."""
    def clean(meta):
        return {k: v for k, v in (meta or {}).items() if not k.startswith(b"unistore")} or None
    return pa.schema([f.with_metadata(clean(f.metadata)) for f in schema], metadata=clean(schema.metadata))


def _rows(table: pa.Table) -> list[dict]:
    """The rows as Python values, NaN as text (NaN equals nothing, itself included)."""
    return [{k: "NaN" if isinstance(v, float) and v != v else v for k, v in row.items()} for row in table.to_pylist()]


def read_both(uri: str, **options) -> tuple[pa.Table, pa.Table]:
    """The read by each engine, checked to be the same table with the same record but for the engine."""
    by_pyarrow = unistore.read(uri, engine="pyarrow", **options)
    by_duckdb = unistore.read(uri, engine="duckdb", **options)
    assert _stripped(by_duckdb.schema) == _stripped(by_pyarrow.schema)
    assert _rows(by_duckdb) == _rows(by_pyarrow)  # values and row order
    a, b = unistore.provenance_of(by_pyarrow), unistore.provenance_of(by_duckdb)
    assert (a.query.pushed_down["engine"], b.query.pushed_down["engine"]) == ("pyarrow", "duckdb")
    assert b.result.fingerprint == a.result.fingerprint and b.result.columns == a.result.columns
    assert (b.result.rows, b.result.schema_fingerprint) == (a.result.rows, a.result.schema_fingerprint)
    assert b.query.text == a.query.text and b.snapshot == a.snapshot
    return by_pyarrow, by_duckdb


def _write_parts(put, table: pa.Table, names: list[str]) -> None:
    size = -(-table.num_rows // len(names))
    for i, name in enumerate(names):
        put(name, parquet_bytes(table.slice(i * size, size)))


# -- the stores -------------------------------------------------------------------------

def _local_parts(tmp_path_factory, folder: str, names: list[str]) -> str:
    root = tmp_path_factory.mktemp(folder)
    _write_parts(lambda name, data: (root / name).write_bytes(data), WIDE, names)
    return str(root)


@pytest.fixture(scope="module")
def local_folder(tmp_path_factory):
    return _local_parts(tmp_path_factory, "flat", ["part-0.parquet", "part-1.parquet", "part-2.parquet"])


@pytest.fixture(scope="module")
def odd_names(tmp_path_factory):
    """File names DuckDB would expand as globs: read through the snapshot file system instead."""
    return _local_parts(tmp_path_factory, "odd", ["part[0].parquet", "part?1.parquet", "part*2.parquet"])


@pytest.fixture(scope="module")
def memory_folder():
    fs = fsspec.filesystem("memory")
    root = f"/engines-{uuid.uuid4().hex[:8]}"

    def put(name, data):
        fs.pipe(f"{root}/{name}", data)
    _write_parts(put, WIDE, ["a.parquet", "b.parquet"])
    yield f"memory://{root}"
    fs.rm(root, recursive=True)


def _s3_folder(server, versioned: bool) -> str:
    bucket = server.bucket(f"engines-{uuid.uuid4().hex[:8]}", versioned=versioned)
    client = server.client()

    def put(name, data):
        client.put_object(Bucket=bucket, Key=f"events/{name}", Body=data)
    _write_parts(put, WIDE, ["part-0.parquet", "part-1.parquet"])
    return f"s3://{bucket}/events"


@pytest.fixture(scope="module")
def s3_versioned(moto_s3):
    return _s3_folder(moto_s3, versioned=True)


@pytest.fixture(scope="module")
def s3_plain(moto_s3):
    return _s3_folder(moto_s3, versioned=False)


@pytest.fixture(scope="module")
def http_file(http_files):
    """One file over HTTP, its URL carrying a token the server checks (kept out of records and names)."""
    name = f"engines-{uuid.uuid4().hex[:8]}.parquet"
    with open(os.path.join(http_files.root, name), "wb") as f:
        f.write(parquet_bytes(WIDE))
    return f"{http_files.url}/{name}?token={HTTP_TOKEN}"


FLAT_STORES = ["local_folder", "odd_names", "memory_folder", "http_file",
               pytest.param("s3_versioned", marks=pytest.mark.server), pytest.param("s3_plain", marks=pytest.mark.server)]


@pytest.mark.parametrize("store", FLAT_STORES)
@pytest.mark.parametrize("shape", list(SHAPES))
def test_both_engines_read_the_same_table(store, shape, request):
    uri = request.getfixturevalue(store)
    read_both(uri, **SHAPES[shape])


def test_threads_reading_one_file_through_the_snapshot_file_system_read_their_own_ranges(tmp_path):
    """DuckDB's threads share one open file: each must read the bytes at its own position (a race
    between seek and read once returned garbage sums without an error)."""
    rows = 1_000_000
    table = pa.table({"id": pa.array(range(rows), pa.int64()), "x": pc.multiply(pa.array(range(rows)), 0.5)})
    pq.write_table(table, tmp_path / "many[groups].parquet", row_group_size=100_000)
    read_both(str(tmp_path))  # the file's name sends it through SnapshotFiles
    for _ in range(3):  # a race shows only now and then
        by_duckdb = unistore.read(str(tmp_path), engine="duckdb")
        assert pc.sum(by_duckdb.column("id")).as_py() == rows * (rows - 1) // 2


def test_a_token_in_the_url_stays_out_of_what_duckdb_is_told(http_file):
    _, by_duckdb = read_both(http_file, columns=["id"])
    assert HTTP_TOKEN not in unistore.provenance_of(by_duckdb).to_json()


def test_the_reference_filters_select_the_same_rows_as_the_reference(local_folder):
    from reference import expected_ids

    for name, (case, dnf) in FILTER_CASES.items():
        _, by_duckdb = read_both(local_folder, filter=case)
        assert by_duckdb.column("id").to_pylist() == expected_ids(dnf), name


def test_nan_is_never_greater_than_a_number(local_folder):
    _, by_duckdb = read_both(local_folder, filter=[("score", ">", 1.0)], columns=["score"])
    assert not pc.any(pc.is_nan(by_duckdb.column("score"))).as_py()


def test_nan_differs_from_a_number_even_where_statistics_say_every_number_equals_it(local_folder):
    """Parquet statistics leave NaN out: pyarrow.dataset judged ``level != 1`` false for whole row groups."""
    by_pyarrow, _ = read_both(local_folder, filter=[("level", "!=", 1)], columns=["level"])
    nans = pc.sum(pc.is_nan(WIDE.column("level")).cast(pa.int64())).as_py()
    assert by_pyarrow.num_rows == nans > 0


def test_a_residual_is_recorded_and_applied_after_duckdb(local_folder):
    _, by_duckdb = read_both(local_folder, **SHAPES["residual-and"])
    pushed = unistore.provenance_of(by_duckdb).query.pushed_down
    assert pushed["residual"] == "small IN (1.0, 2.0)" and pushed["filter"] is True and pushed["limit"] is False
    assert by_duckdb.column_names == ["id"]


def test_nan_rows_are_dropped_after_duckdb_without_a_residual(local_folder):
    _, by_duckdb = read_both(local_folder, **SHAPES["nan-limit"])
    pushed = unistore.provenance_of(by_duckdb).query.pushed_down
    assert "residual" not in pushed and pushed["filter"] is True
    assert pushed["limit"] is False  # DuckDB's first rows may include NaN rows dropped afterwards


def test_duckdb_stops_at_the_limit(local_folder):
    _, by_duckdb = read_both(local_folder, limit=3)
    assert unistore.provenance_of(by_duckdb).query.pushed_down["limit"] is True
    assert by_duckdb.column("id").to_pylist() == [1, 2, 3]


@pytest.mark.server
def test_duckdb_reads_the_pinned_versions_of_a_plan_and_of_a_replay(moto_s3):
    uri = _s3_folder(moto_s3, versioned=True)
    planned = unistore.read(uri, engine="duckdb", partitions=2)
    record = unistore.provenance_of(planned)
    assert record.query.pushed_down["plan"]["consistent"] is True  # the splits read the listed VersionIds
    bucket, key = uri[len("s3://"):].split("/", 1)
    moto_s3.client().put_object(Bucket=bucket, Key=f"{key}/part-0.parquet", Body=parquet_bytes(WIDE.slice(0, 3)))
    again = unistore.replay(record)
    assert unistore.provenance_of(again).query.pushed_down["engine"] == "duckdb"
    assert unistore.provenance_of(again).result.fingerprint == record.result.fingerprint
    assert unistore.provenance_of(unistore.read(uri, engine="pyarrow")).result.rows == N - 30 + 3


# -- hive partitions -------------------------------------------------------------------------

def _hive(put) -> None:
    """``region=<text>/n=<int>/`` folders, with a null region, a %-encoded one, and one folder whose file
    lacks the ``score`` column (written before it existed)."""
    folders = ["region=north/n=1", "region=south/n=2", "region=__HIVE_DEFAULT_PARTITION__/n=3",
               "region=a%2Fb/n=10"]
    for i, folder in enumerate(folders):
        put(f"{folder}/part-0.parquet", parquet_bytes(WIDE.slice(i * 12, 12)))
    put("region=old/n=4/part-0.parquet", parquet_bytes(WIDE.slice(48).drop_columns(["score"])))


@pytest.fixture(scope="module")
def local_hive(tmp_path_factory):
    root = tmp_path_factory.mktemp("hive")

    def put(name, data):
        os.makedirs(os.path.dirname(root / name), exist_ok=True)
        (root / name).write_bytes(data)
    _hive(put)
    return str(root)


@pytest.fixture(scope="module")
def s3_hive(moto_s3):
    bucket = moto_s3.bucket(f"engines-hive-{uuid.uuid4().hex[:8]}", versioned=True)
    client = moto_s3.client()
    _hive(lambda name, data: client.put_object(Bucket=bucket, Key=f"hive/{name}", Body=data))
    return f"s3://{bucket}/hive"


HIVE_SHAPES: dict[str, dict] = {
    "whole": {},
    "partition-columns": {"columns": ["n", "id", "region"]},
    "absent-column": {"columns": ["id", "score"]},
    "absent-column-filtered": {"filter": [("score", "<", 3)]},
    "prune-int": {"filter": [("n", "in", [1, 10])]},
    "prune-text": {"columns": ["id"], "filter": [("region", "==", "a/b")]},
    "null-partition": {"filter": [("region", "is null")]},
    "partition-or-column": {"filter": [[("n", "==", 2)], [("amount", "<", 0)]]},
    "partition-and-column": {"columns": ["id", "amount"], "filter": [("n", ">=", 2), ("amount", ">", 5)]},
    "limit": {"limit": 15},
}


@pytest.mark.parametrize("store", ["local_hive", pytest.param("s3_hive", marks=pytest.mark.server)])
@pytest.mark.parametrize("shape", list(HIVE_SHAPES))
def test_both_engines_read_hive_partitions_alike(store, shape, request):
    read_both(request.getfixturevalue(store), **HIVE_SHAPES[shape])


def test_partition_values_keep_pyarrows_types_and_decoding(local_hive):
    by_pyarrow, _ = read_both(local_hive, columns=["region", "n"])
    assert by_pyarrow.schema.field("n").type == pa.int32()
    assert set(by_pyarrow.column("region").to_pylist()) == {"north", "south", None, "a/b", "old"}


# -- plans, streams, the choice of engine -------------------------------------------------------------

def test_a_plan_for_duckdb_cuts_whole_files_only(tmp_path):
    path = str(tmp_path / "one.parquet")
    pq.write_table(WIDE, path, row_group_size=10)
    by_pyarrow, by_duckdb = (unistore.read(path, partitions=3, engine=e) for e in ("pyarrow", "duckdb"))
    plans = [unistore.provenance_of(t).query.pushed_down["plan"]["method"] for t in (by_pyarrow, by_duckdb)]
    assert plans == ["parquet row groups", "files"]
    assert unistore.provenance_of(by_duckdb).result.fingerprint == unistore.provenance_of(by_pyarrow).result.fingerprint


def test_a_plan_of_several_files_reads_each_split_through_duckdb(local_folder):
    table = unistore.read(local_folder, partitions=3, engine="duckdb")
    record = unistore.provenance_of(table)
    assert record.query.pushed_down["engine"] == "duckdb" and len(record.query.pushed_down["plan"]["splits"]) == 3
    assert record.result.fingerprint == unistore.provenance_of(unistore.read(local_folder)).result.fingerprint


def test_a_stream_through_duckdb_keeps_the_batch_size(local_folder):
    with unistore.scan(local_folder, engine="duckdb", batch_size=7) as reader:
        sizes = [b.num_rows for b in reader]
    assert max(sizes) <= 7 and sum(sizes) == N
    record = unistore.provenance_of(reader)
    assert record.result.fingerprint == unistore.provenance_of(unistore.read(local_folder)).result.fingerprint


def test_auto_reads_narrowed_reads_through_duckdb_from_its_size_up_and_whole_reads_with_pyarrow(local_folder,
                                                                                                   monkeypatch):
    def engine(**options):
        return unistore.provenance_of(unistore.read(local_folder, **options)).query.pushed_down["engine"]
    assert engine(columns=["id"]) == "pyarrow"
    monkeypatch.setattr(duckdb_parquet, "AUTO_MIN_BYTES", 1)
    assert engine(columns=["id"]) == engine(filter=[("id", ">", 3)]) == "duckdb"
    assert engine(limit=5) == "duckdb"  # DuckDB stops where pyarrow's scanner has read far ahead
    assert engine() == "pyarrow"  # a whole read: pyarrow's scanner is the faster there (bench_embedded.py)
    residual = unistore.read(local_folder, **SHAPES["residual-and"])  # pyarrow evaluates all of it while reading
    assert unistore.provenance_of(residual).query.pushed_down["engine"] == "pyarrow"


@pytest.mark.server
def test_auto_reads_whole_files_from_s3_with_pyarrow_and_narrowed_reads_with_duckdb(s3_plain, monkeypatch):
    monkeypatch.setattr(duckdb_parquet, "AUTO_MIN_BYTES", 1)

    def engine(**options):
        return unistore.provenance_of(unistore.read(s3_plain, **options)).query.pushed_down["engine"]
    assert engine() == "pyarrow"
    assert engine(columns=["id"]) == engine(filter=[("id", ">", 3)]) == "duckdb"


@pytest.mark.parametrize("engine", ["DuckDB", "polars", 1, True, ["duckdb"]])
def test_a_bad_engine_is_refused_before_anything_is_read(tmp_path, engine):
    missing = str(tmp_path / "nothing-here")
    with pytest.raises(BadSpecError, match="engine must be one of 'auto', 'pyarrow', 'duckdb'"):
        unistore.read(missing, engine=engine)
    with pytest.raises(BadSpecError, match="engine must be one of"):
        unistore.scan(missing, engine=engine)


def test_duckdb_refuses_what_it_cannot_read_exactly_and_auto_falls_back(tmp_path, monkeypatch):
    monkeypatch.setattr(duckdb_parquet, "AUTO_MIN_BYTES", 1)
    nanos = str(tmp_path / "nanos.parquet")
    pq.write_table(pa.table({"id": [1, 2], "at": pa.array([1, 2], pa.timestamp("ns"))}), nanos,
                   use_deprecated_int96_timestamps=True)
    with pytest.raises(BadSpecError, match=r"at \(timestamp\[ns\]\)"):
        unistore.read(nanos, engine="duckdb")
    assert unistore.provenance_of(unistore.read(nanos)).query.pushed_down["engine"] == "pyarrow"
    assert unistore.read(nanos, columns=["id"], engine="duckdb").column("id").to_pylist() == [1, 2]
    text = tmp_path / "rows.csv"
    text.write_text("id\n1\n")
    with pytest.raises(BadSpecError, match="only Parquet"):
        unistore.read(str(text), engine="duckdb")
    cased = str(tmp_path / "cased.parquet")
    pq.write_table(pa.table({"A": [1], "a": [2]}), cased)
    with pytest.raises(BadSpecError, match="differing only in case"):
        unistore.read(cased, engine="duckdb")


def test_a_file_system_error_inside_duckdb_is_mapped_by_its_python_type(tmp_path):
    import duckdb

    from unistore.adapters.files.duckdb_parquet import PROTOCOL, SnapshotFiles, SnapshotObject
    from unistore.adapters.files.source import DUCKDB_ERRORS
    from unistore.errors import SourceNotFoundError

    gone = SnapshotObject(fsspec.filesystem("file"), str(tmp_path / "gone.parquet"), 100, dt.datetime(2024, 1, 1))
    con = duckdb.connect()
    con.register_filesystem(SnapshotFiles({"0/gone.parquet": gone}))
    with pytest.raises(duckdb.Error) as caught:
        con.sql("SELECT * FROM read_parquet(?)", params=[[f"{PROTOCOL}://0/gone.parquet"]]).fetchall()
    error = DUCKDB_ERRORS.translate(caught.value, "the store", uri="file:///x")
    assert isinstance(error, SourceNotFoundError) and str(error).endswith("No such file or directory: "
                                                                           f"'{tmp_path / 'gone.parquet'}'")


def test_a_broken_file_is_a_query_error_with_either_engine(tmp_path):
    pq.write_table(WIDE, tmp_path / "a.parquet")
    (tmp_path / "b.parquet").write_bytes(b"PAR1 not really parquet PAR1")
    for engine in ("pyarrow", "duckdb"):
        with pytest.raises(QueryError, match="cannot read"):
            unistore.read(str(tmp_path), engine=engine)


def _eventually(condition, seconds: float = 10.0) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_read_takes_the_database_opened_ahead_of_it_and_no_two_reads_share_one(local_folder, monkeypatch):
    taken = []
    take = databases.take
    monkeypatch.setattr(databases, "take", lambda: taken.append(take()) or taken[-1])
    first = unistore.read(local_folder, engine="duckdb")
    assert _eventually(lambda: databases._spare is not None)
    spare = databases._spare
    second = unistore.read(local_folder, engine="duckdb")
    assert taken[1] is spare and taken[0] is not spare
    fingerprints = {unistore.provenance_of(t).result.fingerprint for t in (first, second)}
    assert len(fingerprints) == 1 and first.num_rows == second.num_rows == N
    # the spare is a fresh database: reading configured and locked the one it took, never the next
    assert _eventually(lambda: databases._spare is not None)
    fresh = databases.take()
    try:
        fresh.execute("SET threads = 2")  # not locked
    finally:
        fresh.close()


def _read_in_child(path: str, out) -> None:
    out.put(unistore.read(path, engine="duckdb").num_rows)


def test_a_forked_child_opens_its_own_database_instead_of_the_parents_spare(local_folder):
    import multiprocessing

    unistore.read(local_folder, engine="duckdb")
    assert _eventually(lambda: databases._spare is not None)
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    child = ctx.Process(target=_read_in_child, args=(local_folder, out))
    child.start()
    child.join(60)
    if child.is_alive():  # a database inherited through the fork has no worker threads: its use hangs
        child.kill()
        pytest.fail("the forked child's DuckDB read hung")
    assert child.exitcode == 0 and out.get(timeout=5) == N


def _python(code: str) -> subprocess.CompletedProcess:
    """``code`` run in a fresh interpreter, so that a crash aborts the child, not the test session."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_reads_on_a_daemon_thread_leave_nothing_to_cut_off_at_interpreter_exit(local_folder):
    # a thread inherits its daemon flag from the thread that starts it: a database opened or closed
    # behind a framework's daemon worker would be cut off inside DuckDB at exit, which aborts the process
    done = _python(
        "import threading, unistore\n"
        "seen = []\n"
        "def work():\n"
        "    for _ in range(3):\n"
        f"        unistore.read({local_folder!r}, engine='duckdb', columns=['id'])\n"
        "        seen.extend(t.daemon for t in threading.enumerate() if t.name.startswith('unistore-duckdb'))\n"
        "worker = threading.Thread(target=work, daemon=True)\n"
        "worker.start()\n"
        "worker.join()\n"
        "print('daemon' if any(seen) else 'ok')\n")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


def test_a_forked_child_that_inherited_a_spare_exits_cleanly(local_folder):
    # the spare's threads stayed in the parent: the child must not destroy it even when its interpreter
    # finalises (a plain os.fork() child that returns, a daemonised service), where module references go
    done = _python(
        "import os, sys, time, unistore\n"
        "from unistore.adapters.files import duckdb_databases as databases\n"
        f"unistore.read({local_folder!r}, engine='duckdb', columns=['id'])\n"
        "deadline = time.monotonic() + 10\n"
        "while databases._spare is None and time.monotonic() < deadline:\n"
        "    time.sleep(0.01)\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        f"    unistore.read({local_folder!r}, engine='duckdb', columns=['id'])\n"
        "    sys.exit(0)\n"
        "print(os.waitpid(pid, 0)[1])\n")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "0", "the forked child died at exit (wait status " + done.stdout.strip() + ")"
