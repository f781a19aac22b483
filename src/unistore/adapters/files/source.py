"""The files adapter: one source per root location, one dataset per read."""

from __future__ import annotations

import datetime as dt
import json
import posixpath
from typing import Any, ClassVar

import fsspec
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import xxhash

from ...errors import BadSpecError, DriftError, SourceNotFoundError, SourceUnavailableError
from ...location import Location, scrub
from ...provenance import Dataset, Query
from ...snapshot import Snapshot
from ...source import Adapter, Capabilities, Scan, Source
from ...spec import ReadSpec
from .formats import dataset_format, format_name, infer_format, json_storage_schema

GLOB_CHARS = set("*?[")
IGNORED_PREFIXES = (".", "_")


class FilesAdapter(Adapter):
    open_options: ClassVar[frozenset[str]] = frozenset({"storage_options", "format", "partitioning", "filesystem", "schema"})

    def open(self, location: Location, **options: Any) -> "FileSource":
        return FileSource(location, **options)


class FileSource(Source):
    """Files under one root: a file, a directory, a glob, or a bucket prefix."""

    capabilities: ClassVar[Capabilities] = Capabilities(queries=False, listing=True)
    read_options: ClassVar[frozenset[str]] = frozenset({"format"})

    def __init__(self, location: Location, *, storage_options: dict[str, Any] | None = None,
                 format: str | None = None, partitioning: str | None = "hive",
                 filesystem: fsspec.AbstractFileSystem | None = None, schema: pa.Schema | None = None):
        super().__init__(location)
        if schema is not None and not isinstance(schema, pa.Schema):
            raise BadSpecError("schema must be a pyarrow.Schema")
        self.declared_schema = schema
        self.format = format_name(format) if format else None
        if partitioning not in (None, "hive"):
            raise BadSpecError("partitioning must be 'hive' or None")
        self.partitioning = partitioning
        try:
            if filesystem is not None:
                self.fs, self.root = filesystem, filesystem._strip_protocol(location.raw)
            else:
                self.fs, self.root = fsspec.core.url_to_fs(location.raw, **(storage_options or {}))
        except ImportError as exc:
            from ...errors import MissingExtraError

            raise MissingExtraError(f"reading {location.scheme}:// locations", _extra_for(location.scheme),
                                    exc.name or "fsspec backend") from exc
        self.root = self.root.rstrip("/") or "/"
        self.arrow_fs = _arrow_filesystem(self.fs)

    # -- listing -----------------------------------------------------------
    def _path(self, table: str | tuple[str, ...] | None) -> str:
        if table is None:
            return self.root
        rel = "/".join(table) if isinstance(table, tuple) else table
        if rel.startswith("/") or "://" in rel:
            raise BadSpecError(f"table {rel!r} must be a path relative to {self.uri}")
        if ".." in rel.split("/"):
            raise BadSpecError(f"table {rel!r} must stay under {self.uri}")
        return posixpath.join(self.root, rel)

    def objects(self, path: str) -> list[dict[str, Any]]:
        """The data objects at ``path`` (file, directory or glob), sorted, with their pins."""
        try:
            if GLOB_CHARS & set(path):
                found = self.fs.glob(path, detail=True)
                infos = {p: i for p, i in found.items() if i.get("type") != "directory"}
                if not infos:
                    raise SourceNotFoundError(f"no files match {self._shown(path)}")
            elif self.fs.isdir(path):
                infos = self.fs.find(path, detail=True)
                if not infos:
                    raise SourceNotFoundError(f"directory {self._shown(path)} holds no files")
            else:
                try:
                    info = self.fs.info(path)
                except FileNotFoundError:
                    raise SourceNotFoundError(f"no such file or directory: {self._shown(path)}") from None
                infos = {info["name"]: info}
        except (PermissionError, OSError) as exc:
            if isinstance(exc, FileNotFoundError):
                raise SourceNotFoundError(f"not found: {self._shown(path)}") from None
            raise SourceUnavailableError(
                f"cannot list {self._shown(path)}: {scrub(str(exc), self.location.secrets)}") from None
        base = _base_dir(path) if GLOB_CHARS & set(path) else path
        objects = [
            _pin(self.fs, name, info) for name, info in sorted(infos.items())
            if not _hidden(name, base) and info.get("type", "file") != "directory"
        ]
        if not objects:
            raise SourceNotFoundError(f"no data files at {self._shown(path)}")
        return objects

    def tables(self) -> list[str]:
        if not self.fs.isdir(self.root):
            return [posixpath.basename(self.root)]
        entries = self.fs.ls(self.root, detail=False)
        names = [posixpath.relpath(e, self.root) for e in entries]
        return sorted(n for n in names if not n.startswith(IGNORED_PREFIXES))

    def schema(self, table: str | tuple[str, ...] | None = None) -> pa.Schema:
        path = self._path(table)
        dataset, _, _ = self._dataset(path, self.objects(path), None)
        return self.declared_schema if self.declared_schema is not None else dataset.schema

    # -- reading -----------------------------------------------------------
    def _dataset(self, path: str, objects: list[dict[str, Any]], fmt: str | None):
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
        try:
            dataset = ds.dataset(paths, format=file_format, filesystem=self.arrow_fs, schema=schema,
                                 partitioning=partitioning, partition_base_dir=base if partitioning else None)
        except (pa.ArrowInvalid, OSError) as exc:
            raise BadSpecError(f"cannot read {self._shown(path)} as {fmt}: {scrub(str(exc), self.location.secrets)}") from None
        return dataset, fmt, base

    def _scan(self, spec: ReadSpec) -> Scan:
        if spec.query is not None:
            raise BadSpecError(f"{self.uri} holds files; read a path with table=, not query=")
        spec.check_unsupported(self.uri) if spec.as_of is not None else None
        path = self._path(spec.table)
        if spec.pin is not None and spec.pin.kind == "files.objects":
            objects = self._pinned_objects(spec.pin)
        else:
            objects = self.objects(path)
        dataset, fmt, base = self._dataset(path, objects, spec.options.get("format"))
        declared = self.declared_schema
        casting = declared is not None and not dataset.schema.equals(declared)
        spec.check_columns(declared if casting else dataset.schema, self._shown(path))
        columns = list(spec.columns) if spec.columns else None
        if casting:
            # JSON keeps dates/decimals/binary as text: read text, cast, filter afterwards
            wanted = sorted(spec.needed_columns, key=dataset.schema.names.index) if columns else None
            scanner = dataset.scanner(columns=wanted, batch_size=spec.batch_size, use_threads=True)
            target = pa.schema([declared.field(n) for n in scanner.projected_schema.names])
            batches = (b.cast(target) for b in scanner.to_batches())
            schema, residual, expr = target, spec.filter, None
        else:
            expr = spec.filter.to_arrow() if spec.filter is not None else None
            scanner = dataset.scanner(columns=columns, filter=expr, batch_size=spec.batch_size, use_threads=True)
            schema, residual, batches = scanner.projected_schema, None, scanner.to_batches()
        text = f"scan {fmt} {len(objects)} file(s) under {self._shown(base)}"
        if columns:
            text += f" columns {', '.join(columns)}"
        if expr is not None:
            text += f" where {expr}"
        return Scan(
            schema=schema,
            batches=_guard(batches, self),
            residual=residual,
            snapshot=_snapshot(objects),
            dataset=self._dataset_ref(path),
            query=Query(
                language="files",
                text=text,
                columns=columns,
                filter=str(spec.filter) if spec.filter is not None else None,
                pushed_down={"columns": not casting, "filter": spec.filter is not None and not casting,
                             "limit": False, "format": fmt},
            ),
        )

    def _pinned_objects(self, pin: Snapshot) -> list[dict[str, Any]]:
        """The recorded objects, checked to still be there as they were."""
        recorded = pin.pins.get("objects", [])
        changed: dict[str, Any] = {}
        current = []
        for obj in recorded:
            try:
                now = _pin(self.fs, obj["path"], self.fs.info(obj["path"]))
            except FileNotFoundError:
                changed[obj["path"]] = {"recorded": obj, "now": "missing"}
                continue
            current.append(now)
        if changed:
            raise DriftError(self.uri, {"objects": changed})
        return current

    def _dataset_ref(self, path: str) -> Dataset:
        scheme = self.location.scheme if self.location.scheme not in ("local",) else "file"
        if scheme == "file":
            return Dataset(system="files", uri=self.uri, namespace="file", name=path)
        bucket, _, key = path.partition("/")
        if scheme in ("memory",):
            return Dataset(system="files", uri=self.uri, namespace="memory", name=path)
        return Dataset(system="files", uri=self.uri, namespace=f"{scheme}://{bucket}", name=key)

    def _shown(self, path: str) -> str:
        """A path as it may appear in messages and records (never with credentials)."""
        if self.location.scheme in ("file", "local"):
            return path
        return f"{self.location.scheme}://{path.lstrip('/')}"

    def _close(self) -> None:
        pass


