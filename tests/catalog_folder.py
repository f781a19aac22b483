"""A project folder for catalog tests: its database made by the test, its unistore.yaml, as the current directory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


def catalog_folder(folder: Path, monkeypatch: pytest.MonkeyPatch, catalog: str,
                   make_data: Callable[[Path], None]) -> Path:
    """``folder`` with the test's data and ``catalog`` as unistore.yaml, made the current directory; a
    ``$UNISTORE_CATALOG`` of the environment running the tests cannot point elsewhere."""
    make_data(folder)
    (folder / "unistore.yaml").write_text(catalog)
    monkeypatch.chdir(folder)
    monkeypatch.delenv("UNISTORE_CATALOG", raising=False)
    return folder
