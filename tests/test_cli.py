"""The command line: read with a preview and the provenance, write outputs, run the demo."""

import json
import subprocess
import sys

import pyarrow.parquet as pq

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
    record = json.loads(out.split("provenance:\n", 1)[1])
    assert record["result"]["rows"] == 3 and record["query"]["filter"] == "id <= 3"
    written = pq.read_table(out_file)
    assert written.num_rows == 3 and b"unistore.provenance" in written.schema.metadata


def test_errors_are_reported_without_a_traceback(capsys):
    assert main(["read", "nosuch://x"]) == 2
    assert "UnknownSchemeError" in capsys.readouterr().err


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
