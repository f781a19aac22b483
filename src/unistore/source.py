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
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa

from . import lineage
from ._version import __version__
from .errors import BadSpecError, QueryError, UnistoreError
from .filters import Filter
from .fingerprint import Fingerprinter, schema_fingerprint
from .location import Location, cap, scrub
from .provenance import (Dataset, Provenance, Query, now_rfc3339, remember, remember_returned, tag_fields,
                         tag_schema, uuid7)
from .snapshot import Snapshot
from .spec import ReadSpec, check_read_options
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
    ordered: bool = False


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
        if self._closed:
            raise BadSpecError(f"source {self.uri} is closed")
        return read_table(self, self.spec(table, **kwargs))

    def scan(self, table: str | tuple[str, ...] | None = None, **kwargs: Any) -> pa.RecordBatchReader:
        """Stream the read as a ``pyarrow.RecordBatchReader``.

        Its schema carries the provenance known at the start (source, snapshot,
        query); :func:`unistore.provenance_of` gives the complete record (rows,
        fingerprint) once the stream has been consumed.
        """
        if self._closed:
            raise BadSpecError(f"source {self.uri} is closed")
        return start_read(self, self.spec(table, **kwargs))

    def spec(self, table: str | tuple[str, ...] | ReadSpec | None = None, **kwargs: Any) -> ReadSpec:
        """Validate a read request for this source without sending anything.

        ``table`` may be a :class:`ReadSpec` built already (by ``unistore.read``):
        building twice would drain a generator passed as filter values or columns.
        """
        spec = table if isinstance(table, ReadSpec) and not kwargs else ReadSpec.build(table, **kwargs)
        check_read_options(spec.options, self.read_options, self.uri)
        return bind_time_column(self, spec)

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


class Adapter(abc.ABC):
    """A store family: opens sources for the schemes it is registered under."""

    #: options ``open`` accepts (everything else in ``unistore.read(**options)`` goes to the read)
    open_options: ClassVar[frozenset[str]] = frozenset()

    @abc.abstractmethod
    def open(self, location: Location, **options: Any) -> Source:
        """Open ``location``; raise :class:`~unistore.errors.SourceNotFoundError` etc. early."""


# -- the read path ------------------------------------------------------------

def start_read(source: Source, spec: ReadSpec, *, owned: bool = False) -> pa.RecordBatchReader:
    """Run one read as a stream whose schema announces the record (source, snapshot, query).

    ``owned`` closes the source when the stream ends (``unistore.scan(uri)``).
    """
    stream = _open_stream(source, spec, owned, announce=True)
    return _ClosingReader.of(stream)


def read_table(source: Source, spec: ReadSpec, *, owned: bool = False) -> pa.Table:
    """Run one read into a table; the record is serialised once, when it is complete."""
    stream = _open_stream(source, spec, owned, announce=False)
    batches = list(stream)
    table = pa.Table.from_batches(batches, schema=tag_schema(stream.schema, stream.record))
    remember_returned(stream.record, table)  # so provenance_of(table) knows it without hashing
    return table


def _open_stream(source: Source, spec: ReadSpec, owned: bool, announce: bool) -> "_ReadStream":
    """The adapter plans and starts the read; the core wraps its batches."""
    started = time.perf_counter()
    span = lineage.ReadSpan(source, spec)
    scan: Scan | None = None
    try:
        scan = source._scan(spec)
        record = Provenance(
            read_id=uuid7(),
            read_at=now_rfc3339(),
            unistore=__version__,
            source=scan.dataset,
            snapshot=scan.snapshot,
            query=dataclasses.replace(scan.query, request=spec.to_record()),
        )
        schema = scan.schema
        if spec.columns and list(schema.names) != list(spec.columns):
            schema = pa.schema([schema.field(c) for c in spec.columns], metadata=schema.metadata)
        record.result.schema_fingerprint = schema_fingerprint(schema)
        remember(record)
        schema = tag_schema(schema, record) if announce else tag_fields(schema, record)
        return _ReadStream(source, spec, scan, record, schema, span, started, owned)
    except Exception as exc:  # nothing streams yet: release what the adapter opened, report, raise
        if scan is not None and scan.close is not None:
            with contextlib.suppress(Exception):
                scan.close()
        if owned:
            source.close()
        err = public_error(exc, source)
        span.finish(None, err, time.perf_counter() - started)
        if err is exc:
            raise
    # raised outside the handler: the original may hold a secret, so it is not even the __context__
    raise err from None


