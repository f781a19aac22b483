"""Ray Data: a unistore read as a ``ray.data.Dataset`` whose read tasks are the plan's splits.

    >>> import unistore.ray
    >>> ds = unistore.ray.read("postgresql://db/shop", "orders", columns=["id", "amount"], splits=8)
    >>> ds.materialize()
    >>> unistore.provenance_of(ds)      # one record: one snapshot, the splits' digests combined

The plan is made here, in the driver, and kept for the dataset's lifetime
(PostgreSQL's exported snapshot stays valid for every task and every
re-execution); each read task runs one split on a Ray worker and hands its
part of the record to a small collector actor. Ray's projection pushdown
narrows the columns every split reads. Requires the ``ray`` extra.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import pyarrow as pa
import ray
from ray.data import Datasource, ReadTask
from ray.data.block import BlockMetadata

from .distributed import DistributedRead, SplitTask, released_with
from .provenance import Provenance, register_finder

__all__ = ["UnistoreDatasource", "read"]


@ray.remote(num_cpus=0)
class _Parts:
    """Collects the splits' parts of the record as Ray tasks finish (a retried task adds its part again)."""

    def __init__(self) -> None:
        self.parts: list[dict[str, Any]] = []

    def add(self, part: dict[str, Any]) -> None:
        self.parts.append(part)

    def get(self) -> list[dict[str, Any]]:
        return list(self.parts)


def _read_split(task: SplitTask, parts: Any) -> Any:
    """The body of one Ray read task: yield the split's batches as they arrive (Ray gathers them into
    blocks of its target size, so the worker never holds the whole split), then hand over its part."""
    split = task.stream()
    for batch in split:
        yield pa.Table.from_batches([batch])
    ray.get(parts.add.remote(split.part))


class _Holder:
    """Keeps a planned read alive for as long as any copy of its datasource exists."""

    def __init__(self, planned: DistributedRead):
        self.planned = planned
        released_with(self, planned)


class UnistoreDatasource(Datasource):
    """A Ray ``Datasource`` over a planned unistore read: one read task per split."""

    def __init__(self, planned: DistributedRead, parts: Any):
        super().__init__()
        # shared by the copies Ray makes (projection pushdown): the plan lives while any of them does
        self._holder: _Holder | None = _Holder(planned)
        self._tasks = list(planned.tasks)
        self._schema = planned.schema()
        self._parts = parts
        self._projection_map: dict[str, str] | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_holder"] = None  # the planner (and the snapshot it holds) stays in the driver
        return state

    def __copy__(self) -> "UnistoreDatasource":
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)  # the holder too, unlike a pickled copy
        return clone

    @property
    def planned(self) -> DistributedRead | None:
        return self._holder.planned if self._holder is not None else None

    def columns(self) -> list[str] | None:
        """The columns Ray's projection pushdown asked for (None: the read's own)."""
        return self._get_data_columns()

    def get_name(self) -> str:
        return "unistore"

    def supports_projection_pushdown(self) -> bool:
        return True

    def estimate_inmemory_data_size(self) -> int | None:
        sizes = [t.split.bytes for t in self._tasks]
        return None if any(s is None for s in sizes) else sum(s for s in sizes if s is not None)

    def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None,
                       data_context: Any = None) -> list[ReadTask]:
        columns = self._get_data_columns()
        schema = self._schema
        if columns is not None and schema is not None:
            schema = pa.schema([schema.field(c) for c in columns if c in schema.names])
        tasks = []
        for task in self._tasks:
            if columns is not None:
                task = dataclasses.replace(task, spec=dataclasses.replace(task.spec, columns=tuple(columns)))
            meta = BlockMetadata(num_rows=task.split.rows, size_bytes=task.split.bytes, input_files=None,
                                 exec_stats=None)
            tasks.append(ReadTask(lambda task=task, parts=self._parts: _read_split(task, parts), meta,
                                  schema=schema, per_task_row_limit=per_task_row_limit))
        return tasks


def read(uri: str | os.PathLike[str], table: str | tuple[str, ...] | None = None, *, splits: int | None = None,
         **options: Any) -> "ray.data.Dataset":
    """Read ``table`` (or ``query=``) at ``uri`` as a Ray Dataset, one read task per split of the plan.

    ``splits`` caps the number of splits (default: the cluster's CPUs); every
    other argument is that of :func:`unistore.read`. The combined record is
    ``unistore.provenance_of(dataset)`` once the dataset has run (also of its
    ``select_columns``); lineage is reported then (once for the whole read), when
    the enclosing ``unistore.run`` ends, or when the last dataset built on the
    read is released, which also releases the plan (and the snapshot it holds).
    """
    default = max(1, int(ray.cluster_resources().get("CPU", 1))) if ray.is_initialized() else os.cpu_count() or 1
    planned = DistributedRead(uri, table, splits=splits, default_splits=default, **options)
    try:
        parts = _Parts.remote()
        dataset = ray.data.read_datasource(UnistoreDatasource(planned, parts),
                                           override_num_blocks=len(planned.tasks))
    except BaseException as exc:
        planned.fail(exc)
        raise
    planned.collect = lambda: ray.get(parts.get.remote()) if ray.is_initialized() else []
    return dataset


def _record(dataset: Any) -> Provenance | None:
    """The record of a dataset :func:`read` returned, or of its column selection (``select_columns``).

    Any other transformation makes data the read did not return, so it has no
    record of its own here (None).
    """
    if not isinstance(dataset, ray.data.Dataset):
        return None
    op, columns = dataset._logical_plan.dag, None
    while type(op).__name__ == "Project":  # a column selection: what Ray pushes down into the read
        names = [e.name for e in op.exprs if type(e).__name__ == "ColumnExpr"]
        if len(names) != len(op.exprs):
            return None
        columns = names if columns is None else columns
        (op,) = op.input_dependencies
    source = getattr(op, "datasource", None)
    if not isinstance(source, UnistoreDatasource) or source.planned is None:
        return None
    if columns is None:  # an executed dataset's plan has the projection pushed into its read
        columns = source.columns()
    return source.planned.provenance(columns=columns)


register_finder(_record)

