"""Content fingerprints that ignore how the data was cut into batches.

Each column feeds separate streams into incremental xxh3-128 hashers: the
non-null values (fixed-width buffers hashed in place, zero-copy), the global
positions of nulls, value lengths for variable-width and list types, and
child streams for nested types. Every stream is a concatenation over rows,
so the digest is the same however the rows were split into batches or row
groups, and nothing is copied except where nulls must be dropped. The final
fingerprint hashes the schema (names and types), the row count and each
column's digests.
"""

from __future__ import annotations

import struct

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.types as pat
import xxhash

PREFIX = "xxh3_128:"
_VERSION = b"unistore-fingerprint-v1"


def schema_fingerprint(schema: pa.Schema) -> str:
    """Fingerprint of column names and types (metadata ignored)."""
    h = xxhash.xxh3_128(_VERSION)
    for f in schema:
        h.update(f"{f.name}\x1f{f.type}\x1e".encode())
    return PREFIX + h.hexdigest()


class _ColumnHasher:
    """Streams of one column (or one nested child)."""

    __slots__ = ("values", "_nulls", "_lengths", "children", "rows")

    def __init__(self) -> None:
        self.values = xxhash.xxh3_128()
        self._nulls: xxhash.xxh3_128 | None = None  # created on first use: most columns never need them
        self._lengths: xxhash.xxh3_128 | None = None
        self.children: list[_ColumnHasher] = []
        self.rows = 0

    @property
    def nulls(self) -> xxhash.xxh3_128:
        if self._nulls is None:
            self._nulls = xxhash.xxh3_128()
        return self._nulls

    @property
    def lengths(self) -> xxhash.xxh3_128:
        if self._lengths is None:
            self._lengths = xxhash.xxh3_128()
        return self._lengths

    def _child(self, i: int) -> "_ColumnHasher":
        while len(self.children) <= i:
            self.children.append(_ColumnHasher())
        return self.children[i]

    def update(self, arr: pa.Array) -> None:
        n = len(arr)
        if n == 0:
            return
        typ = arr.type
        if pat.is_dictionary(typ):
            arr = arr.dictionary_decode()
            typ = arr.type
        if isinstance(typ, pa.ExtensionType):
            arr = arr.storage
            typ = arr.type
        if pat.is_null(typ):
            self.rows += n
            return
        if arr.null_count:
            positions = pc.add(pc.indices_nonzero(arr.is_null()), pa.scalar(self.rows, pa.uint64()))
            self.nulls.update(_fixed_bytes(positions, 8))
            arr = arr.drop_null()
        self.rows += n
        if len(arr) == 0:
            return
        self._values(arr, typ)

    def _values(self, arr: pa.Array, typ: pa.DataType) -> None:
        if pat.is_boolean(typ):
            self.values.update(_fixed_bytes(pc.cast(arr, pa.uint8()), 1))
        elif pat.is_string_view(typ) or pat.is_binary_view(typ):
            self._values(pc.cast(arr, pa.large_string() if pat.is_string_view(typ) else pa.large_binary()), None)
        elif typ is None or pat.is_string(typ) or pat.is_binary(typ) or pat.is_large_string(typ) or pat.is_large_binary(typ):
            wide = typ is None or pat.is_large_string(typ) or pat.is_large_binary(typ)
            self._var_width(arr, 8 if wide else 4)
        elif _byte_width(typ):
            self.values.update(_fixed_bytes(arr, _byte_width(typ)))
        elif pat.is_map(typ):  # no length kernel for maps: lengths from offsets, entries as one struct child
            offsets = arr.offsets
            lengths = pc.cast(pc.subtract(offsets.slice(1), offsets.slice(0, len(arr))), pa.int64())
            self.lengths.update(_fixed_bytes(lengths, 8))
            start, stop = offsets[0].as_py(), offsets[len(arr)].as_py()  # keys/items ignore the slice
            entries = [arr.keys.slice(start, stop - start), arr.items.slice(start, stop - start)]
            self._child(0).update(pa.StructArray.from_arrays(entries, names=["key", "value"]))
        elif pat.is_list(typ) or pat.is_large_list(typ) or pat.is_fixed_size_list(typ):
            lengths = pc.cast(pc.list_value_length(arr), pa.int64())
            self.lengths.update(_fixed_bytes(lengths, 8))
            self._child(0).update(arr.flatten())
        elif pat.is_struct(typ):
            for i, child in enumerate(arr.flatten()):
                self._child(i).update(child)
        else:  # unions and other rare types: exact but slow
            self.values.update(repr(arr.to_pylist()).encode())

    def _var_width(self, arr: pa.Array, offset_width: int) -> None:
        lengths = pc.cast(pc.binary_length(arr), pa.int64())
        self.lengths.update(_fixed_bytes(lengths, 8))
        offsets = arr.buffers()[1]
        fmt = "<q" if offset_width == 8 else "<i"
        start = struct.unpack_from(fmt, offsets, arr.offset * offset_width)[0]
        end = struct.unpack_from(fmt, offsets, (arr.offset + len(arr)) * offset_width)[0]
        data = arr.buffers()[2]
        if data is not None and end > start:
            self.values.update(memoryview(data)[start:end])

    def digest(self) -> bytes:
        h = xxhash.xxh3_128(struct.pack("<q", self.rows))
        for part in (self.values, self.nulls, self.lengths):  # an unused stream digests as empty
            h.update(part.digest())
        for child in self.children:
            h.update(child.digest())
        return h.digest()


def _byte_width(typ: pa.DataType) -> int:
    """Bytes per value for flat fixed-width types, 0 for everything else."""
    if pat.is_nested(typ) or pat.is_boolean(typ):
        return 0
    try:
        bits = typ.bit_width
    except ValueError:
        return 0
    return bits // 8 if bits % 8 == 0 else 0


def _fixed_bytes(arr: pa.Array, width: int) -> memoryview:
    """The value bytes of a null-free fixed-width array, without copying."""
    buf = arr.buffers()[1]
    return memoryview(buf)[arr.offset * width:(arr.offset + len(arr)) * width]


class Fingerprinter:
    """Feed record batches with :meth:`update`; read :attr:`rows`, :attr:`nbytes`, :meth:`hexdigest`."""

    def __init__(self, schema: pa.Schema):
        self.schema = schema
        self.columns = [_ColumnHasher() for _ in schema]
        self.rows = 0
        self.nbytes = 0

    def update(self, batch: pa.RecordBatch) -> None:
        self.rows += batch.num_rows
        self.nbytes += batch.nbytes
        for hasher, column in zip(self.columns, batch.columns):
            hasher.update(column)

    def hexdigest(self) -> str:
        h = xxhash.xxh3_128(schema_fingerprint(self.schema).encode())
        h.update(struct.pack("<q", self.rows))
        for hasher in self.columns:
            h.update(hasher.digest())
        return PREFIX + h.hexdigest()


def fingerprint(data: pa.Table | pa.RecordBatch) -> str:
    """Fingerprint a whole table (convenience for checks and tests)."""
    fp = Fingerprinter(data.schema)
    batches = data.to_batches() if isinstance(data, pa.Table) else [data]
    for b in batches:
        fp.update(b)
    return fp.hexdigest()
