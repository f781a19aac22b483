"""Lineage naming (issue 9, finding 10): OpenTelemetry database conventions and OpenLineage dataset names.

``db.namespace`` is the database (PostgreSQL: ``{database}.{schema}``, the schema qualified by the
database, as its semantic conventions say), never the OpenLineage namespace; ``db.collection.name``
is the table as the caller named it; ``server.*`` is where the store listens. A failed read keeps
what was known before it failed; reads inside ``unistore.run`` are children of the run's span.
"""

from __future__ import annotations

import uuid

import duckdb
import pytest

import unistore
from unistore import lineage
from stores.servers_sql import MY_PORT, PG_PORT, my_connect, pg_connect
from stores.timeseries import INFLUX_DB, METRIC, T0, INTERVAL

from .conftest import file_client, read_jsonl


def _span(telemetry):
    (span,) = [s for s in telemetry.spans() if not s.name.startswith("unistore.run")]
    return dict(span.attributes)


def _names(attrs: dict) -> dict:
    keys = ("db.system.name", "db.namespace", "db.collection.name", "server.address", "server.port")
    return {k: attrs[k] for k in keys if k in attrs}


def test_sqlite_namespace_is_the_database_file(telemetry, sqlite_uri, tmp_path):
    unistore.read(sqlite_uri, "events")
    assert _names(_span(telemetry)) == {"db.system.name": "sqlite", "db.namespace": str(tmp_path / "shop.db"),
                                        "db.collection.name": "events"}


def test_duckdb_namespace_is_the_database_file(telemetry, tmp_path):
    path = tmp_path / "d.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t AS SELECT 1 AS id")
    con.close()
    unistore.read(f"duckdb:///{path}", "t")
    assert _names(_span(telemetry)) == {"db.system.name": "duckdb", "db.namespace": str(path),
                                        "db.collection.name": "t"}


@pytest.fixture
def pg_table():
    name = f"lin_{uuid.uuid4().hex[:8]}"
    with pg_connect() as con:
        con.execute(f'CREATE TABLE "{name}" (id INT)')
        con.execute(f'INSERT INTO "{name}" VALUES (1), (2)')
    yield name
    with pg_connect() as con:
        con.execute(f'DROP TABLE "{name}"')


def test_postgresql_namespace_is_database_dot_schema(telemetry, pg_table, tmp_path):
    path = tmp_path / "ol.jsonl"
    unistore.configure_lineage(openlineage=file_client(path), spool_dir=tmp_path / "spool")
    unistore.read(f"postgresql://postgres@127.0.0.1:{PG_PORT}/test", pg_table)
    assert _names(_span(telemetry)) == {"db.system.name": "postgresql", "db.namespace": "test.public",
                                        "db.collection.name": pg_table, "server.address": "127.0.0.1",
                                        "server.port": PG_PORT}
    # OpenLineage naming: postgres://host:port + database.schema.table, passed through unchanged
    assert lineage.flush(30)
    (ds,) = read_jsonl(path)[-1]["inputs"]
    assert (ds["namespace"], ds["name"]) == (f"postgres://127.0.0.1:{PG_PORT}", f"test.public.{pg_table}")


def test_mariadb_namespace_is_the_database(telemetry):
    name = f"lin_{uuid.uuid4().hex[:8]}"
    con = my_connect()
    try:
        with con.cursor() as cur:
            cur.execute(f"CREATE TABLE `{name}` (id INT)")
        unistore.read(f"mariadb://root@127.0.0.1:{MY_PORT}/test", name)
    finally:
        with con.cursor() as cur:
            cur.execute(f"DROP TABLE `{name}`")
        con.close()
    assert _names(_span(telemetry)) == {"db.system.name": "mariadb", "db.namespace": "test",
                                        "db.collection.name": name, "server.address": "127.0.0.1",
                                        "server.port": MY_PORT}