class _ReadStream:
    """The batches of one read on their way to the caller.

    Applies the residual filter, the projection and the limit, cuts batches to
    ``batch_size`` (zero-copy), fingerprints them, and ends the read exactly
    once: when the adapter's batches run out, when an error is raised, or when
    the stream is dropped unfinished (recorded as incomplete). A class rather
    than a generator so that a stream dropped before its first batch still
    closes its transaction and reports the read.
    """

    def __init__(self, source: Source, spec: ReadSpec, scan: Scan, record: Provenance, schema: pa.Schema,
                 span: "lineage.ReadSpan", started: float, owned: bool):
        self.source, self.spec, self.scan, self.record, self.schema = source, spec, scan, record, schema
        self.span, self.started, self.owned = span, started, owned
        self.fingerprint = Fingerprinter(schema, ordered=scan.ordered)
        self.observe = span.observer(schema)  # per-batch column statistics, only when a lineage sink wants them
        self.residual = scan.residual.to_arrow() if scan.residual is not None else None
        self.project = list(schema.names) if list(scan.schema.names) != list(schema.names) else None
        self.remaining = spec.limit
        self.pending: deque[pa.RecordBatch] = deque()
        self.batches = iter(scan.batches)
        self.done = False

    def __iter__(self) -> "_ReadStream":
        return self

    def __next__(self) -> pa.RecordBatch:
        if self.pending:
            return self._emit(self.pending.popleft())
        if self.done:
            raise StopIteration
        error: BaseException | None = None
        try:
            while self.remaining != 0:
                batch = next(self.batches, None)
                if batch is None:
                    break
                batch = self._shape(batch)
                if batch.num_rows == 0:
                    continue
                if self.remaining is not None:
                    self.remaining -= batch.num_rows
                size = self.spec.batch_size
                if batch.num_rows > size:
                    self.pending.extend(batch.slice(o, size) for o in range(size, batch.num_rows, size))
                    batch = batch.slice(0, size)
                return self._emit(batch)
        except Exception as exc:
            error = public_error(exc, self.source)
            self._finish(complete=False, error=error)
            if error is exc:
                raise
        if error is not None:  # raised outside the handler: the original may hold a secret
            raise error from None
        self._finish(complete=True)
        raise StopIteration

    def _shape(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        if self.residual is not None:
            batch = _apply_residual(batch, self.residual)
        if self.project is not None:
            batch = batch.select(self.project)
        if self.remaining is not None and batch.num_rows > self.remaining:
            batch = batch.slice(0, self.remaining)
        return pa.RecordBatch.from_arrays(batch.columns, schema=self.schema)

    def _emit(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        self.fingerprint.update(batch)
        if self.observe is not None:
            self.observe(batch)
        return batch

    def _finish(self, *, complete: bool, error: BaseException | None = None) -> None:
        if self.done:
            return
        self.done = True
        result = self.record.result
        result.rows = self.fingerprint.rows
        result.bytes = self.fingerprint.nbytes
        result.set_digest(self.fingerprint.digest())
        result.complete = complete
        remember(self.record, finished=True)
        if self.scan.close is not None:
            with contextlib.suppress(Exception):
                self.scan.close()
        if self.owned:
            with contextlib.suppress(Exception):
                self.source.close()
        self.span.finish(self.record, error, time.perf_counter() - self.started)

    def __del__(self) -> None:
        # dropped before the end (closed reader, abandoned stream): release and report it as incomplete
        if not getattr(self, "done", True):
            with contextlib.suppress(Exception):
                self._finish(complete=False)

    def abort(self) -> None:
        """The caller closed the reader early: release the store now and report the read incomplete."""
        self._finish(complete=False)
        close = getattr(self.batches, "close", None)  # an adapter's generator: run its cleanup now, not at gc
        if close is not None:
            with contextlib.suppress(Exception):
                close()


_IPC_END = pa.py_buffer(b"\xff\xff\xff\xff\x00\x00\x00\x00")
#: malloc, where a freed batch's memory is reused by the next one (the default pool may keep it)
_HEAP = pa.system_memory_pool()


class _IPCFeed:
    """A read-only file of Arrow IPC stream bytes, encoding the stream's batches only as they are asked for.

    ``pa.RecordBatchReader.from_batches`` keeps the iterator it is given until
    the reader itself is freed, and its ``close()`` never reaches it: a
    ``with unistore.scan(...)`` block left early would hold the server's
    cursor and transaction. A reader subclass can override ``close()``, and
    the one reader a Python subclass can build is the IPC stream reader; the
    cost is one copy per batch (``RecordBatch.serialize``, a few GB/s).
    Errors raised by the stream keep their type through the reader.
    """

    closed = False

    def __init__(self, stream: "_ReadStream"):
        self.stream: _ReadStream | None = stream
        self.buffer = stream.schema.serialize()
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def writable(self) -> bool:
        return False

    def close(self) -> None:
        self.stream = None

    def read_buffer(self, nbytes: int | None = -1) -> pa.Buffer:
        while self.pos >= len(self.buffer):
            if self.stream is None:
                return pa.py_buffer(b"")
            batch = next(self.stream, None)
            if batch is None:
                self.stream, self.buffer = None, _IPC_END
            else:
                self.buffer = batch.serialize(memory_pool=_HEAP)
            self.pos = 0
        left = len(self.buffer) - self.pos
        n = left if nbytes is None or nbytes < 0 else min(nbytes, left)
        out = self.buffer.slice(self.pos, n)
        self.pos += n
        return out

    def read(self, nbytes: int | None = -1) -> bytes:
        return self.read_buffer(nbytes).to_pybytes()


class _ClosingReader(pa.ipc.RecordBatchStreamReader):
    """The reader :func:`unistore.scan` returns: ``close()`` (and leaving ``with``) ends the read at once."""

    @staticmethod
    def of(stream: "_ReadStream") -> pa.RecordBatchReader:
        if any(pa.types.is_dictionary(f.type) for f in stream.schema):  # serialize() writes no dictionaries
            return pa.RecordBatchReader.from_batches(stream.schema, stream)
        return _ClosingReader(stream)

    def __init__(self, stream: "_ReadStream"):
        self._unistore_stream: _ReadStream | None = stream
        super().__init__(_IPCFeed(stream))

    def close(self) -> None:
        stream, self._unistore_stream = self._unistore_stream, None
        if stream is not None and not stream.done:
            stream.abort()
        super().close()


def _apply_residual(batch: pa.RecordBatch, residual: Any) -> pa.RecordBatch:
    """Rows of ``batch`` that satisfy the part of the filter the store could not evaluate."""
    filtered = pa.Table.from_batches([batch]).filter(residual)
    if filtered.num_rows == 0:
        return pa.RecordBatch.from_pylist([], schema=filtered.schema)
    return filtered.combine_chunks().to_batches()[0]


def public_error(exc: BaseException, source: Source) -> BaseException:
    """The error a caller sees: a unistore error, secrets scrubbed, message capped, no unscrubbed chain.

    Driver errors (and adapter bugs) become :class:`~unistore.errors.QueryError`
    naming the original type; callers raise a new error ``from None``, since
    the original's text may hold a secret. A unistore error whose message, or
    any error chained to it, holds a secret or is too long is copied with
    every field kept (:meth:`~unistore.errors.UnistoreError.with_message`).
    """
    secrets = source.location.secrets
    if isinstance(exc, UnistoreError):
        text = cap(scrub(str(exc), secrets))
        fields = [v for v in vars(exc).values() if isinstance(v, str)]
        if text == str(exc) and all(scrub(v, secrets) == v for v in fields) and not _chain_has_secret(exc, secrets):
            return exc
        return exc.with_message(text, lambda field: scrub(field, secrets))
    return QueryError(f"{type(exc).__name__} while reading {source.uri}: {cap(scrub(str(exc), secrets))}")


def _chain_has_secret(exc: BaseException, secrets: tuple[str, ...]) -> bool:
    """Whether an error chained to ``exc`` (cause or context, at any depth) mentions a secret."""
    seen: set[int] = set()
    todo = [exc.__cause__, exc.__context__]
    while todo:
        err = todo.pop()
        if err is None or id(err) in seen:
            continue
        seen.add(id(err))
        if scrub(str(err), secrets) != str(err) or scrub(repr(err.args), secrets) != repr(err.args):
            return True
        todo += [err.__cause__, err.__context__]
    return False
