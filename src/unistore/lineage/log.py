"""A local lineage log: one row per read, as JSON lines or Parquet — metadata is data too.

Each row flattens the provenance record into columns you can filter on
(``run_id``, ``source_name``, ``snapshot_kind``, ``fingerprint``...) and keeps
the whole record as JSON in ``record``. The log is read back with unistore
itself (:func:`unistore.runs.read_log`, or directly)::

    unistore.read("lineage.jsonl", filter=[("run_id", "=", run.run_id)])

:func:`reads_in_run` answers its one question with pyarrow alone: this
module sits below the read API and never calls it.

JSON lines (a path ending ``.jsonl``/``.json``): one ``write`` of one line per
read on a file opened with ``O_APPEND``, so concurrent threads and processes
never interleave lines. Columns never hold JSON ``null`` (missing text is
``""``), so type inference is the same for every block of the file.

Parquet (any other path: a directory): rows are buffered and written as one
``part-<uuid7>.parquet`` file every ``flush_every`` rows and on
:meth:`LineageLog.flush` / :meth:`LineageLog.close` (also at exit), each file
written under a temporary name and renamed, so readers never see half a file.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ..provenance import jsonable, uuid7

if TYPE_CHECKING:
    from .events import ReadEvent

#: the log's columns, in order (also the Parquet schema)
SCHEMA = pa.schema([
    ("read_id", pa.string()), ("read_at", pa.string()),
    ("run_id", pa.string()), ("run_name", pa.string()),
    ("status", pa.string()),  # ok | error | incomplete (stream closed early)
    ("error", pa.string()), ("duration_s", pa.float64()),
    ("source_system", pa.string()), ("source_namespace", pa.string()), ("source_name", pa.string()),
    ("source_uri", pa.string()),
    ("snapshot_kind", pa.string()), ("snapshot", pa.string()), ("replayable", pa.bool_()),
    ("query_language", pa.string()), ("query_text", pa.string()),
    ("rows", pa.int64()), ("bytes", pa.int64()),
    ("fingerprint", pa.string()), ("schema_fingerprint", pa.string()),
    ("record", pa.string()),
])


# one encoder each, made once: ``json.dumps`` with options builds a new encoder per call, a fifth of a line's cost
_SNAPSHOT_JSON = json.JSONEncoder(default=jsonable, sort_keys=True).encode
_LINE_JSON = json.JSONEncoder(separators=(",", ":")).encode


def row(event: "ReadEvent") -> dict[str, Any]:
    """One log row for a finished read."""
    record, run = event.record, event.run
    status = "error" if event.error is not None else ("ok" if record and record.result.complete else "incomplete")
    out: dict[str, Any] = {
        "read_id": "", "read_at": "",
        "run_id": run.run_id if run is not None else "", "run_name": run.name if run is not None else "",
        "status": status,
        "error": f"{type(event.error).__name__}: {event.error}" if event.error is not None else "",
        "duration_s": float(event.duration_s),
        "source_system": "", "source_namespace": "", "source_name": "", "source_uri": event.source_uri,
        "snapshot_kind": "", "snapshot": "", "replayable": False, "query_language": "", "query_text": "",
        "rows": 0, "bytes": 0, "fingerprint": "", "schema_fingerprint": "", "record": "",
    }
    if record is not None:
        out.update({
            "read_id": record.read_id, "read_at": record.read_at,
            "source_system": record.source.system, "source_namespace": record.source.namespace,
            "source_name": record.source.name, "source_uri": record.source.uri,
            "snapshot_kind": record.snapshot.kind,
            "snapshot": _SNAPSHOT_JSON(record.snapshot.to_dict()),
            "replayable": bool(record.snapshot.replayable),
            "query_language": record.query.language, "query_text": record.query.text,
            "rows": record.result.rows, "bytes": record.result.bytes,
            "fingerprint": record.result.fingerprint or "",
            "schema_fingerprint": record.result.schema_fingerprint or "",
            "record": event.record_json,  # made once for every sink and the table's metadata
        })
    return out


def is_jsonl(path: str | os.PathLike[str]) -> bool:
    return str(path).lower().endswith((".jsonl", ".json", ".ndjson"))


class LineageLog:
    """The local-log sink: append every finished read to ``path``."""

    def __init__(self, path: str | os.PathLike[str], *, flush_every: int = 1000):
        self.path = Path(path)
        self.format = "jsonl" if is_jsonl(path) else "parquet"
        self._lock = threading.Lock()
        self._rows: list[dict[str, Any]] = []
        self._flush_every = flush_every
        self._fd: int | None = None
        if self.format == "jsonl":
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        else:
            self.path.mkdir(parents=True, exist_ok=True)
        ref = weakref.ref(self)
        atexit.register(lambda: (s := ref()) is not None and s.close())

    def emit(self, event: "ReadEvent") -> None:
        data = row(event)
        if self._fd is not None:
            os.write(self._fd, (_LINE_JSON(data) + "\n").encode())
            return
        with self._lock:
            self._rows.append(data)
            full = len(self._rows) >= self._flush_every
        if full:
            self.flush()

    def flush(self) -> None:
        """Write buffered rows (Parquet) as one new part file."""
        with self._lock:
            rows, self._rows = self._rows, []
            if not rows:
                return
            import pyarrow.parquet as pq

            name = f"part-{uuid7()}.parquet"
            tmp = self.path / f".{name}.tmp"
            pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), tmp)
            os.replace(tmp, self.path / name)

    def close(self) -> None:
        self.flush()
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __repr__(self) -> str:
        return f"<LineageLog {self.format} {self.path}>"


#: the columns :func:`reads_in_run` answers with
RUN_COLUMNS = ["read_id", "read_at", "source_uri", "source_namespace", "source_name", "snapshot_kind",
               "snapshot", "query_text", "rows", "fingerprint", "status"]


def load(path: str | os.PathLike[str]) -> pa.Table:
    """The whole log as a table, with pyarrow: JSON lines, or the directory's Parquet parts."""
    if is_jsonl(path):
        import pyarrow.json as pajson

        return pajson.read_json(os.fspath(path))
    import pyarrow.dataset as ds

    return ds.dataset(os.fspath(path), format="parquet", schema=SCHEMA).to_table()


def reads_in_run(run_id: str, path: str | os.PathLike[str]) -> pa.Table:
    """Which reads, of which snapshots, went into run ``run_id`` (or a run *named* so), in log order."""
    import pyarrow.compute as pc

    log = load(path)
    by_id = log.filter(pc.equal(log.column("run_id"), run_id))
    found = by_id if by_id.num_rows else log.filter(pc.equal(log.column("run_name"), run_id))
    return found.select(RUN_COLUMNS)
