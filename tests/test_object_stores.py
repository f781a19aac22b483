"""Object stores beyond the conformance suite: versions, exact replay, drift, errors, streaming, read plans.

Everything runs against real servers on loopback: moto's S3 server (one
session-wide with the AWS environment variables set, one per module that
checks credentials and policies) and Python's HTTP server.
"""

from __future__ import annotations

import json
import os
import pickle
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import unistore
from reference import TABLE, without_metadata
from stores.object_stores import (HTTP_TOKEN, S3_SECRET, MotoServer, bump_second_amount, parquet_bytes,
                                  start_moto, stop)
from unistore.adapters.files.filesystems import S3Settings

pytestmark = pytest.mark.server


def _put(server: MotoServer, bucket: str, key: str, table: pa.Table) -> None:
    server.client().put_object(Bucket=bucket, Key=key, Body=parquet_bytes(table))


@pytest.fixture(scope="module")
def versioned(moto_s3):
    return moto_s3.bucket(f"vers-{uuid.uuid4().hex[:8]}", versioned=True)


@pytest.fixture(scope="module")
def plain(moto_s3):
    return moto_s3.bucket(f"plain-{uuid.uuid4().hex[:8]}", versioned=False)


def _two_parts(server: MotoServer, bucket: str) -> str:
    prefix = f"data-{uuid.uuid4().hex[:8]}"
    _put(server, bucket, f"{prefix}/part-000.parquet", TABLE.slice(0, 30))
    _put(server, bucket, f"{prefix}/part-001.parquet", TABLE.slice(30))
    return prefix


# -- snapshots pin every object -------------------------------------------------------

def test_versioned_bucket_snapshot_pins_key_size_etag_and_version(moto_s3, versioned):
    prefix = _two_parts(moto_s3, versioned)
    record = unistore.provenance_of(unistore.read(f"s3://{versioned}/{prefix}"))
    objects = record.snapshot.pins["objects"]
    assert [o["path"] for o in objects] == [f"{versioned}/{prefix}/part-000.parquet",
                                            f"{versioned}/{prefix}/part-001.parquet"]
    heads = [moto_s3.client().head_object(Bucket=versioned, Key=o["path"].split("/", 1)[1]) for o in objects]
    assert [o["version_id"] for o in objects] == [h["VersionId"] for h in heads]
    assert [o["etag"] for o in objects] == [h["ETag"].strip('"') for h in heads]
    assert [o["size"] for o in objects] == [h["ContentLength"] for h in heads]
    assert record.snapshot.replayable and record.snapshot.consistent
    assert record.source.namespace == f"s3://{versioned}" and record.source.name == prefix


def test_unversioned_bucket_snapshot_has_etags_and_is_not_replayable(moto_s3, plain):
    prefix = _two_parts(moto_s3, plain)
    record = unistore.provenance_of(unistore.read(f"s3://{plain}/{prefix}"))
    assert all("etag" in o and "version_id" not in o for o in record.snapshot.pins["objects"])
    assert record.snapshot.replayable is False


# -- replay: exact on versions, drift naming objects otherwise -----------------------------

def test_replay_reads_the_pinned_versions_after_overwrite_and_delete(moto_s3, versioned):
    prefix = _two_parts(moto_s3, versioned)
    table = unistore.read(f"s3://{versioned}/{prefix}", filter=[("amount", ">", 0)])
    _put(moto_s3, versioned, f"{prefix}/part-000.parquet", bump_second_amount(TABLE).slice(0, 30))
    moto_s3.client().delete_object(Bucket=versioned, Key=f"{prefix}/part-001.parquet")
    now = unistore.read(f"s3://{versioned}/{prefix}")
    assert now.num_rows == 30  # the current state really changed
    again = unistore.replay(table)
    assert without_metadata(again).equals(without_metadata(table))
    assert "recorded object versions" in unistore.provenance_of(again).query.text


