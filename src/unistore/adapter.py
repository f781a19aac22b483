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
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
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
    "check_max_splits",
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
    splits: bool = False           # plan() can cut a read into more than one split


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
    """One piece of a planned read, picklable so it can run in another process or on another machine.

    ``payload`` is the adapter's own description of the piece (a key range, a
    file fragment, a time slice) and must pickle; ``covers`` says the same for
    people, in the record (``{"ctid": [0, 512]}``, ``{"file": "part-3.parquet"}``);
    ``rows``/``bytes`` estimate its size when known before running it (else None).
    """

    index: int
    payload: Any = None
    covers: dict[str, Any] | None = None
    rows: int | None = None
    bytes: int | None = None


@dataclass
class ReadPlan:
    """A read cut into splits that together return each row of the read exactly once.

    ``snapshot`` is the one state every split reads when the plan pins one
    (None: each split captures its own when it runs, see ``consistent``).
    ``consistent`` says whether the splits together see one state of the store
    (one exported transaction snapshot, one table version, one pinned end) or
    each its own; ``consistency`` says which, in one sentence for the record
    and the docs. ``method`` names how the read was cut (``"ctid ranges"``,
    ``"fragments"``, ``"time slices"``...). ``release`` frees what the planner
    holds for the splits (PostgreSQL keeps the transaction whose snapshot they
    import open until then); :meth:`close` calls it once. ``ordered``: the
    splits' rows, concatenated in split order, are in the order the read asked
    for (the executor then keeps split order).
    """

    splits: tuple[Split, ...]
    snapshot: Snapshot | None
    consistent: bool
    method: str = "whole read"
    consistency: str = "one split: the state the read sees when it runs"
    ordered: bool = False
    #: what the read sends as a whole, for the record (None: the first split's query)
    query: Query | None = None
    release: Callable[[], None] | None = field(default=None, repr=False, compare=False)

    def close(self) -> None:
        """Release what the planner holds for the splits (idempotent)."""
        release, self.release = self.release, None
        if release is not None:
            release()

    def __enter__(self) -> "ReadPlan":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self) -> dict[str, Any]:
        """The plan's part of the record (``query.pushed_down["plan"]``), before any split ran."""
        return {"method": self.method, "consistent": self.consistent, "consistency": self.consistency,
                "splits": [{"index": s.index, "covers": s.covers, "rows_estimate": s.rows,
                            "bytes_estimate": s.bytes} for s in self.splits]}


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

        A plan that pins a snapshot must make every split read exactly it (and
        hold what that needs until :meth:`ReadPlan.close`). The default pins
        nothing in advance: its one split captures the snapshot when it runs,
        like a plain read, so it is consistent by construction. The engine has
        refused what the capabilities rule out before calling this.
        """
        check_max_splits(max_splits)
        return ReadPlan(splits=(Split(index=0),), snapshot=None, consistent=True)

    def scan_split(self, spec: ReadSpec, split: Split) -> Scan:
        """Start the part of the read ``spec`` that ``split`` (from :meth:`plan` of the same spec) covers.

        Called in whichever thread or process runs the split, on a connection
        opened for the same location. The default runs the whole read.
        """
        return self.scan(spec)

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


def check_max_splits(max_splits: Any) -> None:
    """Refuse a split count that is not a positive integer (planners call it first)."""
    if isinstance(max_splits, bool) or not isinstance(max_splits, int) or max_splits < 1:
        raise BadSpecError(f"max_splits must be a positive integer, got {short(max_splits)}")


class Adapter(abc.ABC):
    """A store family: opens connections for the schemes it is registered under."""

    #: options ``open`` accepts (everything else in ``unistore.read(**options)`` goes to the read)
    open_options: ClassVar[frozenset[str]] = frozenset()

    @abc.abstractmethod
    def open(self, location: Location, **options: Any) -> Connection:
        """Open ``location``; raise :class:`~unistore.errors.SourceNotFoundError` etc. early."""

    def connection_class(self, location: Location, **options: Any) -> type[Connection]:
        """The class of connection :meth:`open` returns for ``location``, found without connecting.

        Capabilities are class attributes, so tools (the conformance suite, the
        CLI) can ask what a store can do before opening it. By default the
        return annotation of ``open`` names the class; an adapter whose class
        depends on the location (one per SQL dialect) overrides this.
        """
        hints = typing.get_type_hints(type(self).open)
        return hints["return"]
