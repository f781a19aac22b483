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
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field, fields
from typing import Any

import pyarrow as pa

from .fingerprint import PREFIX, ContentDigest, digest as content_digest, schema_fingerprint
from .snapshot import Snapshot

SCHEMA_KEY = b"unistore.provenance"
#: schema metadata of a file written as a sample: its own record and its parent's (unistore.catalogs.samples)
SAMPLE_KEY = b"unistore.sample"
FIELD_KEY = b"unistore.read"
RECORD_VERSION = 2  # 2: order-independent content digests, per-column digests, derived records


def uuid7() -> str:
    """A time-ordered UUID (RFC 9562 version 7), so read ids sort by time."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(secrets.token_bytes(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80 | (0x7 << 76) | ((rand >> 62) & 0xFFF) << 64
    value |= (0b10 << 62) | (rand & ((1 << 62) - 1))
    h = f"{value:032x}"  # str(uuid.UUID(int=value)), without the constructor's checks (every read makes one)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


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
    """What came back. ``fingerprint`` is the order-independent content digest (docs/provenance.md);
    ``lanes`` its two 64-bit row-hash sums (what makes digests of parts combinable), ``columns``
    one digest per column, ``ordered_fingerprint`` the order-sensitive digest when order was requested.
    """

    rows: int = 0
    bytes: int = 0
    schema_fingerprint: str | None = None
    fingerprint: str | None = None
    complete: bool = False
    ordered_fingerprint: str | None = None
    lanes: str | None = None
    columns: dict[str, str] | None = None

    def set_digest(self, digest: ContentDigest) -> None:
        """Fill the content fields from a finished digest."""
        d = digest.to_dict()
        self.fingerprint, self.ordered_fingerprint = d["fingerprint"], d["ordered_fingerprint"]
        self.lanes, self.columns = d["lanes"], d["columns"]

    def digest(self) -> ContentDigest | None:
        """The composable digest this result records, or None for records made before version 2."""
        if not (self.fingerprint or "").startswith(PREFIX) or self.lanes is None or self.schema_fingerprint is None:
            return None
        return ContentDigest.from_dict({"schema_fingerprint": self.schema_fingerprint, "rows": self.rows,
                                        "lanes": self.lanes, "columns": self.columns or {},
                                        "ordered_fingerprint": self.ordered_fingerprint})


_RESULT_FIELDS = frozenset(f.name for f in fields(Result))

#: the catalog entry a read is made for (:mod:`unistore.catalog` sets it around the read): every record
#: made meanwhile names it, so sinks and the table's record say which dataset and lock entry it was
catalog_entry: "ContextVar[dict[str, Any] | None]" = ContextVar("unistore_catalog_entry", default=None)


def _current_catalog_entry() -> dict[str, Any] | None:
    entry = catalog_entry.get()
    return dict(entry) if entry is not None else None
#: ``kind`` of a record made by a cross-silo SQL query (:mod:`unistore.federated`); one read's is ``"read"``
QUERY_KIND = "query"


@dataclass(frozen=True)
class QueryInput:
    """One input of a cross-silo query: its name in the query, the source name, and its read's full record."""

    name: str
    source: str
    record: "Provenance"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "record": self.record.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "QueryInput":
        return cls(data["name"], data["source"], Provenance.from_dict(data["record"]))


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one data test evaluated while the read streamed (see docs/data-tests.md).

    ``observed`` is what the test measured (a null count, the duplicate count, min/max...),
    ``failing_rows`` how many rows broke it (None for tests about the whole result),
    ``examples`` a few failing keys or values (the smallest ones, so they do not depend on
    batching or row order); ``params`` the test's own parameters, ``expected`` them in words.
    """

    name: str
    assertion: str
    success: bool
    severity: str = "error"
    column: str | None = None
    observed: Any = None
    failing_rows: int | None = None
    examples: list[Any] = field(default_factory=list)
    expected: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "assertion": self.assertion, "column": self.column, "success": self.success,
                "severity": self.severity, "observed": self.observed, "failing_rows": self.failing_rows,
                "examples": list(self.examples), "expected": self.expected, "params": dict(self.params)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CheckResult":
        known = {f.name for f in fields(cls)}
        out = {k: v for k, v in data.items() if k in known}
        out["examples"] = list(out.get("examples") or [])
        out["params"] = dict(out.get("params") or {})
        return cls(**out)


@dataclass
class Provenance:
    """One read's record. ``result`` fills in as the stream is consumed.

    A *derived* record (``derived=True``) describes a table made from a read's result
    (a slice, a filter, a new column...): its ``result`` is that table's own, ``parents``
    names the read, and :attr:`parent` holds that read's record when it is known.
    """

    read_id: str
    read_at: str
    unistore: str
    source: Dataset
    snapshot: Snapshot
    query: Query
    result: Result = field(default_factory=Result)
    parents: list[str] = field(default_factory=list)
    version: int = RECORD_VERSION
    derived: bool = False
    #: results of the data tests run during the read (``read(..., checks=[...])``); None: none were run
    checks: list[CheckResult] | None = None
    #: the record of the read this one was derived from (not serialised: find it by ``parents``)
    parent: "Provenance | None" = field(default=None, repr=False, compare=False)
    #: for a read of a catalog dataset: the catalog, dataset, its documentation and the lock entry checked
    catalog: dict[str, Any] | None = field(default_factory=_current_catalog_entry)
    #: ``"read"``, or ``"query"`` for a cross-silo SQL result, whose record also holds the engine
    #: (name, version), every input's full record and the column lineage (docs/provenance.md)
    kind: str = "read"
    engine: dict[str, str] | None = None
    inputs: list[QueryInput] = field(default_factory=list)
    column_lineage: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The record as plain JSON-able data (shallow copies: no deep copy on the read path)."""
        src, q, r = self.source, self.query, self.result
        out: dict[str, Any] = {
            "version": self.version,
            "read_id": self.read_id,
            "read_at": self.read_at,
            "unistore": self.unistore,
            "source": {"system": src.system, "uri": src.uri, "namespace": src.namespace, "name": src.name},
            "snapshot": self.snapshot.to_dict(),
            "query": {"language": q.language, "text": q.text, "params": q.params, "columns": q.columns,
                      "filter": q.filter, "pushed_down": q.pushed_down, "request": q.request},
            "result": {"rows": r.rows, "bytes": r.bytes, "schema_fingerprint": r.schema_fingerprint,
                       "fingerprint": r.fingerprint, "ordered_fingerprint": r.ordered_fingerprint,
                       "lanes": r.lanes, "columns": dict(r.columns) if r.columns is not None else None,
                       "complete": r.complete},
            "parents": list(self.parents),
            "derived": self.derived,
            **({"catalog": self.catalog} if self.catalog is not None else {}),
            **({"kind": self.kind, "engine": self.engine, "inputs": [i.to_dict() for i in self.inputs],
                "column_lineage": self.column_lineage} if self.kind != "read" else {}),
        }
        if self.checks is not None:  # only reads that ran data tests have the section
            out["checks"] = [c.to_dict() for c in self.checks]
        return out

    def to_json(self) -> str:
        return _RECORD_JSON(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Provenance":
        return cls(
            read_id=data["read_id"],
            read_at=data["read_at"],
            unistore=data.get("unistore", ""),
            source=Dataset(**data["source"]),
            snapshot=Snapshot.from_dict(data["snapshot"]),
            query=Query(**data["query"]),
            result=Result(**{k: v for k, v in (data.get("result") or {}).items() if k in _RESULT_FIELDS}),
            parents=list(data.get("parents") or []),
            version=data.get("version", 1),  # records without a version predate versioning
            derived=bool(data.get("derived", False)),
            catalog=data.get("catalog"),
            kind=data.get("kind", "read"),
            engine=data.get("engine"),
            inputs=[QueryInput.from_dict(i) for i in data.get("inputs") or []],
            column_lineage=data.get("column_lineage"),
            checks=None if data.get("checks") is None else [CheckResult.from_dict(c) for c in data["checks"]],
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> "Provenance":
        return cls.from_dict(json.loads(text))

    def __repr__(self) -> str:
        """A readable block (source, snapshot, query, rows, fingerprint, parents), never a secret."""
        from .display import text

        return text(self)

    def _repr_html_(self) -> str:
        """The same fields as an HTML table, for Jupyter."""
        from .display import to_html

        return to_html(self)


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


#: one encoder, made once (``json.dumps`` with options builds a new one per call)
_RECORD_JSON = json.JSONEncoder(default=jsonable, separators=(",", ":")).encode


def now_rfc3339() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


# -- attaching and finding records -----------------------------------------

def tag_fields(schema: pa.Schema, record: Provenance) -> pa.Schema:
    """``schema`` with the read id on every field (so one column leads back to its read)."""
    rid = record.read_id.encode()
    fields = [f.with_metadata({**(f.metadata or {}), FIELD_KEY: rid}) for f in schema]
    return pa.schema(fields, metadata=schema.metadata)


def tag_schema(schema: pa.Schema, record: Provenance, text: str | None = None) -> pa.Schema:
    """``schema`` with the record as schema metadata and the read id on every field.

    ``text``: the record's JSON when it was already made (for the lineage sinks of the same read)."""
    rid = record.read_id.encode()
    if all((f.metadata or {}).get(FIELD_KEY) == rid for f in schema):
        fields = list(schema)
    else:
        fields = list(tag_fields(schema, record))
    meta = {**(schema.metadata or {}), SCHEMA_KEY: (text if text is not None else record.to_json()).encode()}
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


#: how records are found on objects of other libraries (a Ray Dataset, a Dask DataFrame): see register_finder
_finders: list[Callable[[Any], "Provenance | None"]] = []


def register_finder(finder: Callable[[Any], "Provenance | None"]) -> None:
    """Teach :func:`provenance_of` another kind of object: ``finder`` returns its record, or None if not its kind.

    The integrations with Ray, Dask and PyTorch register one when they are
    imported, so this module never imports them.
    """
    if finder not in _finders:
        _finders.append(finder)


def provenance_of(obj: Any) -> Provenance:
    """The provenance of a table, batch, reader, schema or field produced by unistore.

    For a stream, the ``result`` part (rows, bytes, fingerprint) is complete
    once the stream has been consumed. A table or batch whose rows or schema
    no longer match the record it carries (Arrow keeps schema metadata through
    slice, filter, select, concat...) gets a derived record instead: its own
    rows and fingerprint, the read as its parent. See :func:`describes`.
    """
    if isinstance(obj, pa.Field):
        rid = (obj.metadata or {}).get(FIELD_KEY)
        record = lookup(rid.decode()) if rid else None
        if record is None:
            raise LookupError(f"field {obj.name!r} carries no unistore read id known to this process")
        return record
    schema = obj if isinstance(obj, pa.Schema) else getattr(obj, "schema", None)
    if not isinstance(schema, pa.Schema):
        for finder in list(_finders):  # a Ray Dataset, a Dask DataFrame, a frame from unistore.to_pandas...
            found = finder(obj)
            if found is not None:
                return found
        raise TypeError(f"provenance_of needs an Arrow table, batch, reader, schema or field, or a frame from "
                        f"unistore.to_pandas / to_polars, got {type(obj).__name__}")
    raw = (schema.metadata or {}).get(SCHEMA_KEY)
    if raw is None:
        raise LookupError("this Arrow object carries no unistore provenance (was it produced by unistore.read?)")
    record = Provenance.from_json(raw)
    if not record.result.complete:
        live = lookup(record.read_id)
        if live is not None:
            return live
        return record
    if not isinstance(obj, (pa.Table, pa.RecordBatch)) or describes(record, obj):
        return record  # a schema or a reader has no rows of its own to check
    return derive(record, obj)


# -- does a record describe this table? ---------------------------------------

#: read id -> the table the read returned, weakly
_returned: "OrderedDict[str, weakref.ref[Any]]" = OrderedDict()
#: id(table) -> (the table, weakly; its digest): hashing a table once is enough
_digests: "OrderedDict[int, tuple[weakref.ref[Any], ContentDigest]]" = OrderedDict()


def _identity(data: pa.Table | pa.RecordBatch) -> tuple[Any, ...]:
    """Where each column's values live: chunk offsets, lengths and buffer addresses (no hashing)."""
    columns = data.columns if isinstance(data, pa.Table) else [pa.chunked_array([c]) for c in data.columns]
    return tuple(
        tuple((chunk.offset, len(chunk), tuple((b.address, b.size) if b is not None else None for b in chunk.buffers()))
              for chunk in column.chunks if len(chunk))
        for column in columns)


def remember_returned(record: Provenance, table: pa.Table) -> None:
    """Note what a read returned, so :func:`provenance_of` knows that table without hashing it.

    The table is held weakly: while it lives, its buffers cannot be reused by other data, so
    its buffers' identity, worked out only when another table is asked about, stays its own.
    """
    entry = weakref.ref(table)
    with _lock:
        _returned[record.read_id] = entry
        _returned.move_to_end(record.read_id)
        while len(_returned) > _RECENT_MAX:
            _returned.popitem(last=False)


def _is_returned(record: Provenance, data: pa.Table | pa.RecordBatch) -> bool:
    with _lock:
        entry = _returned.get(record.read_id)
    returned = entry() if entry is not None else None
    if returned is None or returned.num_rows != data.num_rows:
        return False
    return returned is data or _identity(data) == _identity(returned)


def table_digest(data: pa.Table | pa.RecordBatch, *, ordered: bool = False) -> ContentDigest:
    """The content digest of ``data``, remembered per object while it lives."""
    key = id(data)
    with _lock:
        hit = _digests.get(key)
    if hit is not None and hit[0]() is data and (hit[1].ordered is not None or not ordered):
        return hit[1]
    d = content_digest(data, ordered=ordered)
    with _lock:
        _digests[key] = (weakref.ref(data), d)
        while len(_digests) > 256:
            _digests.popitem(last=False)
    return d


def describes(record: Provenance, data: pa.Table | pa.RecordBatch) -> bool:
    """Whether ``record`` describes exactly ``data``: same schema, rows and content.

    Cheap for the table a read returned (buffer identity, no hashing); otherwise
    the content is hashed once and compared with the record (a re-ordered table
    is the same multiset, so it matches unless the record has an ordered digest).
    Records from before version 2 have no comparable content digest: for them
    schema and row count decide.
    """
    r = record.result
    if data.num_rows != r.rows or schema_fingerprint(data.schema) != r.schema_fingerprint:
        return False
    if _is_returned(record, data):
        return True
    if r.digest() is None:
        return True  # a version-1 record: content not comparable (documented)
    d = table_digest(data, ordered=r.ordered_fingerprint is not None)
    if d.fingerprint != r.fingerprint:
        return False
    return r.ordered_fingerprint is None or d.ordered == r.ordered_fingerprint


def derive(parent: Provenance, data: pa.Table | pa.RecordBatch) -> Provenance:
    """A record for ``data`` made from ``parent``'s result: its own rows and digests, the read as parent.

    Source, snapshot and query stay the parent's (where the data came from and how it was read);
    the id is derived from the parent's id and the content, so the same table always gets the same id.
    """
    d = table_digest(data)
    result = Result(rows=data.num_rows, bytes=data.nbytes, schema_fingerprint=d.schema_fingerprint, complete=True)
    result.set_digest(d)
    rid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"unistore:derived:{parent.read_id}:{d.fingerprint}"))
    return Provenance(read_id=rid, read_at=parent.read_at, unistore=parent.unistore, source=parent.source,
                      snapshot=parent.snapshot, query=parent.query, result=result, parents=[parent.read_id],
                      derived=True, parent=lookup(parent.read_id) or parent, catalog=parent.catalog,
                      kind=parent.kind, engine=parent.engine, inputs=parent.inputs)


def embedded_parents(record: Provenance, schema: pa.Schema) -> None:
    """A read of a file that unistore wrote as a sample: its records become known and the read's parent.

    So ``provenance_of(unistore.read("tests/data/orders.parquet"))`` leads back, by ``parents``
    and :func:`lookup`, to the sample and to the production read it was taken from.
    """
    raw = (schema.metadata or {}).get(SAMPLE_KEY)
    if raw is None:
        return
    try:
        data = json.loads(raw)
        sample, parent = Provenance.from_dict(data["sample"]), Provenance.from_dict(data["parent"])
    except (ValueError, KeyError, TypeError):
        return  # not ours, or damaged: the read stands on its own
    sample.parent = parent
    remember(parent, finished=True)
    remember(sample, finished=True)
    if sample.read_id not in record.parents:
        record.parents.append(sample.read_id)
    if record.catalog is None and sample.catalog is not None:
        record.catalog = {"sample_of": sample.catalog.get("dataset"), "sample": sample.catalog.get("sample")}
