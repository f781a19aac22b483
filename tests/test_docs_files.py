"""The examples of docs/stores/files.md run as written, in a fresh folder; the S3 and HTTP
ones (functions taking an address) run against the test servers on loopback."""

from __future__ import annotations

import os
import pathlib
import re

import pyarrow.parquet as pq

from stores.object_stores import HTTP_TOKEN, parquet_bytes

PAGE = pathlib.Path(__file__).resolve().parent.parent / "docs" / "stores" / "files.md"


def test_files_page_examples_run(tmp_path, monkeypatch, moto_s3, http_files):
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.DOTALL)
    assert len(blocks) >= 8
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "docs_example"}
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"files.md[{i}]", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the message says which block failed
            raise AssertionError(f"example {i} of files.md failed: {exc!r}\n{block}") from exc

    bucket = moto_s3.bucket("docs-example", versioned=True)
    moto_s3.client().put_object(Bucket=bucket, Key="events/day-1.parquet", Body=parquet_bytes(namespace["day1"]))
    assert namespace["read_from_s3"](bucket, "events", moto_s3.endpoint).num_rows == 3

    pq.write_table(namespace["day2"], os.path.join(http_files.root, "docs-export.parquet"))
    url = f"{http_files.url}/docs-export.parquet?token={HTTP_TOKEN}"
    assert namespace["read_shared_export"](url).num_rows == 2