def test_replay_when_a_pinned_version_was_destroyed(moto_s3, versioned):
    prefix = _two_parts(moto_s3, versioned)
    table = unistore.read(f"s3://{versioned}/{prefix}")
    first = unistore.provenance_of(table).snapshot.pins["objects"][0]
    moto_s3.client().delete_object(Bucket=versioned, Key=first["path"].split("/", 1)[1], VersionId=first["version_id"])
    with pytest.raises(unistore.SnapshotUnavailableError, match="no longer exists"):
        unistore.replay(table)


def test_unversioned_replay_names_the_changed_object(moto_s3, plain):
    prefix = _two_parts(moto_s3, plain)
    table = unistore.read(f"s3://{plain}/{prefix}")
    _put(moto_s3, plain, f"{prefix}/part-000.parquet", bump_second_amount(TABLE).slice(0, 30))
    with pytest.raises(unistore.DriftError) as info:
        unistore.replay(table)
    assert info.value.differences["objects"] == [f"{plain}/{prefix}/part-000.parquet"]
    assert "fingerprint" in info.value.differences


def test_unversioned_replay_after_delete_names_the_missing_object(moto_s3, plain):
    prefix = _two_parts(moto_s3, plain)
    table = unistore.read(f"s3://{plain}/{prefix}")
    moto_s3.client().delete_object(Bucket=plain, Key=f"{prefix}/part-001.parquet")
    with pytest.raises(unistore.DriftError) as info:
        unistore.replay(table)
    assert f"{plain}/{prefix}/part-001.parquet" in info.value.differences["objects"]


def test_an_object_overwritten_during_a_read_fails_the_read(moto_s3, plain):
    prefix = _two_parts(moto_s3, plain)
    reader = unistore.scan(f"s3://{plain}/{prefix}", batch_size=5)
    next(iter(reader))
    _put(moto_s3, plain, f"{prefix}/part-001.parquet", bump_second_amount(TABLE.slice(30)))
    with pytest.raises(unistore.QueryError, match="changed during the read"):
        list(reader)
    assert unistore.provenance_of(reader).result.complete is False


# -- both data paths, settings ---------------------------------------------------------

def test_native_and_s3fs_data_paths_return_the_same_data(moto_s3, versioned):
    prefix = _two_parts(moto_s3, versioned)
    uri = f"s3://{versioned}/{prefix}"
    with unistore.source(uri) as native, unistore.source(uri, data_path="fsspec") as viafsspec:
        assert native.systems.data_path == "native" and viafsspec.systems.data_path == "fsspec"
        a, b = native.read(), viafsspec.read()
    assert unistore.provenance_of(a).result.fingerprint == unistore.provenance_of(b).result.fingerprint
    assert without_metadata(a).equals(TABLE)


def test_endpoint_and_credentials_from_storage_options(moto_s3, versioned, monkeypatch):
    prefix = _two_parts(moto_s3, versioned)
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    options = {"endpoint_url": moto_s3.endpoint, "key": "opt-key", "secret": "opt-Secret-value-123"}
    table = unistore.read(f"s3://{versioned}/{prefix}", storage_options=options)
    assert table.num_rows == TABLE.num_rows
    assert "opt-Secret-value-123" not in table.schema.metadata[b"unistore.provenance"].decode()
    assert moto_s3.endpoint not in json.dumps(unistore.provenance_of(table).to_dict())


def test_s3_settings_follow_the_aws_environment_precedence():
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:1", "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:2",
           "AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s3cret"}
    settings = S3Settings.resolve({}, env)
    assert (settings.endpoint_url, settings.region, settings.key, settings.secret) == \
        ("http://127.0.0.1:2", "eu-west-1", "k", "s3cret")
    assert S3Settings.resolve({"endpoint_url": "http://127.0.0.1:3", "region": "us-west-2"}, env).endpoint_url == \
        "http://127.0.0.1:3"
    native = S3Settings.resolve({}, env).native()
    assert native.region == "eu-west-1"
    assert S3Settings.resolve({}, {"AWS_ENDPOINT_URL": "http://127.0.0.1:1"}).region == "us-east-1"


