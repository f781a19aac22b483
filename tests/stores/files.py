"""File formats on local disk and in fsspec's memory file system."""

from __future__ import annotations

import json
import os
import uuid

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.feather as feather
import pyarrow.orc as orc
import pyarrow.parquet as pq
import pytest

from reference import SCHEMA
from stores import Loader, SeriesCase, Store, StoreCase

_LOCAL = "/data/events"
_INEXACT = frozenset({"reference", "ordered", "mutable"})
_EXACT = _INEXACT | {"exact_types"}
STORES = {
    "parquet": Store(_LOCAL, _EXACT | {"timeseries"}),  # the series as a file read with time_column=
    "parquet-hive": Store(_LOCAL, _INEXACT),  # adds the partition column
    "csv": Store(_LOCAL, _INEXACT),           # no binary column in CSV
    "jsonl": Store(_LOCAL, _INEXACT),
    "ipc": Store(_LOCAL, _EXACT),
    "orc": Store(_LOCAL, _INEXACT),           # timestamps in nanoseconds
    "memory-parquet": Store("memory://events", _EXACT),
}


def _bump_first_amount(table: pa.Table) -> pa.Table:
    amount = table.column("amount").to_pylist()
    amount[1] = (amount[1] or 0) + 1000.0
    return table.set_column(table.schema.get_field_index("amount"), "amount", pa.array(amount, pa.float64()))


#: rows per file where a case's table spans several files
ROWS_PER_FILE = 20


class FileLoader(Loader):
    """Writes the table per case: Parquet as one file of 17-row row groups (read plans cut it by
    row group), the other formats as a folder of files (plans split them by file only)."""

    def __init__(self, name: str, root: str, fmt: str):
        self.name, self.root, self.fmt = name, root, fmt

    def write(self, path: str, table: pa.Table) -> None:
        if self.fmt == "parquet":
            pq.write_table(table, path, row_group_size=17)
        elif self.fmt == "ipc":
            feather.write_feather(table, path, chunksize=13)
        elif self.fmt == "orc":
            orc.write_table(table, path)
        elif self.fmt == "csv":
            pacsv.write_csv(table, path)
        elif self.fmt == "jsonl":
            with open(path, "w") as f:
                for row in table.to_pylist():
                    f.write(json.dumps(row, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v)) + "\n")

    def expected(self, table: pa.Table) -> pa.Table:
        if self.fmt in ("csv", "jsonl"):
            return table.drop_columns(["payload"])
        if self.fmt == "orc":  # ORC keeps timestamps in nanoseconds
            schema = pa.schema([f.with_type(pa.timestamp("ns", f.type.tz)) if pa.types.is_timestamp(f.type) else f
                                for f in table.schema])
            return table.cast(schema)
        return table

    def load(self, name: str, table: pa.Table) -> StoreCase:
        data = self.expected(table) if self.fmt in ("csv", "jsonl") else table
        ext = {"parquet": "parquet", "ipc": "feather", "orc": "orc", "csv": "csv", "jsonl": "jsonl"}[self.fmt]
        options = {"schema": data.schema} if self.fmt in ("csv", "jsonl") else {}
        if self.fmt == "parquet":
            path = os.path.join(self.root, f"{name}.{ext}")
            files = {path: data}
        else:
            path = os.path.join(self.root, name)
            os.makedirs(path, exist_ok=True)
            files = {os.path.join(path, f"part-{i}.{ext}"): data.slice(start, ROWS_PER_FILE)
                     for i, start in enumerate(range(0, data.num_rows, ROWS_PER_FILE))}
        for file, part in files.items():
            self.write(file, part)
        first, first_part = next(iter(files.items()))
        return StoreCase(uri=path, table=None, expected=self.expected(table), options=options,
                         mutate=lambda: self.write(first, _bump_first_amount(data).slice(0, first_part.num_rows)))

    def load_series(self) -> SeriesCase:
        from stores.timeseries import series_table

        assert self.fmt == "parquet", "the series set is loaded as Parquet only"
        path = os.path.join(self.root, "temp.parquet")
        pq.write_table(series_table(), path, row_group_size=5000)
        return SeriesCase(self.name, path, None, {"time_column": "timestamp"})


class HiveLoader(Loader):
    """A directory of Parquet files, hive-partitioned on a derived column."""

    name = "parquet-hive"

    def __init__(self, root: str):
        self.root = root

    def _write(self, path: str, table: pa.Table) -> None:
        with_part = table.append_column("part", pc.cast(pc.divide(pc.subtract(table["id"], 1), 20), pa.int32()))
        ds.write_dataset(with_part, path, format="parquet", partitioning=["part"], partitioning_flavor="hive",
                         existing_data_behavior="delete_matching")

    def load(self, name: str, table: pa.Table) -> StoreCase:
        path = os.path.join(self.root, name)
        self._write(path, table)
        expected = table.append_column("part", pc.cast(pc.divide(pc.subtract(table["id"], 1), 20), pa.int32()))
        return StoreCase(uri=path, table=None, expected=expected,
                         mutate=lambda: self._write(path, _bump_first_amount(table)))


class MemoryLoader(Loader):
    name = "memory-parquet"

    def load(self, name: str, table: pa.Table) -> StoreCase:
        fs = fsspec.filesystem("memory")
        prefix = f"/unistore-tests/{uuid.uuid4().hex}"
        path = f"{prefix}/{name}.parquet"

        def write(t: pa.Table) -> None:
            with fs.open(path, "wb") as f:
                pq.write_table(t, f, row_group_size=17)

        write(table)
        # a source rooted at the prefix, reading the file by relative name
        return StoreCase(uri=f"memory://{prefix}", table=f"{name}.parquet", expected=table,
                         mutate=lambda: write(_bump_first_amount(table)))


@pytest.fixture(scope="session")
def loader_parquet(tmp_path_factory):
    return FileLoader("parquet", str(tmp_path_factory.mktemp("parquet")), "parquet")


@pytest.fixture(scope="session")
def loader_csv(tmp_path_factory):
    return FileLoader("csv", str(tmp_path_factory.mktemp("csv")), "csv")


@pytest.fixture(scope="session")
def loader_jsonl(tmp_path_factory):
    return FileLoader("jsonl", str(tmp_path_factory.mktemp("jsonl")), "jsonl")


@pytest.fixture(scope="session")
def loader_ipc(tmp_path_factory):
    return FileLoader("ipc", str(tmp_path_factory.mktemp("ipc")), "ipc")


@pytest.fixture(scope="session")
def loader_orc(tmp_path_factory):
    return FileLoader("orc", str(tmp_path_factory.mktemp("orc")), "orc")


@pytest.fixture(scope="session")
def loader_parquet_hive(tmp_path_factory):
    return HiveLoader(str(tmp_path_factory.mktemp("hive")))


@pytest.fixture(scope="session")
def loader_memory_parquet():
    return MemoryLoader()


assert SCHEMA  # the reference schema is what every loader writes
