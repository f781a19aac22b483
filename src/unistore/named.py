"""Readers and input factories for names that are not store locations (``catalog:orders``), by prefix.

Filled by the layer that owns the names (:mod:`unistore.catalogs`), consulted
by :mod:`unistore.api` (``read``/``scan``) and :mod:`unistore.inputs`
(cross-silo SQL). They live in this leaf module, below both, so that the
package can point ``catalog:`` at the catalog before importing either: ``import
unistore`` imports neither the read path nor the catalog.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .inputs import NamedInput

#: readers by prefix: ``"catalog"`` reads ``catalog:orders`` from the default catalog; each takes
#: ``(name, "read" | "scan", table, read keyword arguments)``
NAMED_READERS: dict[str, Callable[[str, str, Any, dict[str, Any]], Any]] = {}

#: factories of named inputs by prefix: ``"catalog"`` turns ``catalog:orders`` (and read options)
#: into a :class:`~unistore.inputs.NamedInput`
NAMED_INPUTS: dict[str, Callable[[str, dict[str, Any]], NamedInput]] = {}
