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
    wst = os.stat(wal) if os.path.exists(wal) else None
    return stat_snapshot(kind, path, st.st_size, st.st_mtime_ns, st.st_ino,
                         None if wst is None else (wst.st_size, wst.st_mtime_ns), **format_pins)


def stat_snapshot(kind: str, path: str, size: int, mtime_ns: int, inode: int, wal: tuple[int, int] | None,
                  **format_pins: Any) -> Snapshot:
    """:func:`file_snapshot` from stats already taken (``wal``: the log's size and mtime, None if there is none),
    for a reader that has just taken them under its lock."""
    pins: dict[str, Any] = {"path": path, "size": size, "mtime_ns": mtime_ns, "inode": inode, **format_pins}
    parts = [str(v) for v in format_pins.values()] + [str(size), str(mtime_ns)]
    if wal is not None:
        pins["wal"] = {"size": wal[0], "mtime_ns": wal[1]}
        parts.append(f"wal{wal[0]}:{wal[1]}")
    return Snapshot(kind=kind, value=":".join(parts), consistent=True, replayable=False, pins=pins)
