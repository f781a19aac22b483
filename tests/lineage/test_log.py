"""The local lineage log: every read's record, readable back with unistore.read."""

from __future__ import annotations

import json
import threading

import pytest

import unistore
from unistore import lineage
from unistore.provenance import SCHEMA_KEY
from unistore.runs import read_log


@pytest.mark.parametrize("kind", ["jsonl", "parquet"])
def test_every_read_is_logged_and_read_back_with_unistore(tmp_path, sqlite_uri, kind):
    path = tmp_path / ("lineage.jsonl" if kind == "jsonl" else "lineage")
    unistore.configure_lineage(log=path)
    first = unistore.read(sqlite_uri, "events")
    second = unistore.read(sqlite_uri, query="SELECT id FROM events WHERE id = 2")
    with pytest.raises(unistore.SourceNotFoundError):
        unistore.read(sqlite_uri, "missing")
    lineage.flush()
    log = read_log()
    rows = log.to_pylist()
    assert [r["status"] for r in rows] == ["ok", "ok", "error"]
    for row, table in zip(rows, (first, second)):
        record = unistore.provenance_of(table)
        assert row["read_id"] == record.read_id
        assert row["fingerprint"] == record.result.fingerprint
        assert row["rows"] == table.num_rows
        assert json.loads(row["snapshot"]) == json.loads(json.dumps(record.snapshot.to_dict()))
        assert unistore.Provenance.from_json(row["record"]).to_dict() == record.to_dict()
        # one serialisation serves both: the log holds exactly the text the table carries
        assert row["record"].encode() == table.schema.metadata[SCHEMA_KEY]
    assert "SourceNotFoundError" in rows[2]["error"]
    # metadata is data too: the log read carries its own provenance
    assert unistore.provenance_of(log).source.system == "files"


def test_which_reads_of_which_snapshots_went_into_a_run(tmp_path, sqlite_uri):
    unistore.configure_lineage(log=tmp_path / "lineage.jsonl", manifest_dir=tmp_path / "runs")
    unistore.read(sqlite_uri, "events")  # outside any run
    with unistore.run("report") as run:
        inside = [unistore.read(sqlite_uri, "events"), unistore.read(sqlite_uri, "events", limit=1)]
    with unistore.run("other"):
        unistore.read(sqlite_uri, "events")
    answer = lineage.reads_in_run(run.run_id)
    assert answer.column("read_id").to_pylist() == [unistore.provenance_of(t).read_id for t in inside]
    assert set(answer.column("snapshot_kind").to_pylist()) == {"sqlite.file"}
    assert answer.column("rows").to_pylist() == [3, 1]
    by_name = lineage.reads_in_run("report")
    assert by_name.column("read_id").to_pylist() == answer.column("read_id").to_pylist()


def test_concurrent_reads_each_get_their_own_log_line(tmp_path, sqlite_uri):
    path = tmp_path / "lineage.jsonl"
    unistore.configure_lineage(log=path)
    ids: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(5):
            rid = unistore.provenance_of(unistore.read(sqlite_uri, "events")).read_id
            with lock:
                ids.append(rid)

    threads = [threading.Thread(target=work) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = path.read_text().splitlines()
    assert len(lines) == 60
    assert sorted(json.loads(line)["read_id"] for line in lines) == sorted(ids)


def test_reads_in_run_needs_a_log():
    with pytest.raises(unistore.BadSpecError):
        lineage.reads_in_run("x")
