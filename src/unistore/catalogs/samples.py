"""Unit data sets: a small, pinned, tested subset of a real dataset, chosen by a keyed hash of its key columns.

A pipeline's unit tests want real rows, few of them, the same ones every time.
:func:`select` streams a read and keeps the ``rows`` rows whose key has the
smallest keyed hash (a bottom-k sample): which rows are kept depends only on
the key values and the seed — not on the order the store returns them, nor on
the store (key values are hashed in a canonical form: an ``INTEGER`` key in
PostgreSQL, an ``int64`` in Parquet and a ``BIGINT`` in DuckDB pick the same
rows) — and it is stable as the table grows: a row of a later sample that was
already in the table was already in the earlier sample. Rows sharing a key
go together (all kept or none), so a sample can hold a few more rows than
asked when the key is not unique.

The sample file is Parquet with a *derived* provenance record (its parent is
the read it was taken from) and, under ``unistore.sample``, how it was taken
(method, key, seed, threshold) and the parent read's full record: reading the
file later with unistore gives the pinned subset with its lineage back to the
production dataset (:func:`unistore.provenance.embedded_parents`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.types as pat
import xxhash

from ..errors import BadSpecError
from ..fingerprint import fmix64, value_hashes
from ..provenance import SAMPLE_KEY, Provenance, derive, jsonable, tag_schema

METHOD = "bottom-k keyed hash (xxh3 seed, murmur3 mix) of the canonical key values"
_MIX = np.uint64(0x9E3779B97F4A7C15)


@dataclass
class Sample:
    """A taken sample: the rows (sorted by their hash), and how they were chosen."""

    table: pa.Table
    key: list[str]
    seed: int
    rows: int  # asked for
    threshold: int | None  # the largest kept hash (None: the whole table was kept)
    parent_rows: int = 0
    info: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """How the sample was taken (JSON-able; goes into the record, the file and the lock)."""
        return {"method": METHOD, "key": list(self.key), "seed": self.seed, "rows_asked": self.rows,
                "rows": self.table.num_rows, "parent_rows": self.parent_rows,
                "threshold": None if self.threshold is None else f"{self.threshold:016x}", **self.info}


def canonical(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A key column in the form that hashes the same whatever store it came from.

    Integers (any width, decimals without scale) as int64, floats as float64, text as
    large_string, dates as days, timestamps as UTC microseconds, booleans as 0/1; anything
    else as its text.
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    typ = arr.type
    if pat.is_dictionary(typ):
        return canonical(arr.cast(typ.value_type))
    if pat.is_integer(typ) or pat.is_boolean(typ) or (pat.is_decimal(typ) and typ.scale == 0):
        try:
            return arr.cast(pa.int64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return arr.cast(pa.large_string())
    if pat.is_floating(typ):
        return arr.cast(pa.float64())
    if pat.is_string(typ) or pat.is_large_string(typ) or getattr(pat, "is_string_view", lambda t: False)(typ):
        return arr.cast(pa.large_string())
    if pat.is_date(typ):
        return arr.cast(pa.date32()).cast(pa.int32()).cast(pa.int64())
    if pat.is_timestamp(typ):
        utc = arr if typ.tz is None else arr.cast(pa.timestamp(typ.unit, "UTC"))
        return utc.cast(pa.timestamp("us", typ.tz)).cast(pa.int64())
    try:
        return arr.cast(pa.large_string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise BadSpecError(f"a sample key column cannot be of type {typ}; choose other key columns") from None


def key_hashes(batch: pa.RecordBatch | pa.Table, key: list[str], seed: int) -> np.ndarray:
    """The keyed hash of each row's key (uint64): the same key values give the same hash in any store."""
    out: np.ndarray | None = None
    for i, name in enumerate(key):
        column_seed = xxhash.xxh3_64_intdigest(f"unistore.sample\x1f{seed}\x1f{i}".encode())
        h = value_hashes(canonical(batch.column(name)), column_seed).copy()
        out = h if out is None else fmix64((out * _MIX) ^ h)
    assert out is not None
    return out


