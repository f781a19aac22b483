"""A read planned in one process and run in many: one snapshot, the splits on workers, one record.

Ray Data, Dask and PyTorch ``DataLoader`` workers all run a read the same
way. The planner (the user's process) opens the source and asks the adapter
for a :class:`~unistore.adapter.ReadPlan`, which it keeps until the read is
finished or garbage-collected (PostgreSQL holds the transaction whose
exported snapshot every split imports). Each worker gets a picklable
:class:`SplitTask`, opens its own connection (one per location per process,
reused), and reads its split through the engine (:func:`unistore.engine.stream_split`, batch by batch:
the same residual filter, projection and batch size as a whole read, and the
split's own content digest). The planner :meth:`~DistributedRead.combine` s
the splits' records into one: the digests of disjoint parts add up, so the
fingerprint equals that of the same read in one process, and a split that was
read twice (a retried task) must give the same digest or the read fails.
Lineage is reported once for the whole read, with a child span per split.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa

from . import registry
from ._version import __version__
from .adapter import ReadPlan, Split
from .api import _open_for_read
from .engine import read_split, stream_split
from .errors import BadSpecError, DriftError
from .fingerprint import combine
from .lineage.events import ReadContext, current_run
from .lineage.span import ReadSpan
from .location import Location
from .provenance import Provenance, Result, now_rfc3339, register_finder, remember, uuid7
from .source import Source
from .spec import ReadSpec


@dataclasses.dataclass(frozen=True)
class SplitTask:
    """Everything a worker needs to read one split: picklable, and its repr shows no credential."""

    uri: str
    open_options: dict[str, Any]
    spec: ReadSpec
    split: Split
    read_id: str  # the distributed read this split belongs to

    def __repr__(self) -> str:
        return f"SplitTask({Location.parse(self.uri).redacted()!r}, split={self.split.index}, read={self.read_id})"

    def run(self) -> tuple[pa.Table, dict[str, Any]]:
        """Read the split here into a table (a Dask partition): its rows, and its part of the record."""
        started_ns = time.time_ns()
        connection = _worker_source(self.uri, self.open_options).connection
        table, record = read_split(connection, self.spec, self.split)
        return table, self._part(record, started_ns)

    def stream(self) -> "SplitStream":
        """Read the split here batch by batch (a DataLoader worker, a Ray task): a worker holds one batch at a
        time, not the whole split; the part of the record comes when the batches have run out."""
        return SplitStream(self)

    def _part(self, record: Provenance, started_ns: int) -> dict[str, Any]:
        """The split's part of the record, as JSON-able data, with its timings and process."""
        return {"index": self.split.index, "record": record.to_dict(), "started_ns": started_ns,
                "ended_ns": time.time_ns(), "pid": os.getpid()}


class SplitStream:
    """One split being read: iterate its batches as they arrive; then ``part`` is its part of the record.

    The split's digest is computed batch by batch while they pass, so the part
    is the one :meth:`SplitTask.run` gives for the same split. Left unfinished
    (the consumer stopped), it releases the store and has no part: an
    incomplete split is no part of the read. Its time in the record runs from
    the start of the split to its last batch taken, the consumer's time between
    batches included.
    """

    def __init__(self, task: SplitTask):
        self.task = task
        self.started_ns = time.time_ns()
        connection = _worker_source(task.uri, task.open_options).connection
        self._batches = stream_split(connection, task.spec, task.split)
        self.schema = self._batches.schema
        self._part: dict[str, Any] | None = None

    @property
    def part(self) -> dict[str, Any]:
        """The split's part of the record; there is none before every batch has been taken."""
        if self._part is None:
            raise BadSpecError(f"{self.task!r} has not been read to its end: an unfinished split has no part "
                               "of the record")
        return self._part

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        try:
            yield from self._batches
        finally:
            self._batches.close()  # stopped early (or failed): release the store now, not at gc
        self._part = self.task._part(self._batches.record, self.started_ns)


# -- connections in worker processes -------------------------------------------------

_worker_lock = threading.Lock()
_worker_sources: dict[tuple[int, str, str], Source] = {}


def _worker_source(uri: str, open_options: dict[str, Any]) -> Source:
    """One open source per location and options in this process, reused by every split it runs.

    Keyed by process id too: a ``DataLoader`` worker forked from a process
    that read splits itself must open its own connections, never use (or
    close) the ones it inherited.
    """
    key = (os.getpid(), uri, repr(sorted(open_options.items())))
    with _worker_lock:
        src = _worker_sources.get(key)
        if src is None:
            location = Location.parse(uri)
            src = Source(registry.get_adapter(location.scheme).open(location, **open_options))
            _worker_sources[key] = src
        return src


