"""Declared SQL column types -> Arrow types, and casting fetched columns to them.

Stores with dynamic typing (SQLite) return what was stored (text for dates,
integers for booleans); the declared type decides the Arrow type, and the
fetched column is cast with pyarrow.compute, never through Python objects.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

from ...errors import QueryError

try:  # the compiled parser of plain decimal text (setup.py builds it where a C compiler exists)
    from ... import _numeric
except ImportError:
    _numeric = None

_DECIMAL = re.compile(r"(?:numeric|decimal)\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)", re.IGNORECASE)


def declared_to_arrow(declared: str | None) -> pa.DataType | None:
    """Arrow type for a declared column type (SQLite affinity rules, extended); None if unknown."""
    if not declared:
        return None
    d = declared.strip().lower()
    m = _DECIMAL.search(d)
    if m:
        precision, scale = int(m.group(1)), int(m.group(2) or 0)
        return pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)
    if "bool" in d:
        return pa.bool_()
    if "timestamptz" in d or "with time zone" in d:
        return pa.timestamp("us", "UTC")
    if "datetime" in d or "timestamp" in d:
        return pa.timestamp("us")
    if d == "date":
        return pa.date32()
    if d in ("time",) or d.startswith("time "):
        return pa.time64("us")
    if "int" in d:
        return pa.int64()
    if any(k in d for k in ("char", "clob", "text", "string", "uuid", "json")):
        return pa.string()
    if "blob" in d or "binary" in d or "bytea" in d:
        return pa.binary()
    if any(k in d for k in ("real", "floa", "doub")):
        return pa.float64()
    return None


def cast_column(arr: pa.Array, target: pa.DataType, column: str) -> pa.Array:
    """Cast a fetched column to its declared Arrow type."""
    if arr.type == target:
        return arr
    try:
        if pa.types.is_timestamp(target) and (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            return _text_to_timestamp(arr, target)
        if pa.types.is_decimal(target) and pa.types.is_floating(arr.type):
            # values were stored as binary floats: round to the declared scale first
            return pc.cast(pc.round(arr, target.scale), target, safe=False)
        if pa.types.is_decimal(target) and pa.types.is_integer(arr.type):
            # NUMERIC affinity stores whole numbers as INTEGER: widen, then narrow (checks each value fits)
            return pc.cast(pc.cast(arr, pa.decimal128(38, target.scale)), target)
        if pa.types.is_null(arr.type):
            return pa.nulls(len(arr), target)
        if pa.types.is_decimal(target):
            return text_to_decimal(arr, target)
        return pc.cast(arr, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise QueryError(f"column {column!r} holds values that are not {target}: {exc}") from None


def text_to_decimal(arr: pa.Array, target: pa.DataType, memory_pool: pa.MemoryPool | None = None) -> pa.Array:
    """Decimal text (``-123.45``) as ``target``: the same values and errors as Arrow's cast, faster.

    The compiled parser takes the plain form drivers write for decimal columns (PostgreSQL's numeric
    arrives from the ADBC driver as text); anything it does not take whole - other spellings, values
    that do not fit - goes to Arrow's cast, which decides.
    """
    if (_numeric is not None and isinstance(target, pa.Decimal128Type) and arr.type == pa.string()
            and arr.offset == 0 and len(arr)):
        validity, offsets, data = arr.buffers()
        validity = validity if arr.null_count else None
        out = pa.allocate_buffer(len(arr) * 16, memory_pool=memory_pool)
        if _numeric.parse(offsets, data if data is not None else b"", validity, 0, len(arr), target.precision,
                          target.scale, out):
            return pa.Array.from_buffers(target, len(arr), [validity, out], null_count=arr.null_count)
    return pc.cast(arr, target, memory_pool=memory_pool)


def _text_to_timestamp(arr: pa.Array, target: pa.TimestampType) -> pa.Array:
    if target.tz is None:
        return pc.cast(arr, target)
    try:
        return pc.cast(arr, target)  # text with offsets ("...+00:00", "...Z")
    except pa.ArrowInvalid:
        naive = pc.cast(arr, pa.timestamp(target.unit))  # naive text: stored as UTC
        return pc.cast(naive, target)


def cast_batch(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` with each column cast to the type ``schema`` gives it (by position)."""
    if batch.schema.equals(schema):
        return batch
    columns = [cast_column(c, f.type, f.name) for c, f in zip(batch.columns, schema)]
    return pa.RecordBatch.from_arrays(columns, schema=schema)
