"""Object stores: S3 (moto's server, versioned and unversioned buckets), HTTP, Delta Lake, Iceberg.

The S3 server is ``moto_server`` from the moto[server] package, started on a
free loopback port for the session; the endpoint and credentials reach
unistore only through the usual AWS environment variables, as they would in
production. The HTTP server is Python's own, serving a temporary directory
and refusing requests that carry a wrong ``token``.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stores import Loader, Store, StoreCase, free_port, missing_store, wait_for_port

_EXACT = frozenset({"reference", "ordered", "exact_types", "mutable"})
STORES = {
    "s3-parquet": Store("s3://bucket/events", _EXACT | {"versioned"}),  # replay reads the recorded VersionIds
    "s3-unversioned": Store("s3://bucket/events", _EXACT),  # no versions: replay verifies and reports drift
    "http-parquet": Store("http://127.0.0.1/events.parquet", _EXACT | {"secret"}),  # a ?token= the server checks
    "delta": Store("delta:///tables/events", _EXACT),  # the adapter declares as_of and exact replay (versions)
    "delta-s3": Store("delta+s3://bucket/tables/events", _EXACT),
    "iceberg": Store("iceberg:///catalog.db", _EXACT),  # the adapter declares as_of and exact replay (snapshots)
    "iceberg-s3": Store("iceberg:///catalog.db", _EXACT),
    "azure-parquet": Store("az://container/events", _EXACT),  # Azurite; no blob versions read back yet
}

#: credentials of the test S3 server (moto accepts any unless told to check them)
S3_KEY, S3_SECRET = "unistore-test-key", "unistore-S3-secret-value"
HTTP_TOKEN = "unistore-Http-token-value"
ROWS_PER_PART = 30


def bump_second_amount(table: pa.Table) -> pa.Table:
    """Change the content of row id 2 (in the first part) without changing anything else."""
    amount = table.column("amount").to_pylist()
    amount[1] = (amount[1] or 0) + 1000.0
    return table.set_column(table.schema.get_field_index("amount"), "amount", pa.array(amount, pa.float64()))


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=17)
    return sink.getvalue()


@dataclass
class MotoServer:
    """A running moto S3 server on loopback and a boto3 client for setting it up."""

    endpoint: str
    process: subprocess.Popen

    def client(self, **kwargs):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=kwargs.pop("key", S3_KEY),
                            aws_secret_access_key=kwargs.pop("secret", S3_SECRET), **kwargs)

    def bucket(self, name: str, *, versioned: bool) -> str:
        client = self.client()
        client.create_bucket(Bucket=name)
        if versioned:
            client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        return name


def start_moto(env: dict[str, str] | None = None) -> MotoServer:
    exe = shutil.which("moto_server", path=os.path.dirname(sys.executable)) or shutil.which("moto_server")
    if exe is None:
        missing_store("moto_server (pip install 'moto[server]')")
    port = free_port()
    process = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env={**os.environ, **(env or {})})
    if not wait_for_port("127.0.0.1", port, timeout=30):
        process.kill()
        missing_store(f"moto_server on 127.0.0.1:{port}")
    return MotoServer(f"http://127.0.0.1:{port}", process)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="session")
def moto_s3():
    """moto's S3 server for the session, reachable through the AWS environment variables."""
    server = start_moto()
    wanted = {"AWS_ENDPOINT_URL": server.endpoint, "AWS_ACCESS_KEY_ID": S3_KEY,
              "AWS_SECRET_ACCESS_KEY": S3_SECRET, "AWS_REGION": "us-east-1"}
    saved = {k: os.environ.get(k) for k in [*wanted, "AWS_ENDPOINT_URL_S3", "AWS_DEFAULT_REGION", "AWS_SESSION_TOKEN"]}
    for k in ("AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN"):
        os.environ.pop(k, None)
    os.environ.update(wanted)
    try:
        yield server
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        stop(server.process)


class S3Loader(Loader):
    """The table as two Parquet objects under a fresh prefix of one bucket."""

    def __init__(self, name: str, server: MotoServer, bucket: str):
        self.name, self.server, self.bucket = name, server, bucket

    def put(self, key: str, table: pa.Table) -> None:
        self.server.client().put_object(Bucket=self.bucket, Key=key, Body=parquet_bytes(table))

    def load(self, name: str, table: pa.Table) -> StoreCase:
        prefix = f"{name}-{uuid.uuid4().hex[:8]}"
        first = f"{prefix}/part-000.parquet"
        self.put(first, table.slice(0, ROWS_PER_PART))
        self.put(f"{prefix}/part-001.parquet", table.slice(ROWS_PER_PART))
        return StoreCase(uri=f"s3://{self.bucket}/{prefix}", table=None, expected=table,
                         mutate=lambda: self.put(first, bump_second_amount(table).slice(0, ROWS_PER_PART)))