# -- errors: typed, with no secret in them -------------------------------------------------

def test_a_prefix_does_not_match_its_longer_siblings_and_a_key_reads_one_object(moto_s3, plain):
    prefix = _two_parts(moto_s3, plain)
    _put(moto_s3, plain, f"{prefix}-other/part-000.parquet", TABLE)
    assert unistore.read(f"s3://{plain}/{prefix}").num_rows == TABLE.num_rows
    one = unistore.read(f"s3://{plain}/{prefix}", "part-001.parquet")
    assert one.column("id").to_pylist() == list(range(31, 61))


def test_missing_bucket_missing_key_and_empty_glob(moto_s3, versioned):
    with pytest.raises(unistore.SourceNotFoundError, match="bucket 'no-such-bucket-xyz' does not exist"):
        unistore.read("s3://no-such-bucket-xyz/data")
    with pytest.raises(unistore.SourceNotFoundError, match="no such file"):
        unistore.read(f"s3://{versioned}/no/such/key.parquet")
    prefix = _two_parts(moto_s3, versioned)
    with pytest.raises(unistore.SourceNotFoundError, match="no files match"):
        unistore.read(f"s3://{versioned}/{prefix}", "*.csv")


def test_unreachable_endpoint_is_source_unavailable_without_the_secret(monkeypatch):
    from stores import free_port

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "unreachable-Secret-789")
    options = {"endpoint_url": f"http://127.0.0.1:{free_port()}"}  # nothing listens there
    with pytest.raises(unistore.SourceUnavailableError) as info:
        unistore.read("s3://some-bucket/data", storage_options=options)
    assert "unreachable-Secret-789" not in str(info.value)


@pytest.fixture(scope="module")
def moto_auth():
    """A second moto server that checks credentials and IAM policies after the first 5 requests."""
    import boto3

    server = start_moto({"INITIAL_NO_AUTH_ACTION_COUNT": "5"})
    try:
        iam = boto3.client("iam", endpoint_url=server.endpoint, region_name="us-east-1",
                           aws_access_key_id="setup", aws_secret_access_key="setup")
        iam.create_user(UserName="reader")                                            # 1
        key = iam.create_access_key(UserName="reader")["AccessKey"]                  # 2
        iam.put_user_policy(UserName="reader", PolicyName="own-bucket", PolicyDocument=json.dumps({  # 3
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*",
                           "Resource": ["arn:aws:s3:::granted", "arn:aws:s3:::granted/*"]}]}))
        server.bucket("forbidden", versioned=False)                                  # 4
        _put(server, "forbidden", "t/a.parquet", TABLE)                              # 5
        reader = server.client(key=key["AccessKeyId"], secret=key["SecretAccessKey"])
        reader.create_bucket(Bucket="granted")
        reader.put_object(Bucket="granted", Key="t/a.parquet", Body=parquet_bytes(TABLE))
        yield server, {"endpoint_url": server.endpoint, "key": key["AccessKeyId"], "secret": key["SecretAccessKey"]}
    finally:
        stop(server.process)


def test_good_credentials_read(moto_auth):
    _, options = moto_auth
    table = unistore.read("s3://granted/t", storage_options=options)
    assert table.num_rows == TABLE.num_rows
    assert options["secret"] not in table.schema.metadata[b"unistore.provenance"].decode()


def test_bad_credentials_are_an_authentication_error_without_the_secret(moto_auth):
    _, options = moto_auth
    wrong = {**options, "key": "AKIAUNKNOWNKEY", "secret": "wrong-Secret-value-42"}
    with pytest.raises(unistore.AuthenticationError) as info:
        unistore.read("s3://granted/t", storage_options=wrong)
    assert "wrong-Secret-value-42" not in str(info.value) and options["secret"] not in str(info.value)


