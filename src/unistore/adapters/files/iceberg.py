"""Iceberg tables (``pyiceberg``) through a SQL catalog kept in SQLite: a snapshot id is the snapshot.

Location: ``iceberg:///abs/path/catalog.db`` (the SQLite file of a pyiceberg
``SqlCatalog``); the table is named ``namespace.table``. The data files may be
on local disk or in S3: for S3 the FileIO gets endpoint, region and credentials
from the AWS environment variables unless ``properties`` (pyiceberg catalog
properties such as ``s3.endpoint``) say otherwise. Every read plans one
snapshot (the current one, ``as_of=`` a snapshot id or a time, or the recorded
one on replay), so a replay is exact time travel. A plan pins that snapshot: its
splits read the snapshot's data files (which never change), whole files each.
"""

from __future__ import annotations

import datetime as dt
import decimal
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa

from ...errormap import ErrorTable, Rule, mapped_errors
from ...errors import BadSpecError, SnapshotUnavailableError, SourceNotFoundError
from ...filters import Filter, Predicate
from ...location import Location
from ...provenance import Dataset, Query
from ...registry import require
from ...snapshot import Snapshot
from ...adapter import Adapter, Capabilities, Connection, ReadPlan, Scan, Split, check_max_splits
from ...spec import ReadSpec
from .filesystems import S3Settings, SecretLocation, option_secrets
from .fragments import Unit, payload_of, plan_splits
from .timetravel import epoch_ms, parse_as_of, table_scan_query

SNAPSHOT_KIND = "iceberg.snapshot_id"
#: loading a table from the catalog (where: the source's URI)
LOAD_ERRORS = ErrorTable(
    Rule(SourceNotFoundError, "no table {table} in {where}",
         classes=("pyiceberg.exceptions.NoSuchTableError", "pyiceberg.exceptions.NoSuchNamespaceError")),
)
#: planning and reading the pinned snapshot: pyiceberg says a snapshot is gone with a ValueError
SCAN_ERRORS = ErrorTable(Rule(SnapshotUnavailableError, "{text}", classes=("builtins.ValueError",)))
#: data files handed to pyiceberg's reader at once (its thread pool reads them in parallel)
FILES_IN_FLIGHT = max(4, 2 * (os.cpu_count() or 1))


class IcebergAdapter(Adapter):
    open_options: ClassVar[frozenset[str]] = frozenset({"properties", "catalog_name"})

    def open(self, location: Location, **options: Any) -> "IcebergSource":
        return IcebergSource(location, **options)


def catalog_properties(location: Location, given: dict[str, Any]) -> dict[str, str]:
    """SqlCatalog properties: the SQLite file, S3 FileIO settings from the environment, the caller's."""
    path = location.raw.split("://", 1)[1] if "://" in location.raw else location.path
    path = path.split("?", 1)[0]
    if not path.startswith("/"):
        raise BadSpecError("an Iceberg SQLite catalog is named by an absolute path: iceberg:///abs/catalog.db")
    props: dict[str, str] = {"uri": f"sqlite:///{path}"}
    warehouse = dict(location.query).get("warehouse")
    if warehouse:
        props["warehouse"] = warehouse
    s3 = S3Settings.resolve({}, os.environ)
    props.update(s3.named("s3.endpoint", "s3.region", "s3.access-key-id", "s3.secret-access-key",
                          "s3.session-token"))
    props.update({k: str(v) for k, v in given.items()})
    return props


@dataclass(frozen=True)
class _Read:
    """One read of an Iceberg table at one snapshot, as pyiceberg plans it."""

    table: Any          # pyiceberg Table
    scan: Any           # pyiceberg DataScan
    schema: pa.Schema   # what the read returns
    name: str
    row_filter: Any     # the pushed filter (None: the whole filter is residual)
    push_limit: bool
    snapshot: Snapshot


