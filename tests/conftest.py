"""Test set-up: every module in tests/stores/ contributes store loaders to the conformance suite."""

from __future__ import annotations

import importlib
import pathlib

import pytest

pytest.register_assert_rewrite("stores", "reference")

_STORE_MODULES = sorted(p.stem for p in (pathlib.Path(__file__).parent / "stores").glob("*.py") if p.stem != "__init__")
pytest_plugins = [f"stores.{m}" for m in _STORE_MODULES]

#: store name -> declared capabilities, in a stable order
ALL_STORES: dict[str, frozenset[str]] = {}
for _m in _STORE_MODULES:
    ALL_STORES.update(importlib.import_module(f"stores.{_m}").STORES)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs(*capabilities): generate only for stores declaring these capabilities")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "loader" not in metafunc.fixturenames:
        return
    needs = set()
    for marker in metafunc.definition.iter_markers("needs"):
        needs.update(marker.args)
    names = [name for name, caps in ALL_STORES.items() if needs <= caps]
    metafunc.parametrize("loader", names, indirect=True, ids=names)


@pytest.fixture
def loader(request):
    return request.getfixturevalue("loader_" + request.param.replace("-", "_"))


_cases: dict[str, object] = {}


@pytest.fixture
def case(loader):
    """The reference table loaded once per store for the whole session."""
    from reference import TABLE

    if loader.name not in _cases:
        _cases[loader.name] = loader.load("events", TABLE)
    return _cases[loader.name]


@pytest.fixture
def fresh_case(loader, request):
    """A private copy of the reference table, for tests that change data."""
    from reference import TABLE

    name = "t_" + request.node.name.split("[")[0].replace("test_", "")[:20] + "_" + str(abs(hash(request.node.nodeid)) % 10**6)
    return loader.load(name, TABLE)
