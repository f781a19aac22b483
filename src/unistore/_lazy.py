"""Public names that import their module on first use (PEP 562), so ``import unistore`` stays cheap.

``import unistore`` should cost little more than ``import pyarrow``: a script
that only reads a Parquet file must not pay for OpenTelemetry, the OpenLineage
sink, cross-silo SQL or the catalog's YAML parser. A package that offers such a
name lists it in a table, ``name -> "module"`` (the submodule itself) or
``name -> "module:attribute"``, each entry with the reason it is deferred,
and hands the table to :func:`lazy_names`; the returned pair becomes the
package's ``__getattr__`` and ``__dir__``. The first access imports the
module and caches the value in the package, so later accesses are plain
attribute reads; ``dir()`` lists the names before and after.

Deferred imports inside functions are kept for what only one code path needs
(the OpenTelemetry API in :mod:`unistore.lineage.otel`, ``pyarrow.compute``
for column statistics, the installed distributions' entry points in
:mod:`unistore.registry`), each with its reason next to it.
``tests/test_import_cost.py`` names the modules ``import unistore`` must not
import.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(
    package: str, namespace: dict[str, Any], table: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package`` (whose globals are ``namespace``) for ``table``."""

    def __getattr__(name: str) -> Any:
        target = table.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module_name, _, attribute = target.partition(":")
        module = importlib.import_module(module_name, package)
        value = getattr(module, attribute) if attribute else module
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(table))

    return __getattr__, __dir__
