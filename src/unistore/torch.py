"""PyTorch: a unistore read as an ``IterableDataset`` that shards the plan's splits across workers and ranks.

    >>> import unistore.torch
    >>> data = unistore.torch.IterableDataset("postgresql://db/shop", "features", columns=["x", "y"],
    ...                                       batch_size=256, shuffle_buffer=10_000, seed=7)
    >>> loader = torch.utils.data.DataLoader(data, batch_size=None, num_workers=2)
    >>> for epoch in range(3):
    ...     data.set_epoch(epoch)
    ...     for batch in loader: ...            # dicts of tensors
    >>> unistore.provenance_of(data)            # the record of what this rank read

The plan is made once, in the process that builds the dataset, and pinned for
its lifetime: every epoch, every ``DataLoader`` worker and every
``torch.distributed`` rank reads the same snapshot. Splits are dealt to the
``world_size * num_workers`` consumers (in a per-epoch order drawn from
``seed``), so each row is read exactly once per epoch across all of them.
Workers hand their parts of the record to the main process through a queue;
the record of a rank is the combination of the splits it read (with
``world_size == 1``, the whole read, whose fingerprint equals a
single-process read's). It is reported to lineage once, at the end of the
first complete epoch it is asked for or when the active ``unistore.run``
ends. Requires the ``torch`` extra (CPU wheels are enough).
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import torch
import torch.multiprocessing as mp
from torch.utils.data import IterableDataset as _TorchIterable
from torch.utils.data import get_worker_info

from .distributed import DistributedRead, released_with, track
from .errors import BadSpecError
from .provenance import Provenance

__all__ = ["IterableDataset"]


class IterableDataset(_TorchIterable):
    """Rows of a unistore read, batch by batch, sharded across ``DataLoader`` workers and ranks.

    ``batch_size`` rows per item (use ``DataLoader(batch_size=None)``);
    ``shuffle_buffer`` > 0 shuffles rows through a buffer of that many rows
    (deterministic from ``seed`` and the epoch); ``format="torch"`` yields
    dicts of tensors, ``"arrow"`` yields ``pyarrow.RecordBatch``. ``rank`` and
    ``world_size`` default to ``torch.distributed``'s when it is initialised,
    else to the ``RANK``/``WORLD_SIZE`` environment variables, else 0 and 1.
    ``splits`` caps the plan's splits (default 8 per rank). Other arguments
    are those of :func:`unistore.read`.
    """

    def __init__(self, uri: str | os.PathLike[str], table: str | tuple[str, ...] | None = None, *,
                 batch_size: int = 1024, shuffle_buffer: int = 0, seed: int | None = None, format: str = "torch",
                 rank: int | None = None, world_size: int | None = None, splits: int | None = None,
                 **options: Any):
        super().__init__()
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise BadSpecError(f"batch_size must be a positive integer, got {batch_size!r}")
        if isinstance(shuffle_buffer, bool) or not isinstance(shuffle_buffer, int) or shuffle_buffer < 0:
            raise BadSpecError(f"shuffle_buffer must be a non-negative integer, got {shuffle_buffer!r}")
        if format not in ("torch", "arrow"):
            raise BadSpecError(f"format must be 'torch' or 'arrow', got {format!r}")
        self.rank, self.world_size = _rank_and_world(rank, world_size)
        self.batch_size, self.shuffle_buffer, self.seed, self.format = batch_size, shuffle_buffer, seed, format
        self.epoch = 0
        self._planned = DistributedRead(uri, table, splits=splits, default_splits=8 * self.world_size, **options)
        self.tasks = self._planned.tasks
        # workers -> this process: the parts of the record (a spawn-made queue serves fork and spawn workers alike)
        self._queue = mp.get_context("spawn").SimpleQueue()
        self._parts: list[dict[str, Any]] = []
        self._planned.collect = self._collect
        self._planned.share = lambda: (self.rank_splits(), {"rank": self.rank, "world_size": self.world_size,
                                                            "epoch": self.epoch})
        track(self, self._planned)
        released_with(self, self._planned)

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch: the split order and the shuffle are drawn from ``seed`` and it."""
        self.epoch = int(epoch)

    def rank_splits(self) -> list[int]:
        """The split indices this rank reads this epoch: splits are dealt to ranks, then to its workers."""
        order = list(range(len(self.tasks)))
        if self.seed is not None:
            random.Random(f"{self.seed}:{self.epoch}").shuffle(order)
        return order[self.rank::self.world_size]

    def splits_for(self, worker: int, num_workers: int) -> list[int]:
        """The split indices one ``DataLoader`` worker of this rank reads this epoch."""
        return self.rank_splits()[worker::num_workers]

    def __iter__(self) -> Iterator[Any]:
        info = get_worker_info()
        worker, num_workers = (info.id, info.num_workers) if info is not None else (0, 1)
        rng = random.Random(f"{self.seed}:{self.epoch}:{self.rank}:{worker}")
        buffer: list[pa.Table] = []
        buffered = 0
        for index in self.splits_for(worker, num_workers):
            split = self.tasks[index].stream()  # batch by batch: a worker never holds a whole split
            for batch in split:
                if not self.shuffle_buffer:
                    for offset in range(0, batch.num_rows, self.batch_size):
                        yield self._convert(batch.slice(offset, self.batch_size))
                    continue
                buffer.append(pa.Table.from_batches([batch]))
                buffered += batch.num_rows
                while buffered >= self.shuffle_buffer + self.batch_size:
                    rows, buffer, buffered = _draw(buffer, self.batch_size, rng)
                    yield self._convert(rows)
            self._put(split.part, in_worker=info is not None)
        while buffered:
            rows, buffer, buffered = _draw(buffer, min(self.batch_size, buffered), rng)
            yield self._convert(rows)

    def _put(self, part: dict[str, Any], in_worker: bool) -> None:
        if in_worker:
            self._queue.put(part)
        else:
            self._parts.append(part)

    def _collect(self) -> list[dict[str, Any]]:
        while not self._queue.empty():
            self._parts.append(self._queue.get())
        return list(self._parts)

    def provenance(self) -> Provenance:
        """The record of this epoch's share of this rank (with one rank: the whole read)."""
        if self._planned is None:
            raise BadSpecError("the record is kept by the process that made the dataset, not by its workers")
        return self._planned.provenance()

    def _convert(self, batch: pa.RecordBatch | pa.Table) -> Any:
        if self.format == "arrow":
            return batch if isinstance(batch, pa.RecordBatch) else batch.combine_chunks().to_batches()[0]
        return {name: _tensor(batch.column(name)) for name in batch.schema.names}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_planned"] = None  # the planner (and the snapshot it holds) stays in the process that made it
        return state


