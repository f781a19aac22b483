"""The read engine: one read from a connection to the caller, ended exactly once.

Every read, whatever the adapter, goes through :func:`_open_stream`: the
engine refuses what the connection's :class:`~unistore.adapter.Capabilities`
rule out (before the adapter is called), lets the adapter start its
:class:`~unistore.adapter.Scan`, builds the provenance record (filling the
request, columns and filter itself, so no adapter can record them
differently), and wraps the batches in a :class:`_ReadStream` that applies
the residual filter, projection and limit, fingerprints, and reports the
read. :func:`public_error` is the one policy for what a caller sees of an
error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ._version import __version__
from .adapter import Connection, Scan, Split
from .errors import AdapterError, BadSpecError, SnapshotUnavailableError, UnistoreError
from .executor import plan_and_scan
from .fingerprint import schema_fingerprint
from .fingerprint_worker import FingerprintWorker
from .lineage.events import ReadContext, ReadEvent
from .lineage.span import ReadSpan
from .location import cap, scrub
from .provenance import Provenance, embedded_parents, now_rfc3339, remember, remember_returned, tag_fields, tag_schema, uuid7
from .spec import ReadSpec, check_read_options

if TYPE_CHECKING:
    from .checkeval import CheckRun
    from .checks import Check

#: a judgement of a complete read that needs all of it (a catalog's lock check): called with the finished
#: record and the result's schema before the read is reported, it notes its outcome in the record and may
#: raise; see :class:`_ReadStream`
Finish = Callable[[Provenance, pa.Schema], None]


def refuse_unsupported(connection: Connection, spec: ReadSpec) -> None:
    """Raise for what ``connection`` declares it cannot do, before the adapter sees the request.

    Read options the connection does not declare are refused first (a request
    replayed from a record reaches here without the handle's validation).
    Then one message per capability for every store: a raw query where there is
    no query language, bound parameters where the language has none, and
    ``as_of=`` where reads cannot be pinned (time-series stores pin with
    ``end=``, so there ``as_of=`` is a malformed request, not a missing
    snapshot).
    """
    check_read_options(spec.options, connection.read_options, connection.uri)  # also for replayed requests
    caps = connection.capabilities
    if spec.query is not None and not caps.queries:
        raise BadSpecError(f"{connection.uri} has no query language: read a table with table= and narrow it "
                           "with columns= and filter= (query= is not supported)")
    if spec.params is not None and not caps.params:
        raise BadSpecError(f"{connection.uri} takes no bound parameters (params=): filter the result with "
                           "filter= instead")
    if spec.as_of is not None and not caps.as_of:
        if "end" in connection.read_options:
            raise BadSpecError(f"{connection.uri} pins reads with end= (the as-of bound), not as_of=")
        raise SnapshotUnavailableError(f"{connection.uri} cannot pin reads with as_of=; it records a snapshot "
                                       "for verification instead (see unistore.replay)")


def start_read(connection: Connection, spec: ReadSpec, *, owned: bool = False,
               checks: "tuple[Check, ...]" = (), finish: Finish | None = None) -> pa.RecordBatchReader:
    """Run one read as a stream whose schema announces the record (source, snapshot, query).

    ``owned`` closes the connection when the stream ends (``unistore.scan(uri)``); ``checks``
    (prepared by :func:`unistore.checkrun.prepare`) are judged when the stream ends, and so is
    ``finish`` (:data:`Finish`).
    """
    stream = _open_stream(connection, dataclasses.replace(spec, streamed=True), owned, announce=True,
                          checks=checks, finish=finish)
    return _ClosingReader.of(stream)


def stream_read(connection: Connection, spec: ReadSpec, *, finish: Finish | None = None) -> "_ReadStream":
    """A read's batches for a caller inside unistore that iterates them on one thread: no reader around
    them (``start_read``'s costs one copy per batch). Iterate it to its end, or ``abort()`` it; its
    ``record`` is complete once it has ended. Marked ``streamed`` as ``start_read``'s are: the caller
    consumes batch by batch."""
    return _open_stream(connection, dataclasses.replace(spec, streamed=True), False, announce=True,
                        finish=finish)


def read_table(connection: Connection, spec: ReadSpec, *, owned: bool = False,
               checks: "tuple[Check, ...]" = (), finish: Finish | None = None) -> pa.Table:
    """Run one read into a table; the record is serialised once, when it is complete (``finish`` included).

    A failed data test raises once the table is built, so the error carries it.
    """
    stream = _open_stream(connection, spec, owned, announce=False, checks=checks, finish=finish)
    batches = list(stream)
    table = pa.Table.from_batches(batches, schema=tag_schema(stream.schema, stream.record, stream.record_json))
    remember_returned(stream.record, table)  # so provenance_of(table) knows it without hashing
    if stream.record.checks:
        from .checkeval import verdict  # data tests are imported when a read has some

        verdict(stream.record, table)
    return table


def read_split(connection: Connection, spec: ReadSpec, split: Split) -> tuple[pa.Table, Provenance]:
    """Read one split of a plan made elsewhere into a table (a Dask partition), with the split's record.

    The whole split is held at once anyway, so the adapter keeps its default
    read-ahead (throughput); :func:`stream_split` is the batch-by-batch form.
    """
    batches = stream_split(connection, spec, split, streamed=False)
    return pa.Table.from_batches(list(batches), schema=batches.schema), batches.record


def stream_split(connection: Connection, spec: ReadSpec, split: Split, *, streamed: bool = True) -> "SplitBatches":
    """Read one split of a plan made elsewhere (a Ray task, a Dask partition, a DataLoader worker), batch by batch.

    The batches are shaped like those of a whole read (residual filter,
    projection, batch size) and the split's record carries its own content
    digest, which the planner combines with the others' into one record
    (:mod:`unistore.distributed`). Nothing is reported to lineage: the
    distributed read is reported once, by the planner. ``streamed`` bounds the
    adapter's read-ahead, as for ``unistore.scan`` (a consumer that holds one
    batch at a time should not have the store read far ahead of it); it is not
    part of the record.
    """
    if streamed:
        spec = dataclasses.replace(spec, streamed=True)
    return SplitBatches(_open_stream(connection, spec, owned=False, announce=False, split=split))


class SplitBatches:
    """The batches of one split as the store returns them, then (once they ran out) the split's record.

    The record is fingerprinted batch by batch as they pass, so it is the same
    as that of the split read into a table. Batches carry no provenance
    metadata: the planner's record goes on the whole read.
    """

    def __init__(self, stream: "_ReadStream"):
        self._stream = stream
        self.schema = pa.schema([f.remove_metadata() for f in stream.schema])

    def __iter__(self) -> "SplitBatches":
        return self

    def __next__(self) -> pa.RecordBatch:
        batch = next(self._stream)
        return pa.RecordBatch.from_arrays(batch.columns, schema=self.schema)

    @property
    def done(self) -> bool:
        """Whether the split has ended (read to its end, failed, or closed)."""
        return self._stream.done

    @property
    def record(self) -> Provenance:
        """The split's record: complete (rows, bytes, digest) once every batch has been taken."""
        return self._stream.record

    def close(self) -> None:
        """Stop early: release the store now (the split's record stays incomplete)."""
        if not self._stream.done:
            self._stream.abort()


def _open_stream(connection: Connection, spec: ReadSpec, owned: bool, announce: bool,
                 split: Split | None = None, checks: "tuple[Check, ...]" = (),
                 finish: Finish | None = None) -> "_ReadStream":
    """The adapter plans and starts the read (or one ``split`` of it); the core wraps its batches."""
    started = time.perf_counter()
    span: ReadSpan | _Unreported = ReadSpan(ReadContext.of(connection, spec)) if split is None else _Unreported()
    scan: Scan | None = None
    run: "CheckRun | None" = None
    try:
        refuse_unsupported(connection, spec)
        partitions = spec.options.get("partitions") or 1
        if split is not None:
            scan = connection.scan_split(spec, split)
        elif partitions > 1:
            scan = plan_and_scan(connection, spec, partitions)
        else:
            scan = connection.scan(spec)
        record = Provenance(
            read_id=uuid7(),
            read_at=now_rfc3339(),
            unistore=__version__,
            source=scan.dataset,
            snapshot=scan.snapshot,
            query=dataclasses.replace(
                scan.query,
                request=spec.to_record(),
                columns=list(spec.columns) if spec.columns else None,
                filter=str(spec.filter) if spec.filter is not None else None,
            ),
        )
        schema = scan.schema
        if spec.columns and list(schema.names) != list(spec.columns):
            schema = pa.schema([schema.field(c) for c in spec.columns], metadata=schema.metadata)
        record.result.schema_fingerprint = schema_fingerprint(schema)
        if checks:  # a check that cannot apply fails here
            from .checkeval import CheckRun

            run = CheckRun(checks, schema)
        embedded_parents(record, scan.schema)  # a sample file written by unistore: lineage to its dataset
        remember(record)
        schema = tag_schema(schema, record) if announce else tag_fields(schema, record)
        return _ReadStream(connection, spec, scan, record, schema, span, started, owned, run, announce, finish)
    except Exception as exc:  # nothing streams yet: release what the adapter opened, report, raise
        if run is not None:
            run.close()
        if scan is not None and scan.close is not None:
            with contextlib.suppress(Exception):
                scan.close()
        if owned:
            connection.close()
        err = public_error(exc, connection)
        span.finish(None, err, time.perf_counter() - started)
        if err is exc:
            # the frame must not keep the error whose traceback keeps the frame (and its scan) alive
            del err
            raise
    # raised outside the handler: the original may hold a secret, so it is not even the __context__
    raise err from None


class _Unreported:
    """The reporting side of a split read: nothing (its planner reports the whole read once)."""

    def observer(self, schema: pa.Schema) -> None:
        return None

    def finish(self, record: Provenance | None, error: BaseException | None, duration_s: float) -> None:
        return None


class _ReadStream:
    """The batches of one read on their way to the caller.

    Applies the residual filter, the projection and the limit, cuts batches to
    ``batch_size`` (zero-copy), fingerprints them, and ends the read exactly
    once: when the adapter's batches run out, when an error is raised, or when
    the stream is dropped unfinished (recorded as incomplete). A class rather
    than a generator so that a stream dropped before its first batch still
    closes its transaction and reports the read.

    A complete read is judged before it is reported, so every sink, the
    read registry and the result's metadata hold one record: data tests
    (``checks``, which see every batch returned) put their results in it,
    then ``finish`` (:data:`Finish`) notes its outcome. An error ``finish``
    raises (a catalog's ``DriftError``) reaches the caller once the read is
    reported as what it was, a complete read whose record says what was
    found; a failed ``error`` test raises after that (``judge``).
    """

    def __init__(self, connection: Connection, spec: ReadSpec, scan: Scan, record: Provenance, schema: pa.Schema,
                 span: "ReadSpan | _Unreported", started: float, owned: bool, checks: "CheckRun | None" = None,
                 judge: bool = True, finish: Finish | None = None):
        self.connection, self.spec, self.scan, self.record, self.schema = connection, spec, scan, record, schema
        self.span, self.started, self.owned = span, started, owned
        self.checks, self.judge, self.finish = checks, judge, finish
        self.fingerprint = FingerprintWorker(schema, ordered=scan.ordered)  # hashed beside the read
        self.observe = span.observer(schema)  # per-batch column statistics, only when a lineage sink wants them
        self.residual = scan.residual.to_arrow() if scan.residual is not None else None
        self.project = list(schema.names) if list(scan.schema.names) != list(schema.names) else None
        self.remaining = spec.limit
        self.pending: deque[pa.RecordBatch] = deque()
        self.batches = iter(scan.batches)
        self.done = False
        self.event: ReadEvent | None = None  # what the lineage sinks got, once the read ended

    @property
    def record_json(self) -> str | None:
        """The finished record's JSON when the sinks already made it (the table's metadata reuses it)."""
        return self.event.record_json if self.event is not None else None

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
            error = public_error(exc, self.connection)
            self._finish(complete=False, error=error)
            if error is exc:
                del error  # no frame <-> traceback cycle
                raise
        if error is not None:  # raised outside the handler: the original may hold a secret
            raise error from None
        self._finish(complete=True)
        if self.judge and self.record.checks:
            from .checkeval import verdict

            verdict(self.record)
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
        if self.checks is not None:
            self.checks.update(batch)
        return batch

    def _finish(self, *, complete: bool, error: BaseException | None = None) -> None:
        if self.done:
            return
        self.done = True
        failed: BaseException | None = None
        result = self.record.result
        try:
            result.set_digest(self.fingerprint.digest())
        except Exception as exc:  # a batch the kernel refused (malformed Arrow data): the read failed
            if error is None:  # else the read already failed, and that error is the one raised
                failed = error = public_error(exc, self.connection)
            complete = False
        except BaseException as exc:  # interrupted while the last batches were hashed: release, report, go on
            failed, complete = exc, False
        result.rows = self.fingerprint.rows
        result.bytes = self.fingerprint.nbytes
        result.complete = complete
        if self.checks is not None:  # a read that ended early tested only part of the data: no verdict
            if complete:
                self.record.checks = self.checks.results()
            self.checks.close()
        if complete and self.finish is not None:
            try:
                self.finish(self.record, self.schema)
            except BaseException as exc:  # raised once the read is released and reported
                failed = exc
        remember(self.record, finished=True)
        if self.scan.close is not None:
            with contextlib.suppress(Exception):
                self.scan.close()
        if self.owned:
            with contextlib.suppress(Exception):
                self.connection.close()
        self.event = self.span.finish(self.record, error, time.perf_counter() - self.started)
        if failed is not None:
            try:
                raise failed
            finally:
                failed = None  # no frame <-> traceback cycle

    def __del__(self) -> None:
        # dropped before the end (closed reader, abandoned stream): release and report it as incomplete
        if not getattr(self, "done", True):
            self.fingerprint.when_idle(self._finish_dropped)

    def _finish_dropped(self) -> None:
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


def public_error(exc: BaseException, connection: Connection) -> BaseException:
    """The error a caller sees: a unistore error, secrets scrubbed, message capped, no unscrubbed chain.

    Anything else (an adapter bug, or a driver error missing from the adapter's
    error table) becomes :class:`~unistore.errors.AdapterError` naming the
    original type; callers raise a new error ``from None``, since
    the original's text may hold a secret. A unistore error whose message, or
    any error chained to it, holds a secret or is too long is copied with
    every field kept (:meth:`~unistore.errors.UnistoreError.with_message`).
    """
    secrets = connection.location.secrets
    if isinstance(exc, UnistoreError):
        text = cap(scrub(str(exc), secrets))
        fields = [v for v in vars(exc).values() if isinstance(v, str)]
        if text == str(exc) and all(scrub(v, secrets) == v for v in fields) and not _chain_has_secret(exc, secrets):
            return exc
        return exc.with_message(text, lambda field: scrub(field, secrets))
    return AdapterError(f"{type(exc).__name__} while reading {connection.uri} (not a mapped store error: "
                        f"please report it): {cap(scrub(str(exc), secrets))}")


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
