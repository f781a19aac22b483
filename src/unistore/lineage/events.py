"""What lineage works with: the context of a read known before it runs, the finished-read event, the sink protocol.

The bottom of the lineage package: it imports only value modules, so the
read engine can hand lineage a plain :class:`ReadContext` and every sink can
name a :class:`ReadEvent` without importing the engine, the public API or
:mod:`unistore.runs` (whose :class:`~unistore.runs.Run` fits :class:`RunLike`).
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..location import Location
from .stats import ColumnStats

if TYPE_CHECKING:
    import pyarrow as pa

    from ..provenance import Provenance
    from ..spec import ReadSpec


@dataclass(frozen=True)
class ReadContext:
    """Where a read goes and what it asks, known before anything is sent (so a failed read is reported too).

    ``target`` is the table or path as the caller named it (None for a query),
    ``query`` the query text as given; ``system``, ``host``, ``port``,
    ``database`` and ``path`` are what the connection already knows (None when
    it does not, e.g. a source that failed to open).
    """

    uri: str  # redacted
    location: Location
    target: str | None = None
    query: str | None = None
    system: str | None = None
    host: str | None = None
    port: int | None = None
    database: str | None = None
    path: str | None = None

    @classmethod
    def of(cls, connection: Any, spec: "ReadSpec") -> "ReadContext":
        """Describe a read of ``spec`` on ``connection`` (anything with ``uri`` and ``location``; the
        optional ``system``, ``host``, ``port``, ``database`` and ``path`` attributes are used when they
        have the right type)."""
        return cls(
            uri=connection.uri,
            location=connection.location,
            target=spec.target if spec.table is not None else None,
            query=spec.query,
            system=_typed(connection, "system", str),
            host=_typed(connection, "host", str),
            port=_typed(connection, "port", int),
            database=_typed(connection, "database", str),
            path=_typed(connection, "path", str),
        )

    @classmethod
    def unopened(cls, location: Location, spec: "ReadSpec") -> "ReadContext":
        """A read whose source could not be opened: only the location and the request are known."""
        return cls(uri=location.redacted(), location=location,
                   target=spec.target if spec.table is not None else None, query=spec.query)


def _typed(obj: Any, name: str, kind: type) -> Any:
    value = getattr(obj, name, None)
    return value if isinstance(value, kind) and not isinstance(value, bool) else None


class RunLike(Protocol):
    """What lineage needs of a :class:`unistore.runs.Run`: its identity, and a place to record reads."""

    run_id: str
    name: str

    def _add_read(self, event: "ReadEvent") -> None: ...


#: the :class:`unistore.runs.Run` whose ``with`` block the current code is in
current_run: "ContextVar[RunLike | None]" = ContextVar("unistore_current_run", default=None)


@dataclass(frozen=True)
class ReadEvent:
    """One finished read, as sinks receive it. ``record`` is None when the read failed to start.

    ``run`` is the :func:`unistore.run` the read was started in; ``columns``
    holds per-column statistics (:class:`~.stats.ColumnStats`) when a sink
    asked for them (``wants_column_stats = True``), else None; ``schema`` is
    the Arrow schema of the result.
    """

    record: "Provenance | None"
    error: BaseException | None
    duration_s: float
    source_uri: str  # redacted
    run: "RunLike | None" = None
    columns: ColumnStats | None = None
    schema: "pa.Schema | None" = None  # the result's Arrow schema, when the read got that far
    #: a cross-silo query's input reads (their own events), so sinks can report them as its inputs
    inputs: tuple["ReadEvent", ...] = ()

    @cached_property
    def record_json(self) -> str | None:
        """The finished record as JSON text, made once for the sinks and the table's metadata that all need it."""
        return self.record.to_json() if self.record is not None else None


@runtime_checkable
class Sink(Protocol):
    def emit(self, event: ReadEvent) -> None: ...
