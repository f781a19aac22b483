"""Benchmark data, generated once and cached under benchmarks/data/ (git-ignored)."""

from __future__ import annotations

import os
import shutil


def make_parquet(root: str, rows: int, *, rows_per_file: int = 2_000_000, null_percent: int = 0) -> str:
    """A directory of Parquet files with 7 mixed columns (ints, floats, strings, timestamps, booleans).

    Random floats keep it from compressing away: about 44 bytes a row on disk.
    Written batch by batch, so generating it never holds the whole table. With ``null_percent``
    that share of every column's values, drawn at random, is null (the same values otherwise).
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    path = os.path.join(root, f"events_{rows}" + (f"_nulls{null_percent}" if null_percent else ""))
    if os.path.isdir(path):
        return path
    os.makedirs(root, exist_ok=True)
    rng = np.random.default_rng(42)
    categories = pa.array([f"category-{i:04d}" for i in range(1000)])
    tmp = path + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)

    def with_nulls(batch: pa.RecordBatch, holes: np.random.Generator) -> pa.RecordBatch:
        if not null_percent:
            return batch
        return pa.record_batch([pc.if_else(pa.array(holes.random(batch.num_rows) < null_percent / 100),
                                           pa.scalar(None, col.type), col) for col in batch.columns],
                               schema=batch.schema)

    def batches():
        chunk = 1_000_000
        holes = np.random.default_rng(7)  # apart from rng: the values are those of the data set without nulls
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            yield with_nulls(pa.record_batch({
                "id": pa.array(np.arange(start, start + n, dtype=np.int64)),
                "user_id": pa.array(rng.integers(0, 5_000_000, n, dtype=np.int64)),
                "amount": pa.array(rng.normal(100, 30, n)),
                "score": pa.array(rng.random(n)),
                "category": categories.take(pa.array(rng.integers(0, 1000, n))),
                "ts": pa.array(np.datetime64("2026-01-01") + rng.integers(0, 10**13, n).astype("timedelta64[us]")),
                "flag": pa.array(rng.random(n) > 0.5),
            }), holes)

    first = next(batches())
    rng = np.random.default_rng(42)  # the probe above drew numbers: start the same sequence again
    ds.write_dataset(batches(), tmp, schema=first.schema, format="parquet",
                     max_rows_per_file=rows_per_file, max_rows_per_group=min(500_000, rows_per_file))
    os.rename(tmp, path)
    return path


def make_hive_parquet(flat: str) -> str:
    """The data set of :func:`make_parquet` at ``flat`` again, in hive folders ``month=<1..5>/`` (the
    month of ``ts``, int32 as pyarrow infers it); written batch by batch, files as large as ``flat``'s."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    path = flat.rstrip("/") + "_hive"
    if os.path.isdir(path):
        return path
    source = ds.dataset(flat, format="parquet")
    schema = source.schema.append(pa.field("month", pa.int32()))

    def batches():
        for batch in source.to_batches():
            yield pa.record_batch([*batch.columns, pc.month(batch.column("ts")).cast(pa.int32())], schema=schema)

    tmp = path + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    largest = max(f.count_rows() for f in source.get_fragments())
    group = min(500_000, largest)  # row groups as large as the flat set's (batches split by month are small)
    ds.write_dataset(batches(), tmp, schema=schema, format="parquet",
                     partitioning=ds.partitioning(pa.schema([("month", pa.int32())]), flavor="hive"),
                     max_rows_per_file=largest, min_rows_per_group=group, max_rows_per_group=group)
    os.rename(tmp, path)
    return path


def make_pg_table(name: str, rows: int, text_column: str, text_sql: str) -> str:
    """A PostgreSQL table (127.0.0.1:5432, database test) of 6 mixed columns: id, qty, amount, a text column
    ``text_column`` filled by the SQL expression ``text_sql`` of ``i``, ts, price; kept while it has ``rows``."""
    import psycopg

    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True) as con:
        have = con.execute("SELECT to_regclass(%s) IS NOT NULL", [name]).fetchone()[0]
        if have and con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] == rows:
            return name
        con.execute(f'DROP TABLE IF EXISTS "{name}"')
        con.execute(f'''CREATE TABLE "{name}" (id BIGINT PRIMARY KEY, qty INTEGER, amount DOUBLE PRECISION,
                        {text_column} TEXT, ts TIMESTAMPTZ, price NUMERIC(12,2))''')
        con.execute(f'''INSERT INTO "{name}" SELECT i, (i * 7) % 1000, (i % 100000) * 1.37, {text_sql},
                        timestamptz '2026-01-01 00:00:00+00' + (i * interval '17 seconds'),
                        ((i * 13) % 1000000) / 100.0
                        FROM generate_series(1, {rows}) AS i''')
        con.execute(f'VACUUM ANALYZE "{name}"')
    return name