def test_access_denied_is_an_authentication_error_without_the_secret(moto_auth):
    _, options = moto_auth
    with pytest.raises(unistore.AuthenticationError, match="access denied") as info:
        unistore.read("s3://forbidden/t", storage_options=options)
    assert options["secret"] not in str(info.value)


# -- streaming keeps memory bounded ------------------------------------------------------

def _fresh(uri: str, **options):
    """A source with s3fs clients of its own (fsspec shares instances between sources otherwise)."""
    return unistore.source(uri, storage_options={"skip_instance_cache": True}, **options)


def test_a_few_objects_are_listed_described_and_read_without_an_s3fs_client(moto_s3, plain, versioned):
    """pyarrow's client lists a small data set and HEADs each object (ETag, VersionId), and DuckDB
    reads it through that client too: s3fs's botocore client, about 0.15 s of CPU to create, is not
    made. The pins are the ones an s3fs listing gives."""
    for bucket in (plain, versioned):
        uri = f"s3://{bucket}/{_two_parts(moto_s3, bucket)}"
        with _fresh(uri) as native, _fresh(uri, data_path="fsspec") as listed_by_s3fs:
            assert native.schema(None).names == TABLE.schema.names
            tables = [native.read(engine=engine, columns=["id", "amount"], filter=[("id", ">", 3)])
                      for engine in ("pyarrow", "duckdb")]
            assert native.connection.fs._s3 is None
            if bucket == plain:  # a versioned bucket's pinned versions are read through s3fs
                assert native.connection.systems.versions_fs._s3 is None
            expected = listed_by_s3fs.read(engine="pyarrow", columns=["id", "amount"], filter=[("id", ">", 3)])
            assert listed_by_s3fs.connection.fs._s3 is not None
        records = [unistore.provenance_of(t) for t in tables]
        for table, record in zip(tables, records):
            assert without_metadata(table).equals(without_metadata(expected))
            assert record.snapshot.to_dict() == unistore.provenance_of(expected).snapshot.to_dict()
        objects = records[0].snapshot.pins["objects"]
        assert all(o["etag"] and o["size"] for o in objects)
        assert all("version_id" in o for o in objects) == (bucket == versioned)


def test_more_objects_than_pyarrow_describes_are_listed_by_s3fs(moto_s3, plain, monkeypatch):
    from unistore.adapters.files import s3native
    from unistore.adapters.files.s3native import MAX_OBJECTS

    prefix = f"many-{uuid.uuid4().hex[:8]}"
    for i in range(MAX_OBJECTS + 1):
        _put(moto_s3, plain, f"{prefix}/part-{i:03d}.parquet", TABLE.slice(i, 1))
    with _fresh(f"s3://{plain}/{prefix}") as src:
        table = src.read()
        assert src.connection.fs._s3 is not None  # one LIST holds every ETag
    objects = unistore.provenance_of(table).snapshot.pins["objects"]
    assert len(objects) == MAX_OBJECTS + 1 and all(o["etag"] for o in objects)
    assert table.num_rows == MAX_OBJECTS + 1
    # the next read (a new source, as every unistore.read opens) lists it once, with s3fs only
    native_lists = []
    list_files = s3native.list_files
    monkeypatch.setattr(s3native, "list_files", lambda fs, path: native_lists.append(path) or list_files(fs, path))
    with _fresh(f"s3://{plain}/{prefix}") as src:
        again = src.read()
    assert native_lists == [] and again.num_rows == MAX_OBJECTS + 1


@pytest.mark.parametrize("engine", ["pyarrow", "duckdb"])
def test_an_object_overwritten_while_an_engine_reads_fails_the_read(moto_s3, plain, engine):
    prefix = _two_parts(moto_s3, plain)
    reader = unistore.scan(f"s3://{plain}/{prefix}", batch_size=5, engine=engine)
    next(iter(reader))
    _put(moto_s3, plain, f"{prefix}/part-001.parquet", bump_second_amount(TABLE.slice(30)))
    with pytest.raises(unistore.QueryError, match="changed during the read"):
        list(reader)


