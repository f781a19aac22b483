"""Adapters, sources and the one read path every adapter goes through.

An :class:`Adapter` opens a :class:`Source` for a location. A source's only
job is :meth:`Source._scan`: turn a :class:`~unistore.spec.ReadSpec` into a
:class:`Scan` (batches, the snapshot they come from, the query actually
sent). Everything else — provenance, fingerprint, residual filtering, limits,
spans and lineage events — happens here, in :meth:`Source.scan`, so no
adapter can forget it or do it differently (a template method).
"""

from __future__ import annotations

import abc
import dataclasses
import contextlib
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pyarrow as pa

from . import lineage
from ._version import __version__
from .errors import BadSpecError, QueryError, UnistoreError
from .filters import Filter
from .fingerprint import Fingerprinter, schema_fingerprint
from .location import Location, scrub
from .provenance import Dataset, Provenance, Query, now_rfc3339, remember, tag_schema, uuid7
from .snapshot import Snapshot
from .spec import ReadSpec
from .timeseries import bind_time_column


@dataclass(frozen=True)
class Capabilities:
    """What a source can do; the conformance suite and callers gate on these, not on names."""

    queries: bool = False          # raw query text (SQL, PromQL, ...)
    listing: bool = True           # Source.tables()
    as_of: bool = False            # pinned reads
    replay_exact: bool = False     # replay returns exactly the recorded state
    write_protection: bool = False # the store itself refuses writes during a read


@dataclass
class Scan:
    """What an adapter hands the core for one read.

    ``batches`` must match ``schema``; ``residual`` is the part of the filter
    the store could not evaluate (the core applies it with pyarrow.compute and
    then the limit); ``close`` releases the connection or transaction.
    """

    schema: pa.Schema
    batches: Iterable[pa.RecordBatch]
    snapshot: Snapshot
    dataset: Dataset
    query: Query
    residual: Filter | None = None
    close: Callable[[], None] | None = None


class Source(abc.ABC):
    """An opened location: reusable for many reads, closed with :meth:`close` or ``with``."""

    capabilities: ClassVar[Capabilities] = Capabilities()
    #: read options (beyond the common ones) this source understands
    read_options: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, location: Location):
        self.location = location
        self._closed = False

    # -- what adapters implement -------------------------------------------
    @abc.abstractmethod
    def _scan(self, spec: ReadSpec) -> Scan:
        """Plan and start the read; raise unistore errors, never driver errors."""

    def tables(self) -> list[str]:
        """Tables, views or files this source can read."""
        raise NotImplementedError(f"{type(self).__name__} cannot list its contents")

    def schema(self, table: str | tuple[str, ...]) -> pa.Schema:
        """The Arrow schema a read of ``table`` returns."""
        raise NotImplementedError

    def _close(self) -> None:
        """Release connections / file systems."""

    # -- public, shared by every adapter -----------------------------------
    @property
    def uri(self) -> str:
        """The location with credentials removed."""
        return self.location.redacted()

    def read(self, table: str | tuple[str, ...] | None = None, **kwargs: Any) -> pa.Table:
        """Read into a ``pyarrow.Table`` whose schema carries the complete provenance."""
        return collect(self.scan(table, **kwargs))

    def scan(self, table: str | tuple[str, ...] | None = None, **kwargs: Any) -> pa.RecordBatchReader:
        """Stream the read as a ``pyarrow.RecordBatchReader``.

        Its schema carries the provenance known at the start (source, snapshot,
        query); :func:`unistore.provenance_of` gives the complete record (rows,
        fingerprint) once the stream has been consumed.
        """
        if self._closed:
            raise BadSpecError(f"source {self.uri} is closed")
        return start_read(self, self.spec(table, **kwargs))

    def spec(self, table: str | tuple[str, ...] | None = None, **kwargs: Any) -> ReadSpec:
        """Validate a read request for this source without sending anything."""
        spec = bind_time_column(self, ReadSpec.build(table, **kwargs))
        unknown = set(spec.options) - self.read_options
        if unknown:
            known = ", ".join(sorted(self.read_options)) or "none"
            raise BadSpecError(f"unknown read option(s) {', '.join(sorted(unknown))} for {self.uri}; known: {known}")
        return spec

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._close()

    def __enter__(self) -> "Source":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.uri}>"


def collect(reader: pa.RecordBatchReader) -> pa.Table:
    """Drain a unistore stream into a table whose schema holds the finished record."""
    from .provenance import provenance_of

    with reader:
        batches = list(reader)
    record = provenance_of(reader)
    return pa.Table.from_batches(batches, schema=tag_schema(_untagged(reader.schema), record))


def _untagged(schema: pa.Schema) -> pa.Schema:
    from .provenance import FIELD_KEY, SCHEMA_KEY

    meta = {k: v for k, v in (schema.metadata or {}).items() if k != SCHEMA_KEY}
    fields = [f.with_metadata({k: v for k, v in (f.metadata or {}).items() if k != FIELD_KEY}) for f in schema]
    return pa.schema(fields, metadata=meta or None)