@pytest.fixture(scope="session")
def loader_s3_parquet(moto_s3):
    return S3Loader("s3-parquet", moto_s3, moto_s3.bucket("unistore-versioned", versioned=True))


@pytest.fixture(scope="session")
def loader_s3_unversioned(moto_s3):
    return S3Loader("s3-unversioned", moto_s3, moto_s3.bucket("unistore-plain", versioned=False))


# -- HTTP -------------------------------------------------------------------------

class TokenCheckingHandler(SimpleHTTPRequestHandler):
    """Serves files, and byte ranges of them as real servers do (a split reads one Parquet row group);
    a request with a ``token`` parameter must carry the right one."""

    def _token_ok(self) -> bool:
        tokens = parse_qs(urlsplit(self.path).query).get("token")
        return tokens is None or tokens == [HTTP_TOKEN]

    def do_GET(self):
        if not self._token_ok():
            return self.send_error(403, "bad token")
        wanted = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        path = self.translate_path(self.path)
        if wanted is None or not os.path.isfile(path):
            return super().do_GET()
        with open(path, "rb") as f:
            data = f.read()
        start, end = int(wanted[1]), min(int(wanted[2] or len(data) - 1), len(data) - 1)
        if start > end:
            return self.send_error(416, "range not satisfiable")
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        self.wfile.write(data[start:end + 1])

    def do_HEAD(self):
        if not self._token_ok():
            return self.send_error(403, "bad token")
        return super().do_HEAD()

    def log_message(self, *args):  # keep test output quiet
        pass


@dataclass
class HttpServer:
    root: str
    url: str
    server: ThreadingHTTPServer


