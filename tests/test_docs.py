"""Every Python example in the core docs runs as written (each page in a fresh folder)."""

import pytest

from docs_examples import run_examples

PAGES = ["quickstart.md", "provenance.md", "adapters.md", "stores/sql.md", "data-tests.md",
         "index.md", "tour.md", "notebooks.md", "faq.md", "collectors.md"]


@pytest.mark.parametrize("page", PAGES)
def test_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_examples(page)
