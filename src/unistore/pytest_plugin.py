"""A pytest plugin: a catalog's data tests collected as test items, so ``pytest`` runs them beside code tests.

Opt-in, so it costs a project's own suite nothing: it collects only when a
catalog is named, by ``--unistore-catalog PATH`` or the ``unistore_catalog``
ini value (``pytest.ini``/``pyproject.toml``), e.g.::

    pytest --unistore-catalog unistore.yaml            # code tests and data tests
    pytest --unistore-catalog unistore.yaml -k orders  # the data tests of orders

Each declared test is an item ``<catalog>::<dataset>::<test>`` (``unistore.yaml::orders::unique(id)``);
a dataset is read once, streaming, when its first item runs (the runner of
:mod:`unistore.testrunner`). A failed ``error`` test fails its item with the
observed value; a failed ``warn`` test passes with a ``DataTestWarning``; a
dataset that cannot be read fails all its items. ``--unistore-lock`` tests the
locked versions. Registered under the ``pytest11`` entry point; with pytest
run some other way, ``-p unistore.pytest_plugin`` loads it.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Iterator

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("unistore", "unistore data tests")
    group.addoption("--unistore-catalog", metavar="PATH", default=None,
                    help="collect the data tests of this catalog (unistore.yaml) as test items")
    group.addoption("--unistore-lock", action="store_true", default=False,
                    help="test the locked versions of the datasets (default: the data as it is now)")
    parser.addini("unistore_catalog", "a catalog whose data tests are collected as test items", default="")


def _catalog_path(config: pytest.Config) -> Path | None:
    given = config.getoption("--unistore-catalog") or config.getini("unistore_catalog")
    if not given:
        return None
    path = Path(given)
    return path if path.is_absolute() else Path(config.invocation_params.dir) / path


@pytest.hookimpl(tryfirst=True)  # before -k / -m deselect items
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    path = _catalog_path(config)
    if path is None:
        return
    collector = CatalogFile.from_parent(session, path=path)
    items.extend(collector.collect())


class DataTestFailure(Exception):
    """A failed error-severity data test, or a dataset that could not be read."""


class CatalogFile(pytest.File):
    """The catalog: one item per declared data test of each dataset that declares some."""

    def collect(self) -> Iterator["DataTestItem"]:
        from .catalogs import catalog

        self.catalog = catalog(self.path)
        lock = "strict" if self.config.getoption("--unistore-lock") else "off"
        self.cases = {case.name: case for case in self.catalog.test_cases(lock=lock)}
        self.outcomes: dict[str, Any] = {}
        for name in self.cases:
            ds = self.catalog.dataset(name)
            for check in ds.checks:
                for result_name in ([check.result_name(c) for c in check.columns_tested()] or [check.result_name()]):
                    yield DataTestItem.from_parent(self, name=f"{name}::{result_name}", dataset=name,
                                                   test=result_name, line=ds.line)

    def outcome(self, dataset: str) -> Any:
        """The dataset's read with its tests, done once."""
        if dataset not in self.outcomes:
            from .testrunner import run_data_tests

            self.outcomes[dataset] = run_data_tests([self.cases[dataset]]).outcomes[0]
        return self.outcomes[dataset]


class DataTestItem(pytest.Item):
    def __init__(self, *, dataset: str, test: str, line: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.dataset, self.test, self.line = dataset, test, line
        self.add_marker(pytest.mark.unistore)

    def runtest(self) -> None:
        from .errors import DataTestWarning
        from .testrunner import result_line

        outcome = self.parent.outcome(self.dataset)  # type: ignore[attr-defined]
        if outcome.error is not None:
            raise DataTestFailure(f"{self.dataset} ({outcome.source}) could not be read: {outcome.error}")
        result = next((r for r in outcome.results if r.name == self.test), None)
        if result is None:
            raise DataTestFailure(f"{self.dataset}: the read gave no result for {self.test}")
        line = result_line(result).strip()
        self.user_properties.append(("read_id", outcome.read_id))
        if not result.success and result.severity == "error":
            raise DataTestFailure(f"{self.dataset} ({outcome.source}, {outcome.rows} rows, read {outcome.read_id}): "
                                  f"{line}")
        if not result.success:
            warnings.warn(DataTestWarning(f"{self.dataset}: {line}"), stacklevel=1)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, DataTestFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, self.line - 1, f"data test {self.dataset}::{self.test}"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "unistore: a data test of a unistore catalog")


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    _leave_unistore_unrewritten(early_config)


def _leave_unistore_unrewritten(config: pytest.Config) -> None:
    """Keep pytest's assertion rewriting off unistore's own modules.

    pytest rewrites every module of a distribution that registers a plugin,
    so each unistore module imported during a test run is parsed by
    ``ast.parse`` on import. unistore imports some modules on first use, and a
    first use can be in a reader thread (a federated query opens its inputs
    in parallel); on Python 3.11 two threads parsing at once can fail with
    "SystemError: AST constructor recursion depth mismatch" (CPython
    gh-106905). A library has no test asserts to rewrite, so only the plugin
    and what pytest imported before this hook stay rewritten. The names are
    pytest's private ones; if they change, rewriting simply stays on.
    """
    hook = getattr(config.pluginmanager, "rewrite_hook", None)
    marked = getattr(hook, "_must_rewrite", None)
    if isinstance(marked, set) and "unistore" in marked:
        marked.discard("unistore")
        cache = getattr(hook, "_marked_for_rewrite_cache", None)
        if isinstance(cache, dict):
            cache.clear()
