"""A third-party adapter: ``counter://N`` yields the integers 0..N-1.

It lives outside unistore, imports only the plugin interface
(:mod:`unistore.adapter`) and is found only through its entry point, which
is what a real third-party package would do.
"""

from __future__ import annotations

import pyarrow as pa

from unistore.adapter import Adapter, Capabilities, Connection, Dataset, Query, Scan, Snapshot


class CounterSource(Connection):
    capabilities = Capabilities(queries=False, listing=True)

    def __init__(self, location):
        super().__init__(location)
        self.n = int(location.netloc_host or 0)

    def tables(self):
        return ["numbers"]

    def scan(self, spec):
        schema = pa.schema([("n", pa.int64())])
        spec.check_columns(schema, "counter")
        data = pa.table({"n": pa.array(range(self.n), pa.int64())})
        return Scan(
            schema=schema,
            batches=data.to_batches(max_chunksize=spec.batch_size),
            snapshot=Snapshot(kind="counter.n", value=self.n, consistent=True, replayable=True),
            dataset=Dataset(system="counter", uri=self.uri, namespace="counter", name=str(self.n)),
            query=Query(language="counter", text=f"count to {self.n}"),
            residual=spec.filter,
        )


class CounterAdapter(Adapter):
    def open(self, location, **options):
        return CounterSource(location)