class IcebergSource(Connection):
    """The tables of one Iceberg SQL catalog."""

    capabilities: ClassVar[Capabilities] = Capabilities(listing=True, as_of=True, replay_exact=True, splits=True)

    def __init__(self, location: Location, *, properties: dict[str, Any] | None = None,
                 catalog_name: str = "default"):
        if properties is not None and not isinstance(properties, dict):
            raise BadSpecError("properties must be a dict")
        props = catalog_properties(location, properties or {})
        secrets = option_secrets(props)
        super().__init__(SecretLocation.wrap(location, secrets) if secrets else location)
        path = props["uri"][len("sqlite:///"):]
        if props["uri"].startswith("sqlite:///") and not os.path.isfile(path):
            raise SourceNotFoundError(f"no Iceberg catalog at {self.uri}")
        require("pyiceberg", extra="iceberg", what="reading Iceberg tables")
        from pyiceberg.catalog.sql import SqlCatalog

        self.catalog = SqlCatalog(catalog_name, **props)

    def _table(self, table: str | tuple[str, ...] | None):
        if table is None:
            raise BadSpecError(f"name the table to read in {self.uri}: table='namespace.table'")
        ident = table if isinstance(table, tuple) else tuple(table.split("."))
        if len(ident) < 2:
            raise SourceNotFoundError(f"no table {table!r} in {self.uri}: Iceberg tables are named 'namespace.table'")
        with mapped_errors(LOAD_ERRORS, self.uri, table=".".join(ident)):
            return self.catalog.load_table(ident)

    def tables(self) -> list[str]:
        names = []
        for ns in self.catalog.list_namespaces():
            names += [".".join(t) for t in self.catalog.list_tables(ns)]
        return sorted(names)

    def schema(self, table: str | tuple[str, ...] | None = None) -> pa.Schema:
        return arrow_schema(self._table(table).schema().as_arrow())

    def _snapshot_id(self, tbl, spec: ReadSpec) -> int | None:
        if spec.pin is not None and spec.pin.kind == SNAPSHOT_KIND:
            wanted: int | dt.datetime | None = None if spec.pin.value is None else int(spec.pin.value)
            if wanted is None:
                return None
        else:
            wanted = parse_as_of(spec.as_of)
        if wanted is None:
            current = tbl.current_snapshot()
            return None if current is None else current.snapshot_id
        if isinstance(wanted, int):
            if tbl.snapshot_by_id(wanted) is None:
                raise SnapshotUnavailableError(f"snapshot {wanted} of {self.uri} does not exist (expired?)")
            return wanted
        snap = tbl.snapshot_as_of_timestamp(epoch_ms(wanted))
        if snap is None:
            raise SnapshotUnavailableError(f"{self.uri} has no snapshot as of {wanted.isoformat()}")
        return snap.snapshot_id

    def _read(self, spec: ReadSpec, pinned: Snapshot | None = None) -> _Read:
        """The read ``spec`` asks for, at the ``pinned`` snapshot (a plan's) or the one ``spec`` names."""
        tbl = self._table(spec.table)
        if pinned is None:
            snapshot_id = self._snapshot_id(tbl, spec)
            snapshot = Snapshot(kind=SNAPSHOT_KIND, value=snapshot_id, consistent=True, replayable=True,
                                pins={"snapshot_id": snapshot_id, "metadata_location": _redacted(tbl.metadata_location)})
        else:
            snapshot_id, snapshot = pinned.value, pinned
            if snapshot_id is not None and tbl.snapshot_by_id(snapshot_id) is None:
                raise SnapshotUnavailableError(f"snapshot {snapshot_id} of {self.uri} does not exist any more (expired?)")
        if snapshot_id is not None and tbl.snapshot_by_id(snapshot_id).schema_id is not None:
            table_schema = tbl.schemas()[tbl.snapshot_by_id(snapshot_id).schema_id]
        else:
            table_schema = tbl.schema()
        full = arrow_schema(table_schema.as_arrow())
        name = ".".join(spec.table) if isinstance(spec.table, tuple) else spec.table
        spec.check_columns(full, f"{self.uri} table {name}")
        columns = list(spec.columns) if spec.columns else None
        row_filter = to_iceberg(spec.filter) if spec.filter is not None else None
        # the limit can go to pyiceberg when it evaluates the whole filter (nothing residual)
        push_limit = spec.limit is not None and (spec.filter is None or row_filter is not None)
        scan = tbl.scan(row_filter=row_filter if row_filter is not None else _always_true(),
                        selected_fields=tuple(columns) if columns else ("*",), snapshot_id=snapshot_id,
                        limit=spec.limit if push_limit else None)
        projected = pa.schema([full.field(c) for c in columns]) if columns else full
        return _Read(tbl, scan, projected, name, row_filter, push_limit, snapshot)

    def scan(self, spec: ReadSpec) -> Scan:
        return self._start(spec, self._read(spec))

    def plan(self, spec: ReadSpec, max_splits: int) -> ReadPlan:
        """The data files pyiceberg plans for the snapshot read (pruned by partitions and statistics), in splits."""
        check_max_splits(max_splits)
        read = self._read(spec)
        with mapped_errors(SCAN_ERRORS, self.uri, self.location.secrets):
            units = [Unit(t.file.file_path, None, t.file.record_count, t.file.file_size_in_bytes)
                     for t in read.scan.plan_files()]
        prefix = read.table.location().rstrip("/") + "/"
        snapshot = read.snapshot
        return ReadPlan(splits=plan_splits(units, max_splits, snapshot, lambda p: p.removeprefix(prefix)),
                        snapshot=snapshot, consistent=True, method="data files",
                        consistency=f"every split reads the data files of snapshot {snapshot.value}, "
                                    "which never change",
                        query=_query(read, spec))

    def scan_split(self, spec: ReadSpec, split: Split) -> Scan:
        payload = payload_of(split, SNAPSHOT_KIND, self.uri)
        read = self._read(spec, payload.pin)
        wanted = {p.path for p in payload.pieces}
        with mapped_errors(SCAN_ERRORS, self.uri, self.location.secrets):
            tasks = [t for t in read.scan.plan_files() if t.file.file_path in wanted]
        if len(tasks) != len(wanted):
            raise SnapshotUnavailableError(f"{self.uri}: {len(wanted) - len(tasks)} planned data file(s) are no "
                                           "longer part of the snapshot read; plan the read again")
        return self._start(spec, read, tasks)

    def _start(self, spec: ReadSpec, read: _Read, tasks: list | None = None) -> Scan:
        """Stream ``read`` (all its files, or a split's ``tasks``)."""
        return Scan(
            schema=read.schema,
            batches=_batches(read.scan, read.schema, self, tasks),
            residual=spec.filter if spec.filter is not None and read.row_filter is None else None,
            snapshot=read.snapshot,
            dataset=Dataset(system="iceberg", uri=self.uri, namespace=f"iceberg://{self.catalog.name}",
                            name=read.name),
            query=_query(read, spec),
        )


