"""The files adapter: one source per root location, one dataset per read."""

from __future__ import annotations

import datetime as dt
import json
import posixpath
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any, ClassVar
from urllib.parse import urlsplit

import fsspec
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import xxhash

from ...errormap import ErrorTable, Rule, is_instance, mapped_errors
from ...errors import (AuthenticationError, BadSpecError, QueryError, SnapshotUnavailableError,
                       SourceNotFoundError, SourceUnavailableError, UnistoreError)
from ...location import Location
from ...provenance import Dataset, Query
from ...snapshot import Snapshot
from ...adapter import Adapter, Capabilities, Connection, ReadPlan, Scan, Split, check_max_splits
from ...spec import ReadSpec
from .duckdb_parquet import (PROTOCOL, Condition, DuckDBParquet, SnapshotFiles, SnapshotObject, auto_prefers_duckdb,
                             condition, engine_option, inexact_columns, native_name, partition_sql_type,
                             partition_values, snapshot_name)
from . import s3native
from .filesystems import SecretLocation, open_filesystems
from .formats import dataset_format, format_name, infer_format, json_storage_schema
from .fragments import payload_of, plan_splits, restrict, units_of

GLOB_CHARS = set("*?[")
IGNORED_PREFIXES = (".", "_")
LOCAL_SCHEMES = ("file", "local")
#: a local folder with more entries than this is not read (a typo such as file:/// would walk the disk)
MAX_LISTED = 100_000
SNAPSHOT_KIND = "files.objects"
#: pyarrow's read-ahead for a streamed read unless the caller sets it: one file and four batches ahead of
#: the consumer (a 619 MB Parquet stream peaked at 0.95 GB resident with pyarrow's defaults of 4 files and
#: 16 batches, at 0.37 GB with these); a read into a table, which holds everything anyway, keeps the defaults
STREAM_READAHEAD = {"fragment_readahead": 1, "batch_readahead": 4}


@dataclass(frozen=True)
class _Files:
    """The objects one read reads and the pyarrow dataset over them."""

    path: str                       # the location named (a file, a folder, a glob)
    objects: list[dict[str, Any]]   # their pins, as listed or recorded
    exact: bool                     # read at their pinned versions
    dataset: ds.FileSystemDataset
    fmt: str
    base: str                       # the folder partitions and relative names start from
    casting: bool                   # text read as text, cast to the declared schema afterwards

    @cached_property
    def partition_names(self) -> list[str]:
        """The hive partition columns: the keys pyarrow's partitioning found in the paths."""
        found: dict[str, None] = {}
        for fragment in self.dataset.get_fragments():
            found.update(dict.fromkeys(ds.get_partition_keys(fragment.partition_expression)))
        return list(found)


class FilesAdapter(Adapter):
    open_options: ClassVar[frozenset[str]] = frozenset(
        {"storage_options", "format", "partitioning", "filesystem", "schema", "data_path"})

    def open(self, location: Location, **options: Any) -> "FileSource":
        return FileSource(location, **options)


