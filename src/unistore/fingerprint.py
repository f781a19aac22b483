"""Content fingerprints: the rows of a result as a multiset, whatever their order or batching.

Every value gets a 128-bit hash (two independent 64-bit lanes), every row the
mix of its values' hashes, and the digest is the sum of the row hashes modulo
2^64 per lane. Addition is commutative, so the same rows give the same digest
in any order, batching or worker count, and the digest of a union of disjoint
parts is the sum of the parts' digests (:func:`combine`). Per-column sums name
the columns that changed. An order-sensitive digest of the row hashes in
stream order is kept beside it for reads whose order was requested.

The algorithm is fixed in docs/provenance.md and pinned by golden values in
tests/test_fingerprint.py; change it only with a new prefix.

The inner loops run in a small C extension (``unistore._fphash``) when it was
built; otherwise in the numpy code below, which is the reference and computes
the same digests (tests compare the two). ``UNISTORE_FINGERPRINT_KERNEL=numpy``
in the environment, or setting :data:`kernel` to None, selects the numpy code.
"""

from __future__ import annotations

import functools
import os
import struct
from dataclasses import dataclass, field
from typing import Any, Iterable, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.types as pat
import xxhash

from .errors import BadSpecError

try:
    from . import _fphash
except ImportError:  # built without a C compiler: the numpy code computes the same digests
    _fphash = None

#: the compiled kernel used for hashing, or None for the numpy code (read at every call, so it can be switched)
kernel = None if os.environ.get("UNISTORE_FINGERPRINT_KERNEL", "").strip().lower() == "numpy" else _fphash


def kernel_available() -> bool:
    """Whether the compiled kernel was built (it is used unless :data:`kernel` is None)."""
    return _fphash is not None

PREFIX = "ms128v2:"
ORDERED_PREFIX = "ord128v2:"
SCHEMA_PREFIX = "xxh3_128:"
_SCHEMA_VERSION = b"unistore-fingerprint-v1"  # the schema fingerprint did not change in v2

_M64 = (1 << 64) - 1
_SEED, _MUL_SEED = 0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F  # xxh3-64 seeds of column seeds and multipliers
_ROW_SEEDS = (np.uint64(0x165667B19E3779F9), np.uint64(0x27D4EB2F165667C5))
_NULL_TAG = 0x6E756C6C6E756C6C  # "nullnull": a null's hash is fmix64(column seed ^ this)
_WORD_STEP = np.uint64(0x9E3779B97F4A7C15)  # string word j is keyed with seed + (j + 1) * this
_LEN_STEP = np.uint64(0xC2B2AE3D27D4EB4F)  # a string's length enters as fmix64(seed + length * this)
_C1, _C2 = np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53)
_S33 = np.uint64(33)
_CANONICAL_NAN = {8: 0x7FF8000000000000, 4: 0x7FC00000, 2: 0x7E00}
_BLOCK = 1 << 15  # rows hashed at a time: keeps the temporaries in cache
_ORDERED_BLOCK = 1 << 16  # rows per kernel call when the ordered digest needs the row hashes
# column kinds of the kernel (src/unistore/_fphash.c)
_K_NULL, _K_FIXED, _K_FLOAT, _K_BOOL, _K_STR32, _K_STR64, _K_HASHES = range(7)


def schema_fingerprint(schema: pa.Schema) -> str:
    """Fingerprint of column names and types (metadata ignored)."""
    return _schema_keys(schema).fingerprint


class SchemaKeys(NamedTuple):
    """What hashing needs of a schema: its fingerprint, and each column's seed, multiplier and digest name."""

    fingerprint: str
    seeds: tuple[int, ...]
    multipliers: tuple[np.uint64, ...]
    mul_ints: tuple[int, ...]
    names: tuple[str, ...]


def _schema_keys(schema: pa.Schema) -> SchemaKeys:
    """The keys of ``schema``, worked out once per set of names and types.

    A tiny read spent a fifth of its fingerprint's time deriving them. The
    cache key leaves the metadata out (the keys ignore it, and a read's
    schema carries its own record there), so every read of a table shares one
    entry.
    """
    names, types = tuple(schema.names), tuple(schema.types)
    try:
        return _keys_of(names, types)
    except TypeError:  # an unhashable type (a Python extension type without __hash__): worked out, not kept
        return _keys_of.__wrapped__(names, types)


