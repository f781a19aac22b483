"""Dask: a unistore read as a ``dask.dataframe.DataFrame``, one partition per split of the plan.

    >>> import unistore.dask
    >>> df = unistore.dask.read("s3://lake/events/", columns=["id", "kind"], splits=16)
    >>> df.groupby("kind").size().compute()
    >>> unistore.provenance_of(df)      # one record: the splits' digests combined

Built on ``dask.dataframe.from_map``; columns use pandas' Arrow-backed dtypes
(``pd.ArrowDtype``), so the types are the read's Arrow types. Each partition
hands its part of the record over a ``distributed.Queue`` when a
``distributed`` client is active, else (the threaded and synchronous
schedulers run partitions in this process) through this process' memory.
Requires the ``dask`` extra.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any

import dask.dataframe as dd
import pandas as pd
import pyarrow as pa

from .distributed import DistributedRead, SplitTask, released_with, track

__all__ = ["read"]


class _Parts:
    """Where partitions put their parts of the record: a ``distributed.Queue``, or this process' memory."""

    _local: dict[str, list[dict[str, Any]]] = {}
    _lock = threading.Lock()

    def __init__(self, read_id: str, queued: bool):
        self.read_id, self.queued = read_id, queued
        self._received: list[dict[str, Any]] = []
        #: the planned read, in the process that made it: every frame derived from the read holds this object
        #: (it is an argument of each partition's task), so the plan and its snapshot live as long as any does
        self.planned: DistributedRead | None = None

    @classmethod
    def open(cls, read_id: str) -> "_Parts":
        try:
            from distributed import default_client

            default_client()
            return cls(read_id, queued=True)
        except (ImportError, ValueError):  # no distributed client: partitions run in this process
            with cls._lock:
                cls._local[read_id] = []
            parts = cls(read_id, queued=False)
            weakref.finalize(parts, cls._local.pop, read_id, None)  # forgotten with the last frame using it
            return parts

    def __reduce__(self) -> Any:
        return (type(self), (self.read_id, self.queued))

    def put(self, part: dict[str, Any]) -> None:
        if self.queued:
            from distributed import Queue

            Queue(f"unistore-{self.read_id}").put(part)
        else:
            with self._lock:
                self._local.setdefault(self.read_id, []).append(part)

    def collect(self) -> list[dict[str, Any]]:
        if not self.queued:
            with self._lock:
                return list(self._local.get(self.read_id, []))
        from distributed import Queue

        queue = Queue(f"unistore-{self.read_id}")
        waiting = queue.qsize()
        if waiting:
            got = queue.get(batch=waiting)
            self._received.extend(got if isinstance(got, list) else [got])
        return list(self._received)


def _partition(task: SplitTask, parts: _Parts) -> pd.DataFrame:
    """One partition: read the split, hand over its part of the record, return Arrow-backed pandas."""
    table, part = task.run()
    parts.put(part)
    return _frame(table)


def _frame(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas(types_mapper=pd.ArrowDtype)


def read(uri: str | os.PathLike[str], table: str | tuple[str, ...] | None = None, *, splits: int | None = None,
         **options: Any) -> dd.DataFrame:
    """Read ``table`` (or ``query=``) at ``uri`` as a Dask DataFrame, one partition per split of the plan.

    ``splits`` caps the number of splits (default: this machine's CPUs);
    every other argument is that of :func:`unistore.read`. The combined record
    is ``unistore.provenance_of(frame)`` once every partition has been
    computed; lineage is reported then (once), or when the frame is released.
    """
    planned = DistributedRead(uri, table, splits=splits, default_splits=os.cpu_count() or 1, **options)
    try:
        parts = _Parts.open(planned.read_id)
        schema = planned.schema()
        meta = {"meta": _frame(schema.empty_table())} if schema is not None else {}  # else Dask infers it
        frame = dd.from_map(_partition, planned.tasks, parts=parts, enforce_metadata=False, label="unistore-read",
                            **meta)
    except BaseException as exc:
        planned.fail(exc)
        raise
    planned.collect = parts.collect
    parts.planned = planned
    released_with(parts, planned)
    track(frame, planned)
    return frame