@atexit.register
def _close_worker_sources() -> None:
    with _worker_lock:
        for (pid, _, _), src in list(_worker_sources.items()):
            if pid == os.getpid():  # an inherited connection belongs to the parent process
                try:
                    src.close()
                except Exception:  # pragma: no cover - closing at exit is best effort
                    pass
        _worker_sources.clear()


# -- the planner ----------------------------------------------------------------------

class DistributedRead:
    """A planned read: its tasks go to workers, their parts come back, one record comes out.

    Holds the plan (and what it pins) until :meth:`close`, which runs when the
    object is garbage-collected too.
    """

    def __init__(self, uri: str | os.PathLike[str], table: Any = None, *, splits: int | None = None,
                 default_splits: int = 1, **options: Any):
        max_splits = default_splits if splits is None else splits
        if isinstance(max_splits, bool) or not isinstance(max_splits, int) or not 1 <= max_splits <= 4096:
            raise BadSpecError(f"splits must be an integer from 1 to 4096, got {max_splits!r}")
        if "partitions" in options:
            raise BadSpecError("partitions= runs splits on threads in this process; a distributed read takes "
                               "splits= instead")
        if options.get("limit") is not None:
            max_splits = 1  # every split would return up to the limit: one split keeps the limit exact
        location = Location.parse(uri)
        adapter = registry.get_adapter(location.scheme)
        self.open_options = {k: v for k, v in options.items() if k in adapter.open_options}
        read_kwargs = {k: options.pop(k) for k in ("query", "columns", "filter", "limit", "params")
                       if k in options}
        self.source, self.spec, _ = _open_for_read(uri, table, read_kwargs, options)  # no data tests here
        self.uri = self.source.uri  # redacted, for messages
        self.read_id = uuid7()
        self.pid = os.getpid()  # the planner's process: only it reports the read and releases the plan
        self.started = time.perf_counter()
        self.started_at = now_rfc3339()
        self._span = ReadSpan(ReadContext.of(self.source.connection, self.spec))
        try:
            self.plan: ReadPlan = self.source.connection.plan(self.spec, max_splits)
        except BaseException as exc:
            self.source.close()
            self._span.finish(None, exc, time.perf_counter() - self.started)
            raise
        self._finalizer = weakref.finalize(self, _release, self.plan, self.source, os.getpid())
        full_uri = os.fspath(uri)
        self.tasks = [SplitTask(full_uri, self.open_options, self.spec, s, self.read_id) for s in self.plan.splits]
        self.record: Provenance | None = None
        #: gathers the parts the workers handed over so far; the integration sets it (a Ray actor, a queue...)
        self.collect: Callable[[], list[dict[str, Any]]] | None = None
        #: which splits the record covers and how to describe that share (a PyTorch rank's); None: all
        self.share: Callable[[], tuple[list[int], dict[str, Any]]] | None = None
        run = current_run.get()
        if run is not None and hasattr(run, "defer"):
            run.defer(self.report)  # a run that ends first still gets this read in its manifest

    def provenance(self, columns: list[str] | None = None) -> Provenance:
        """The one record of the read, from the parts collected so far (every split must have run).

        ``columns``: the record of the read narrowed to these columns by the
        engine (Ray's projection pushdown), whose splits ran with them.
        """
        if self.collect is None:
            raise BadSpecError(f"the distributed read of {self.uri} has no way to collect its splits' records")
        wanted = list(columns) if columns is not None else (list(self.spec.columns) if self.spec.columns else None)
        parts = [p for p in self.collect() if p["record"]["query"]["columns"] == wanted]
        if self.share is None:
            return self.combine(parts)
        only, described = self.share()
        return self.combine(parts, only=only, share=described)

    def report(self) -> None:
        """Report the read now if every split has run and it was not reported yet (else nothing to report)."""
        if self.record is None and self.collect is not None:
            try:
                self.provenance()
            except Exception:  # not every split ran: there is no complete read to report
                pass

    def __repr__(self) -> str:
        return f"<DistributedRead {self.uri} splits={len(self.tasks)} read={self.read_id}>"

    def schema(self) -> pa.Schema | None:
        """The result's schema when the store can tell it without reading (a table or files), else None."""
        if self.spec.query is not None:
            return None
        try:
            schema = self.source.connection.schema(self.spec.table)
        except Exception:  # a store that cannot describe a table without reading it
            return None
        return pa.schema([schema.field(c) for c in self.spec.columns]) if self.spec.columns else schema

    def combine(self, parts: list[dict[str, Any]], *, only: list[int] | None = None,
                share: dict[str, Any] | None = None) -> Provenance:
        """The one record of the read, from every split's part (each split exactly once), reported once.

        ``only`` limits it to some splits (a rank's share of a PyTorch read,
        described by ``share`` in the record's plan).
        """
        by_index: dict[int, dict[str, Any]] = {}
        for part in parts:
            seen = by_index.get(part["index"])
            if seen is not None and seen["record"]["result"]["fingerprint"] != part["record"]["result"]["fingerprint"]:
                raise DriftError(self.uri, {f"split {part['index']}": {
                    "recorded": seen["record"]["result"]["fingerprint"],
                    "now": part["record"]["result"]["fingerprint"]}},
                    message=f"split {part['index']} of the read of {self.uri} was read twice (a retried task) and "
                            "returned other data the second time: the snapshot it was pinned to is gone")
            by_index.setdefault(part["index"], part)
        wanted = sorted(only) if only is not None else list(range(len(self.tasks)))
        missing = sorted(set(wanted) - set(by_index))
        if missing:
            raise BadSpecError(f"the distributed read of {self.uri} has not run split(s) {missing[:10]} yet: "
                               "execute it first (e.g. materialize the dataset, or finish an epoch)")
        if not wanted:
            raise BadSpecError(f"no split of the read of {self.uri} falls to this share ({share}): "
                               "plan more splits")
        ordered = [by_index[i] for i in wanted]
        records = [Provenance.from_dict(p["record"]) for p in ordered]
        digests = [r.result.digest() for r in records]
        if any(d is None for d in digests):  # pragma: no cover - every split record of this version has one
            raise BadSpecError("a split's record has no composable digest")
        first = records[0]
        described = self.plan.describe()
        if share is not None:
            described["share"] = {**share, "splits": wanted}
        for part, rec in zip(ordered, records):
            entry = described["splits"][part["index"]]
            entry.update(rows=rec.result.rows, fingerprint=rec.result.fingerprint, pid=part["pid"],
                         seconds=round((part["ended_ns"] - part["started_ns"]) / 1e9, 6))
            if self.plan.snapshot is None:  # each split read its own state: the record names each one
                entry["snapshot"] = rec.snapshot.to_dict()
        query = self.plan.query or first.query
        record = Provenance(
            read_id=self.read_id, read_at=self.started_at, unistore=__version__, source=first.source,
            snapshot=self.plan.snapshot or first.snapshot,
            query=dataclasses.replace(query, request=first.query.request, columns=first.query.columns,
                                      filter=first.query.filter,
                                      pushed_down={**query.pushed_down, "plan": described}),
            result=Result(rows=sum(r.result.rows for r in records), bytes=sum(r.result.bytes for r in records),
                          schema_fingerprint=first.result.schema_fingerprint,
                          complete=all(r.result.complete for r in records)),
        )
        record.result.set_digest(combine(d for d in digests if d is not None))
        remember(record, finished=True)
        if self.record is None:  # the first complete record is the one reported
            self._span.finish(record, None, time.perf_counter() - self.started)
            self._span.split_spans([(p["index"], p["started_ns"], p["ended_ns"], p["pid"], r.result.rows)
                                    for p, r in zip(ordered, records)])
            self.record = record
        return record

    def fail(self, error: BaseException) -> None:
        """Report the read as failed (once) and release the plan."""
        self._span.finish(None, error, time.perf_counter() - self.started)
        self.close()

    def close(self) -> None:
        """Release the plan (and what it pins) and the planner's connection."""
        self._finalizer()


