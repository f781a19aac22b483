"""Test set-up: every module in tests/stores/ contributes stores to the conformance suite.

Tests taking the ``loader`` fixture are generated once per store, gated on
what the store can do (its adapter's declared capabilities plus its fixture's
traits, see tests/stores/__init__.py); the set is fixed at collection time.
"""

from __future__ import annotations

import functools
import importlib
import pathlib

import pytest

pytest.register_assert_rewrite("stores", "reference")

_STORE_MODULES = sorted(p.stem for p in (pathlib.Path(__file__).parent / "stores").glob("*.py") if p.stem != "__init__")
pytest_plugins = [f"stores.{m}" for m in _STORE_MODULES]

#: store name -> how it is found and what its fixture holds, in a stable order
ALL_STORES: dict = {}
for _m in _STORE_MODULES:
    ALL_STORES.update(importlib.import_module(f"stores.{_m}").STORES)


@functools.cache
def store_abilities(name: str) -> frozenset[str]:
    """What the suite may assume of store ``name``: declared capabilities | fixture traits."""
    from stores import abilities

    return abilities(ALL_STORES[name])


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs(*abilities, otherwise=None): generate only for stores with these "
                                       "abilities; with otherwise=Error, the others must raise exactly that error")
    config.addinivalue_line("markers", "unsupported(raises=Error): this store must refuse the test's read with that error")
    config.addinivalue_line("markers", "stores(*names): generate only for these stores (tests too slow to run on all)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "loader" not in metafunc.fixturenames:
        return
    # a test reading the reference table runs where it is loaded, one reading the series where that is;
    # a test reading neither (connection failures) runs on every store with the abilities it needs
    names = set(metafunc.fixturenames)
    holds = "timeseries" if "series" in names else "reference" if names & {"case", "fresh_case"} else None
    markers = list(metafunc.definition.iter_markers("needs"))
    chosen = metafunc.definition.get_closest_marker("stores")
    params = []
    for name in ALL_STORES:
        if chosen is not None and name not in chosen.args:
            continue
        have = store_abilities(name)
        if holds is not None and holds not in have:
            continue
        lacking = [m for m in markers if not set(m.args) <= have]
        if not lacking:
            params.append(pytest.param(name, id=name))
            continue
        refusals = [m.kwargs["otherwise"] for m in lacking if m.kwargs.get("otherwise")]
        if len(refusals) == len(lacking):  # every missing ability has a declared refusal: assert the first
            params.append(pytest.param(name, id=name, marks=pytest.mark.unsupported(raises=refusals[0])))
    metafunc.parametrize("loader", params, indirect=True)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function):
    """Run a test generated for a store lacking an ability: it passes only if the read raises the declared error."""
    marker = pyfuncitem.get_closest_marker("unsupported")
    if marker is None:
        return None
    expected = marker.kwargs["raises"]
    arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    with pytest.raises(expected) as info:
        pyfuncitem.obj(**arguments)
    assert type(info.value) is expected, f"expected exactly {expected.__name__}, got {type(info.value).__name__}"
    return True


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


_series: dict[str, object] = {}


@pytest.fixture
def series(loader):
    """The series set loaded once per store for the whole session."""
    if loader.name not in _series:
        _series[loader.name] = loader.load_series()
    return _series[loader.name]


class _Collect:
    """A lineage sink that keeps every finished read's event."""

    def __init__(self):
        self.events = []

    def emit(self, event):
        self.events.append(event)


@pytest.fixture
def lineage_events():
    """The events of the reads finished while the test runs (a sink added for the test only)."""
    from unistore import lineage

    sink = lineage.add_sink(_Collect())
    yield sink.events
    lineage.remove_sink(sink)
