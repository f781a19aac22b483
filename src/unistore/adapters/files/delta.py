"""Delta Lake tables (the ``deltalake`` package): a table version is the snapshot.

Locations: ``delta:///abs/path/to/table`` for local disk, ``delta+s3://bucket/path``
(likewise ``delta+gs://``, ``delta+az://``, ``delta+abfss://``) for object stores.
S3 endpoint, region and credentials come from the AWS environment variables,
overridden by ``storage_options`` in delta-rs' own key names. Every read loads
the table at one version (the latest, ``as_of=`` a version or a time, or the
recorded version on replay), so a replay is exact time travel.
"""

from __future__ import annotations

import datetime as dt
import os
import posixpath
from typing import Any, ClassVar
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.dataset as ds

from ...errormap import ErrorTable, Rule, mapped_errors
from ...errors import BadSpecError, SnapshotUnavailableError, SourceNotFoundError
from ...location import Location
from ...provenance import Dataset, Query
from ...registry import require
from ...snapshot import Snapshot
from ...adapter import Adapter, Capabilities, Connection, ReadPlan, Scan, Split, check_max_splits
from ...spec import ReadSpec
from .filesystems import S3Settings, SecretLocation, option_secrets
from .fragments import payload_of, plan_splits, restrict, units_of
from .timetravel import epoch_ms, parse_as_of, table_scan_query

SNAPSHOT_KIND = "delta.version"
_DELTA = ("deltalake.exceptions.DeltaError", "builtins.OSError")
#: opening the table (where: the source's URI)
OPEN_ERRORS = ErrorTable(
    Rule(SourceNotFoundError, "no Delta table at {where}", classes=("deltalake.exceptions.TableNotFoundError",)),
    Rule(SourceNotFoundError, "cannot open the Delta table at {where}: {text}", classes=_DELTA),
)
#: loading a version of it
VERSION_ERRORS = ErrorTable(
    Rule(SnapshotUnavailableError, "version {version} of {where} is not available: {text}",
         classes=(*_DELTA, "builtins.ValueError")),
)


class DeltaAdapter(Adapter):
    open_options: ClassVar[frozenset[str]] = frozenset({"storage_options"})

    def open(self, location: Location, **options: Any) -> "DeltaSource":
        return DeltaSource(location, **options)


def table_uri(location: Location) -> str:
    """``delta:///p`` -> ``/p``; ``delta+s3://b/p`` -> ``s3://b/p``."""
    scheme, _, inner = location.scheme.partition("+")
    rest = location.raw.split("://", 1)[1] if "://" in location.raw else location.path
    if not inner or inner in ("file", "local"):
        if not rest.startswith("/"):
            raise BadSpecError("a local Delta table is named by an absolute path: delta:///abs/path")
        return rest.rstrip("/") or "/"
    return f"{inner}://{rest.rstrip('/')}"


def storage_options_for(uri: str, given: dict[str, Any]) -> dict[str, str]:
    """delta-rs storage options: S3 settings from the AWS environment, then the caller's."""
    options: dict[str, str] = {}
    if uri.startswith(("s3://", "s3a://")):
        s3 = S3Settings.resolve({}, os.environ)
        options.update(s3.named("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID",
                                "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"))
        if (s3.endpoint_url or "").startswith("http://"):
            options["AWS_ALLOW_HTTP"] = "true"
    options.update({k: str(v) for k, v in given.items()})
    return options


