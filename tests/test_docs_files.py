"""The examples of docs/stores/files.md run as written, in a fresh folder; the S3 and HTTP
ones (functions taking an address) run against the test servers on loopback."""

from __future__ import annotations

import os

import pyarrow.parquet as pq

from docs_examples import run_examples
from stores.object_stores import HTTP_TOKEN, parquet_bytes

def test_files_page_examples_run(tmp_path, monkeypatch, moto_s3, http_files):
    monkeypatch.chdir(tmp_path)
    namespace = run_examples("stores/files.md", at_least=8)

    bucket = moto_s3.bucket("docs-example", versioned=True)
    moto_s3.client().put_object(Bucket=bucket, Key="events/day-1.parquet", Body=parquet_bytes(namespace["day1"]))
    assert namespace["read_from_s3"](bucket, "events", moto_s3.endpoint).num_rows == 3

    pq.write_table(namespace["day2"], os.path.join(http_files.root, "docs-export.parquet"))
    url = f"{http_files.url}/docs-export.parquet?token={HTTP_TOKEN}"
    assert namespace["read_shared_export"](url).num_rows == 2
