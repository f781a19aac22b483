"""Runs: one manifest per run, replayed input by input (identical / drifted / not replayable)."""

from __future__ import annotations

import contextvars
import gc
import json
import sqlite3
import threading

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import unistore
from unistore import cli
from unistore.runs import DRIFTED, IDENTICAL, NOT_REPLAYABLE


@pytest.fixture
def stores(tmp_path, sqlite_uri):
    """A SQLite file, a DuckDB file and a Parquet file, each with a small table."""
    duck = tmp_path / "d.duckdb"
    con = duckdb.connect(str(duck))
    con.execute("CREATE TABLE t AS SELECT * FROM range(5) r(id)")
    con.close()
    parquet = tmp_path / "p.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3], "v": ["a", "b", "c"]}), parquet)
    return {"sqlite": sqlite_uri, "duckdb": f"duckdb:///{duck}", "parquet": str(parquet),
            "sqlite_path": sqlite_uri.removeprefix("sqlite:///"), "duckdb_path": duck, "parquet_path": parquet}


def _run_over(stores, manifest):
    with unistore.run("train", outputs=["/tmp/model.bin"], manifest=manifest) as run:
        unistore.read(stores["sqlite"], "events")
        unistore.read(stores["duckdb"], query="SELECT id FROM t WHERE id >= 2")
        unistore.read(stores["parquet"])
    return run


def test_manifest_lists_inputs_and_outputs(tmp_path, stores):
    run = _run_over(stores, tmp_path / "m.json")
    manifest = json.loads(run.manifest_path.read_text())
    assert manifest["run"]["id"] == run.run_id and manifest["run"]["status"] == "completed"
    assert [i["source"]["system"] for i in manifest["inputs"]] == ["sqlite", "duckdb", "files"]
    for item, record in zip(manifest["inputs"], run.inputs):
        assert item == json.loads(record.to_json())
        assert {"source", "snapshot", "query", "result"} <= set(item) and item["result"]["fingerprint"]
    assert manifest["outputs"] == [{"namespace": "file", "name": "/tmp/model.bin", "uri": "/tmp/model.bin"}]
    assert manifest["failed_reads"] == []


def test_replay_of_unchanged_stores_is_identical(tmp_path, stores):
    run = _run_over(stores, tmp_path / "m.json")
    report = unistore.replay_manifest(run.manifest_path)
    assert [i.status for i in report] == [IDENTICAL] * 3
    assert report.identical


def test_replay_reports_what_drifted(tmp_path, stores):
    run = _run_over(stores, tmp_path / "m.json")
    with sqlite3.connect(stores["sqlite_path"]) as con:
        con.execute("UPDATE events SET amount = amount + 100 WHERE id = 1")
    con = duckdb.connect(str(stores["duckdb_path"]))
    con.execute("INSERT INTO t VALUES (99)")
    con.close()
    report = unistore.replay_manifest(run.manifest_path)
    sqlite_r, duck_r, parquet_r = report.inputs
    assert sqlite_r.status == DRIFTED and set(sqlite_r.differences) == {"fingerprint", "columns"}
    assert sqlite_r.differences["columns"] == ["amount"]  # the drift report names the changed column
    assert duck_r.status == DRIFTED and duck_r.differences["rows"] == {"recorded": 3, "now": 4}
    assert parquet_r.status == IDENTICAL
    assert not report.identical


def test_replay_says_what_is_not_replayable(tmp_path, stores):
    gone_db = tmp_path / "gone.db"
    with sqlite3.connect(gone_db) as con:
        con.execute("CREATE TABLE g (x INTEGER)")
    with unistore.run("partial", manifest=tmp_path / "m.json") as run:
        unistore.read(f"sqlite:///{gone_db}", "g")
        reader = unistore.scan(stores["sqlite"], "events", batch_size=1)
        reader.read_next_batch()
        reader.close()
        del reader
        gc.collect()  # the abandoned stream finishes: its record says it is incomplete
        with pytest.raises(unistore.SourceNotFoundError):
            unistore.read(stores["sqlite"], "no_such_table")
    gone_db.unlink()
    manifest = json.loads(run.manifest_path.read_text())
    assert len(manifest["failed_reads"]) == 1 and "no_such_table" in manifest["failed_reads"][0]["error"]
    report = unistore.replay_manifest(run.manifest_path)
    gone, incomplete = report.inputs
    assert gone.status == NOT_REPLAYABLE and "SourceNotFoundError" in gone.reason
    assert incomplete.status == NOT_REPLAYABLE and "did not finish" in incomplete.reason