class FileSource(Connection):
    """Files under one root: a file, a directory, a glob, or a bucket prefix.

    ``data_path`` picks the file system that reads the bytes: ``"auto"`` uses
    pyarrow's native one where it can honour the storage options (local disk,
    S3), ``"native"`` insists on it, ``"fsspec"`` always goes through fsspec.
    """

    capabilities: ClassVar[Capabilities] = Capabilities(queries=False, listing=True, splits=True)
    #: ``fragment_readahead`` / ``batch_readahead``: how many files / batches pyarrow reads ahead
    #: of the consumer (see STREAM_READAHEAD); ``engine``: which library reads Parquet (see duckdb_parquet)
    read_options: ClassVar[frozenset[str]] = frozenset({"format", "fragment_readahead", "batch_readahead", "engine"})

    def __init__(self, location: Location, *, storage_options: dict[str, Any] | None = None,
                 format: str | None = None, partitioning: str | None = "hive",
                 filesystem: fsspec.AbstractFileSystem | None = None, schema: pa.Schema | None = None,
                 data_path: str = "auto"):
        if schema is not None and not isinstance(schema, pa.Schema):
            raise BadSpecError("schema must be a pyarrow.Schema")
        if storage_options is not None and not isinstance(storage_options, dict):
            raise BadSpecError("storage_options must be a dict")
        if filesystem is not None and not isinstance(filesystem, fsspec.AbstractFileSystem):
            raise BadSpecError(f"filesystem must be an fsspec file system, got {type(filesystem).__name__}")
        self.declared_schema = schema
        self.format = format_name(format) if format else None
        if partitioning not in (None, "hive"):
            raise BadSpecError("partitioning must be 'hive' or None")
        self.partitioning = partitioning
        systems = open_filesystems(location, storage_options, filesystem, data_path)
        super().__init__(SecretLocation.wrap(location, systems.secrets) if systems.secrets else location)
        self.systems = systems
        self.fs, self.arrow_fs = systems.fs, systems.arrow_fs
        self.remote = location.scheme not in LOCAL_SCHEMES
        self.http = location.scheme in ("http", "https")
        root = systems.root
        self._query_suffix = ""
        if self.http:  # a query string (a token, a signature) goes on every request, never into a record
            parts = urlsplit(root)
            root = parts._replace(query="", fragment="").geturl()
            self._query_suffix = f"?{parts.query}" if parts.query else ""
        self.root = root.rstrip("/") or "/"

    def _reach(self) -> None:
        """The file systems' one-time check before the first request (GCS: is the endpoint there at all)."""
        check, self.systems.preflight = self.systems.preflight, None
        if check is not None:
            check()

    # -- listing -----------------------------------------------------------
    def _path(self, table: str | tuple[str, ...] | None) -> str:
        if table is None:
            return self.root
        rel = "/".join(table) if isinstance(table, tuple) else table
        if rel in (".", "./"):  # the root itself, as tables() lists a partitioned root
            return self.root
        if rel.startswith("/") or "://" in rel:
            raise BadSpecError(f"table {rel!r} must be a path relative to {self.uri}")
        if ".." in rel.split("/"):
            raise BadSpecError(f"table {rel!r} must stay under {self.uri}")
        return posixpath.join(self.root, rel)

    def _request(self, path: str) -> str:
        """The path as sent to the store (with the location's query string for HTTP)."""
        return path + self._query_suffix

    def objects(self, path: str, *, versions: bool = True, pins: bool = True) -> list[dict[str, Any]]:
        """The data objects at ``path`` (file, directory or glob), sorted, with their pins.

        ``versions=False`` skips asking for version ids (enough to see whether objects changed);
        ``pins=False`` asks only for names and sizes (enough to open the files: a schema, partition columns).
        """
        self._reach()
        is_glob = bool(GLOB_CHARS & set(path))
        if not self.remote and (not is_glob or "**" in path) and posixpath.normpath(_base_dir(path)) == "/":
            raise BadSpecError("refusing to list the whole disk (/); name a folder, a file or a glob under it")
        native = None if is_glob else self._native_objects(path, pins)
        if native is not None:
            return native
        with self._mapped(STORE_ERRORS, path):
            if GLOB_CHARS & set(path) and not self.http:
                found = self.fs.glob(path, detail=True)
                infos = {p: i for p, i in found.items() if i.get("type") != "directory"}
                if not infos:
                    raise SourceNotFoundError(f"no files match {self._shown(path)}")
            elif self.http:
                infos = self._http_objects(path)
            elif self.remote:
                # one listing answers "directory or file?" (isdir costs a HEAD and a LIST on object stores)
                infos = self.fs.find(path, detail=True)
                if not infos:
                    raise SourceNotFoundError(f"no such file or directory: {self._shown(path)}")
            elif self.fs.isdir(path):
                infos = self._find_local(path)
                if not infos:
                    raise SourceNotFoundError(f"directory {self._shown(path)} holds no files")
            else:
                info = self.fs.info(path)
                infos = {info["name"]: info}
        base = _base_dir(path) if GLOB_CHARS & set(path) else path
        kept = {name: info for name, info in sorted(infos.items())
                if not _hidden(name, base) and info.get("type", "file") != "directory"}
        if not kept:
            raise SourceNotFoundError(f"no data files at {self._shown(path)}")
        if versions and self.systems.head_versions:
            kept = self._current_versions(kept, path)
        return [_pin(name, info) for name, info in kept.items()]

    def _native_objects(self, path: str, pins: bool) -> list[dict[str, Any]] | None:
        """A small S3 data set's objects, listed and described by pyarrow's client (see s3native);
        None when s3fs lists them (more objects, none found, or no native client)."""
        fs = self.systems.native_s3
        if fs is None or s3native.known_large(path):
            return None
        with self._mapped(STORE_ERRORS, path):
            try:
                found = s3native.list_files(fs, path)
            except OSError as exc:
                raise s3native.python_error(exc) from None
        if len(found) > s3native.MAX_OBJECTS:
            s3native.remember_large(path)
            return None
        kept = [i for i in found if not _hidden(i.path, path)]
        if not kept:
            return None  # s3fs lists again and names what is missing
        if not pins:
            return [{"path": i.path, "size": i.size} for i in kept]
        heads = self._infos([i.path for i in kept], path)
        if any(head is None for head in heads):
            raise QueryError(f"objects under {self._shown(path)} changed while they were listed; read again")
        return [_pin(i.path, head) for i, head in zip(kept, heads)]

    def _find_local(self, path: str) -> dict[str, dict[str, Any]]:
        """Files under a local folder, refusing a folder too large to be a data set (no walk of a whole disk)."""
        infos: dict[str, dict[str, Any]] = {}
        seen = 0
        for _, dirs, files in self.fs.walk(path, detail=True):
            seen += len(dirs) + len(files)
            if seen > MAX_LISTED:
                raise BadSpecError(f"{self._shown(path)} holds more than {MAX_LISTED} files and folders; "
                                   "name a smaller folder or a glob")
            infos.update((info["name"], info) for info in files.values())
        return infos

    def _current_versions(self, infos: dict[str, dict[str, Any]], path: str) -> dict[str, dict[str, Any]]:
        """Each object's current VersionId, from HEAD requests issued concurrently.

        The first answer tells whether the bucket keeps versions; an unversioned
        bucket costs one extra request per read.
        """
        names = list(infos)
        heads = self._infos(names[:1], path)
        if heads[0] is not None and heads[0].get("VersionId") in (None, "", "null"):
            return infos
        heads += self._infos(names[1:], path)
        if any(head is None for head in heads):
            raise QueryError(f"objects under {self._shown(path)} changed while they were listed; read again")
        return dict(zip(names, heads))

    def _infos(self, names: list[str], where: str) -> list[dict[str, Any] | None]:
        """What the store says of each object now (None: it is gone), asked concurrently (by pyarrow's
        client for a few S3 objects, see s3native; else by fsspec, where it can)."""
        with self._mapped(STORE_ERRORS, where):
            if self.systems.native_s3 is not None and len(names) <= s3native.MAX_OBJECTS:
                return s3native.describe(self.systems.native_s3, names)
            if self.fs.async_impl and len(names) > 1:
                from fsspec.asyn import _run_coros_in_chunks, sync

                found = sync(self.fs.loop, _run_coros_in_chunks, [self.fs._info(self._request(n)) for n in names],
                             batch_size=64, return_exceptions=True)
            else:
                found = [_info_or_missing(self.fs, self._request(n)) for n in names]
            for result in found:
                if isinstance(result, BaseException) and not isinstance(result, FileNotFoundError):
                    raise result
        return [None if isinstance(r, FileNotFoundError) else r for r in found]

    def _changed(self, objects: list[dict[str, Any]], where: str) -> list[str]:
        """The objects whose content is no longer the one pinned (size, ETag/checksum or mtime), or that are gone.

        Objects listed without pins (a schema lookup: names and sizes) are compared by size."""
        now = self._infos([o["path"] for o in objects], where)

        def same(obj: dict[str, Any], info: dict[str, Any]) -> bool:
            size, tag = _identity(obj)
            now_size, now_tag = _identity(_pin(obj["path"], info))
            return size == now_size and (tag is None or tag == now_tag)

        return [o["path"] for o, info in zip(objects, now) if info is None or not same(o, info)]

    def _http_objects(self, path: str) -> dict[str, dict[str, Any]]:
        """A URL is one file, unless the server answers with an HTML index: then the files it links to."""
        info = self.fs.info(self._request(path))
        if info.get("mimetype") != "text/html":
            return {path: info}
        base = path.rstrip("/") + "/"
        links = {urlsplit(i["name"])._replace(query="", fragment="").geturl() for i in self.fs.ls(self._request(base), detail=True)}
        files = sorted(u for u in links if u.startswith(base) and not u.endswith("/") and "/" not in u[len(base):])
        if not files:
            raise SourceNotFoundError(f"the index page {self._shown(path)} links to no files")
        return {u: self.fs.info(self._request(u)) for u in files}

    def _mapped(self, table: ErrorTable, path: str, **fields: Any) -> mapped_errors:
        """The store's errors about ``path`` as unistore errors (named in redacted form)."""
        return mapped_errors(table, self._shown(path), self.location.secrets, uri=self.uri,
                             bucket=path.lstrip("/").split("/", 1)[0], **fields)

    def tables(self) -> list[str]:
        """The files and folders under the root; hive partition folders (``month=2026-09``) are not
        tables but values of a partition column of the root, which is then listed as ``"."``."""
        self._reach()
        with self._mapped(STORE_ERRORS, self.root):
            if self.http or not self.fs.isdir(self.root):
                return [posixpath.basename(self.root)]
            entries = self.fs.ls(self.root, detail=False)
        names = [posixpath.relpath(e, self.root.lstrip("/") if not e.startswith("/") else self.root) for e in entries]
        names = sorted(n for n in names if not n.startswith(IGNORED_PREFIXES))
        plain = [n for n in names if not (self.partitioning == "hive" and _is_partition(n))]
        return (["."] if len(plain) < len(names) else []) + plain

    def partition_columns(self, table: str | tuple[str, ...] | None = None) -> list[str]:
        """The hive partition columns of ``table`` (``["month"]`` for ``month=2026-09/...``), in path order."""
        if self.partitioning != "hive":
            return []
        path = self._path(table)
        base = _base_dir(path) if GLOB_CHARS & set(path) else path
        found: list[str] = []
        for obj in self.objects(path, versions=False, pins=False):
            rel = posixpath.relpath(obj["path"], base.lstrip("/") if not obj["path"].startswith("/") else base)
            for part in rel.split("/")[:-1]:
                if _is_partition(part) and part.split("=", 1)[0] not in found:
                    found.append(part.split("=", 1)[0])
        return found

    def schema(self, table: str | tuple[str, ...] | None = None) -> pa.Schema:
        path = self._path(table)
        dataset = self._dataset(path, self.objects(path, versions=False, pins=False), None).dataset
        return self.declared_schema if self.declared_schema is not None else dataset.schema

    # -- reading -----------------------------------------------------------
    def _exact(self, objects: list[dict[str, Any]]) -> bool:
        """Whether ``objects`` can be read at their pinned versions (every one has a VersionId the store keeps)."""
        return bool(objects) and self.systems.pinned_fs is not None and all("version_id" in o for o in objects)

    def _data_path(self, obj: dict[str, Any], exact: bool) -> str:
        """The name the data file system reads ``obj`` by: its pinned version, or its current name."""
        if exact:
            return self.systems.versioned(obj["path"], obj["version_id"])
        return self._request(obj["path"]) if self.http else obj["path"]

    def _dataset(self, path: str, objects: list[dict[str, Any]], fmt: str | None, *,
                 exact: bool = False) -> _Files:
        """The pyarrow dataset over ``objects`` (``exact``: at their pinned versions)."""
        paths = [o["path"] for o in objects]
        fmt = fmt or self.format or infer_format(paths)
        partitioning = None
        base = _base_dir(path) if GLOB_CHARS & set(path) else path
        if self.partitioning == "hive" and (len(paths) > 1 or paths[0] != path):
            partitioning = ds.HivePartitioning.discover(infer_dictionary=False)
        schema = self.declared_schema
        file_format = dataset_format(fmt, paths[0], schema)
        if schema is not None and fmt == "json":
            schema = json_storage_schema(schema)
        # exact: the recorded versions, whatever is current now
        filesystem = self.systems.pinned_fs if exact else self.arrow_fs
        names: list[Any] = [self._data_path(o, exact) for o in objects]
        if filesystem is self.systems.native_s3 and all(o.get("size") is not None for o in objects):
            names = [pafs.FileInfo(n, size=o["size"]) for n, o in zip(names, objects)]  # opened with no HEAD
        with self._opening(path, objects, exact, fmt):
            dataset = ds.dataset(names, format=file_format,
                                 filesystem=filesystem, schema=schema, partitioning=partitioning,
                                 partition_base_dir=base if partitioning else None)
        declared = self.declared_schema
        return _Files(path, objects, exact, dataset, fmt, base,
                      casting=declared is not None and not dataset.schema.equals(declared))

    @contextmanager
    def _opening(self, path: str, objects: list[dict[str, Any]], exact: bool, fmt: str) -> Iterator[None]:
        """Map the errors of reading ``objects``' footers; one that changed since the listing is named as changed.

        A file is opened at its listed size (pyarrow's native S3 client sends no HEAD then): the footer
        read of an object rewritten or deleted since looks corrupt or missing, and the change is the cause.
        """
        try:
            with self._mapped(DATASET_ERRORS, path, fmt=fmt):
                yield
        except UnistoreError as failure:
            changed = [] if exact or not self.remote else _quietly_changed(partial(self._changed, objects, path))
            if changed:
                raise _changed_error(self, changed) from failure
            raise

    def _listed(self, spec: ReadSpec) -> tuple[str, list[dict[str, Any]], bool]:
        """The location a read names, its objects (listed now, or the recorded ones on replay), and whether
        they are the recorded ones."""
        path = self._path(spec.table)
        pinned = spec.pin is not None and spec.pin.kind == SNAPSHOT_KIND
        return path, self._pinned_objects(spec.pin) if pinned else self.objects(path), pinned

    def check(self, spec: ReadSpec) -> None:
        engine_option(spec.options)

    def scan(self, spec: ReadSpec) -> Scan:
        path, objects, pinned = self._listed(spec)
        files = self._dataset(path, objects, spec.options.get("format"), exact=pinned and self._exact(objects))
        # objects read by their current name may change under the read: list them again at the end
        recheck = None if not self.remote or files.exact else partial(self._changed_in_listing, path, objects)
        return self._start(spec, files, files.dataset, len(objects), _snapshot(objects), recheck)

    def plan(self, spec: ReadSpec, max_splits: int) -> ReadPlan:
        """The files the read touches (after partition pruning), dealt into splits of about equal bytes.

        A Parquet file is cut by row groups when there are fewer files than
        splits (unless ``engine="duckdb"``, which reads whole files). The plan pins the listing: on a versioned
        bucket every split reads the listed object versions; elsewhere each split checks its files
        against the listing before (and on remote stores after) reading them.
        """
        check_max_splits(max_splits)
        path, objects, _ = self._listed(spec)
        files = self._dataset(path, objects, spec.options.get("format"), exact=self._exact(objects))
        expr = _arrow_filter(spec, files)
        listed = {self._data_path(o, files.exact): o for o in objects}

        def describe(data_path: str) -> tuple[str, int | None, int | None]:
            obj = listed[data_path]
            return obj["path"], obj.get("size"), None

        with self._opening(path, objects, files.exact, files.fmt):  # Parquet footers, when files are cut
            units = units_of(list(files.dataset.get_fragments(filter=expr)), max_splits, expr,
                             files.dataset.schema, describe, row_groups=engine_option(spec.options) != "duckdb")
        snapshot = _snapshot(objects)
        if files.exact:
            consistency = "every split reads the object versions (VersionIds) listed when the read was planned"
        else:
            consistency = ("every split reads the files listed when the read was planned and fails with "
                           "SnapshotUnavailableError if one changed since (size, ETag or mtime): verified, not pinned")
        cut = any(u.row_group is not None for u in units)
        engine = self._engine(spec, files, files.dataset, row_groups=cut)
        cond = condition(spec.filter, _types(files.dataset)) if engine == "duckdb" else None
        return ReadPlan(splits=plan_splits(units, max_splits, snapshot, partial(_relative, base=files.base)),
                        snapshot=snapshot, consistent=files.exact, consistency=consistency,
                        method="parquet row groups" if cut else "files",
                        query=self._query(spec, files, len(objects), engine, cond))

    def scan_split(self, spec: ReadSpec, split: Split) -> Scan:
        payload = payload_of(split, SNAPSHOT_KIND, self.uri)
        path = self._path(spec.table)
        objects = payload.pin.pins["objects"]
        exact = self._exact(objects)
        planned = {o["path"]: o for o in objects}
        mine = [planned[p.path] for p in payload.pieces]
        changed = [] if exact else self._changed(mine, path)
        if changed:
            shown = ", ".join(self._shown(p) for p in changed[:10])
            raise SnapshotUnavailableError(f"{len(changed)} file(s) of {self.uri} changed since the read was "
                                           f"planned ({shown}); plan the read again")
        # the dataset the plan saw (same schema, same partition values), cut to this split's pieces
        files = self._dataset(path, objects, spec.options.get("format"), exact=exact)
        dataset = restrict(files.dataset, payload.pieces, lambda name: self._data_path(planned[name], exact),
                           self.uri)
        recheck = None if not self.remote or exact else partial(self._changed, mine, path)
        return self._start(spec, files, dataset, len(mine), payload.pin, recheck,
                           row_groups=any(p.row_groups is not None for p in payload.pieces))

    def _engine(self, spec: ReadSpec, files: _Files, dataset: ds.Dataset, *, row_groups: bool) -> str:
        """The library that reads: ``engine=`` as asked (refused when DuckDB cannot return exactly what
        pyarrow would), or for ``"auto"`` whichever reads this read's shape better (see duckdb_parquet).

        Decided from what every split of a plan shares (the request, the schema, the whole snapshot's
        size, whether the plan cut row groups), so all splits of one read use the same engine.
        """
        asked = engine_option(spec.options)
        if asked == "pyarrow":
            return "pyarrow"
        problem = self._duckdb_problem(spec, files, dataset, row_groups)
        if asked == "duckdb":
            if problem is not None:
                raise BadSpecError(f"engine='duckdb' cannot read {self._shown(files.path)} as pyarrow would: "
                                   f"{problem}; use engine='auto' or 'pyarrow'")
            return "duckdb"
        if problem is not None or condition(spec.filter, _types(dataset)).unsent is not None:
            return "pyarrow"  # pyarrow evaluates every predicate while it reads
        size = sum(o.get("size") or 0 for o in files.objects)
        return "duckdb" if auto_prefers_duckdb(spec, size) else "pyarrow"

    def _duckdb_problem(self, spec: ReadSpec, files: _Files, dataset: ds.Dataset, row_groups: bool) -> str | None:
        """Why DuckDB cannot return exactly what pyarrow would for this read (None: it can)."""
        if files.fmt != "parquet":
            return f"DuckDB reads only Parquet here, not {files.fmt}"
        if self.declared_schema is not None:
            return "a declared schema= is applied by pyarrow's scanner"
        if row_groups:
            return "this split reads Parquet row groups, and DuckDB reads whole files"
        schema = dataset.schema
        needed = list(spec.columns) if spec.columns else list(schema.names)
        needed += sorted(spec.needed_columns - set(needed))
        inexact = inexact_columns(schema, needed)
        if inexact:
            return f"column(s) {', '.join(inexact)} would not keep their values or types"
        for name in files.partition_names:
            if name in needed and partition_sql_type(schema.field(name).type) is None:
                return f"partition column {name} has type {schema.field(name).type}"
        if "file_index" in schema.names:
            return "a column is named file_index, which DuckDB reserves for the file a row comes from"
        return None

    def _duckdb(self, spec: ReadSpec, files: _Files, dataset: ds.Dataset,
                columns: list[str] | None) -> tuple[pa.Schema, DuckDBParquet]:
        """The read through DuckDB: the snapshot's files (partition-pruned as pyarrow prunes them)."""
        types = _types(dataset)
        cond = condition(spec.filter, types)
        wanted = columns or list(dataset.schema.names)
        if cond.residual is not None:
            wanted += [c for c in dataset.schema.names if c in cond.residual.columns and c not in wanted]
        checked = [c for c in cond.nan_dropped if c not in wanted]
        schema = dataset.scanner(columns=wanted + checked).projected_schema  # exactly pyarrow's types and metadata
        partitions = {p: types[p] for p in files.partition_names if p in set(wanted) | cond.columns}
        fragments = list(dataset.get_fragments(filter=_arrow_filter(spec, files)))
        objects = {self._data_path(o, files.exact): o for o in files.objects}
        local = isinstance(self.arrow_fs, pafs.LocalFileSystem) and not files.exact
        if local and all(native_name(f.path) for f in fragments):
            names, filesystem, allowed = (lambda path: path), None, [f.path for f in fragments]
        else:
            served: dict[str, SnapshotObject] = {}
            fs = self.systems.versions_fs if files.exact else self.fs
            if not files.exact and self.systems.native_s3 is not None and len(objects) <= s3native.MAX_OBJECTS:
                # as listed: by pyarrow's client (no botocore client, no event loop, footers read ahead)
                fs = s3native.NativeRanges(self.systems.native_s3, [f.path for f in fragments])

            def names(path: str) -> str:
                name = snapshot_name(len(served), path)
                served[name[len(PROTOCOL) + 3:]] = SnapshotObject(fs, path, objects[path].get("size"),
                                                                  _mtime(objects[path]))
                return name
            filesystem, allowed = SnapshotFiles(served), []
        reader = DuckDBParquet([names(f.path) for f in fragments], partition_values(fragments, partitions), schema,
                               len(wanted), cond, spec.limit, spec.batch_size, allowed=allowed, filesystem=filesystem)
        return reader.output, reader

    def _start(self, spec: ReadSpec, files: _Files, dataset: ds.Dataset, count: int, snapshot: Snapshot,
               recheck: Callable[[], list[str]] | None, *, row_groups: bool = False) -> Scan:
        """Scan ``dataset`` (all ``count`` files of ``files``, or a split's part of them) for ``spec``."""
        spec.check_columns(self.declared_schema if files.casting else dataset.schema, self._shown(files.path))
        columns = list(spec.columns) if spec.columns else None
        # the engine marks a read handed out as a stream (unistore.scan) with ReadSpec.streamed;
        # DuckDB bounds its own read-ahead (it reads what the consumer takes)
        tuning = _readahead(spec.options, streamed=spec.streamed)
        close = cond = None
        engine = "pyarrow"
        if files.casting:
            # JSON keeps dates/decimals/binary as text: read text, cast, filter afterwards
            wanted = sorted(spec.needed_columns, key=dataset.schema.names.index) if columns else None
            scanner = dataset.scanner(columns=wanted, batch_size=spec.batch_size, use_threads=True, **tuning)
            target = pa.schema([self.declared_schema.field(n) for n in scanner.projected_schema.names])
            batches: Iterable[pa.RecordBatch] = (b.cast(target) for b in scanner.to_batches())
            schema, residual = target, spec.filter
        elif (engine := self._engine(spec, files, dataset, row_groups=row_groups)) == "duckdb":
            with self._mapped(DUCKDB_ERRORS, files.path):
                schema, reader = self._duckdb(spec, files, dataset, columns)
            batches, cond, close = reader.batches(), reader.cond, reader.close
            residual = cond.residual
        else:
            scanner = dataset.scanner(columns=columns, filter=_arrow_filter(spec, files), batch_size=spec.batch_size,
                                      use_threads=True, **tuning, **self._scan_options(files))
            schema, residual, batches = scanner.projected_schema, None, scanner.to_batches()
        return Scan(
            schema=schema,
            batches=_guard(batches, self, files.path, recheck, DUCKDB_ERRORS if engine == "duckdb" else READ_ERRORS),
            residual=residual,
            snapshot=snapshot,
            dataset=self._dataset_ref(files.path),
            query=self._query(spec, files, count, engine, cond),
            close=close,
        )

    def _scan_options(self, files: _Files) -> dict[str, Any]:
        """Parquet on local disk is read without ``pre_buffer``: pyarrow's range cache, made for
        high-latency stores, keeps every file's column chunks until the scan ends (220 MB on a 420 MB
        data set, 18% of the read's peak) and saves nothing where a read costs no round trip."""
        if files.fmt != "parquet" or not isinstance(self.arrow_fs, pafs.LocalFileSystem):
            return {}
        return {"fragment_scan_options": ds.ParquetFragmentScanOptions(pre_buffer=False)}

    def _query(self, spec: ReadSpec, files: _Files, count: int, engine: str, cond: Condition | None = None) -> Query:
        """What a read of ``count`` of ``files`` sends, for the record (the same text whichever engine reads).

        ``cond``: how the filter was split between DuckDB and the read engine (see duckdb_parquet).
        """
        text = f"scan {files.fmt} {count} file(s) under {self._shown(files.base)}"
        if files.exact:
            text += " at the recorded object versions"
        if spec.columns:
            text += f" columns {', '.join(spec.columns)}"
        expr = _arrow_filter(spec, files)
        if expr is not None:
            text += f" where {expr}"
        pushed = {"columns": not files.casting, "filter": spec.filter is not None and not files.casting,
                  "limit": False, "format": files.fmt, "engine": engine}
        if cond is not None:  # DuckDB stops at the limit when its rows are exactly the filter's
            pushed["limit"] = spec.limit is not None and cond.exact
            if cond.residual is not None:
                pushed["filter"] = cond.sql is not None
                pushed["residual"] = str(cond.residual)
        return Query(language="files", text=text, pushed_down=pushed)

    def _changed_in_listing(self, path: str, objects: list[dict[str, Any]]) -> list[str]:
        """The objects of ``objects`` that a fresh listing of ``path`` shows changed or gone (one LIST, no HEADs;
        a few S3 objects are asked by concurrent HEADs of pyarrow's client, see s3native)."""
        if self.systems.native_s3 is not None and len(objects) <= s3native.MAX_OBJECTS:
            return sorted(self._changed(objects, path))
        before = {o["path"]: _identity(o) for o in objects}
        try:
            after = {o["path"]: _identity(o) for o in self.objects(path, versions=False) if o["path"] in before}
        except SourceNotFoundError:
            after = {}
        return sorted(p for p in before if after.get(p) != before[p])

    def _pinned_objects(self, pin: Snapshot) -> list[dict[str, Any]]:
        """The recorded objects: their recorded versions where the store keeps versions,
        else their current state (the replay then compares fingerprints and names what changed)."""
        recorded = pin.pins.get("objects", [])
        current = []
        missing: list[str] = []
        for obj in recorded:
            path = obj["path"]
            if "version_id" in obj and self.systems.versions_fs is not None:
                with self._mapped(STORE_ERRORS, path):
                    try:
                        self.systems.versions_fs.info(self.systems.versioned(path, obj["version_id"]))
                    except FileNotFoundError:
                        raise SnapshotUnavailableError(
                            f"version {obj['version_id']} of {self._shown(path)} no longer exists") from None
                current.append(obj)
                continue
            with self._mapped(STORE_ERRORS, path):
                try:
                    current.append(_pin(path, self.fs.info(self._request(path))))
                except FileNotFoundError:
                    missing.append(path)
        if missing:
            from ...errors import DriftError

            raise DriftError(self.uri, {"objects": {p: {"recorded": "present", "now": "missing"} for p in missing}})
        return current

    def _dataset_ref(self, path: str) -> Dataset:
        scheme = self.location.scheme if self.location.scheme not in ("local",) else "file"
        if scheme == "file":
            return Dataset(system="files", uri=self.uri, namespace="file", name=path)
        if scheme == "memory":
            return Dataset(system="files", uri=self.uri, namespace="memory", name=path)
        if self.http:
            parts = urlsplit(path)
            host = parts.hostname or ""
            netloc = host + (f":{parts.port}" if parts.port else "")
            return Dataset(system="files", uri=self.uri, namespace=f"{parts.scheme}://{netloc}", name=parts.path)
        bucket, _, key = path.lstrip("/").partition("/")
        return Dataset(system="files", uri=self.uri, namespace=f"{scheme}://{bucket}", name=key)

    def _shown(self, path: str) -> str:
        """A path as it may appear in messages and records (never with credentials)."""
        if self.location.scheme in LOCAL_SCHEMES:
            return path
        if self.http:
            return Location.parse(path).redacted()
        return f"{self.location.scheme}://{path.lstrip('/')}"

    def close(self) -> None:
        pass


