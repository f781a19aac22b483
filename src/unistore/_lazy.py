"""Public names that import their module on first use (PEP 562), so ``import unistore`` stays cheap.

``import unistore`` imports the errors and nothing else. pyarrow, the read
engine, the provenance record, lineage with the OpenTelemetry API and the
registry with the installed plugins' entry points wait for the first read,
which needs them all; runs, cross-silo SQL (sqlglot), the catalog (a YAML
parser), data tests (``pyarrow.compute``) and pandas/polars conversions wait
for their own first use. A process that never reads pays for none of it.

A package that offers such names lists them in a table, ``name -> "module"``
(the submodule itself) or ``name -> "module:attribute"``, with the reason
each waits, and calls :func:`install`: the first access imports the module
and caches the value in the package, so later accesses are plain attribute
reads; ``dir()`` lists the names before and after; any other submodule is
still reachable as an attribute (``unistore.engine``), as it was when the
package imported them all. A ``TYPE_CHECKING`` block next to the table names
the same imports for type checkers and the API reference.

Below the package, a module a read needs only when a feature is on is
imported where that feature starts, with the reason next to it (the lineage
sinks' modules in :mod:`unistore.lineage.config`).
``tests/test_import_cost.py`` guards what ``import unistore`` and a plain
read must not import.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from collections.abc import Mapping
from typing import Any

# Held around a deferred name's first import: its modules import each other (``unistore.Source`` ->
# engine -> ``unistore.lineage.span``), so two threads first touching different names would each see the
# other's partially initialised module (ImportError, KeyError). Reentrant, since a module being
# imported may itself touch a deferred name.
_import_lock = threading.RLock()


class _Package(types.ModuleType):
    """A package whose deferred names may share a submodule's name: ``unistore.source`` is the function
    :func:`unistore.api.source`, ``unistore/source.py`` a module. Importing a submodule makes the import
    system ``setattr`` it on its package; for such a name that would replace the public function with the
    module, so it is ignored here (the submodule stays in ``sys.modules``)."""

    _lazy_table: Mapping[str, str] = {}

    def __setattr__(self, name: str, value: Any) -> None:
        if (
            ":" in self._lazy_table.get(name, "")
            and isinstance(value, types.ModuleType)
            and value.__name__ == f"{self.__name__}.{name}"
        ):
            return
        super().__setattr__(name, value)

    def __getattr__(self, name: str) -> Any:
        target = self._lazy_table.get(name)
        if target is None:
            if name.startswith("_") or importlib.util.find_spec(f"{self.__name__}.{name}") is None:
                raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
            target = f".{name}"
        module_name, _, attribute = target.partition(":")
        with _import_lock:
            if name in self.__dict__:  # another thread imported it while this one waited
                return self.__dict__[name]
            module = importlib.import_module(module_name, self.__name__)
            value = getattr(module, attribute) if attribute else module
            self.__dict__[name] = value
        return value

    def __dir__(self) -> list[str]:
        return sorted(set(self.__dict__) | set(self._lazy_table))


def install(package: str, table: Mapping[str, str]) -> None:
    """Give the (already imported) ``package`` the deferred names of ``table``."""
    module = sys.modules[package]
    module.__class__ = _Package
    module._lazy_table = table