def _guard(batches, source: FileSource):
    """Map pyarrow's read errors (a file vanished mid-read, corrupt data) to unistore errors."""
    try:
        yield from batches
    except FileNotFoundError as exc:
        raise SourceNotFoundError(f"a file vanished during the read of {source.uri}: {scrub(str(exc), source.location.secrets)}") from None
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        from ...errors import QueryError

        raise QueryError(f"cannot read {source.uri}: {scrub(str(exc), source.location.secrets)}") from None


def _pin(fs: fsspec.AbstractFileSystem, name: str, info: dict[str, Any]) -> dict[str, Any]:
    """Path, size, mtime and whatever checksum/version the file system reports."""
    pin: dict[str, Any] = {"path": name, "size": info.get("size")}
    mtime = info.get("mtime", info.get("LastModified", info.get("last_modified", info.get("created"))))
    if isinstance(mtime, (int, float)):
        mtime = dt.datetime.fromtimestamp(mtime, dt.timezone.utc)
    if isinstance(mtime, dt.datetime):
        pin["mtime"] = mtime.isoformat()
    for key, out in (("ETag", "etag"), ("etag", "etag"), ("md5Hash", "md5"), ("content_md5", "md5"),
                     ("crc32c", "crc32c"), ("checksum", "checksum")):
        if info.get(key):
            pin[out] = str(info[key]).strip('"')
    version = info.get("VersionId") or info.get("version_id") or info.get("generation")
    if version and version != "null":
        pin["version_id"] = str(version)
    return pin


def _snapshot(objects: list[dict[str, Any]]) -> Snapshot:
    digest = xxhash.xxh3_64(json.dumps(objects, sort_keys=True).encode()).hexdigest()
    versioned = all("version_id" in o for o in objects)
    return Snapshot(
        kind="files.objects",
        value=f"xxh3_64:{digest}",
        consistent=versioned,
        replayable=versioned,
        pins={"objects": objects},
    )


def _arrow_filesystem(fs: fsspec.AbstractFileSystem) -> pafs.FileSystem:
    """pyarrow's native local file system where possible; fsspec wrapped otherwise."""
    protocols = fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,)
    if "file" in protocols or "local" in protocols:
        return pafs.LocalFileSystem()
    return pafs.PyFileSystem(pafs.FSSpecHandler(fs))


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


def _extra_for(scheme: str) -> str | None:
    from ...registry import BUILTIN

    return BUILTIN.get(scheme, (None, None))[1]