class DeltaSource(Connection):
    """One Delta table."""

    capabilities: ClassVar[Capabilities] = Capabilities(listing=True, as_of=True, replay_exact=True, splits=True)

    def __init__(self, location: Location, *, storage_options: dict[str, Any] | None = None):
        if storage_options is not None and not isinstance(storage_options, dict):
            raise BadSpecError("storage_options must be a dict")
        self.table_uri = table_uri(location)
        self.storage_options = storage_options_for(self.table_uri, storage_options or {})
        secrets = option_secrets(self.storage_options)
        super().__init__(SecretLocation.wrap(location, secrets) if secrets else location)
        self.deltalake = require("deltalake", extra="delta", what="reading Delta Lake tables")

    def _load(self, version: int | dt.datetime | None = None):
        """The table at ``version`` (int), at a time (datetime) or the latest."""
        deltalake = self.deltalake
        with mapped_errors(OPEN_ERRORS, self.uri, self.location.secrets):
            table = deltalake.DeltaTable(self.table_uri, storage_options=self.storage_options or None)
        if version is None:
            return table
        if isinstance(version, dt.datetime):
            first = min((h.get("timestamp", 0) for h in table.history()), default=0)
            if epoch_ms(version) < first:
                raise SnapshotUnavailableError(f"{self.uri} has no version as of {version.isoformat()} "
                                               "(the table is younger)")
        with mapped_errors(VERSION_ERRORS, self.uri, self.location.secrets, version=version):
            table.load_as_version(version)
        return table

    def tables(self) -> list[str]:
        self._load()
        return [posixpath.basename(self.table_uri)]

    def schema(self, table: str | tuple[str, ...] | None = None) -> pa.Schema:
        self._check_table(table)
        return self._load().to_pyarrow_dataset().schema

    def _check_table(self, table: str | tuple[str, ...] | None) -> None:
        if table is not None:
            raise SourceNotFoundError(f"{self.uri} is one Delta table; read it with table=None, not {table!r}")

    def _at(self, spec: ReadSpec):
        """The table at the version ``spec`` asks for: the recorded one on replay, ``as_of=``, or the latest."""
        self._check_table(spec.table)
        if spec.pin is not None and spec.pin.kind == SNAPSHOT_KIND:
            return self._load(int(spec.pin.value))
        return self._load(parse_as_of(spec.as_of))

    def scan(self, spec: ReadSpec) -> Scan:
        table = self._at(spec)
        return self._start(spec, table.to_pyarrow_dataset(), _snapshot(table.version()))

    def plan(self, spec: ReadSpec, max_splits: int) -> ReadPlan:
        """The data files of the version read (pruned by partition values and file statistics), in splits."""
        check_max_splits(max_splits)
        table = self._at(spec)
        snapshot = _snapshot(table.version())
        dataset = table.to_pyarrow_dataset()
        spec.check_columns(dataset.schema, self.uri)
        expr = spec.filter.to_arrow() if spec.filter is not None else None
        # the log's add actions know each file's size and rows (their paths are escaped once more)
        actions = pa.table(table.get_add_actions(flatten=True))
        known = {unquote(path): (size, rows) for path, size, rows in zip(
            actions["path"].to_pylist(), actions["size_bytes"].to_pylist(), actions["num_records"].to_pylist())}

        def describe(path: str) -> tuple[str, int | None, int | None]:
            return (path, *known.get(path, (None, None)))

        with mapped_errors(OPEN_ERRORS, self.uri, self.location.secrets):  # Parquet footers, when files are cut
            units = units_of(list(dataset.get_fragments(filter=expr)), max_splits, expr, dataset.schema, describe)
        return ReadPlan(splits=plan_splits(units, max_splits, snapshot, str), snapshot=snapshot, consistent=True,
                        method="parquet row groups" if any(u.row_group is not None for u in units) else "data files",
                        consistency=f"every split reads the data files of table version {snapshot.value}, "
                                    "which never change",
                        query=self._query(spec, snapshot.value))

    def scan_split(self, spec: ReadSpec, split: Split) -> Scan:
        self._check_table(spec.table)
        payload = payload_of(split, SNAPSHOT_KIND, self.uri)
        dataset = self._load(int(payload.pin.value)).to_pyarrow_dataset()
        return self._start(spec, restrict(dataset, payload.pieces, str, self.uri), payload.pin)

    def _start(self, spec: ReadSpec, dataset: ds.Dataset, snapshot: Snapshot) -> Scan:
        """Scan ``dataset`` (a version's, or a split's part of it) for ``spec``."""
        spec.check_columns(dataset.schema, self.uri)
        columns = list(spec.columns) if spec.columns else None
        expr = spec.filter.to_arrow() if spec.filter is not None else None
        scanner = dataset.scanner(columns=columns, filter=expr, batch_size=spec.batch_size, use_threads=True)
        return Scan(schema=scanner.projected_schema, batches=scanner.to_batches(), snapshot=snapshot,
                    dataset=self._dataset_ref(), query=self._query(spec, snapshot.value))

    def _query(self, spec: ReadSpec, version: int) -> Query:
        where = spec.filter.to_arrow() if spec.filter is not None else None
        return table_scan_query("delta", f"delta table {self.uri} at version {version}", spec, where)

    def _dataset_ref(self) -> Dataset:
        uri = self.table_uri
        if "://" not in uri:
            return Dataset(system="delta", uri=self.uri, namespace="file", name=uri)
        scheme, rest = uri.split("://", 1)
        bucket, _, key = rest.partition("/")
        return Dataset(system="delta", uri=self.uri, namespace=f"{scheme}://{bucket}", name=key)


def _snapshot(version: int) -> Snapshot:
    return Snapshot(kind=SNAPSHOT_KIND, value=version, consistent=True, replayable=True, pins={"version": version})
