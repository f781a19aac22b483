"""The provenance record: where a result came from, in which state, and how.

Attached to every result as schema metadata ``unistore.provenance`` (JSON)
and as field metadata ``unistore.read`` (the read id) on each column, so a
reader holding only the table, or only one of its fields, finds the read.
The JSON layout is a contract for lineage collectors; see docs/provenance.md.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import os
import secrets
import threading
import time
import uuid
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from .snapshot import Snapshot

SCHEMA_KEY = b"unistore.provenance"
FIELD_KEY = b"unistore.read"
RECORD_VERSION = 1


def uuid7() -> str:
    """A time-ordered UUID (RFC 9562 version 7), so read ids sort by time."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(secrets.token_bytes(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80 | (0x7 << 76) | ((rand >> 62) & 0xFFF) << 64
    value |= (0b10 << 62) | (rand & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))


@dataclass(frozen=True)
class Dataset:
    """The source, named the OpenLineage way (``namespace`` + ``name``)."""

    system: str
    uri: str  # always redacted
    namespace: str
    name: str


@dataclass(frozen=True)
class Query:
    """What was sent: ``language`` is sql, files, promql, influxql, ..."""

    language: str
    text: str
    params: dict[str, Any] | list[Any] | None = None
    columns: list[str] | None = None
    filter: str | None = None
    pushed_down: dict[str, Any] = field(default_factory=dict)
    #: the read request, encoded losslessly, so :func:`unistore.replay` can issue it again
    request: dict[str, Any] | None = None


@dataclass
class Result:
    rows: int = 0
    bytes: int = 0
    schema_fingerprint: str | None = None
    fingerprint: str | None = None
    complete: bool = False


@dataclass
class Provenance:
    """One read's record. ``result`` fills in as the stream is consumed."""

    read_id: str
    read_at: str
    unistore: str
    source: Dataset
    snapshot: Snapshot
    query: Query
    result: Result = field(default_factory=Result)
    parents: list[str] = field(default_factory=list)
    version: int = RECORD_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The record as plain JSON-able data (shallow copies: no deep copy on the read path)."""
        src, q, r = self.source, self.query, self.result
        return {
            "version": self.version,
            "read_id": self.read_id,
            "read_at": self.read_at,
            "unistore": self.unistore,
            "source": {"system": src.system, "uri": src.uri, "namespace": src.namespace, "name": src.name},
            "snapshot": self.snapshot.to_dict(),
            "query": {"language": q.language, "text": q.text, "params": q.params, "columns": q.columns,
                      "filter": q.filter, "pushed_down": q.pushed_down, "request": q.request},
            "result": {"rows": r.rows, "bytes": r.bytes, "schema_fingerprint": r.schema_fingerprint,
                       "fingerprint": r.fingerprint, "complete": r.complete},
            "parents": list(self.parents),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), default=jsonable, separators=(",", ":"), sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Provenance":
        return cls(
            read_id=data["read_id"],
            read_at=data["read_at"],
            unistore=data.get("unistore", ""),
            source=Dataset(**data["source"]),
            snapshot=Snapshot.from_dict(data["snapshot"]),
            query=Query(**data["query"]),
            result=Result(**(data.get("result") or {})),
            parents=list(data.get("parents") or []),
            version=data.get("version", RECORD_VERSION),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> "Provenance":
        return cls.from_dict(json.loads(text))


def jsonable(value: Any) -> Any:
    """JSON form of the values that appear in params and pins."""
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def now_rfc3339() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


# -- attaching and finding records -----------------------------------------

def tag_fields(schema: pa.Schema, record: Provenance) -> pa.Schema:
    """``schema`` with the read id on every field (so one column leads back to its read)."""
    rid = record.read_id.encode()
    fields = [f.with_metadata({**(f.metadata or {}), FIELD_KEY: rid}) for f in schema]
    return pa.schema(fields, metadata=schema.metadata)


def tag_schema(schema: pa.Schema, record: Provenance) -> pa.Schema:
    """``schema`` with the record as schema metadata and the read id on every field."""
    rid = record.read_id.encode()
    if all((f.metadata or {}).get(FIELD_KEY) == rid for f in schema):
        fields = list(schema)
    else:
        fields = list(tag_fields(schema, record))
    meta = {**(schema.metadata or {}), SCHEMA_KEY: record.to_json().encode()}
    return pa.schema(fields, metadata=meta)


_lock = threading.Lock()
_live: "weakref.WeakValueDictionary[str, Provenance]" = weakref.WeakValueDictionary()
_recent: "OrderedDict[str, Provenance]" = OrderedDict()
_RECENT_MAX = 4096


def remember(record: Provenance, *, finished: bool = False) -> None:
    """Keep a record findable by read id (live while streaming, recent ones after)."""
    with _lock:
        _live[record.read_id] = record
        if finished:
            _recent[record.read_id] = record
            _recent.move_to_end(record.read_id)
            while len(_recent) > _RECENT_MAX:
                _recent.popitem(last=False)


def lookup(read_id: str) -> Provenance | None:
    with _lock:
        return _recent.get(read_id) or _live.get(read_id)


def provenance_of(obj: Any) -> Provenance:
    """The provenance of a table, batch, reader, schema or field produced by unistore.

    For a stream, the ``result`` part (rows, bytes, fingerprint) is complete
    once the stream has been consumed.
    """
    if isinstance(obj, pa.Field):
        rid = (obj.metadata or {}).get(FIELD_KEY)
        record = lookup(rid.decode()) if rid else None
        if record is None:
            raise LookupError(f"field {obj.name!r} carries no unistore read id known to this process")
        return record
    schema = obj if isinstance(obj, pa.Schema) else getattr(obj, "schema", None)
    if not isinstance(schema, pa.Schema):
        raise TypeError(f"provenance_of needs an Arrow table, batch, reader, schema or field, got {type(obj).__name__}")
    raw = (schema.metadata or {}).get(SCHEMA_KEY)
    if raw is None:
        raise LookupError("this Arrow object carries no unistore provenance (was it produced by unistore.read?)")
    record = Provenance.from_json(raw)
    if not record.result.complete:
        live = lookup(record.read_id)
        if live is not None:
            return live
    return record
