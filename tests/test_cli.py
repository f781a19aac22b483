"""The command line: read with a preview and the provenance, write outputs, run the demo."""

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from reference import TABLE
from unistore.cli import main


def test_read_prints_a_preview_and_the_provenance(tmp_path, capsys):
    pq.write_table(TABLE, tmp_path / "t.parquet")
    out_file = tmp_path / "out.parquet"
    code = main(["read", str(tmp_path / "t.parquet"), "--columns", "id,kind", "--filter", '[["id", "<=", 3]]',
                 "--output", str(out_file)])
    assert code == 0
    out = capsys.readouterr().out
    assert "id" in out and "kind" in out and "(3 rows)" in out
    block = out.split("<Provenance of ", 1)[1]  # the readable record after the preview
    assert "rows         3 (" in block and "filter       id <= 3" in block
    assert main(["read", str(tmp_path / "t.parquet"), "--filter", '[["id", "<=", 3]]', "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["result"]["rows"] == 3 and record["query"]["filter"] == "id <= 3"
    written = pq.read_table(out_file)
    assert written.num_rows == 3 and b"unistore.provenance" in written.schema.metadata


def test_errors_are_reported_without_a_traceback(capsys):
    assert main(["read", "nosuch://x"]) == 1
    err = capsys.readouterr().err
    assert "UnknownSchemeError" in err and err.count("\n") == 1


@pytest.mark.parametrize("text", ['{"a": 1}', '"x"', "1", "[]", "[1, 2]", '[["a", ">", 1], 5]', "[[]]",
                                  '[[["a", ">", 1]], ["a", "<", 2]]', "not json"])
def test_a_filter_of_the_wrong_shape_is_a_usage_error(tmp_path, capsys, text):
    """Issue 9: ``--filter '{"a":1}'`` (valid JSON, wrong shape) raised a KeyError with a traceback."""
    pq.write_table(TABLE, tmp_path / "t.parquet")
    with pytest.raises(SystemExit) as exc:
        main(["read", str(tmp_path / "t.parquet"), "--filter", text])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--filter" in err and "Traceback" not in err


def test_a_filter_of_bad_tuples_is_a_unistore_error(tmp_path, capsys):
    pq.write_table(TABLE, tmp_path / "t.parquet")
    assert main(["read", str(tmp_path / "t.parquet"), "--filter", '[["id", "like", 1]]']) == 1
    assert "BadSpecError" in capsys.readouterr().err


def test_output_into_a_missing_folder_fails_before_reading(tmp_path, capsys):
    """Issue 9: ``--output`` into a missing folder raised FileNotFoundError after the whole read."""
    pq.write_table(TABLE, tmp_path / "t.parquet")
    assert main(["read", str(tmp_path / "t.parquet"), "--output", str(tmp_path / "no" / "such" / "out.csv")]) == 1
    captured = capsys.readouterr()
    assert "BadSpecError" in captured.err and "folder does not exist" in captured.err
    assert "provenance" not in captured.out  # nothing was read
    assert main(["read", str(tmp_path / "t.parquet"), "--output", str(tmp_path / "out.xlsx")]) == 1
    assert main(["read", str(tmp_path / "t.parquet"), "--output", str(tmp_path)]) == 1


def test_help_documents_the_exit_codes(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["read", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "exit status" in out and "0  success" in out and "1  unistore error" in out and "2  usage" in out


def test_errors_exit_non_zero_in_a_real_process(tmp_path):
    """The exit status a shell sees: 1 for a unistore error, 2 for a usage error, one line on stderr."""
    unistore = [str(Path(sys.executable).with_name("unistore"))]  # the console script users run
    missing = subprocess.run(unistore + ["read", str(tmp_path / "nope.parquet")],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1
    assert missing.stderr.startswith("unistore: SourceNotFoundError") and missing.stderr.count("\n") == 1
    usage = subprocess.run(unistore + ["read", "x.parquet", "--limit", "many"],
                           capture_output=True, text=True, timeout=120)
    assert usage.returncode == 2 and "--limit" in usage.stderr


def test_demo_runs_on_embedded_stores(tmp_path):
    """The README's main job: `unistore demo` builds the silos, reads them and shows drift."""
    result = subprocess.run([sys.executable, "-m", "unistore.cli", "demo", "--dir", str(tmp_path / "demo")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for section in ("== events", "== customers", "== orders", "== products", "== events, 2026-01-02 (time range)",
                    "orders: identical", "DriftError"):
        assert section in out
    assert "sqlite.file" in out and "duckdb.file" in out and "files.objects" in out
    # data as code: the catalog names the silos' datasets, the lock pins them, the check names what moved
    section = out.split("== data as code", 1)[1]
    assert "lock status verified" in section
    table = section.split("DATASET", 1)[1].split("\n==", 1)[0]
    lines = {line.split()[0]: line.split()[1] for line in table.splitlines()[1:] if line.strip()}
    assert lines == {"events": "ok", "customers": "ok", "paid_orders": "drifted", "products": "ok"}
    assert (tmp_path / "demo" / "unistore.yaml").is_file() and (tmp_path / "demo" / "unistore.lock").is_file()
    # data tests: one passes, one fails, each with what was observed
    tests = out.split("== data tests", 1)[1]
    assert "  PASS  unique(order_id)  observed" in tests
    assert "  FAIL  accepted_values(country)  observed" in tests and '"JP"' in tests
    assert "3 passed, 1 failed" in tests and "exit code 1" in tests
