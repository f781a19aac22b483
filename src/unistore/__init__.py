"""unistore: one read API over data silos, with provenance on every result.

    >>> import unistore
    >>> table = unistore.read("sqlite:///shop.db", "events", filter=[("amount", ">", 10)])
    >>> unistore.provenance_of(table).snapshot

See docs/ for the quick start, the provenance record and writing an adapter.
This namespace is the user API; adapters are written against
:mod:`unistore.adapter`, which has its own ``__all__``.
"""

from typing import TYPE_CHECKING

from . import _lazy, named as _named
from ._version import __version__
from .errors import (
    AdapterError,
    AuthenticationError,
    BadSpecError,
    CatalogError,
    DataTestError,
    DataTestWarning,
    DriftError,
    MissingExtraError,
    QueryError,
    ReadOnlyError,
    SinkError,
    SnapshotUnavailableError,
    SourceNotFoundError,
    SourceUnavailableError,
    UnistoreError,
    UnknownSchemeError,
)

#: every other public name, imported on first use (see :mod:`unistore._lazy`): ``import unistore`` costs
#: the errors above, and each module below is imported when a name from it is first used
_LAZY = {
    # the read path: pyarrow, the engine, the provenance record and fingerprints, imported by the first read
    "read": ".api:read",
    "scan": ".api:scan",
    "source": ".api:source",
    "Source": ".source:Source",
    "ReadSpec": ".spec:ReadSpec",
    "Filter": ".filters:Filter",
    "col": ".filters:col",
    "fingerprint": ".fingerprint:fingerprint",
    "redact": ".location:redact",
    "Provenance": ".provenance:Provenance",
    "provenance_of": ".provenance:provenance_of",
    "Snapshot": ".snapshot:Snapshot",
    "known_schemes": ".registry:known_schemes",
    "register": ".registry:register",
    "replay": ".replay:replay",
    # lineage: the OpenTelemetry span and the sinks of every read (the first read imports it too)
    "lineage": ".lineage",
    "configure_lineage": ".lineage.config:configure",
    # runs write manifests and OpenLineage run events: they import that sink's module
    "run": ".runs:run",
    "Run": ".runs:Run",
    "replay_manifest": ".runs:replay_manifest",
    # cross-silo SQL pulls in sqlglot and its lineage module
    "sql": ".federated:sql",
    "sql_scan": ".federated:sql_scan",
    # the catalog pulls in a YAML parser
    "catalog": ".catalogs:catalog",
    "Catalog": ".catalogs:Catalog",
    # converting to pandas/polars (and following provenance through their frames) waits for a first conversion
    "to_pandas": ".frames:to_pandas",
    "to_polars": ".frames:to_polars",
    # data tests import pyarrow.compute
    "checks": ".checks",
}
_lazy.install(__name__, _LAZY)

if TYPE_CHECKING:  # what type checkers and editors see: the same names as _LAZY, imported plainly
    from . import checks, lineage
    from .api import read, scan, source
    from .catalogs import Catalog, catalog
    from .federated import sql, sql_scan
    from .filters import Filter, col
    from .fingerprint import fingerprint
    from .frames import to_pandas, to_polars
    from .lineage.config import configure as configure_lineage
    from .location import redact
    from .provenance import Provenance, provenance_of
    from .registry import known_schemes, register
    from .replay import replay
    from .runs import Run, replay_manifest, run
    from .snapshot import Snapshot
    from .source import Source
    from .spec import ReadSpec


def _catalog(entry: str) -> object:
    """``catalog:NAME`` in ``read``/``scan``/``sql`` before the catalog package is imported: import it (it
    registers its own readers, replacing these) and hand over."""
    import importlib

    return getattr(importlib.import_module(".catalogs.catalog", __name__), entry)


_named.NAMED_READERS.setdefault("catalog", lambda *args: _catalog("_read_named")(*args))  # type: ignore[operator]
_named.NAMED_INPUTS.setdefault("catalog", lambda *args: _catalog("_input_named")(*args))  # type: ignore[operator]

__all__ = [
    "AdapterError",
    "AuthenticationError",
    "BadSpecError",
    "Catalog",
    "CatalogError",
    "DataTestError",
    "DataTestWarning",
    "DriftError",
    "Filter",
    "MissingExtraError",
    "Provenance",
    "QueryError",
    "ReadOnlyError",
    "ReadSpec",
    "Run",
    "SinkError",
    "Snapshot",
    "SnapshotUnavailableError",
    "Source",
    "SourceNotFoundError",
    "SourceUnavailableError",
    "UnistoreError",
    "UnknownSchemeError",
    "__version__",
    "catalog",
    "checks",
    "col",
    "configure_lineage",
    "fingerprint",
    "known_schemes",
    "lineage",
    "provenance_of",
    "read",
    "redact",
    "register",
    "replay",
    "replay_manifest",
    "run",
    "scan",
    "source",
    "sql",
    "sql_scan",
    "to_pandas",
    "to_polars",
]
