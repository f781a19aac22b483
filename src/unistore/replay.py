"""Replay: read the recorded state again, or say exactly what drifted.

Stores with versions (object versions, table versions) read the pinned state
(``ReadSpec.pin``); the others re-issue the recorded request and compare.
Either way the result is checked against the recorded row count, schema and
content fingerprint (order-independent; the ordered digest too when both reads
kept one), and any difference raises :class:`DriftError` naming the columns
that changed. A derived record (a slice or filter of a read) cannot be
replayed: only the read it came from can.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from .api import source
from .engine import read_table
from .errors import BadSpecError, DriftError, SnapshotUnavailableError
from .provenance import QUERY_KIND, Provenance, lookup, provenance_of, remember_returned, tag_schema
from .spec import ReadSpec


def as_record(obj: Any) -> Provenance:
    """Accept a Provenance, its dict or JSON, or an Arrow object carrying one."""
    if isinstance(obj, Provenance):
        return obj
    if isinstance(obj, dict):
        return Provenance.from_dict(obj)
    if isinstance(obj, str) and not obj.lstrip().startswith("{"):
        record = lookup(obj)  # a read id, e.g. record.parents[0]
        if record is None:
            raise BadSpecError(f"no record of read {obj[:80]!r} in this process; pass the record itself")
        return record
    if isinstance(obj, (str, bytes)):
        return Provenance.from_json(obj)
    if isinstance(obj, (pa.Table, pa.RecordBatch, pa.Schema, pa.RecordBatchReader)):
        return provenance_of(obj)
    raise BadSpecError(f"cannot replay a {type(obj).__name__}; pass a provenance record or a unistore table")


def differences(recorded: Provenance, now: Provenance) -> dict[str, Any]:
    """What differs between two reads' results (empty when they are the same data).

    ``rows`` (before and after), ``schema``, ``fingerprint``, ``ordered_fingerprint`` (only
    when both reads kept one), ``columns`` (names whose per-column digest changed) and
    ``objects`` (files whose pins changed). A record made before version 2 has no
    comparable content digest: only rows and schema are compared (see :func:`replay`).
    """
    r, n = recorded.result, now.result
    diffs: dict[str, Any] = {}
    if r.rows != n.rows:
        diffs["rows"] = {"recorded": r.rows, "now": n.rows}
    if r.schema_fingerprint != n.schema_fingerprint:
        diffs["schema"] = {"recorded": r.schema_fingerprint, "now": n.schema_fingerprint}
    if comparable(recorded):
        if r.fingerprint != n.fingerprint:
            diffs["fingerprint"] = {"recorded": r.fingerprint, "now": n.fingerprint}
        if r.ordered_fingerprint and n.ordered_fingerprint and r.ordered_fingerprint != n.ordered_fingerprint:
            diffs["ordered_fingerprint"] = {"recorded": r.ordered_fingerprint, "now": n.ordered_fingerprint}
        before, after = r.columns or {}, n.columns or {}
        changed = [c for c in list(before) + [c for c in after if c not in before] if before.get(c) != after.get(c)]
        if changed and diffs:
            diffs["columns"] = changed
    changed_objects = _changed_objects(recorded.snapshot.to_dict(), now.snapshot.to_dict())
    if changed_objects and diffs:
        diffs["objects"] = changed_objects
    return diffs


def comparable(record: Provenance) -> bool:
    """Whether the record's content fingerprint can be compared with a new read's (version 2 and later)."""
    return record.result.digest() is not None


def _changed_objects(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Names of files/objects whose pins differ, when the snapshot lists objects."""
    old = {o["path"]: o for o in before.get("objects", []) if isinstance(o, dict) and "path" in o}
    new = {o["path"]: o for o in after.get("objects", []) if isinstance(o, dict) and "path" in o}
    return sorted(p for p in old.keys() | new.keys() if old.get(p) != new.get(p))


def replay(record: Any, *, uri: str | os.PathLike[str] | None = None, **options: Any) -> pa.Table:
    """Read again what ``record`` recorded; return the table or raise :class:`DriftError`.

    The recorded URI has no credentials: pass ``uri=`` (or connection options)
    when the source needs them. The new table's provenance lists the recorded
    read as its parent.
    """
    rec = as_record(record)
    if rec.derived:
        raise BadSpecError(
            f"this table was derived from read {rec.parents[0] if rec.parents else '?'} (sliced, filtered, "
            "selected or otherwise changed); replay can re-read only that read: pass its record, "
            "unistore.replay(unistore.provenance_of(table).parent), or its id, unistore.replay(record.parents[0])")
    if rec.kind == QUERY_KIND:  # a cross-silo query: its inputs, then the query (unistore.federated)
        return _replay_query(rec, uri if uri is not None else options.pop("sources", None), options)
    if not rec.result.complete:
        raise SnapshotUnavailableError(f"read {rec.read_id} did not finish; there is nothing to replay")
    if not rec.query.request:
        raise SnapshotUnavailableError(f"read {rec.read_id} carries no request to replay (record version {rec.version})")
    spec = dataclasses.replace(ReadSpec.from_record(rec.query.request), pin=rec.snapshot)
    with source(uri if uri is not None else rec.source.uri, **options) as src:
        table = read_table(src.connection, spec)
    now = provenance_of(table)
    now.parents = [rec.read_id]
    diffs = differences(rec, now)
    if diffs:
        raise DriftError(rec.source.uri, diffs)
    if not comparable(rec):
        warnings.warn(f"read {rec.read_id} was recorded by an older unistore (record version {rec.version}): "
                      "its fingerprint cannot be compared, so only row count and schema were checked",
                      stacklevel=2)
    again = table.replace_schema_metadata(tag_schema(table.schema, now).metadata)
    remember_returned(now, again)
    return again


def _replay_query(rec: Provenance, sources: Any, options: dict[str, Any]) -> pa.Table:
    """Re-run a query at its inputs' snapshots; :class:`DriftError` names the inputs and columns that changed.

    ``sources`` (or ``uri=``) maps a source name to the URI to read it from (the record has no credentials).
    """
    if options:
        raise BadSpecError(f"replaying a query takes sources= (name -> URI), not {', '.join(sorted(options))}")
    if sources is not None and not isinstance(sources, Mapping):
        raise BadSpecError("replaying a query takes sources= as a mapping of source name to URI")
    from .federated.rerun import rerun  # cross-silo SQL is imported when a query record is replayed

    table, now = rerun(rec, sources)
    recorded = {i.name: i.record for i in rec.inputs}
    drift: dict[str, Any] = {}
    inputs = {i.name: d for i in now.inputs if (d := differences(recorded[i.name], i.record))}
    if inputs:
        drift["inputs"] = inputs
    result = differences(rec, now)
    if result:
        drift["result"] = result
    if drift:
        raise DriftError(f"query {rec.read_id} ({', '.join(inputs) or 'result only'})", drift)
    now.parents = [rec.read_id, *now.parents]
    again = table.replace_schema_metadata(tag_schema(table.schema, now).metadata)
    remember_returned(now, again)
    return again