@pytest.fixture(scope="session")
def http_files(tmp_path_factory):
    """A loopback HTTP server over a temporary directory, stopped at the end of the session."""
    root = str(tmp_path_factory.mktemp("http"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(TokenCheckingHandler, directory=root))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield HttpServer(root, f"http://127.0.0.1:{server.server_address[1]}", server)
    finally:
        server.shutdown()
        server.server_close()


class HttpLoader(Loader):
    name = "http-parquet"

    def __init__(self, server: HttpServer):
        self.server = server

    def load(self, name: str, table: pa.Table) -> StoreCase:
        path = os.path.join(self.server.root, f"{name}.parquet")
        pq.write_table(table, path, row_group_size=17)
        url = f"{self.server.url}/{name}.parquet"
        return StoreCase(uri=url, table=None, expected=table,
                         mutate=lambda: pq.write_table(bump_second_amount(table), path, row_group_size=17),
                         secret_uri=f"{url}?token={HTTP_TOKEN}", secret=HTTP_TOKEN)


@pytest.fixture(scope="session")
def loader_http_parquet(http_files):
    return HttpLoader(http_files)


# -- Delta Lake and Iceberg ---------------------------------------------------------

class DeltaLoader(Loader):
    """One Delta table per case, one file of 17-row row groups (read plans cut it by row group);
    a change is an overwrite, i.e. a new table version."""

    def __init__(self, name: str, root: str):
        self.name, self.root = name, root  # a local directory or s3://bucket/prefix

    def load(self, name: str, table: pa.Table) -> StoreCase:
        from deltalake import WriterProperties, write_deltalake

        from unistore.adapters.files.delta import storage_options_for

        where = f"{self.root}/{name}-{uuid.uuid4().hex[:8]}"
        write = partial(write_deltalake, where, storage_options=storage_options_for(where, {}) or None,
                        writer_properties=WriterProperties(max_row_group_size=17))
        write(table)
        uri = f"delta+{where}" if "://" in where else f"delta://{where}"
        return StoreCase(uri=uri, table=None, expected=table,
                         mutate=lambda: write(bump_second_amount(table), mode="overwrite"))


@pytest.fixture(scope="session")
def loader_delta(tmp_path_factory):
    return DeltaLoader("delta", str(tmp_path_factory.mktemp("delta")))


@pytest.fixture(scope="session")
def loader_delta_s3(moto_s3):
    return DeltaLoader("delta-s3", f"s3://{moto_s3.bucket('unistore-delta', versioned=False)}/tables")


class IcebergLoader(Loader):
    """Tables of one SQLite-backed Iceberg catalog, each snapshot written as three data files (read plans
    split Iceberg tables by file); a change is an overwrite, i.e. a new snapshot."""

    def __init__(self, name: str, catalog_path: str, warehouse: str):
        self.name, self.catalog_path, self.warehouse = name, catalog_path, warehouse
        self._catalog = None

    def catalog(self):
        from pyiceberg.catalog.sql import SqlCatalog

        from unistore.adapters.files.iceberg import catalog_properties
        from unistore.location import Location

        if self._catalog is None:
            props = catalog_properties(Location.parse(f"iceberg://{self.catalog_path}"), {"warehouse": self.warehouse})
            self._catalog = SqlCatalog("default", **props)
            self._catalog.create_namespace_if_not_exists("tests")
        return self._catalog

    def load(self, name: str, table: pa.Table) -> StoreCase:
        ident = f"tests.{name}_{uuid.uuid4().hex[:8]}"
        # pyiceberg cuts a write into files of about this many bytes of Arrow data
        target = {"write.target-file-size-bytes": str(table.nbytes // 3 + 1)}
        tbl = self.catalog().create_table(ident, schema=table.schema, properties=target)
        tbl.append(table)

        def mutate() -> None:
            self.catalog().load_table(ident).overwrite(bump_second_amount(table))

        return StoreCase(uri=f"iceberg://{self.catalog_path}", table=ident, expected=table, mutate=mutate)


@pytest.fixture(scope="session")
def loader_iceberg(tmp_path_factory):
    root = tmp_path_factory.mktemp("iceberg")
    return IcebergLoader("iceberg", f"{root}/catalog.db", f"file://{root}/warehouse")


@pytest.fixture(scope="session")
def loader_iceberg_s3(tmp_path_factory, moto_s3):
    root = tmp_path_factory.mktemp("iceberg-s3")
    bucket = moto_s3.bucket("unistore-iceberg", versioned=False)
    return IcebergLoader("iceberg-s3", f"{root}/catalog.db", f"s3://{bucket}/warehouse")


# -- Azure Blob Storage (Azurite from npm) -----------------------------------------------

#: Azurite's documented development account (public, not a secret of anyone's)
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def azurite_connection_string(endpoint: str, key: str = AZURITE_KEY) -> str:
    return (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={key};"
            f"BlobEndpoint={endpoint}/{AZURITE_ACCOUNT};")


@pytest.fixture(scope="session")
def azurite(tmp_path_factory):
    """Azurite's blob service on a free loopback port, data in a temporary folder."""
    exe = shutil.which("azurite-blob")
    if exe is None:
        missing_store("azurite-blob (npm install -g azurite; scripts/stores.d/30-object-stores.sh)")
    port = free_port()
    process = subprocess.Popen([exe, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--silent",
                                "--skipApiVersionCheck", "--location", str(tmp_path_factory.mktemp("azurite"))],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not wait_for_port("127.0.0.1", port, timeout=60):
        process.kill()
        missing_store(f"azurite-blob on 127.0.0.1:{port}")
    connection_string = azurite_connection_string(f"http://127.0.0.1:{port}")
    saved = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
    os.environ["AZURE_STORAGE_CONNECTION_STRING"] = connection_string  # as deployments configure adlfs
    try:
        yield connection_string
    finally:
        if saved is None:
            os.environ.pop("AZURE_STORAGE_CONNECTION_STRING", None)
        else:
            os.environ["AZURE_STORAGE_CONNECTION_STRING"] = saved
        stop(process)


class AzureLoader(Loader):
    name = "azure-parquet"

    def __init__(self, connection_string: str):
        import adlfs

        self.options = {"connection_string": connection_string}
        self.fs = adlfs.AzureBlobFileSystem(**self.options)
        self.fs.mkdir("unistore")

    def put(self, path: str, table: pa.Table) -> None:
        with self.fs.open(path, "wb") as f:
            f.write(parquet_bytes(table))

    def load(self, name: str, table: pa.Table) -> StoreCase:
        prefix = f"unistore/{name}-{uuid.uuid4().hex[:8]}"
        self.put(f"{prefix}/part-000.parquet", table.slice(0, ROWS_PER_PART))
        self.put(f"{prefix}/part-001.parquet", table.slice(ROWS_PER_PART))
        return StoreCase(uri=f"az://{prefix}", table=None, expected=table,
                         mutate=lambda: self.put(f"{prefix}/part-000.parquet",
                                                 bump_second_amount(table).slice(0, ROWS_PER_PART)))


@pytest.fixture(scope="session")
def loader_azure_parquet(azurite):
    return AzureLoader(azurite)