@functools.lru_cache(maxsize=512)
def _keys_of(names: tuple[str, ...], types: tuple[pa.DataType, ...]) -> SchemaKeys:
    h = xxhash.xxh3_128(_SCHEMA_VERSION)
    for name, typ in zip(names, types):
        h.update(f"{name}\x1f{typ}\x1e".encode())
    keys = [_column_keys(i, name, typ) for i, (name, typ) in enumerate(zip(names, types))]
    return SchemaKeys(SCHEMA_PREFIX + h.hexdigest(), tuple(k[0] for k in keys), tuple(np.uint64(k[1]) for k in keys),
                      tuple(k[1] for k in keys), tuple(_column_names(list(names))))


# -- the mixer ----------------------------------------------------------------

def fmix64(x: np.ndarray, scratch: np.ndarray | None = None) -> np.ndarray:
    """murmur3's 64-bit finaliser, in place on a uint64 array (wrap-around arithmetic)."""
    t = np.empty_like(x) if scratch is None else scratch[:len(x)]
    np.right_shift(x, _S33, out=t)
    x ^= t
    x *= _C1
    np.right_shift(x, _S33, out=t)
    x ^= t
    x *= _C2
    np.right_shift(x, _S33, out=t)
    x ^= t
    return x


def _fmix_int(x: int) -> int:
    return int(fmix64(np.array([x & _M64], dtype=np.uint64))[0])


def _logical_type(typ: pa.DataType) -> pa.DataType:
    """Dictionary encoding is representation, not content: a dictionary column hashes as its values."""
    return typ.value_type if pat.is_dictionary(typ) else typ


def column_keys(position: int, f: pa.Field) -> tuple[int, int]:
    """A column's seed and its odd row multiplier, from its position, name and (logical) type."""
    return _column_keys(position, f.name, f.type)


def _column_keys(position: int, name: str, typ: pa.DataType) -> tuple[int, int]:
    key = f"{position}\x1f{name}\x1f{_logical_type(typ)}".encode()
    return xxhash.xxh3_64_intdigest(key, seed=_SEED), xxhash.xxh3_64_intdigest(key, seed=_MUL_SEED) | 1


# -- per-value hashes -----------------------------------------------------------

def _validity(arr: pa.Array) -> np.ndarray | None:
    """Boolean mask of valid values, or None when there are no nulls."""
    if arr.null_count == 0:
        return None
    if pat.is_null(arr.type):
        return np.zeros(len(arr), dtype=bool)
    bitmap = arr.buffers()[0]
    if bitmap is None:  # unions and the like: ask Arrow
        return np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    return _bits(bitmap, arr.offset, len(arr)).view(bool)


