"""Replaying a cross-silo query: every input again at its recorded snapshot, then the query again.

Each input's recorded request is issued again pinned to its recorded snapshot
(exact where the store keeps versions, verified by fingerprint elsewhere), the
same SQL runs over them, and :func:`unistore.replay` compares the inputs and the
result with the record, naming the inputs and, through per-column digests,
the columns that drifted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from ..errors import BadSpecError, SnapshotUnavailableError
from ..provenance import Provenance, provenance_of
from ..spec import decode_value
from .query import SourceLike, _Execution, run_whole


def rerun(record: Provenance, sources: Mapping[str, SourceLike] | None = None) -> tuple[pa.Table, Provenance]:
    """Run the recorded query again over its inputs at their recorded snapshots: (table, its record).

    The recorded URIs carry no credentials: ``sources`` maps a source name to the
    URI (or open source) to read it from instead.
    """
    request = record.query.request or {}
    if "sources" not in request or "query" not in request:
        raise SnapshotUnavailableError(f"query {record.read_id} carries no request to replay")
    if not record.result.complete:
        raise SnapshotUnavailableError(f"query {record.read_id} did not finish; there is nothing to replay")
    given = dict(sources or {})
    unknown = sorted(set(given) - set(request["sources"]))
    if unknown:
        raise BadSpecError(f"unknown source(s) {', '.join(unknown)} for this query; it read "
                           f"{', '.join(sorted(request['sources']))}")
    uris: dict[str, Any] = {name: given.get(name, uri) for name, uri in request["sources"].items()}
    pins = {i.name: i.record for i in record.inputs}
    options = decode_value(request.get("options")) or {}
    table = run_whole(_Execution(request["query"], uris, decode_value(request.get("params")),
                                 request.get("output"), options, pins=pins))
    return table, provenance_of(table)
