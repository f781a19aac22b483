"""Running the Python examples of a docs page as written: in order, in one namespace.

Each test chdirs to a fresh folder first and may swap addresses on the page
for the test servers' (``replace=``).
"""

from __future__ import annotations

import pathlib
import re
from collections.abc import Callable

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"


def examples(page: str, *, replace: dict[str, str] | None = None, at_least: int = 1) -> list[str]:
    """The ```python blocks of ``docs/<page>``, with ``replace`` applied to the page's text."""
    text = (DOCS / page).read_text()
    for old, new in (replace or {}).items():
        text = text.replace(old, new)
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    assert len(blocks) >= at_least, f"docs/{page} has {len(blocks)} examples, expected at least {at_least}"
    return blocks


def run_examples(page: str, *, replace: dict[str, str] | None = None, at_least: int = 1,
                 before: Callable[[str], None] | None = None) -> dict:
    """Execute every example of ``docs/<page>``; return the namespace they built up."""
    namespace: dict = {"__name__": "docs_example"}
    for i, block in enumerate(examples(page, replace=replace, at_least=at_least)):
        if before is not None:
            before(block)
        try:
            exec(compile(block, f"docs/{page}[{i}]", "exec"), namespace)  # noqa: S102
        except Exception as exc:  # pragma: no cover - the message says which block failed
            raise AssertionError(f"example {i} of docs/{page} failed: {exc!r}\n{block}") from exc
    return namespace