def _bits(buf: pa.Buffer, offset: int, n: int) -> np.ndarray:
    """Bits offset..offset+n of a bitmap as uint8 0/1 (only the bytes they live in are unpacked)."""
    first = offset // 8
    raw = np.frombuffer(buf, dtype=np.uint8, count=(offset + n + 7) // 8 - first, offset=first)
    return np.unpackbits(raw, bitorder="little")[offset - first * 8:offset - first * 8 + n]


def _byte_width(typ: pa.DataType) -> int:
    """Bytes per value of flat fixed-width types (ints, floats, decimals, temporal, fixed binary), else 0."""
    if pat.is_nested(typ) or pat.is_boolean(typ) or pat.is_null(typ):
        return 0
    try:
        bits = typ.bit_width
    except ValueError:
        return 0
    return bits // 8 if bits % 8 == 0 else 0


def _fixed_words(arr: pa.Array, width: int, floating: bool) -> list[np.ndarray]:
    """A fixed-width array's values as uint64 words (little-endian, zero-extended; NaNs made canonical)."""
    n = len(arr)
    buf = arr.buffers()[1]
    if width in (1, 2, 4, 8):
        raw = np.frombuffer(buf, dtype=f"<u{width}", count=n, offset=arr.offset * width)
        if floating:
            isnan = np.isnan(raw.view(f"<f{width}"))
            if isnan.any():
                raw = np.where(isnan, raw.dtype.type(_CANONICAL_NAN[width]), raw)
        return [raw if width == 8 else raw.astype(np.uint64)]
    k = (width + 7) // 8
    raw = np.frombuffer(buf, dtype=np.uint8, count=n * width, offset=arr.offset * width).reshape(n, width)
    padded = np.zeros((n, k * 8), dtype=np.uint8)
    padded[:, :width] = raw
    words = padded.view("<u8")
    return [np.ascontiguousarray(words[:, j]) for j in range(k)]


def _chain(words: list[np.ndarray], seed: int, out: np.ndarray, scratch: np.ndarray) -> np.ndarray:
    """h = seed; for each word: h = fmix64(h ^ word)."""
    np.bitwise_xor(words[0], np.uint64(seed), out=out)
    fmix64(out, scratch)
    for w in words[1:]:
        out ^= w
        fmix64(out, scratch)
    return out


def _var_width_hashes(arr: pa.Array, seed: int) -> np.ndarray:
    """Strings and binaries, vectorised over 8-byte words read at any byte offset."""
    n = len(arr)
    wide = pat.is_large_string(arr.type) or pat.is_large_binary(arr.type)
    offsets = np.frombuffer(arr.buffers()[1], dtype="<i8" if wide else "<i4", count=n + 1,
                            offset=arr.offset * (8 if wide else 4)).astype(np.int64)
    lengths = np.diff(offsets)
    data = arr.buffers()[2]
    start, stop = int(offsets[0]), int(offsets[-1])
    padded = np.zeros(stop - start + 8, dtype=np.uint8)
    if data is not None and stop > start:
        padded[:stop - start] = np.frombuffer(data, dtype=np.uint8, count=stop - start, offset=start)
    at = np.ndarray(shape=(len(padded) - 7,), dtype="<u8", buffer=padded, strides=(1,))  # a word at every byte
    nwords = (lengths + 7) // 8
    first = np.cumsum(nwords) - nwords  # index of each value's first word
    owner = np.repeat(np.arange(n), nwords)
    j = np.arange(int(nwords.sum()), dtype=np.int64) - first[owner]  # word index within its value
    words = at[(offsets[:-1] - start)[owner] + 8 * j]
    left = lengths[owner] - 8 * j  # bytes of the value from this word on
    short = left < 8
    if short.any():  # the last word of a value: keep only its own bytes
        words[short] &= (np.uint64(1) << (left[short].astype(np.uint64) * np.uint64(8))) - np.uint64(1)
    words ^= np.uint64(seed) + (j.astype(np.uint64) + np.uint64(1)) * _WORD_STEP
    fmix64(words)
    csum = np.concatenate((np.zeros(1, np.uint64), np.cumsum(words, dtype=np.uint64)))
    v = csum[first + nwords] - csum[first]
    length_part = np.uint64(seed) + lengths.astype(np.uint64) * _LEN_STEP
    v += fmix64(length_part)
    return fmix64(v)


def _slow_hashes(arr: pa.Array, seed: int) -> np.ndarray:
    """Nested and rare types: exact but slow — each value's Python repr, hashed with xxh3-64, then fmix64."""
    v = np.fromiter((xxhash.xxh3_64_intdigest(repr(x).encode(), seed=seed) for x in arr.to_pylist()),
                    dtype=np.uint64, count=len(arr))
    return fmix64(v)


def _storage(arr: pa.Array) -> pa.Array:
    """What is hashed: extension arrays as their storage, string/binary views as large string/binary."""
    if isinstance(arr.type, pa.ExtensionType):
        arr = arr.storage
    typ = arr.type
    if pat.is_string_view(typ) or pat.is_binary_view(typ):
        arr = arr.cast(pa.large_string() if pat.is_string_view(typ) else pa.large_binary())
    return arr


def _is_var_width(typ: pa.DataType) -> bool:
    return pat.is_string(typ) or pat.is_binary(typ) or pat.is_large_string(typ) or pat.is_large_binary(typ)


def _dictionary_hashes(arr: pa.DictionaryArray, seed: int) -> np.ndarray:
    """A dictionary column hashes as its decoded values: the dictionary's hashes gathered by the indices."""
    n = len(arr)
    dict_hashes = value_hashes(arr.dictionary, seed)
    indices = arr.indices
    if len(dict_hashes) == 0:  # no values to point at: every row is null
        return np.full(n, np.uint64(_fmix_int(seed ^ _NULL_TAG)), np.uint64)
    idx = indices.fill_null(0).to_numpy() if indices.null_count else indices.to_numpy()
    out = dict_hashes[idx]
    valid = _validity(indices)
    if valid is not None:
        np.copyto(out, np.uint64(_fmix_int(seed ^ _NULL_TAG)), where=~valid)
    return out


def _kernel_column(arr: pa.Array, seed: int, multiplier: int) -> tuple:
    """The kernel's description of one column: its kind and the raw Arrow buffers (no copies).

    Types the kernel does not hash itself (dictionaries, nested and rare types) are passed as
    their per-value hashes, computed here.
    """
    arr = _storage(arr)
    typ = arr.type
    if pat.is_null(typ):
        return (_K_NULL, 0, seed, multiplier, 0, None, None, None)
    if pat.is_dictionary(typ):  # (its bit_width is the indices')
        return (_K_HASHES, 8, seed, multiplier, 0, None, _dictionary_hashes(arr, seed), None)
    bufs = arr.buffers()
    validity = bufs[0] if arr.null_count else None
    if validity is not None or not arr.null_count:  # (nulls without a bitmap: left to the exact path)
        if pat.is_boolean(typ):
            return (_K_BOOL, 1, seed, multiplier, arr.offset, validity, bufs[1], None)
        if _is_var_width(typ):
            wide = pat.is_large_string(typ) or pat.is_large_binary(typ)
            return (_K_STR64 if wide else _K_STR32, 0, seed, multiplier, arr.offset, validity, bufs[1], bufs[2])
        width = _byte_width(typ)
        if width:
            return (_K_FLOAT if pat.is_floating(typ) else _K_FIXED, width, seed, multiplier, arr.offset, validity,
                    bufs[1], None)
    return (_K_HASHES, 8, seed, multiplier, 0, None, _numpy_value_hashes(arr, seed), None)


def value_hashes(arr: pa.Array, seed: int, out: np.ndarray | None = None,
                 scratch: np.ndarray | None = None) -> np.ndarray:
    """The per-value hashes of one column (nulls included) as a uint64 array (``out`` when given)."""
    n = len(arr)
    out = np.empty(n, np.uint64) if out is None else out[:n]
    k = kernel
    if k is None:
        return _numpy_value_hashes(arr, seed, out, scratch)
    k.hashes(_kernel_column(arr, seed, 1), n, out)
    return out


def _numpy_value_hashes(arr: pa.Array, seed: int, out: np.ndarray | None = None,
                        scratch: np.ndarray | None = None) -> np.ndarray:
    """:func:`value_hashes` in numpy: the reference the kernel is tested against."""
    n = len(arr)
    out = np.empty(n, np.uint64) if out is None else out[:n]
    scratch = np.empty(n, np.uint64) if scratch is None else scratch[:n]
    arr = _storage(arr)
    typ = arr.type
    if pat.is_dictionary(typ):
        out[:] = _dictionary_hashes(arr, seed)
        return out
    valid = _validity(arr)
    if pat.is_null(typ):
        pass  # every value is null: filled below
    elif pat.is_boolean(typ):
        _chain([_bits(arr.buffers()[1], arr.offset, n).astype(np.uint64)], seed, out, scratch)
    elif _is_var_width(typ):
        out[:] = _var_width_hashes(arr, seed)
    elif _byte_width(typ):
        _chain(_fixed_words(arr, _byte_width(typ), pat.is_floating(typ)), seed, out, scratch)
    else:
        out[:] = _slow_hashes(arr, seed)
    if valid is not None:
        np.copyto(out, np.uint64(_fmix_int(seed ^ _NULL_TAG)), where=~valid)
    return out


# -- digests --------------------------------------------------------------------

def _hex(lanes: tuple[int, int]) -> str:
    return f"{lanes[0]:016x}{lanes[1]:016x}"


def _unhex(text: str) -> tuple[int, int]:
    if len(text) != 32:
        raise ValueError("expected 32 hex digits")
    return int(text[:16], 16), int(text[16:], 16)


@dataclass(frozen=True)
class ContentDigest:
    """A result's content as a multiset of rows: composable with :func:`combine`.

    ``lanes`` are the two 64-bit sums of the row hashes; ``columns`` each
    column's 64-bit sum of value hashes (keyed by name; a repeated name gets
    ``#position``); ``ordered`` the order-sensitive fingerprint when kept.
    """

    schema_fingerprint: str
    rows: int = 0
    lanes: tuple[int, int] = (0, 0)
    columns: dict[str, int] = field(default_factory=dict)
    ordered: str | None = None

    @property
    def fingerprint(self) -> str:
        """The versioned content fingerprint: schema, row count and row-hash sums, hashed."""
        h = xxhash.xxh3_128(b"unistore-multiset-v2\x1e")
        h.update(self.schema_fingerprint.encode())
        h.update(struct.pack("<QQQ", self.rows, *self.lanes))
        return PREFIX + h.hexdigest()

    def column_fingerprints(self) -> dict[str, str]:
        """Per-column digests as 16 hex digits each."""
        return {name: f"{value:016x}" for name, value in self.columns.items()}

    def to_dict(self) -> dict[str, Any]:
        return {"schema_fingerprint": self.schema_fingerprint, "rows": self.rows, "lanes": _hex(self.lanes),
                "columns": self.column_fingerprints(), "fingerprint": self.fingerprint,
                "ordered_fingerprint": self.ordered}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ContentDigest":
        try:
            return cls(schema_fingerprint=str(data["schema_fingerprint"]), rows=int(data["rows"]),
                       lanes=_unhex(data["lanes"]),
                       columns={str(k): int(v, 16) for k, v in (data.get("columns") or {}).items()},
                       ordered=data.get("ordered_fingerprint"))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BadSpecError(f"not a content digest ({type(exc).__name__}: {str(exc)[:80]})") from None


def combine(parts: Iterable[ContentDigest]) -> ContentDigest:
    """The digest of the union of disjoint parts, from the parts' digests alone.

    The order-sensitive fingerprint does not compose (it is None in the result).
    """
    parts = list(parts)
    if not parts:
        raise BadSpecError("combine needs at least one digest")
    schema = parts[0].schema_fingerprint
    if any(p.schema_fingerprint != schema for p in parts):
        raise BadSpecError("cannot combine digests of results with different schemas")
    names = list(parts[0].columns)
    if any(list(p.columns) != names for p in parts):
        raise BadSpecError("cannot combine digests with different columns")
    cols = {n: sum(p.columns[n] for p in parts) & _M64 for n in names}
    lanes = (sum(p.lanes[0] for p in parts) & _M64, sum(p.lanes[1] for p in parts) & _M64)
    return ContentDigest(schema, sum(p.rows for p in parts), lanes, cols)


def _column_names(names: list[str]) -> list[str]:
    """The digest's column names: a repeated name gets its position."""
    return [n if names.count(n) == 1 else f"{n}#{i}" for i, n in enumerate(names)]


class Fingerprinter:
    """Feed record batches with :meth:`update`; read :attr:`rows`, :attr:`nbytes`, :meth:`hexdigest`.

    ``ordered=True`` also keeps the order-sensitive digest (:meth:`ordered_hexdigest`).
    Rows are hashed a block at a time into reused buffers, so the temporaries stay in cache.
    """

    def __init__(self, schema: pa.Schema, *, ordered: bool = False):
        self.schema = schema
        self.schema_fp, self.seeds, self.multipliers, self.mul_ints, self.names = _schema_keys(schema)
        self.col_sums = [0] * len(schema)  # Python ints, reduced mod 2^64
        self.lane_sums = [0, 0]
        self.ordered = xxhash.xxh3_128() if ordered else None
        self.rows = 0
        self.nbytes = 0
        self._buffers: list[np.ndarray] | None = None  # numpy path: reused block buffers
        self._ordered_buf: np.ndarray | None = None  # kernel path: the row hashes for the ordered digest

    def update(self, batch: pa.RecordBatch, nbytes: int | None = None) -> None:
        """Hash ``batch``; ``nbytes`` is its ``nbytes`` when the caller has it (Arrow sums it anew per call)."""
        n = batch.num_rows
        self.rows += n
        self.nbytes += batch.nbytes if nbytes is None else nbytes
        k = kernel
        if k is not None:
            self._update_kernel(k, batch, n)
        else:
            self._update_numpy(batch, n)

    def _update_kernel(self, k: Any, batch: pa.RecordBatch, n: int) -> None:
        """The compiled path: one call per batch (per 65 536 rows when the ordered digest is kept)."""
        columns = [_kernel_column(col, self.seeds[c], self.mul_ints[c]) for c, col in enumerate(batch.columns)]
        if self.ordered is None:
            parts = [k.update(columns, n, 0, n)]
        else:
            parts = []
            if self._ordered_buf is None:
                self._ordered_buf = np.empty(2 * _ORDERED_BLOCK, np.uint64)
            for a in range(0, n, _ORDERED_BLOCK):
                m = min(_ORDERED_BLOCK, n - a)
                out = self._ordered_buf[:2 * m]
                parts.append(k.update(columns, n, a, m, out))
                self.ordered.update(out)
        for lane1, lane2, sums in parts:
            self.lane_sums[0] = (self.lane_sums[0] + lane1) & _M64
            self.lane_sums[1] = (self.lane_sums[1] + lane2) & _M64
            for c, s in enumerate(sums):
                self.col_sums[c] = (self.col_sums[c] + s) & _M64

    def _update_numpy(self, batch: pa.RecordBatch, n: int) -> None:
        """The numpy path: the reference, used when the kernel is not built or switched off."""
        if self._buffers is None:
            self._buffers = [np.empty(_BLOCK, np.uint64) for _ in range(5)]
        v, t, acc1, acc2, scratch = self._buffers
        for a in range(0, n, _BLOCK):
            m = min(_BLOCK, n - a)
            r1, r2, tm = acc1[:m], acc2[:m], t[:m]
            r1.fill(0)
            r2.fill(0)
            for c, column in enumerate(batch.columns):
                h = _numpy_value_hashes(column.slice(a, m) if m != n else column, self.seeds[c], v, scratch)
                self.col_sums[c] = (self.col_sums[c] + int(h.sum(dtype=np.uint64))) & _M64
                r1 += h
                np.multiply(h, self.multipliers[c], out=tm)
                r2 += tm
            r1 ^= _ROW_SEEDS[0]
            r2 ^= _ROW_SEEDS[1]
            fmix64(r1, scratch)
            fmix64(r2, scratch)
            if self.ordered is not None:
                self.ordered.update(np.column_stack((r1, r2)).astype("<u8", copy=False).tobytes())
            self.lane_sums[0] = (self.lane_sums[0] + int(r1.sum(dtype=np.uint64))) & _M64
            self.lane_sums[1] = (self.lane_sums[1] + int(r2.sum(dtype=np.uint64))) & _M64

    def digest(self) -> ContentDigest:
        return ContentDigest(self.schema_fp, self.rows, (self.lane_sums[0], self.lane_sums[1]),
                             dict(zip(self.names, self.col_sums)), self.ordered_hexdigest())

    def hexdigest(self) -> str:
        return self.digest().fingerprint

    def ordered_hexdigest(self) -> str | None:
        """The order-sensitive fingerprint, or None when it was not asked for."""
        if self.ordered is None:
            return None
        h = xxhash.xxh3_128(b"unistore-ordered-v2\x1e")
        h.update(self.schema_fp.encode())
        h.update(struct.pack("<Q", self.rows))
        h.update(self.ordered.digest())
        return ORDERED_PREFIX + h.hexdigest()


def digest(data: pa.Table | pa.RecordBatch, *, ordered: bool = False) -> ContentDigest:
    """The content digest of a whole table or batch."""
    fp = Fingerprinter(data.schema, ordered=ordered)
    for b in (data.to_batches() if isinstance(data, pa.Table) else [data]):
        fp.update(b)
    return fp.digest()


def fingerprint(data: pa.Table | pa.RecordBatch) -> str:
    """The content fingerprint of a whole table (convenience for checks and tests)."""
    return digest(data).fingerprint