@pytest.mark.slow
def test_scan_streams_a_data_set_larger_than_the_batch_budget(moto_s3, plain):
    """96 MB of Arrow data in 24 S3 objects, read in 50,000-row batches.

    pyarrow reads a few objects ahead of the consumer; what unistore adds
    (fingerprint, provenance) holds no batch, so the peak stays a fraction of the data.
    """
    rows_per_part, parts = 250_000, 24
    prefix = f"big-{uuid.uuid4().hex[:8]}"
    data_bytes = 0
    for i in range(parts):
        start = i * rows_per_part
        part = pa.table({"id": pa.array(range(start, start + rows_per_part), pa.int64()),
                         "x": pa.array(range(start, start + rows_per_part), pa.float64())})
        data_bytes += part.nbytes
        sink = pa.BufferOutputStream()
        pq.write_table(part, sink, row_group_size=50_000)
        moto_s3.client().put_object(Bucket=plain, Key=f"{prefix}/part-{i:03d}.parquet", Body=sink.getvalue().to_pybytes())
    del part, sink
    before = pa.total_allocated_bytes()
    peak, total = 0, 0
    with unistore.scan(f"s3://{plain}/{prefix}", batch_size=50_000) as reader:
        for batch in reader:
            total += batch.num_rows
            peak = max(peak, pa.total_allocated_bytes() - before)
            del batch
    assert total == rows_per_part * parts
    assert unistore.provenance_of(reader).result.rows == total
    assert peak < data_bytes / 3, f"peak {peak / 2**20:.1f} MB of {data_bytes / 2**20:.1f} MB"


def test_readahead_options_are_checked_and_passed(moto_s3, plain):
    prefix = _two_parts(moto_s3, plain)
    table = unistore.read(f"s3://{plain}/{prefix}", fragment_readahead=1, batch_readahead=2)
    assert without_metadata(table).equals(TABLE)
    with pytest.raises(unistore.BadSpecError, match="fragment_readahead"):
        unistore.read(f"s3://{plain}/{prefix}", fragment_readahead=0)


# -- read plans: splits pinned to the listing ----------------------------------------------------

def _plan(uri: str, max_splits: int, table: str | None = None, **read_options):
    """A plan of a full read of ``uri``, with the source it came from (close both)."""
    src = unistore.source(uri)
    spec = unistore.ReadSpec.build(table, **read_options)
    return src, spec, src.connection.plan(spec, max_splits)


def _read_split(src, spec, split) -> pa.Table:
    """One split, shipped through pickle as a distributed engine would, read to a table."""
    scan = src.connection.scan_split(spec, pickle.loads(pickle.dumps(split)))
    try:
        return pa.Table.from_batches(list(scan.batches), schema=scan.schema)
    finally:
        if scan.close is not None:
            scan.close()


def test_splits_on_a_versioned_bucket_read_the_planned_versions(moto_s3, versioned):
    prefix = _two_parts(moto_s3, versioned)
    src, spec, plan = _plan(f"s3://{versioned}/{prefix}", 2)
    with src, plan:
        assert plan.consistent and plan.method == "files" and len(plan.splits) == 2
        assert [s.covers for s in plan.splits] == [{"files": ["part-000.parquet"]}, {"files": ["part-001.parquet"]}]
        _put(moto_s3, versioned, f"{prefix}/part-000.parquet", bump_second_amount(TABLE).slice(0, 30))
        moto_s3.client().delete_object(Bucket=versioned, Key=f"{prefix}/part-001.parquet")
        parts = [_read_split(src, spec, s) for s in plan.splits]
    assert without_metadata(pa.concat_tables(parts)).equals(TABLE)


