"""Data as code: a catalog of named datasets (``unistore.yaml``) and a lock file that pins them (``unistore.lock``).

The package only gathers the public names; its modules import one another
bottom-up (``document`` < ``lockfile`` < ``catalog``) and never this package.
See docs/data-as-code.md.
"""

from __future__ import annotations

from .catalog import Catalog, DriftWarning, catalog
from .document import CATALOG_NAME, LOCK_NAME, CatalogDocument, DatasetDef, SourceDef, find_catalog
from .lockfile import Check, LockEntry, LockFile, format_checks

__all__ = [
    "CATALOG_NAME",
    "Catalog",
    "CatalogDocument",
    "Check",
    "DatasetDef",
    "DriftWarning",
    "LOCK_NAME",
    "LockEntry",
    "LockFile",
    "SourceDef",
    "catalog",
    "find_catalog",
    "format_checks",
]
