"""Databases that are one local file (SQLite, DuckDB): their path, and the identity of their state.

Neither can read an old state again, so their snapshot identifies the file state
well enough to verify: size, mtime, inode and the write-ahead log's size and mtime,
plus whatever the format itself records (SQLite's change counter).
"""

from __future__ import annotations

import os
from typing import Any

from ...errors import BadSpecError
from ...location import Location
from ...snapshot import Snapshot


def database_path(location: Location, kind: str) -> str:
    """``sqlite:///rel.db`` -> ``<cwd>/rel.db``; ``sqlite:////abs.db`` -> ``/abs.db``."""
    raw = location.raw
    path = raw.split("://", 1)[1] if "://" in raw else location.path
    path = path.split("?", 1)[0]
    path = path[1:] if path.startswith("/") else path
    if path in ("", ":memory:"):
        raise BadSpecError(f"an in-memory {kind} database is empty when unistore opens it; name a file")
    return os.path.abspath(path)


def file_snapshot(kind: str, path: str, wal: str, **format_pins: Any) -> Snapshot:
    """A verify-only snapshot of a database file; ``format_pins`` lead the value (e.g. a change counter)."""
    st = os.stat(path)
    pins: dict[str, Any] = {"path": path, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino,
                            **format_pins}
    parts = [str(v) for v in format_pins.values()] + [str(st.st_size), str(st.st_mtime_ns)]
    if os.path.exists(wal):
        wst = os.stat(wal)
        pins["wal"] = {"size": wst.st_size, "mtime_ns": wst.st_mtime_ns}
        parts.append(f"wal{wst.st_size}:{wst.st_mtime_ns}")
    return Snapshot(kind=kind, value=":".join(parts), consistent=True, replayable=False, pins=pins)