def test_a_split_refuses_an_unversioned_object_changed_since_the_plan(moto_s3, plain):
    prefix = _two_parts(moto_s3, plain)
    src, spec, plan = _plan(f"s3://{plain}/{prefix}", 2)
    with src, plan:
        assert not plan.consistent and "verified" in plan.consistency
        _put(moto_s3, plain, f"{prefix}/part-001.parquet", bump_second_amount(TABLE.slice(30)))
        assert _read_split(src, spec, plan.splits[0]).num_rows == 30
        with pytest.raises(unistore.SnapshotUnavailableError, match="part-001.parquet.*plan the read again"):
            _read_split(src, spec, plan.splits[1])


def test_one_object_is_cut_by_row_groups(moto_s3, plain):
    key = f"one-{uuid.uuid4().hex[:8]}/events.parquet"
    _put(moto_s3, plain, key, TABLE)  # row groups of 17 rows: 17, 17, 17, 9
    src, spec, plan = _plan(f"s3://{plain}/{key}", 4)
    with src, plan:
        assert plan.method == "parquet row groups"
        assert [s.covers["row_groups"] for s in plan.splits] == [["0"], ["1"], ["2"], ["3"]]
        assert [s.rows for s in plan.splits] == [17, 17, 17, 9]
        parts = [_read_split(src, spec, s) for s in plan.splits]
    assert [p.num_rows for p in parts] == [17, 17, 17, 9]
    assert without_metadata(pa.concat_tables(parts)).equals(TABLE)


def test_many_files_are_dealt_into_splits_of_about_equal_bytes(tmp_path):
    import random

    noise = random.Random(3)
    sizes = [1, 5, 2, 8, 3, 1, 1, 4, 6, 2, 2, 5, 1, 1, 2]  # thousands of rows per file: 15 files, 3 splits
    start = 0
    for i, size in enumerate(sizes):
        ids = pa.array(range(start, start + size * 1000), pa.int64())
        x = pa.array([noise.random() for _ in range(size * 1000)])  # incompressible: bytes follow rows
        pq.write_table(pa.table({"id": ids, "x": x}), tmp_path / f"part-{i:02d}.parquet")
        start += size * 1000
    src, spec, plan = _plan(str(tmp_path), 3)
    with src, plan:
        assert plan.method == "files" and len(plan.splits) == 3
        shares = [s.bytes / sum(p.bytes for p in plan.splits) for s in plan.splits]
        assert all(0.2 < share < 0.5 for share in shares), shares
        big = next(s for s in plan.splits if len(s.payload.pieces) > 4)
        assert len(big.covers["files"]) == 4 and big.covers["file_count"] == len(big.payload.pieces)
        ids = [i for s in plan.splits for i in _read_split(src, spec, s).column("id").to_pylist()]
    assert ids == list(range(start))


def test_partition_pruning_leaves_the_other_partitions_out_of_the_plan(tmp_path):
    import pyarrow.dataset as ds

    ds.write_dataset(TABLE.append_column("part", pa.array([i % 3 for i in range(60)], pa.int32())), tmp_path,
                     format="parquet", partitioning=["part"], partitioning_flavor="hive")
    src, spec, plan = _plan(str(tmp_path), 3, filter=[("part", "==", 1)])
    with src, plan:
        covered = [f for s in plan.splits for f in s.covers["files"]]
        assert covered and all(f.startswith("part=1/") for f in covered)
        rows = sum(_read_split(src, spec, s).num_rows for s in plan.splits)
    assert rows == 20


def test_text_files_are_split_by_file_never_inside_one(tmp_path):
    import pyarrow.csv as pacsv

    pacsv.write_csv(TABLE.select(["id", "kind"]), tmp_path / "all.csv")
    src, _, plan = _plan(str(tmp_path / "all.csv"), 4)
    with src, plan:
        assert len(plan.splits) == 1 and plan.splits[0].covers == {"files": ["all.csv"]}


