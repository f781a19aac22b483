"""docs/data-as-code.md runs as written: its catalog (the first YAML block) in a fresh folder, then every example."""

from __future__ import annotations

import re

from docs_examples import DOCS, run_examples


def test_data_as_code_page_examples_run(tmp_path, monkeypatch):
    text = (DOCS / "data-as-code.md").read_text()
    catalog = re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)[0]
    assert catalog.startswith("# unistore.yaml\n")
    (tmp_path / "unistore.yaml").write_text(catalog)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UNISTORE_CATALOG", raising=False)
    namespace = run_examples("data-as-code.md", at_least=8)
    assert namespace["cat"].lockfile().entries["orders"].rows == 93
