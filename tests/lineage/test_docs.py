"""The examples in docs/lineage.md run, in order, in an empty directory with a small shop.db."""

from __future__ import annotations

import re

from unistore.lineage import otel

from .conftest import REPO, make_sqlite


def test_lineage_page_examples_run(tmp_path, monkeypatch):
    text = (REPO / "docs" / "lineage.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 6
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")  # the bare openlineage=True example must not print events
    make_sqlite(tmp_path / "shop.db")
    namespace: dict = {}
    try:
        for block in blocks:
            if "OpenLineageClient(transport=" in block:
                monkeypatch.delenv("OPENLINEAGE_DISABLED")
            exec(compile(block, "docs/lineage.md", "exec"), namespace)  # noqa: S102
    finally:
        otel.use_providers(None, None)
    assert (tmp_path / "report-run.json").exists()