def test_a_deleted_file_replays_as_drift_naming_the_object(tmp_path, stores):
    run = _run_over(stores, tmp_path / "m.json")
    stores["parquet_path"].unlink()
    parquet_r = unistore.replay_manifest(run.manifest_path).inputs[2]
    assert parquet_r.status == DRIFTED
    assert parquet_r.differences["objects"] == {str(stores["parquet_path"]): {"recorded": "present", "now": "missing"}}


def test_replay_can_read_a_recorded_source_from_another_uri(tmp_path, stores):
    import shutil

    run = _run_over(stores, tmp_path / "m.json")
    moved = tmp_path / "moved.db"
    shutil.move(stores["sqlite_path"], moved)
    recorded = json.loads(run.manifest_path.read_text())["inputs"][0]["source"]["uri"]
    assert unistore.replay_manifest(run.manifest_path).inputs[0].status == NOT_REPLAYABLE
    report = unistore.replay_manifest(run.manifest_path, uris={recorded: f"sqlite:///{moved}"})
    assert report.inputs[0].status == IDENTICAL


def test_cli_replay_prints_each_input_and_exits_nonzero_on_drift(tmp_path, stores, capsys):
    run = _run_over(stores, tmp_path / "m.json")
    assert cli.main(["replay", str(run.manifest_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("identical") == 3 and run.run_id in out
    with sqlite3.connect(stores["sqlite_path"]) as con:
        con.execute("DELETE FROM events WHERE id = 3")
    assert cli.main(["replay", str(run.manifest_path), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert [i["status"] for i in report["inputs"]] == [DRIFTED, IDENTICAL, IDENTICAL]
    assert report["inputs"][0]["differences"]["rows"] == {"recorded": 3, "now": 2}


def test_cli_replay_of_a_missing_or_bad_manifest_is_a_clear_error(tmp_path, capsys):
    # exit codes (cli --help): 1 is a unistore error such as a missing or malformed manifest, 2 a usage error
    assert cli.main(["replay", str(tmp_path / "nope.json")]) == 1
    (tmp_path / "bad.json").write_text("{}")
    assert cli.main(["replay", str(tmp_path / "bad.json")]) == 1
    assert "not a unistore manifest" in capsys.readouterr().err


def test_reads_in_other_threads_join_the_run_through_the_context(tmp_path, stores):
    with unistore.run("threads", manifest=tmp_path / "m.json") as run:
        ctx = contextvars.copy_context()
        inside = threading.Thread(target=ctx.run, args=(unistore.read, stores["parquet"]))
        outside = threading.Thread(target=unistore.read, args=(stores["parquet"],))  # a fresh context
        inside.start(); outside.start(); inside.join(); outside.join()  # noqa: E702
    assert len(run.inputs) == 1


def test_runs_nest_and_restore_the_outer_run(tmp_path, stores):
    with unistore.run("outer", manifest=False) as outer:
        with unistore.run("inner", manifest=False) as inner:
            unistore.read(stores["parquet"])
        unistore.read(stores["parquet"])
    assert (len(outer.inputs), len(inner.inputs)) == (1, 1)
    assert unistore.lineage.current_run.get() is None


def test_a_run_needs_a_name_and_runs_once():
    with pytest.raises(unistore.BadSpecError):
        unistore.run("")
    r = unistore.run("once", manifest=False)
    with r:
        pass
    with pytest.raises(unistore.BadSpecError):
        with r:
            pass