def test_a_local_file_changed_since_the_plan_fails_its_split(tmp_path):
    path = tmp_path / "events.parquet"
    pq.write_table(TABLE, path, row_group_size=30)
    src, spec, plan = _plan(str(path), 2)
    with src, plan:
        pq.write_table(bump_second_amount(TABLE), path, row_group_size=30)
        os.utime(path, ns=(1, 1))  # a different mtime even on a coarse clock
        with pytest.raises(unistore.SnapshotUnavailableError, match="changed since the read was planned"):
            _read_split(src, spec, plan.splits[0])


def test_partitioned_read_of_a_url_with_a_token_keeps_the_token_out_of_splits(http_files):
    pq.write_table(TABLE, os.path.join(http_files.root, "split-tok.parquet"), row_group_size=17)
    uri = f"{http_files.url}/split-tok.parquet?token={HTTP_TOKEN}"
    src, _, plan = _plan(uri, 3)
    with src, plan:
        assert len(plan.splits) == 3 and HTTP_TOKEN.encode() not in pickle.dumps(plan.splits)
    table = unistore.read(uri, partitions=3)
    assert without_metadata(table).sort_by("id").equals(TABLE)
    assert HTTP_TOKEN not in unistore.provenance_of(table).to_json()


# -- HTTP ------------------------------------------------------------------------------------

def test_http_wrong_token_is_an_authentication_error_without_the_token(http_files):
    pq.write_table(TABLE, os.path.join(http_files.root, "tok.parquet"))
    with pytest.raises(unistore.AuthenticationError) as info:
        unistore.read(f"{http_files.url}/tok.parquet?token=not-the-Right-one")
    assert "not-the-Right-one" not in str(info.value)
    table = unistore.read(f"{http_files.url}/tok.parquet?token={HTTP_TOKEN}")
    record = unistore.provenance_of(table)
    assert HTTP_TOKEN not in record.to_json()
    assert record.source.namespace == http_files.url and record.source.name == "/tok.parquet"


def test_http_index_page_reads_the_linked_files(http_files):
    folder = os.path.join(http_files.root, f"index-{uuid.uuid4().hex[:6]}")
    os.makedirs(folder)
    pq.write_table(TABLE.slice(0, 30), os.path.join(folder, "part-000.parquet"))
    pq.write_table(TABLE.slice(30), os.path.join(folder, "part-001.parquet"))
    url = f"{http_files.url}/{os.path.basename(folder)}/"
    table = unistore.read(url)
    assert without_metadata(table).equals(TABLE)
    objects = unistore.provenance_of(table).snapshot.pins["objects"]
    assert [o["path"] for o in objects] == [url + "part-000.parquet", url + "part-001.parquet"]


def test_http_missing_file(http_files):
    with pytest.raises(unistore.SourceNotFoundError):
        unistore.read(f"{http_files.url}/nothing-here.parquet")


def test_s3_secret_is_never_in_records(moto_s3, versioned):
    prefix = _two_parts(moto_s3, versioned)
    table = unistore.read(f"s3://{versioned}/{prefix}")
    assert S3_SECRET not in table.schema.metadata[b"unistore.provenance"].decode()


# -- Azure (Azurite) ------------------------------------------------------------------------

def test_azure_bad_account_key_is_an_authentication_error_without_the_key(azurite):
    from stores.object_stores import AZURITE_KEY, AzureLoader, azurite_connection_string

    AzureLoader(azurite).put("unistore/auth/a.parquet", TABLE)
    endpoint = azurite.split("BlobEndpoint=")[1].split(";")[0].rsplit("/", 1)[0]
    wrong_key = "V3Jvbmcta2V5LW5vdC10aGUtcmlnaHQtb25lLWF0LWFsbC0xMjM0NTY3ODkwMTI="
    wrong = azurite_connection_string(endpoint, key=wrong_key)
    with pytest.raises(unistore.AuthenticationError) as info:
        unistore.read("az://unistore/auth", storage_options={"connection_string": wrong})
    assert wrong_key not in str(info.value) and AZURITE_KEY not in str(info.value)
    table = unistore.read("az://unistore/auth")  # account from AZURE_STORAGE_CONNECTION_STRING
    assert table.num_rows == TABLE.num_rows
    assert AZURITE_KEY not in table.schema.metadata[b"unistore.provenance"].decode()