def _guard(batches: Iterable[pa.RecordBatch], source: FileSource, path: str,
           recheck: Callable[[], list[str]] | None, errors: ErrorTable) -> Iterator[pa.RecordBatch]:
    """Map the engine's read ``errors`` to unistore errors; then ``recheck`` names the objects that changed under the read.

    A read that fails is checked too: an object rewritten while its byte ranges were read gives the
    reader a footer of one version and pages of another, which it reports as corrupt data. Then the
    change is the cause, and the error says so.
    """
    try:
        with source._mapped(errors, path):
            yield from batches
    except UnistoreError as failure:
        changed = _quietly_changed(recheck)
        if changed:
            raise _changed_error(source, changed) from failure
        raise
    changed = recheck() if recheck is not None else []
    if changed:
        raise _changed_error(source, changed)


def _quietly_changed(recheck: Callable[[], list[str]] | None) -> list[str]:
    """The objects that changed, or [] when that cannot be told (the original failure is then reported)."""
    if recheck is None:
        return []
    try:
        return recheck()
    except Exception:
        return []


def _changed_error(source: FileSource, changed: list[str]) -> QueryError:
    shown = ", ".join(source._shown(p) for p in changed[:10])
    return QueryError(f"{len(changed)} object(s) changed during the read of {source.uri} ({shown}); "
                      "the result may mix versions: read again")