def _query(read: _Read, spec: ReadSpec) -> Query:
    """What ``read`` asks pyiceberg for, for the record."""
    return table_scan_query("iceberg", f"iceberg table {read.name} at snapshot {read.snapshot.value}", spec,
                            read.row_filter, limit=read.push_limit)


def _batches(scan, schema: pa.Schema, source: IcebergSource, tasks: list | None) -> Iterator[pa.RecordBatch]:
    """Stream the planned files (or only ``tasks``) as batches of ``schema``.

    pyiceberg's ArrowScan reads files in its thread pool, but submits every
    file of a call at once and keeps each file's batches until consumed; so
    the files go to it a few at a time, which bounds a stream's memory. Its
    batches may carry large string/binary types, cast here once.
    """
    from pyiceberg.io.pyarrow import ArrowScan

    with mapped_errors(SCAN_ERRORS, source.uri, source.location.secrets):
        tasks = list(scan.plan_files()) if tasks is None else tasks
        reader = ArrowScan(scan.table_metadata, scan.io, scan.projection(), scan.row_filter,
                           scan.case_sensitive, scan.limit)
        step = FILES_IN_FLIGHT
        for start in range(0, len(tasks), step):
            for batch in reader.to_record_batches(tasks[start:start + step]):
                if batch.num_rows:
                    if batch.schema.names != schema.names:
                        batch = batch.select(schema.names)
                    yield batch if batch.schema.equals(schema) else batch.cast(schema)


def arrow_schema(schema: pa.Schema) -> pa.Schema:
    """The Arrow types a caller expects: no Parquet field ids, no large string/binary."""
    def small(t: pa.DataType) -> pa.DataType:
        if pa.types.is_large_string(t):
            return pa.string()
        if pa.types.is_large_binary(t):
            return pa.binary()
        if pa.types.is_large_list(t):
            return pa.list_(small(t.value_type))
        return t
    return pa.schema([pa.field(f.name, small(f.type), f.nullable) for f in schema])


def _always_true():
    from pyiceberg.expressions import AlwaysTrue

    return AlwaysTrue()


def to_iceberg(filt: Filter):
    """The filter as a pyiceberg expression, or None when a value has no Iceberg literal."""
    from pyiceberg import expressions as ie

    def literal(value: Any) -> Any:
        if isinstance(value, (bool, int, float, str, decimal.Decimal, dt.date, dt.datetime, bytes)):
            return value
        raise TypeError(type(value).__name__)

    def one(p: Predicate):
        if p.op == "is null":
            return ie.IsNull(p.column)
        if p.op == "is not null":
            return ie.NotNull(p.column)
        if p.op == "in":
            return ie.In(p.column, {literal(v) for v in p.value}) if p.value else ie.AlwaysFalse()
        if p.op == "not in":
            return ie.And(ie.NotIn(p.column, {literal(v) for v in p.value}), ie.NotNull(p.column)) \
                if p.value else ie.NotNull(p.column)
        cls = {"==": ie.EqualTo, "!=": ie.NotEqualTo, "<": ie.LessThan, "<=": ie.LessThanOrEqual,
               ">": ie.GreaterThan, ">=": ie.GreaterThanOrEqual}[p.op]
        expr = cls(p.column, literal(p.value))
        return ie.And(expr, ie.NotNull(p.column)) if p.op == "!=" else expr

    try:
        result = None
        for clause in filt.clauses:
            conj = None
            for p in clause:
                conj = one(p) if conj is None else ie.And(conj, one(p))
            result = conj if result is None else ie.Or(result, conj)
        return result
    except (TypeError, ValueError):
        return None


def _redacted(uri: str | None) -> str | None:
    return None if uri is None else Location.parse(uri).redacted()