# -- GCS: wired, not reachable here --------------------------------------------------------

def test_gcs_locations_open_through_gcsfs_without_touching_the_network():
    """No GCS emulator installs from the registries reachable here: check the wiring only."""
    with unistore.source("gs://some-bucket/prefix", storage_options={"token": "anon"}) as src:
        assert "gs" in src.fs.protocol and src.root == "some-bucket/prefix"
        assert src.uri == "gs://some-bucket/prefix"
        assert src.connection._dataset_ref(src.root).namespace == "gs://some-bucket"


def test_rotated_environment_credentials_are_used_at_once(moto_auth, monkeypatch):
    """fsspec caches file system instances; one holding old credentials must not be reused."""
    _, options = moto_auth
    endpoint_only = {"endpoint_url": options["endpoint_url"]}
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", options["key"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", options["secret"])
    assert unistore.read("s3://granted/t", storage_options=endpoint_only).num_rows == TABLE.num_rows
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAROTATEDAWAY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "rotated-Secret-value-9")
    with pytest.raises(unistore.AuthenticationError) as info:
        unistore.read("s3://granted/t", storage_options=endpoint_only)
    assert "rotated-Secret-value-9" not in str(info.value)


def test_azure_snapshot_follows_an_overwrite_at_once(azurite):
    """No listing cache: the ETag recorded after an overwrite is the new one."""
    from stores.object_stores import AzureLoader

    loader = AzureLoader(azurite)
    loader.put("unistore/etag/a.parquet", TABLE)
    first = unistore.provenance_of(unistore.read("az://unistore/etag")).snapshot.pins["objects"][0]
    loader.put("unistore/etag/a.parquet", bump_second_amount(TABLE))
    second = unistore.provenance_of(unistore.read("az://unistore/etag")).snapshot.pins["objects"][0]
    assert first["etag"] != second["etag"]


@pytest.mark.parametrize("change", ["overwrite", "delete"])
def test_an_object_changed_between_listing_and_opening_fails_as_changed(moto_s3, plain, change, monkeypatch):
    """pyarrow opens a listed object at its listed size: a footer read of an object rewritten (or deleted)
    since looks corrupt, and the read must say the object changed, not that it is not Parquet."""
    from unistore.adapters.files.source import FileSource

    prefix = _two_parts(moto_s3, plain)
    listed = FileSource.objects

    def then_changed(self, path, **kwargs):
        found = listed(self, path, **kwargs)
        if change == "overwrite":
            _put(moto_s3, plain, f"{prefix}/part-000.parquet", TABLE.slice(0, 20))
        else:
            moto_s3.client().delete_object(Bucket=plain, Key=f"{prefix}/part-000.parquet")
        return found

    monkeypatch.setattr(FileSource, "objects", then_changed)
    with pytest.raises(unistore.QueryError, match="changed during the read"):
        unistore.read(f"s3://{plain}/{prefix}")


def test_an_object_changed_before_a_plan_reads_its_footer_fails_as_changed(moto_s3, plain, monkeypatch):
    """A plan cuts two files into row groups by their footers, read at the listed sizes."""
    from unistore.adapters.files.source import FileSource

    prefix = _two_parts(moto_s3, plain)
    listed = FileSource.objects

    def then_changed(self, path, **kwargs):
        found = listed(self, path, **kwargs)
        _put(moto_s3, plain, f"{prefix}/part-001.parquet", TABLE.slice(30, 5))
        return found

    monkeypatch.setattr(FileSource, "objects", then_changed)
    with pytest.raises(unistore.QueryError, match="changed during the read"):
        _plan(f"s3://{plain}/{prefix}", 4)
