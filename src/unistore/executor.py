"""Running a read plan in this process: ``partitions=N`` as threads feeding one bounded stream.

The engine asks the connection for a :class:`~unistore.adapter.ReadPlan` of at
most N splits and, when there is more than one, hands the read engine a
:class:`~unistore.adapter.Scan` whose batches come from all splits at once:
one thread per split starts :meth:`Connection.scan_split` and puts its batches
on one queue of a few batches per split (memory stays bounded whatever the
consumer's pace), and the consumer takes them in the order they arrive, so a
fast split never waits for a slow one. Rows are hashed once, by the engine, as
the merged stream passes: the content digest is order-independent, so the
fingerprint equals that of the same read in one piece. The record's
``query.pushed_down["plan"]`` names how the read was cut, the consistency the
splits get, and per split what it covered and how many rows it returned.
Distributed engines (Ray, Dask) run the same splits elsewhere; see docs/adapters.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import queue
import threading
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from .adapter import Connection, ReadPlan, Scan
from .spec import ReadSpec

#: batches each split may have waiting for the consumer
BATCHES_PER_SPLIT = 2
#: how long closing a read waits for a split's thread that is inside a driver call
JOIN_TIMEOUT = 30.0

_DONE = object()


def plan_and_scan(connection: Connection, spec: ReadSpec, partitions: int) -> Scan:
    """Start ``spec`` as a plan of at most ``partitions`` splits read in parallel (one split: read as is)."""
    plan = connection.plan(spec, partitions)
    try:
        if len(plan.splits) == 1:
            scan = connection.scan_split(spec, plan.splits[0])
            described = plan.describe()
            return _with_plan(scan, plan, described)
        return _ParallelRead(connection, spec, plan).start()
    except BaseException:
        plan.close()
        raise


def _with_plan(scan: Scan, plan: ReadPlan, described: dict[str, Any]) -> Scan:
    """``scan`` with the plan in its record and the plan released when the scan closes."""
    inner_close = scan.close

    def close() -> None:
        try:
            if inner_close is not None:
                inner_close()
        finally:
            plan.close()

    query = scan.query if plan.query is None else plan.query
    pushed = {**query.pushed_down, "plan": described}
    snapshot = plan.snapshot if plan.snapshot is not None else scan.snapshot
    return dataclasses.replace(scan, query=dataclasses.replace(query, pushed_down=pushed), snapshot=snapshot,
                               close=close, ordered=scan.ordered and plan.ordered)


class _ParallelRead:
    """The splits of one plan, each on its own thread, merged into one stream of batches."""

    def __init__(self, connection: Connection, spec: ReadSpec, plan: ReadPlan):
        self.connection, self.spec, self.plan = connection, spec, plan
        self.described = plan.describe()
        n = len(plan.splits)
        # split order is kept only where it is the requested order: then each split has its own queue
        self.queues = [queue.Queue(maxsize=BATCHES_PER_SPLIT) for _ in range(n)] if plan.ordered else \
            [queue.Queue(maxsize=BATCHES_PER_SPLIT * n)]
        self.stop = threading.Event()
        self.first: queue.Queue = queue.Queue(maxsize=1)  # split 0's scan (or its error), for the record
        self.schema: pa.Schema | None = None
        self.threads: list[threading.Thread] = []
        self.closed = False

    def start(self) -> Scan:
        self.threads = [threading.Thread(target=self._run, args=(s.index, i), daemon=True,
                                         name=f"unistore-split-{s.index}")
                        for i, s in enumerate(self.plan.splits)]
        for t in self.threads:
            t.start()
        first = self.first.get()
        if isinstance(first, BaseException):
            self.close()
            raise first
        self.schema = first.schema
        scan = dataclasses.replace(first, batches=self._batches(), close=self.close)
        return _with_plan(scan, dataclasses.replace(self.plan, release=None), self.described)

    # -- the split threads -----------------------------------------------------------
    def _put(self, q: queue.Queue, item: Any) -> bool:
        while not self.stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, index: int, position: int) -> None:
        q = self.queues[position] if self.plan.ordered else self.queues[0]
        scan: Scan | None = None
        rows = 0
        try:
            scan = self.connection.scan_split(self.spec, self.plan.splits[position])
            if self.plan.snapshot is None:  # each split read its own state: the record names each one
                self.described["splits"][position]["snapshot"] = scan.snapshot.to_dict()
            if position == 0:
                self.first.put(scan)
            for batch in scan.batches:
                if self.stop.is_set():
                    return
                rows += batch.num_rows
                if not self._put(q, batch):
                    return
            self.described["splits"][position]["rows"] = rows
            self._put(q, _DONE)
        except BaseException as exc:  # handed to the consumer, which raises it
            if position == 0 and scan is None:
                self.first.put(exc)
            self._put(q, exc)
        finally:
            if scan is not None and scan.close is not None:
                with contextlib.suppress(Exception):
                    scan.close()

    # -- the consumer ---------------------------------------------------------------------
    def _batches(self) -> Iterator[pa.RecordBatch]:
        assert self.schema is not None
        schema = self.schema
        if self.plan.ordered:
            sources = [(q, 1) for q in self.queues]
        else:
            sources = [(self.queues[0], len(self.plan.splits))]
        for q, pending in sources:
            while pending:
                item = q.get()
                if item is _DONE:
                    pending -= 1
                    continue
                if isinstance(item, BaseException):
                    raise item
                # every split reads the same columns; a store may type an all-null piece differently
                yield item if item.schema == schema else item.cast(schema)

    def close(self) -> None:
        """Stop every split, release their connections, then what the planner holds."""
        if self.closed:
            return
        self.closed = True
        self.stop.set()
        try:
            for q in self.queues:  # unblock threads waiting to put
                with contextlib.suppress(queue.Empty):
                    while True:
                        q.get_nowait()
            for t in self.threads:
                if t.is_alive() and t is not threading.current_thread():
                    t.join(timeout=JOIN_TIMEOUT)
        finally:
            self.plan.close()
