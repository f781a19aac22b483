"""A third-party adapter: ``counter://N`` yields the integers 0..N-1.

It lives outside unistore, imports only the plugin interface
(:mod:`unistore.adapter`) and is found only through its entry point, which
is what a real third-party package would do.
"""

from __future__ import annotations

import os
import signal

import pyarrow as pa

from unistore.adapter import (Adapter, Capabilities, Connection, Dataset, Query, ReadPlan, Scan, Snapshot, Split,
                              check_max_splits)


class CounterSource(Connection):
    capabilities = Capabilities(queries=False, listing=True)

    def __init__(self, location):
        super().__init__(location)
        self.n = int(location.netloc_host or 0)

    def tables(self):
        return ["numbers"]

    def _snapshot(self):
        return Snapshot(kind="counter.n", value=self.n, consistent=True, replayable=True)

    def scan(self, spec):
        schema = pa.schema([("n", pa.int64())])
        spec.check_columns(schema, "counter")
        data = pa.table({"n": pa.array(range(self.n), pa.int64())})
        return Scan(
            schema=schema,
            batches=data.to_batches(max_chunksize=spec.batch_size),
            snapshot=self._snapshot(),
            dataset=Dataset(system="counter", uri=self.uri, namespace="counter", name=str(self.n)),
            query=Query(language="counter", text=f"count to {self.n}"),
            residual=spec.filter,
        )


class CounterAdapter(Adapter):
    def open(self, location, **options):
        return CounterSource(location)


class SplitCounterSource(CounterSource):
    """``counter-split://N``: the same numbers, read as a plan of key ranges (for distributed-read tests).

    ``?die_once=PATH`` kills the process reading split 1 the first time (when
    PATH does not exist yet): a worker lost mid-read, which the engine retries.
    """

    capabilities = Capabilities(queries=False, listing=True, splits=True)

    def plan(self, spec, max_splits):
        check_max_splits(max_splits)
        count = max(1, min(max_splits, self.n))
        edges = [self.n * i // count for i in range(count + 1)]
        splits = tuple(Split(index=i, payload=(edges[i], edges[i + 1]), covers={"n": [edges[i], edges[i + 1]]},
                             rows=edges[i + 1] - edges[i]) for i in range(count))
        return ReadPlan(splits=splits, snapshot=self._snapshot(), consistent=True, method="ranges of n",
                        consistency="the numbers never change")

    def scan_split(self, spec, split):
        marker = dict(self.location.query).get("die_once")
        if marker and split.index == 1 and not os.path.exists(marker):
            open(marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
        lo, hi = split.payload
        scan = self.scan(spec)
        data = pa.table({"n": pa.array(range(lo, hi), pa.int64())})
        scan.batches = data.to_batches(max_chunksize=spec.batch_size)
        return scan


class SplitCounterAdapter(Adapter):
    def open(self, location, **options) -> SplitCounterSource:
        return SplitCounterSource(location)
