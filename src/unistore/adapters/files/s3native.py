"""Listing, describing and range-reading S3 objects through pyarrow's native client.

s3fs learns every object's ETag from one LIST, but its first request in a
process creates a botocore client: about 0.1 s of wall time and 0.15 s of CPU
(loading botocore's service models), more than a small data set's whole read
(a selective query over four Parquet objects on moto spent a third of its time
there). pyarrow's client is ready in about 20 ms, and its listing has sizes
but no ETags and no version ids: a HEAD of each object gives both. So a data
set of at most :data:`MAX_OBJECTS` objects is pinned with one native LIST and
that many concurrent HEADs (two round trips, as s3fs's LIST and HEAD take);
a larger one goes through s3fs, where one LIST gives all the ETags. Each pin
comes whole from one HEAD (size, ETag, VersionId, Last-Modified), as on a
versioned bucket through s3fs.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import fsspec
import pyarrow.fs as pafs

#: a data set with more objects is listed by s3fs (one LIST holds every ETag; this many HEADs go out at once)
MAX_OBJECTS = 8

#: paths found to hold more than MAX_OBJECTS objects, in this process (the most recent LARGE_KEPT): a read
#: opens a new source each time, and without this each read of a large data set would list it twice. A
#: stale entry only sends a read to s3fs, which pins the same objects.
_large: "OrderedDict[str, None]" = OrderedDict()
_large_lock = threading.Lock()
LARGE_KEPT = 1024


def known_large(path: str) -> bool:
    """Whether ``path`` was found to hold more objects than pyarrow's client is used for."""
    with _large_lock:
        if path in _large:
            _large.move_to_end(path)
            return True
    return False


def remember_large(path: str) -> None:
    with _large_lock:
        _large[path] = None
        _large.move_to_end(path)
        while len(_large) > LARGE_KEPT:
            _large.popitem(last=False)


def list_files(fs: pafs.FileSystem, path: str) -> list[pafs.FileInfo]:
    """The objects under the prefix ``path/``, else the object ``path``, sorted by name (names and sizes:
    a listing of pyarrow's has no ETags)."""
    found = [i for i in fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
             if i.type == pafs.FileType.File]
    if not found:
        single = fs.get_file_info(path)  # a key (a HEAD)
        found = [single] if single.type == pafs.FileType.File else []
    return sorted(found, key=lambda i: i.path)


def describe(fs: pafs.FileSystem, names: list[str]) -> list[dict[str, Any] | None]:
    """What a HEAD of each object says now, in the keys s3fs uses (None: the object is gone), concurrently."""
    if len(names) <= 1:
        return [_head(fs, n) for n in names]
    with ThreadPoolExecutor(max_workers=min(len(names), MAX_OBJECTS), thread_name_prefix="unistore-s3-head") as pool:
        return list(pool.map(lambda n: _head(fs, n), names))


def _head(fs: pafs.FileSystem, name: str) -> dict[str, Any] | None:
    try:
        with fs.open_input_file(name) as f:  # a HEAD, nothing read
            meta = {_text(k): _text(v) for k, v in f.metadata().items()}
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise python_error(exc) from exc
    info: dict[str, Any] = {"name": name, "type": "file", "size": int(meta["Content-Length"]),
                            "ETag": meta.get("ETag"), "VersionId": meta.get("VersionId")}
    modified = meta.get("Last-Modified")
    if modified:
        info["LastModified"] = dt.datetime.fromisoformat(modified.replace("Z", "+00:00"))
    return info


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def python_error(exc: OSError) -> OSError:
    """pyarrow's error for an S3 request as the Python exception s3fs raises for it (the error tables and
    DuckDB's messages name those)."""
    text = str(exc)
    if isinstance(exc, FileNotFoundError):
        return exc
    if "ACCESS_DENIED" in text or "AccessDenied" in text or "INVALID_ACCESS_KEY" in text or "SIGNATURE" in text:
        return PermissionError(text)
    if "NETWORK_CONNECTION" in text or "Couldn't connect" in text or "curlCode: 7" in text:
        return ConnectionError(text)
    return exc


class NativeRanges(fsspec.AbstractFileSystem):
    """Byte ranges of a few S3 objects (a data set pinned through pyarrow's client) read by that
    client, for DuckDB's read of the snapshot (:class:`~.duckdb_parquet.SnapshotFiles` asks only
    ``cat_file``).

    Each object is opened once (a HEAD) and its last :data:`TAIL_BYTES` read with
    it, all concurrently as soon as the read is set up (while DuckDB opens its
    database): DuckDB reads every file's footer twice, once to bind the schema and
    once to scan, two files at a time, and these reads come from memory (on moto
    a selective read over four objects took 110 ms from its first footer to its
    last batch, 25 ms this way). Every other read is one ranged GET, with no
    Python event loop in between.
    """

    cachable = False

    def __init__(self, fs: pafs.FileSystem, paths: list[str]):
        super().__init__(skip_instance_cache=True)
        self.native = fs
        pool = ThreadPoolExecutor(max_workers=max(1, min(len(paths), MAX_OBJECTS)),
                                  thread_name_prefix="unistore-s3-open")
        self._opened: dict[str, Future[_Opened]] = {p: pool.submit(_open, fs, p) for p in dict.fromkeys(paths)}
        pool.shutdown(wait=False)

    def _file(self, path: str) -> "_Opened":
        found = self._opened.get(path)
        if found is None:  # not in the snapshot given: SnapshotFiles never asks for one
            raise FileNotFoundError(path)
        return found.result()

    def size(self, path: str) -> int:
        return self._file(path).size

    def cat_file(self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any) -> bytes:
        opened = self._file(path)
        start = start or 0
        end = opened.size if end is None else min(end, opened.size)
        if end <= start:
            return b""
        if start >= opened.tail_start:
            return opened.tail[start - opened.tail_start:end - opened.tail_start]
        try:
            return opened.file.read_at(end - start, start)
        except OSError as exc:
            raise python_error(exc) from exc


#: how much of each object's end :class:`NativeRanges` reads with its open (pyarrow's default footer read)
TAIL_BYTES = 64 * 1024


@dataclass(frozen=True)
class _Opened:
    file: Any           # pyarrow's random access file (reads by ranged GETs)
    size: int
    tail_start: int
    tail: bytes


def _open(fs: pafs.FileSystem, path: str) -> _Opened:
    try:
        f = fs.open_input_file(path)
        size = f.size()
        start = max(0, size - TAIL_BYTES)
        return _Opened(f, size, start, f.read_at(size - start, start))
    except OSError as exc:
        raise python_error(exc) from exc
