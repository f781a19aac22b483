"""Replay: read the recorded state again, or say exactly what drifted.

Stores with versions (object versions, table versions) read the pinned state
(``ReadSpec.pin``); the others re-issue the recorded request and compare.
Either way the result is checked against the recorded row count, schema and
content fingerprint, and any difference raises :class:`DriftError`.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import pyarrow as pa

from .errors import BadSpecError, DriftError, SnapshotUnavailableError
from .provenance import Provenance, provenance_of


def as_record(obj: Any) -> Provenance:
    """Accept a Provenance, its dict or JSON, or an Arrow object carrying one."""
    if isinstance(obj, Provenance):
        return obj
    if isinstance(obj, dict):
        return Provenance.from_dict(obj)
    if isinstance(obj, (str, bytes)):
        return Provenance.from_json(obj)
    if isinstance(obj, (pa.Table, pa.RecordBatch, pa.Schema, pa.RecordBatchReader)):
        return provenance_of(obj)
    raise BadSpecError(f"cannot replay a {type(obj).__name__}; pass a provenance record or a unistore table")


def differences(recorded: Provenance, now: Provenance) -> dict[str, Any]:
    """What differs between two reads' results (empty when they are the same data)."""
    diffs: dict[str, Any] = {}
    if recorded.result.rows != now.result.rows:
        diffs["rows"] = {"recorded": recorded.result.rows, "now": now.result.rows}
    if recorded.result.schema_fingerprint != now.result.schema_fingerprint:
        diffs["schema"] = {"recorded": recorded.result.schema_fingerprint, "now": now.result.schema_fingerprint}
    if recorded.result.fingerprint != now.result.fingerprint:
        diffs["fingerprint"] = {"recorded": recorded.result.fingerprint, "now": now.result.fingerprint}
    changed = _changed_objects(recorded.snapshot.to_dict(), now.snapshot.to_dict())
    if changed and diffs:
        diffs["objects"] = changed
    return diffs


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
    from .api import source
    from .source import read_table
    from .spec import ReadSpec

    rec = as_record(record)
    if not rec.result.complete:
        raise SnapshotUnavailableError(f"read {rec.read_id} did not finish; there is nothing to replay")
    if not rec.query.request:
        raise SnapshotUnavailableError(f"read {rec.read_id} carries no request to replay (record version {rec.version})")
    spec = dataclasses.replace(ReadSpec.from_record(rec.query.request), pin=rec.snapshot)
    with source(uri if uri is not None else rec.source.uri, **options) as src:
        table = read_table(src, spec)
    now = provenance_of(table)
    now.parents = [rec.read_id]
    diffs = differences(rec, now)
    if diffs:
        raise DriftError(rec.source.uri, diffs)
    from .provenance import tag_schema
    return table.replace_schema_metadata(tag_schema(table.schema, now).metadata)