#: driver exceptions (botocore, azure-core, aiohttp) that mean "the store could not be reached"
CONNECTION_ERRORS = ("builtins.ConnectionError", "botocore.exceptions.EndpointConnectionError",
                     "botocore.exceptions.ConnectTimeoutError", "botocore.exceptions.ReadTimeoutError",
                     "azure.core.exceptions.ServiceRequestError", "aiohttp.ClientConnectorError",
                     "aiohttp.ServerTimeoutError")


def _is_connection_error(exc: BaseException | None) -> bool:
    return exc is not None and is_instance(exc, CONNECTION_ERRORS)


def _store_code(exc: BaseException) -> Any:
    """The HTTP status behind a store's error, or "unreachable" when a refused connection caused it
    (fsspec's HTTP file system reports one as "not found")."""
    status = getattr(exc.__cause__, "status", None) or getattr(exc, "status_code", None)
    if status is not None:
        return status
    return "unreachable" if _is_connection_error(exc.__cause__ or exc.__context__) else None


_DENIED = "access denied to {where} (check the credentials; they are not shown): {detail}"
_AUTH_RULES = (
    Rule(AuthenticationError, _DENIED, classes=("builtins.PermissionError",)),
    Rule(AuthenticationError, _DENIED, codes=(401, 403)),
    Rule(AuthenticationError, _DENIED, classes=("builtins.OSError", "pyarrow.lib.ArrowException"),
         when=lambda text: "ACCESS_DENIED" in text),
)
_MISSING_RULES = (
    Rule(SourceUnavailableError, "cannot reach {where}: connection failed", classes=("builtins.FileNotFoundError",),
         codes=("unreachable",)),
    Rule(SourceNotFoundError, "bucket {bucket!r} does not exist ({where})", classes=("builtins.FileNotFoundError",),
         when=lambda text: "bucket" in text.lower() and "not exist" in text.lower()),
    Rule(SourceNotFoundError, "no such file or directory: {where}", classes=("builtins.FileNotFoundError",)),
)
_UNREACHABLE = Rule(SourceUnavailableError, "cannot reach {where}: {detail}",
                    classes=("builtins.OSError", "builtins.TimeoutError", *CONNECTION_ERRORS))
