"""The plugin interface: what an adapter implements, and nothing else.

An :class:`Adapter` opens a :class:`Connection` for a location. A
connection's one duty is :meth:`Connection.scan`: turn a validated
:class:`~unistore.spec.ReadSpec` into a :class:`Scan` — batches, the
:class:`Snapshot` they come from, the :class:`Dataset` read and the
:class:`Query` actually sent. The read engine (:mod:`unistore.engine`) does
everything around it the same way for every adapter: it refuses what the
connection's :class:`Capabilities` rule out before the adapter is called,
fills the request, columns and filter of the record, applies the residual
filter and the limit, fingerprints, and reports the read.

Users never hold a connection directly: :func:`unistore.source` wraps it in
the :class:`unistore.source.Source` handle. This module imports only values
(record parts, spec, snapshot), so adapters and the engine can both build on
it; see docs/adapters.md for a complete adapter written against it alone.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa

from .errors import BadSpecError
from .filters import Filter, short
from .location import Location
from .provenance import Dataset, Query
from .snapshot import Snapshot
from .spec import ReadSpec

__all__ = [
    "Adapter",
    "Capabilities",
    "Connection",
    "Dataset",
    "Location",
    "Query",
    "ReadPlan",
    "ReadSpec",
    "Scan",
    "Snapshot",
    "Split",
]


@dataclass(frozen=True)
class Capabilities:
    """What a connection can do, declared once; the engine refuses the rest before calling the adapter.

    The conformance suite gates its tests on the same declaration, so a
    capability is never stated twice.
    """

    queries: bool = False          # raw query text (SQL, PromQL, ...) with query=
    params: bool = False           # bound parameters for that text (params=)
    listing: bool = True           # Connection.tables()
    as_of: bool = False            # reads pinned with as_of=
    replay_exact: bool = False     # replay returns exactly the recorded state
    write_protection: bool = False # the store itself refuses writes during a read


@dataclass
class Scan:
    """What an adapter hands the engine for one read.

    ``batches`` must match ``schema``; ``residual`` is the part of the filter
    the store could not evaluate (the engine applies it with pyarrow.compute,
    then the limit); ``close`` releases the connection or transaction.
    ``query`` says what was sent and what was pushed down: the engine fills
    its ``request``, ``columns`` and ``filter`` from the spec.
    """

    schema: pa.Schema
    batches: Iterable[pa.RecordBatch]
    snapshot: Snapshot
    dataset: Dataset
    query: Query
    residual: Filter | None = None
    close: Callable[[], None] | None = None
    ordered: bool = False


@dataclass(frozen=True)
class Split:
    """One piece of a planned read, picklable so it can run in another process.

    ``payload`` is the adapter's own description of the piece (a key range, a
    file fragment, a time slice); ``rows``/``bytes`` estimate its size when
    known before running it (else None); ``dataset``/``query`` are its part of
    the record, None when they are known only once the split runs.
    """

    index: int
    payload: Any
    dataset: Dataset | None = None
    query: Query | None = None
    rows: int | None = None
    bytes: int | None = None


@dataclass(frozen=True)
class ReadPlan:
    """A read cut into splits, all pinned to ``snapshot``.

    ``consistent`` says whether the splits together see one state of the
    store (one exported transaction snapshot, one table version) or each its
    own.
    """

    splits: tuple[Split, ...]
    snapshot: Snapshot | None
    consistent: bool


class Connection(abc.ABC):
    """One opened location: reusable for many reads; an adapter subclasses it.

    Raise unistore errors, never a driver's. ``capabilities`` and
    ``read_options`` are class attributes the engine reads before any call.
    """

    capabilities: ClassVar[Capabilities] = Capabilities()
    #: read options (beyond the common ones) this connection understands
    read_options: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, location: Location):
        self.location = location

    @property
    def uri(self) -> str:
        """The location with credentials removed, for messages and records."""
        return self.location.redacted()

    @abc.abstractmethod
    def scan(self, spec: ReadSpec) -> Scan:
        """Start the read ``spec`` asks for; the engine has already refused what capabilities rule out."""

    def check(self, spec: ReadSpec) -> None:
        """Refuse a request this store cannot serve, without sending anything (store-specific options)."""

    def plan(self, spec: ReadSpec, max_splits: int) -> ReadPlan:
        """Cut the read into at most ``max_splits`` splits; by default one split, the whole read.

        The default pins nothing in advance (``snapshot`` None): its one split,
        whose payload is the spec itself, captures the snapshot when it runs,
        like a plain read, so it is consistent by construction.
        """
        if isinstance(max_splits, bool) or not isinstance(max_splits, int) or max_splits < 1:
            raise BadSpecError(f"max_splits must be a positive integer, got {short(max_splits)}")
        return ReadPlan(splits=(Split(index=0, payload=spec),), snapshot=None, consistent=True)

    def tables(self) -> list[str]:
        """Tables, views or files this connection can read (only when ``capabilities.listing``)."""
        raise NotImplementedError(f"{type(self).__name__} cannot list its contents")

    def schema(self, table: str | tuple[str, ...]) -> pa.Schema:
        """The Arrow schema a read of ``table`` returns."""
        raise NotImplementedError(f"{type(self).__name__} cannot describe a table without reading it")

    def close(self) -> None:
        """Release connections and file systems; called once, by the handle or the engine."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.uri}>"


class Adapter(abc.ABC):
    """A store family: opens connections for the schemes it is registered under."""

    #: options ``open`` accepts (everything else in ``unistore.read(**options)`` goes to the read)
    open_options: ClassVar[frozenset[str]] = frozenset()

    @abc.abstractmethod
    def open(self, location: Location, **options: Any) -> Connection:
        """Open ``location``; raise :class:`~unistore.errors.SourceNotFoundError` etc. early."""