#: id(result object) -> (the object, weakly; its planner): how provenance_of finds a Dataset's record
_tracked: dict[int, tuple[weakref.ref[Any], DistributedRead]] = {}
_tracked_lock = threading.Lock()


def released_with(owner: Any, planned: DistributedRead) -> None:
    """Report ``planned`` (if it ran) and release its plan when ``owner`` is garbage-collected."""
    weakref.finalize(owner, _report_and_close, planned)


def _report_and_close(planned: DistributedRead) -> None:
    if planned.pid != os.getpid():  # a forked copy must not end the planner's transaction
        return
    try:
        planned.report()
    finally:
        planned.close()


def track(result: Any, planned: DistributedRead) -> None:
    """Tie ``planned`` to the object an engine returned (a Dask DataFrame, a PyTorch dataset): its record
    is ``provenance_of(result)``. (What keeps the plan alive is the caller's choice: :func:`released_with`.)"""
    key = id(result)
    with _tracked_lock:
        _tracked[key] = (weakref.ref(result), planned)
    weakref.finalize(result, _untrack, key)


def find(obj: Any) -> Provenance | None:
    """The record of an object :func:`track` knows (for ``unistore.provenance_of``), else None."""
    with _tracked_lock:
        entry = _tracked.get(id(obj))
    if entry is None or entry[0]() is not obj:
        return None
    return entry[1].provenance()


register_finder(find)


def _untrack(key: int) -> None:
    with _tracked_lock:
        _tracked.pop(key, None)


def _release(plan: ReadPlan, source: Source, pid: int) -> None:
    if os.getpid() != pid:  # a forked copy (a DataLoader worker) must not end the planner's transaction
        return
    try:
        plan.close()
    finally:
        source.close()


__all__ = ["DistributedRead", "SplitStream", "SplitTask", "find", "released_with", "track"]