#: listing and looking objects up (where: the path in redacted form)
STORE_ERRORS = ErrorTable(*_AUTH_RULES, *_MISSING_RULES, _UNREACHABLE, code=_store_code)
#: opening the files as a dataset: what is neither missing nor denied is not in the format asked for
DATASET_ERRORS = ErrorTable(
    *_AUTH_RULES, *_MISSING_RULES,
    Rule(BadSpecError, "cannot read {where} as {fmt}: {text}", classes=("pyarrow.lib.ArrowInvalid", "builtins.OSError")),
    code=_store_code,
)
#: reading the batches (uri: the source's)
READ_ERRORS = ErrorTable(
    Rule(SourceNotFoundError, "a file vanished during the read of {uri}: {text}", classes=("builtins.FileNotFoundError",)),
    Rule(QueryError, "cannot read {uri}: {text}", classes=("pyarrow.lib.ArrowInvalid", "pyarrow.lib.ArrowTypeError")),
    *_AUTH_RULES, _UNREACHABLE,
    code=_store_code,
)


def _duckdb_brief(text: str) -> str:
    """The line of a DuckDB error that says what went wrong: the last one when DuckDB passes on the
    traceback of an error raised by a file system it read through (FileNotFoundError: ...)."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    return (lines[-1] if "Traceback (most recent call last)" in text else lines[0])[:300]


#: reading through DuckDB: its errors (an fsspec file system's error arrives as text in a duckdb.Error),
#: and pyarrow's (the cast to pyarrow's types)
DUCKDB_ERRORS = ErrorTable(
    Rule(SourceNotFoundError, "a file vanished during the read of {uri}: {first_line}", classes=("duckdb.Error",),
         when=lambda text: "FileNotFoundError" in text or "No files found" in text),
    Rule(AuthenticationError, "access denied to {where} (check the credentials; they are not shown): {first_line}",
         classes=("duckdb.Error",), when=lambda text: "PermissionError" in text or "AccessDenied" in text),
    Rule(SourceUnavailableError, "cannot reach {where}: {first_line}", classes=("duckdb.Error",),
         when=lambda text: any(name in text for name in ("ConnectionError", "EndpointConnectionError", "TimeoutError",
                                                         "ClientConnectorError"))),
    Rule(QueryError, "cannot read {uri}: {first_line}",  # a file that is not Parquet, a type that does not cast
         classes=("duckdb.Error", "pyarrow.lib.ArrowInvalid", "pyarrow.lib.ArrowTypeError")),
    *_AUTH_RULES,
    code=_store_code, brief=_duckdb_brief,
)


def _types(dataset: ds.Dataset) -> dict[str, pa.DataType]:
    return {f.name: f.type for f in dataset.schema}


def _mtime(obj: dict[str, Any]) -> dt.datetime:
    """When ``obj`` was last modified, as recorded (DuckDB asks; the epoch when the store did not say)."""
    try:
        return dt.datetime.fromisoformat(obj["mtime"])
    except (KeyError, TypeError, ValueError):
        return dt.datetime.fromtimestamp(0, dt.timezone.utc)


def _readahead(options: Any, *, streamed: bool) -> dict[str, int]:
    """The read-ahead read options, checked (they bound a stream's memory); a stream's default is bounded."""
    tuning = {k: options[k] for k in ("fragment_readahead", "batch_readahead") if k in options}
    for name, value in tuning.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise BadSpecError(f"{name} must be a positive integer, got {value!r}")
    return {**STREAM_READAHEAD, **tuning} if streamed else tuning


def _arrow_filter(spec: ReadSpec, files: _Files) -> ds.Expression | None:
    """The filter pyarrow evaluates while reading (none when text is cast afterwards: then it is residual)."""
    if spec.filter is None or files.casting:
        return None
    return spec.filter.to_arrow(floating={f.name for f in files.dataset.schema if pa.types.is_floating(f.type)})


def _info_or_missing(fs: fsspec.AbstractFileSystem, name: str) -> dict[str, Any] | FileNotFoundError:
    try:
        return fs.info(name)
    except FileNotFoundError as exc:
        return exc


def _relative(path: str, base: str) -> str:
    """``path`` as the record shows it in a split: relative to the data set's folder."""
    prefix = base.rstrip("/") + "/"
    return path[len(prefix):] if path.startswith(prefix) else posixpath.basename(path)


def _identity(pin: dict[str, Any]) -> tuple[Any, ...]:
    """What tells a changed object on every store (listings and HEAD differ in mtime precision)."""
    return (pin.get("size"), pin.get("etag") or pin.get("md5") or pin.get("mtime"))


def _pin(name: str, info: dict[str, Any]) -> dict[str, Any]:
    """Path, size, mtime and whatever checksum/version the file system reports."""
    pin: dict[str, Any] = {"path": name, "size": info.get("size")}
    mtime = info.get("mtime", info.get("LastModified", info.get("last_modified", info.get("created"))))
    if isinstance(mtime, (int, float)):
        mtime = dt.datetime.fromtimestamp(mtime, dt.timezone.utc)
    if isinstance(mtime, dt.datetime):
        if mtime.tzinfo is not None:
            mtime = mtime.astimezone(dt.timezone.utc)
        pin["mtime"] = mtime.isoformat()
    elif isinstance(info.get("Last-Modified"), str):
        pin["mtime"] = info["Last-Modified"]
    for key, out in (("ETag", "etag"), ("etag", "etag"), ("md5Hash", "md5"), ("content_md5", "md5"),
                     ("crc32c", "crc32c"), ("checksum", "checksum"), ("generation", "generation")):
        if info.get(key):
            value = info[key]
            pin[out] = value.hex() if isinstance(value, (bytes, bytearray)) else str(value).strip('"')
    version = info.get("VersionId")
    if version and version != "null":
        pin["version_id"] = str(version)
    return pin


def _snapshot(objects: list[dict[str, Any]]) -> Snapshot:
    digest = xxhash.xxh3_64(json.dumps(objects, sort_keys=True).encode()).hexdigest()
    versioned = all("version_id" in o for o in objects)
    return Snapshot(
        kind=SNAPSHOT_KIND,
        value=f"xxh3_64:{digest}",
        consistent=versioned,
        replayable=versioned,
        pins={"objects": objects},
    )


def _is_partition(name: str) -> bool:
    """A hive partition folder name: ``key=value`` with a non-empty key."""
    key, sep, _ = name.partition("=")
    return bool(sep and key and "/" not in name)


def _base_dir(pattern: str) -> str:
    parts = pattern.split("/")
    keep = []
    for part in parts:
        if GLOB_CHARS & set(part):
            break
        keep.append(part)
    return "/".join(keep) or "/"


def _hidden(name: str, base: str) -> bool:
    rel = posixpath.relpath(name, base) if name.startswith(base) else posixpath.basename(name)
    return any(part.startswith(IGNORED_PREFIXES) for part in rel.split("/") if part not in ("", "."))