def test_s3_namespace_is_the_bucket_and_the_server_the_endpoint(telemetry, moto_s3):
    import pyarrow as pa
    import pyarrow.parquet as pq
    import io

    bucket = moto_s3.bucket(f"lin-{uuid.uuid4().hex[:8]}", versioned=False)
    body = io.BytesIO()
    pq.write_table(pa.table({"id": [1, 2]}), body)
    moto_s3.client().put_object(Bucket=bucket, Key="dir/t.parquet", Body=body.getvalue())
    unistore.read(f"s3://{bucket}/dir/t.parquet")
    port = int(moto_s3.endpoint.rsplit(":", 1)[1])
    assert _names(_span(telemetry)) == {"db.system.name": "files", "db.namespace": bucket,
                                        "db.collection.name": "dir/t.parquet", "server.address": "127.0.0.1",
                                        "server.port": port}


def test_influxdb_namespace_is_the_database(telemetry, influxdb_server):
    unistore.read(f"influxdb://127.0.0.1:{influxdb_server.port}/{INFLUX_DB}", METRIC,
                  start=T0, end=T0 + 10 * INTERVAL)
    assert _names(_span(telemetry)) == {"db.system.name": "influxdb", "db.namespace": INFLUX_DB,
                                        "db.collection.name": METRIC, "server.address": "127.0.0.1",
                                        "server.port": influxdb_server.port}


def test_a_failed_table_read_keeps_collection_and_namespace(telemetry, sqlite_uri, tmp_path):
    with pytest.raises(unistore.SourceNotFoundError):
        unistore.read(sqlite_uri, "no_such_table")
    attrs = _span(telemetry)
    assert attrs["db.collection.name"] == "no_such_table"
    assert attrs["db.namespace"] == str(tmp_path / "shop.db")
    assert attrs["error.type"] == "SourceNotFoundError"


def test_a_failed_query_keeps_its_query_text(telemetry, sqlite_uri):
    with pytest.raises(unistore.UnistoreError):
        unistore.read(sqlite_uri, query="SELECT * FROM nowhere WHERE kind = 'k1'")
    attrs = _span(telemetry)
    assert attrs["db.query.text"] == "SELECT * FROM nowhere WHERE kind = ?"
    assert "error.type" in attrs


def test_a_failed_server_read_names_the_server(telemetry):
    with pytest.raises(unistore.UnistoreError):
        unistore.read(f"postgresql://postgres@127.0.0.1:{PG_PORT}/test", "no_such_table_lin")
    attrs = _span(telemetry)
    assert (attrs["db.namespace"], attrs["db.collection.name"]) == ("test", "no_such_table_lin")
    assert (attrs["server.address"], attrs["server.port"]) == ("127.0.0.1", PG_PORT)


def test_reads_inside_a_run_are_children_of_the_runs_span(telemetry, sqlite_uri, tmp_path):
    with unistore.run("nightly", manifest=False) as run:
        unistore.read(sqlite_uri, "events")
        unistore.read(sqlite_uri, "events", limit=1)
    unistore.read(sqlite_uri, "events")  # after the run: no parent
    spans = telemetry.spans()
    (run_span,) = [s for s in spans if s.name == "unistore.run nightly"]
    reads = [s for s in spans if s.name == "SELECT events"]
    assert run_span.attributes["unistore.run.id"] == run.run_id
    assert [r.parent.span_id if r.parent else None for r in reads] == [run_span.context.span_id] * 2 + [None]
    assert all(r.context.trace_id == run_span.context.trace_id for r in reads[:2])


def test_a_failing_run_marks_its_span(telemetry, sqlite_uri):
    from opentelemetry.trace import StatusCode

    with pytest.raises(ZeroDivisionError):
        with unistore.run("broken", manifest=False):
            unistore.read(sqlite_uri, "events")
            1 / 0
    (run_span,) = [s for s in telemetry.spans() if s.name == "unistore.run broken"]
    assert run_span.status.status_code is StatusCode.ERROR
    assert run_span.attributes["error.type"] == "ZeroDivisionError"
