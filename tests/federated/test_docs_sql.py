"""The examples of docs/cross-silo-sql.md run as written."""

from docs_examples import run_examples


def test_the_cross_silo_sql_page_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_examples("cross-silo-sql.md", at_least=5)
