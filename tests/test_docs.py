"""Every Python example in the core docs runs as written (each page in a fresh folder)."""

import pathlib
import re

import pytest

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"
PAGES = ["quickstart.md", "provenance.md", "adapters.md", "stores/sql.md"]


def blocks(page: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(), re.DOTALL)


@pytest.mark.parametrize("page", PAGES)
def test_examples_run(page, tmp_path, monkeypatch, capsys):
    code = blocks(page)
    assert code, f"{page} has no examples"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "docs_example"}
    for i, block in enumerate(code):
        try:
            exec(compile(block, f"{page}[{i}]", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the message says which block failed
            raise AssertionError(f"example {i} of {page} failed: {exc!r}\n{block}") from exc
