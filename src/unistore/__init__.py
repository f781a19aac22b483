"""unistore: one read API over data silos, with provenance on every result.

    >>> import unistore
    >>> table = unistore.read("sqlite:///shop.db", "events", filter=[("amount", ">", 10)])
    >>> unistore.provenance_of(table).snapshot

See docs/ for the quick start, the provenance record and writing an adapter.
This namespace is the user API; adapters are written against
:mod:`unistore.adapter`, which has its own ``__all__``.
"""

from ._version import __version__
from .api import read, scan, source
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
from .federated import sql, sql_scan
from .filters import Filter, col
from .fingerprint import fingerprint
from .frames import to_pandas, to_polars
from .location import redact
from .provenance import Provenance, provenance_of
from .registry import known_schemes, register
from .replay import replay
from . import checks, lineage
from .lineage import configure as configure_lineage
from .runs import Run, replay_manifest, run
from .catalogs import Catalog, catalog
from .snapshot import Snapshot
from .source import Source
from .spec import ReadSpec

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