def _draw(buffer: list[pa.Table], n: int, rng: random.Random) -> tuple[pa.Table, list[pa.Table], int]:
    """``n`` rows drawn at random from the buffered tables; the rest stays buffered."""
    pool = pa.concat_tables(buffer).combine_chunks() if len(buffer) > 1 else buffer[0]
    picks = rng.sample(range(pool.num_rows), n)
    taken = np.zeros(pool.num_rows, dtype=bool)
    taken[picks] = True
    rest = pool.filter(pa.array(~taken))
    return pool.take(pa.array(picks)), ([rest] if rest.num_rows else []), rest.num_rows


def _tensor(column: pa.ChunkedArray | pa.Array) -> Any:
    """A numeric or boolean column as a tensor (nulls are refused: a tensor has no null)."""
    if column.null_count:
        raise BadSpecError("a column with nulls cannot become a tensor; filter them out or fill them first "
                           "(or read with format='arrow')")
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_timestamp(array.type) or pa.types.is_date(array.type) or pa.types.is_duration(array.type):
        array = array.cast(pa.int64())
    if not (pa.types.is_integer(array.type) or pa.types.is_floating(array.type) or pa.types.is_boolean(array.type)):
        raise BadSpecError(f"column of type {array.type} cannot become a tensor; select numeric columns "
                           "(or read with format='arrow')")
    return torch.from_numpy(array.to_numpy(zero_copy_only=False).copy())


def _rank_and_world(rank: int | None, world_size: int | None) -> tuple[int, int]:
    if rank is None or world_size is None:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            rank = torch.distributed.get_rank() if rank is None else rank
            world_size = torch.distributed.get_world_size() if world_size is None else world_size
        else:
            rank = int(os.environ.get("RANK", 0)) if rank is None else rank
            world_size = int(os.environ.get("WORLD_SIZE", 1)) if world_size is None else world_size
    if world_size < 1 or not 0 <= rank < world_size:
        raise BadSpecError(f"rank must be from 0 to world_size - 1, got rank {rank} of {world_size}")
    return rank, world_size