def select(batches: Iterable[pa.RecordBatch], schema: pa.Schema, key: list[str], rows: int, seed: int) -> Sample:
    """The rows whose key hash is among the ``rows`` smallest (ties at the threshold all kept)."""
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise BadSpecError(f"a sample needs rows >= 1, got {rows!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise BadSpecError(f"a sample's seed is a whole number, got {seed!r}")
    missing = [k for k in key if k not in schema.names]
    if not key or missing:
        raise BadSpecError(f"sample key column(s) {', '.join(missing) or '(none)'} not in the data; "
                           f"columns: {', '.join(schema.names)[:300]}")
    kept: list[pa.Table] = []
    hashes: list[np.ndarray] = []
    held = 0
    threshold: int | None = None
    total = 0
    for batch in batches:
        total += batch.num_rows
        if not batch.num_rows:
            continue
        h = key_hashes(batch, key, seed)
        mask = h <= np.uint64(threshold) if threshold is not None else np.ones(len(h), bool)
        if mask.any():
            kept.append(pa.Table.from_batches([batch]).filter(pa.array(mask)))
            hashes.append(h[mask])
            held += int(mask.sum())
        if held > 2 * rows:  # prune to the bottom k (and their ties), so memory stays O(rows)
            kept, hashes, threshold = _prune(kept, hashes, rows)
            held = len(hashes[0])
    kept, hashes, threshold = _prune(kept, hashes, rows) if held else ([], [np.empty(0, np.uint64)], None)
    plain = pa.schema([f.remove_metadata() for f in schema])  # the parent read's tags are not the sample's
    table = pa.Table.from_arrays(pa.concat_tables(kept).columns, schema=plain) if kept else plain.empty_table()
    if kept:  # sorted by hash, ties by key values: the same file whatever the store's order
        keys = pa.table({"h": pa.array(hashes[0], pa.uint64()),
                         **{f"k{i}": canonical(table.column(k)) for i, k in enumerate(key)}})
        table = table.take(pc.sort_indices(keys, [(c, "ascending") for c in keys.column_names]))
    whole = threshold is None or table.num_rows == total
    return Sample(table, list(key), seed, rows, None if whole else threshold, total)


def _prune(kept: list[pa.Table], hashes: list[np.ndarray], rows: int) -> tuple[list[pa.Table], list[np.ndarray], int]:
    table = pa.concat_tables(kept)
    h = np.concatenate(hashes)
    if len(h) <= rows:
        return [table], [h], int(h.max()) if len(h) else 0
    threshold = int(np.partition(h, rows - 1)[rows - 1])
    mask = h <= np.uint64(threshold)
    return [table.filter(pa.array(mask))], [h[mask]], threshold


def sample_record(parent: Provenance, sample: Sample, dataset: str | None) -> Provenance:
    """The sample's derived record: its parent is the read it was taken from; ``catalog.sample`` says how."""
    record = derive(parent, sample.table)
    part = dict(parent.catalog or {})
    part["sample"] = {**sample.describe(), **({"dataset": dataset} if dataset else {})}
    record.catalog = part
    return record


def tagged(sample: Sample, record: Provenance, parent: Provenance) -> pa.Table:
    """The sample table carrying its record, and the parent's, as schema metadata (kept by Parquet)."""
    schema = tag_schema(sample.table.schema, record)
    embedded = {"sample": record.to_dict(), "parent": parent.to_dict()}
    meta = {**(schema.metadata or {}), SAMPLE_KEY: json.dumps(embedded, default=jsonable).encode()}
    return sample.table.replace_schema_metadata(meta)


def write(table: pa.Table, path: str) -> None:
    """Write the sample as Parquet (the metadata goes with it)."""
    import pyarrow.parquet as pq

    if not str(path).lower().endswith((".parquet", ".pq")):
        raise BadSpecError(f"a sample is written as Parquet: the path must end in .parquet, got {str(path)[:200]}")
    pq.write_table(table, path)
