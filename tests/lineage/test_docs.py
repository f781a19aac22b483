"""The examples in docs/lineage.md run, in order, in an empty directory with a small shop.db."""

from __future__ import annotations

from docs_examples import run_examples
from unistore.lineage import otel

from .conftest import make_sqlite


def test_lineage_page_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")  # the bare openlineage=True example must not print events
    make_sqlite(tmp_path / "shop.db")

    def before(block: str) -> None:
        if "OpenLineageClient(transport=" in block:
            monkeypatch.delenv("OPENLINEAGE_DISABLED", raising=False)

    try:
        run_examples("lineage.md", at_least=6, before=before)
    finally:
        otel.use_providers(None, None)
    assert (tmp_path / "report-run.json").exists()