class Adapter(abc.ABC):
    """A store family: opens sources for the schemes it is registered under."""

    #: options ``open`` accepts (everything else in ``unistore.read(**options)`` goes to the read)
    open_options: ClassVar[frozenset[str]] = frozenset()

    @abc.abstractmethod
    def open(self, location: Location, **options: Any) -> Source:
        """Open ``location``; raise :class:`~unistore.errors.SourceNotFoundError` etc. early."""


# -- the read path ------------------------------------------------------------

def start_read(source: Source, spec: ReadSpec, *, owned: bool = False) -> pa.RecordBatchReader:
    """Run one read: the adapter scans, the core records, fingerprints and reports.

    ``owned`` closes the source when the stream ends (``unistore.scan(uri)``).
    """
    started = time.perf_counter()
    span = lineage.ReadSpan(source, spec)
    try:
        scan = source._scan(spec)
    except Exception as exc:
        if owned:
            source.close()
        err = public_error(exc, source)
        span.finish(None, err, time.perf_counter() - started)
        if err is exc:
            raise
        raise err from exc
    record = Provenance(
        read_id=uuid7(),
        read_at=now_rfc3339(),
        unistore=__version__,
        source=scan.dataset,
        snapshot=scan.snapshot,
        query=dataclasses.replace(scan.query, request=spec.to_record()),
    )
    out_schema = scan.schema
    if spec.columns and list(scan.schema.names) != list(spec.columns):
        out_schema = pa.schema([scan.schema.field(c) for c in spec.columns], metadata=scan.schema.metadata)
    record.result.schema_fingerprint = schema_fingerprint(out_schema)
    tagged = tag_schema(out_schema, record)
    remember(record)
    batches = _batches(source, spec, scan, record, tagged, span, started, owned)
    return pa.RecordBatchReader.from_batches(tagged, batches)


def _batches(source: Source, spec: ReadSpec, scan: Scan, record: Provenance, schema: pa.Schema,
             span: "lineage.ReadSpan", started: float, owned: bool) -> Iterator[pa.RecordBatch]:
    """Yield the adapter's batches, filtered, limited, tagged and fingerprinted on the way."""
    fp = Fingerprinter(schema)
    observe = span.observer(schema)  # per-batch column statistics, only when a lineage sink wants them
    residual = scan.residual.to_arrow() if scan.residual is not None else None
    remaining = spec.limit
    completed = False
    error: BaseException | None = None
    try:
        if remaining != 0:
            project = list(schema.names) if batch_names_differ(scan.schema, schema) else None
            for batch in scan.batches:
                if residual is not None:
                    batch = _apply_residual(batch, residual)
                if project is not None:
                    batch = batch.select(project)
                if remaining is not None and batch.num_rows > remaining:
                    batch = batch.slice(0, remaining)
                if batch.num_rows == 0:
                    continue
                batch = pa.RecordBatch.from_arrays(batch.columns, schema=schema)
                for offset in range(0, batch.num_rows, spec.batch_size):  # zero-copy: at most batch_size rows
                    piece = batch.slice(offset, spec.batch_size) if batch.num_rows > spec.batch_size else batch
                    fp.update(piece)
                    if observe is not None:
                        observe(piece)
                    yield piece
                if remaining is not None:
                    remaining -= batch.num_rows
                    if remaining <= 0:
                        break
        completed = True
    except GeneratorExit:  # the caller closed the stream early: the record says so
        raise
    except Exception as exc:
        error = public_error(exc, source)
        if error is exc:
            raise
        raise error from exc
    finally:
        record.result.rows = fp.rows
        record.result.bytes = fp.nbytes
        record.result.fingerprint = fp.hexdigest()
        record.result.complete = completed
        remember(record, finished=True)
        if scan.close is not None:
            with contextlib.suppress(Exception):
                scan.close()
        if owned:
            with contextlib.suppress(Exception):
                source.close()
        span.finish(record, error, time.perf_counter() - started)


def batch_names_differ(scanned: pa.Schema, wanted: pa.Schema) -> bool:
    return list(scanned.names) != list(wanted.names)


def _apply_residual(batch: pa.RecordBatch, residual: Any) -> pa.RecordBatch:
    """Rows of ``batch`` that satisfy the part of the filter the store could not evaluate."""
    filtered = pa.Table.from_batches([batch]).filter(residual)
    if filtered.num_rows == 0:
        return pa.RecordBatch.from_pylist([], schema=filtered.schema)
    return filtered.combine_chunks().to_batches()[0]


def public_error(exc: BaseException, source: Source) -> BaseException:
    """Driver errors become :class:`~unistore.errors.QueryError`; secrets are scrubbed from any message."""
    secrets = source.location.secrets
    if isinstance(exc, UnistoreError):
        text = str(exc)
        if not any(s in text for s in secrets):
            return exc
        clean = type(exc).__new__(type(exc))
        Exception.__init__(clean, scrub(text, secrets))
        return clean
    return QueryError(f"{type(exc).__name__} while reading {source.uri}: {scrub(str(exc), secrets)}")
