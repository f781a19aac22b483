"""Named datasets: read them by name, pin them in a lock file, check that the data is still the locked data.

::

    cat = unistore.catalog()                 # $UNISTORE_CATALOG, else the nearest unistore.yaml
    orders = cat.read("orders")              # or unistore.read("catalog:orders")
    cat.lock()                               # write unistore.lock (or: unistore lock)
    [c for c in cat.check() if not c.ok]     # what drifted (or: unistore lock --check)

With a lock entry, a read is pinned to the locked snapshot (stores that keep
versions — S3 object versions, Delta, Iceberg, ArcticDB — return exactly the
locked data; time-series stores re-read the locked window) and its result is
compared with the locked fingerprint: ``strict`` raises
:class:`~unistore.errors.DriftError`, ``warn`` warns (:class:`DriftWarning`),
``off`` reads as if there were no lock (and so does ``warn`` while there is
no lock file at all; ``strict`` insists on one). The read's provenance record names
the catalog, the dataset and the lock entry it was checked against (its
``catalog`` part), and OpenLineage gets the dataset's description, owners and
tags. The check runs as the read ends, before the read is reported, so the
table, the lineage log, OpenLineage and the read registry hold the same record,
lock status included; a drift in ``strict`` mode is reported as a complete read
whose status is ``drifted``, then raised.

``lock --check`` reads each dataset as ``lock`` would (not pinned) and
compares with the lock: that is how a CI job learns that a source moved on.
Secrets from ``${VAR}`` are scrubbed from every error this module raises.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

from .. import api
from ..api import source as open_source
from ..engine import read_table, start_read
from ..checkrun import prepare
from ..checkeval import verdict
from ..checks import Check as DataTest
from ..checks import Relationships, RowCount, Unique, as_checks, evaluate
from ..errors import BadSpecError, DriftError, SourceNotFoundError, UnistoreError
from ..filters import as_filter
from ..inputs import NAMED_INPUTS, NamedInput
from ..inputs import scrub_error as _scrubbed
from ..location import remember_secrets, scrub
from ..provenance import Provenance, catalog_entry, lookup, provenance_of, remember, remember_returned
from ..snapshot import Snapshot
from ..source import Source
from ..spec import ReadSpec
from ..testrunner import DataTestCase, DataTestReport, run_data_tests
from . import samples
from .document import LOCK_MODES, CatalogDocument, DatasetDef, SourceDef, find_catalog
from .lockfile import (FAILED, STALE, Check, LockEntry, LockFile, check_entry, definition_digest,
                       describe_differences)

#: read options a caller may change per read without changing what the lock can check
_NEUTRAL = frozenset({"batch_size"})
#: options that would make a catalog read another dataset
_REFUSED = frozenset({"table", "query", "params"})


class DriftWarning(UserWarning):
    """A catalog read found data other than the locked data (lock mode ``warn``)."""


class Catalog:
    """A loaded ``unistore.yaml`` and its lock file. Make one with :func:`unistore.catalog`."""

    def __init__(self, document: CatalogDocument):
        self.document = document

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> "Catalog":
        return cls(CatalogDocument.load(path if path is not None else find_catalog()))

    @property
    def path(self) -> Path:
        return self.document.path

    @property
    def lock_path(self) -> Path:
        return self.document.lock_path

    @property
    def lock_mode(self) -> str:
        return self.document.lock_mode

    def datasets(self) -> list[str]:
        """The dataset names, as written in the file."""
        return list(self.document.datasets)

    def sources(self) -> list[str]:
        return list(self.document.sources)

    def lockfile(self) -> LockFile:
        """The lock file as it is on disk now (empty when there is none)."""
        return LockFile.load(self.lock_path)

    def dataset(self, name: str) -> DatasetDef:
        """The definition of dataset ``name``; an unknown name is a :class:`SourceNotFoundError`."""
        try:
            return self.document.datasets[name]
        except (KeyError, TypeError):
            close = difflib.get_close_matches(str(name), self.datasets(), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise SourceNotFoundError(f"no dataset {str(name)[:80]!r} in {self.path}{hint}; "
                                      f"defined: {', '.join(self.datasets()) or 'none'}") from None

    def describe(self, name: str) -> dict[str, Any]:
        """What the catalog and lock say about ``name`` (nothing is read): target, documentation, pinned state."""
        ds = self.dataset(name)
        src = self.document.sources[ds.source]
        entry = self.lockfile().entries.get(name)
        definition = definition_digest(ds.definition(src))
        state = "unlocked" if entry is None else "locked" if entry.definition == definition else "redefined"
        return {
            "name": name, "source": ds.source, "uri": src.redacted,
            "table": ".".join(ds.table) if isinstance(ds.table, tuple) else ds.table, "query": ds.query,
            "columns": list(ds.columns) if ds.columns else None,
            "filter": str(ds.filter_value()) if ds.filter is not None else None,
            "time": {k: str(v) for k, v in ds.time.items()} or None,
            "description": ds.description, "owners": [dataclasses.asdict(o) for o in ds.owners],
            "tags": dict(ds.tags), "tests": len(ds.tests),
            "lock": {"mode": ds.lock or self.lock_mode, "state": state, "file": str(self.lock_path),
                     "version": entry.version if entry else None, "rows": entry.rows if entry else None,
                     "fingerprint": entry.fingerprint if entry else None},
            "schema": list(entry.schema) if entry else None,
        }

    def source(self, name: str) -> Source:
        """Open source ``name`` (or the source of dataset ``name``) with its options; close it after use."""
        if name not in self.document.sources and name in self.document.datasets:
            name = self.document.datasets[name].source
        if name not in self.document.sources:
            close = difflib.get_close_matches(str(name), self.sources(), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise SourceNotFoundError(f"no source {str(name)[:80]!r} in {self.path}{hint}; "
                                      f"defined: {', '.join(self.sources()) or 'none'}")
        return self._open(self.document.sources[name])[0]

    def validate(self) -> None:
        """Check what can be checked without reading data: variables set, lock file readable (the file's
        structure was checked when it was loaded). Raises :class:`~unistore.errors.CatalogError`."""
        self.document.check_variables()
        self.lockfile()

    # -- reading ---------------------------------------------------------------------------------
    def read(self, name: str, *, lock: str | None = None, **overrides: Any) -> pa.Table:
        """Read dataset ``name``; ``overrides`` narrow it (``columns``, ``filter`` — added to the dataset's —,
        ``limit``, time options...). ``lock`` overrides the lock mode for this read."""
        return self._read(name, "read", lock, overrides)

    def scan(self, name: str, *, lock: str | None = None, **overrides: Any) -> pa.RecordBatchReader:
        """Stream dataset ``name``; the lock check runs when the stream ends (see :meth:`read`)."""
        return self._read(name, "scan", lock, overrides)

    def input(self, name: str, *, lock: str | None = None, **overrides: Any) -> NamedInput:
        """Dataset ``name`` resolved for reading, its source opened, nothing read yet: what both
        :meth:`read` and ``unistore.sql`` read. Close its ``source`` when done.

        The lock is consulted here: an unlocked or redefined dataset is a
        :class:`~unistore.errors.DriftError` (``strict``) or a warning (``warn``)
        before anything is read; a locked one is pinned to its snapshot (unless
        ``as_of`` is given) and its ``finish`` compares a read of the dataset as
        defined with the lock entry.
        """
        ds = self.dataset(name)
        src_def = self.document.sources[ds.source]
        mode = self._mode(lock, ds)
        extra, tests = _pop_tests(overrides)
        kwargs, reshaped = _merge(ds, overrides)
        definition = definition_digest(ds.definition(src_def))
        lockfile = self.lockfile() if mode != "off" else None
        if lockfile is not None and not (lockfile.exists and lockfile.entries) and mode == "warn":
            mode = "off"  # nothing locked yet (or only samples): nothing to warn about (strict still insists)
        entry = lockfile.entries.get(name) if lockfile is not None and mode != "off" else None
        info = _record_part(self, ds, mode)
        pin: Snapshot | None = None
        if mode != "off":
            problem = None
            if entry is None:
                problem = {"lock": {"recorded": "an entry", "now": "none"}}
                info["lock"]["status"] = "unlocked"
            elif entry.definition != definition:
                problem = {"definition": {"recorded": entry.definition, "now": definition}}
                info["lock"]["status"] = "redefined"
            else:
                info["lock"].update(version=entry.version, rows=entry.rows, fingerprint=entry.fingerprint,
                                    status="pending")
                if "as_of" not in overrides or overrides["as_of"] is None:
                    pin = Snapshot.from_dict(entry.snapshot)
            if problem is not None:
                self._drift(name, src_def, mode, problem, before=True)
        src, secrets = self._open(src_def)
        table = kwargs.pop("table")
        finish = None
        if pin is not None and not reshaped:
            def finish(record: Provenance, schema: pa.Schema) -> None:
                self._verify(name, src_def, mode, entry, definition, record, schema, secrets)
        elif info["lock"] is not None and info["lock"].get("status") == "pending":
            info["lock"]["status"] = "unchecked"  # narrowed (or read as of another time): no whole read to compare
        return NamedInput(name=f"catalog:{name}", source=src, table=table, read=kwargs, pin=pin, part=info,
                          finish=finish, whole=finish is not None, secrets=secrets)

    def _read(self, name: str, how: str, lock: str | None, overrides: dict[str, Any]) -> Any:
        """One read or scan of dataset ``name``; the lock check is the read's ``finish`` (see :mod:`unistore.engine`)."""
        extra, tests = _pop_tests(overrides)
        prepared = self.input(name, lock=lock, **overrides)
        ds = self.dataset(name)
        _, reshaped = _merge(ds, overrides)
        src, secrets, finish = prepared.source, prepared.secrets, prepared.finish
        token = catalog_entry.set(prepared.part)
        try:
            spec = prepared.spec()
            checks = self._checks_for(ds, spec, extra, tests, reshaped, lock, prepared.part)
            if how == "scan":
                return start_read(src.connection, spec, owned=True, checks=checks, finish=finish)
            return read_table(src.connection, spec, owned=True, checks=checks, finish=finish)
        except UnistoreError as exc:
            src.close()
            raise _scrubbed(exc, secrets) from None
        except BaseException:
            src.close()
            raise
        finally:
            catalog_entry.reset(token)

    def _verify(self, name: str, src_def: SourceDef, mode: str, entry: LockEntry | None, definition: str,
                record: Provenance, schema: pa.Schema, secrets: tuple[str, ...]) -> None:
        """Compare a completed read with its lock entry; note the outcome in the record; act on the mode.

        Called by the read engine before the read is reported, so every sink sees the outcome."""
        assert entry is not None
        now = LockEntry.of_read(record, schema, src_def.redacted, definition)
        diffs = entry.differences(now)
        if record.catalog is not None and record.catalog.get("lock") is not None:
            # the record's own copy: the catalog part it was made from is shared with other records
            outcome = {"status": "drifted" if diffs else "verified", **({"changed": sorted(diffs)} if diffs else {})}
            record.catalog = {**record.catalog, "lock": {**record.catalog["lock"], **outcome}}
        if diffs:
            self._drift(name, src_def, mode, diffs, before=False, secrets=secrets)

    def _drift(self, name: str, src_def: SourceDef, mode: str, diffs: dict[str, Any], *, before: bool,
               secrets: tuple[str, ...] = ()) -> None:
        where = f"catalog:{name} ({src_def.redacted})"
        if "lock" in diffs:
            text = f"{where} is not in {self.lock_path}: run `unistore lock --update {name}`"
        elif "definition" in diffs:
            text = f"the catalog entry of {where} changed since it was locked: run `unistore lock --update {name}`"
        else:
            text = f"{where} differs from its entry in {self.lock_path}: {describe_differences(diffs)}"
        text = scrub(text, list(secrets))
        if mode == "strict":
            raise _scrubbed(DriftError(where, diffs, message=text), secrets)
        if mode == "warn":
            warnings.warn(text + (" (read without the lock's pin)" if before else ""), DriftWarning,
                          stacklevel=_caller_level())

    def _mode(self, lock: str | None, ds: DatasetDef) -> str:
        mode = lock or ds.lock or self.lock_mode
        if mode not in LOCK_MODES:
            raise BadSpecError(f"lock must be one of {', '.join(LOCK_MODES)}, got {str(mode)[:40]!r}")
        return mode

    def _open(self, src_def: SourceDef) -> tuple[Source, tuple[str, ...]]:
        uri, options, secrets = src_def.resolve()
        remember_secrets(secrets)
        try:
            return open_source(uri, **options), secrets
        except UnistoreError as exc:
            raise _scrubbed(exc, secrets) from None

    # -- data tests --------------------------------------------------------------------------------
    def _checks_for(self, ds: DatasetDef, spec: ReadSpec, extra: Any, tests: bool | None, reshaped: bool,
                    lock: str | None, info: dict[str, Any]) -> tuple[DataTest, ...]:
        """The checks of one catalog read: the dataset's tests (on a read of the dataset as defined, or
        when ``tests=True``) and the caller's ``checks=``; ``relationships`` to a dataset read through
        the catalog. Noted in the record's ``catalog`` part."""
        run = bool(ds.checks) and (tests is True or (tests is None and not reshaped))
        if ds.checks:
            info["tests"] = {"declared": len(ds.checks), "run": run}
            if not run:
                info["tests"]["skipped"] = "tests=False" if tests is False else "a narrowed read (tests=True runs them)"
        wanted = (*(ds.checks if run else ()), *as_checks(extra))
        resolved = tuple(self._resolve(c, lock) if isinstance(c, Relationships) else c for c in wanted)
        return prepare(resolved, spec)

    def _resolve(self, check: Relationships, lock: str | None) -> Relationships:
        """A ``relationships`` check whose ``to`` names a dataset of this catalog, with that side read."""
        if not isinstance(check.to, str) or "://" in check.to or check.to not in self.document.datasets:
            return check
        return check.resolve(lambda to, table, field: self.read(to, lock=lock, columns=[field], tests=False))

    def test_cases(self, names: list[str] | None = None, *, lock: str | None = None) -> list[DataTestCase]:
        """The datasets (``names``, default all that declare tests) as cases for :func:`run_data_tests`."""
        wanted = [self.dataset(n).name for n in names] if names else [n for n in self.datasets()
                                                                          if self.dataset(n).checks]
        return [DataTestCase(n, self.document.sources[self.dataset(n).source].redacted, None,
                             reader=lambda n=n: self.scan(n, lock=lock, tests=True)) for n in wanted]

    def test(self, names: list[str] | None = None, *, lock: str | None = None,
             progress: Callable[[str], None] | None = None) -> DataTestReport:
        """Run the data tests of ``names`` (default: every dataset that declares tests) like a test suite.

        ``lock``: ``"off"`` tests the data as it is now; ``"strict"`` tests the locked versions
        (a dataset not locked, or drifted, is an error). Default: the catalog's lock mode.
        """
        return run_data_tests(self.test_cases(names, lock=lock), progress=progress)

    # -- unit data sets --------------------------------------------------------------------------
    def sample(self, name: str, rows: int = 1000, *, seed: int = 0, key: list[str] | str | None = None,
               out: str | os.PathLike[str] | None = None, lock: str | None = None, tests: bool = True) -> pa.Table:
        """A deterministic subset of dataset ``name`` for unit tests (see :mod:`unistore.catalogs.samples`).

        ``key``: the columns whose keyed hash picks the rows (default: the columns of the dataset's
        ``unique`` test, else every column). The dataset's tests run on the sample (``row_count``
        excepted: a sample is small by design); a failed ``error`` test raises
        :class:`~unistore.errors.DataTestError` and nothing is written. ``out`` writes it as Parquet,
        with its derived record and its parent read's, and lists it in the lock file.
        """
        ds = self.dataset(name)
        if out is not None and not str(out).lower().endswith((".parquet", ".pq")):
            raise BadSpecError(f"a sample is written as Parquet: out must end in .parquet, got {str(out)[:200]}")
        if out is not None and not Path(out).resolve().parent.is_dir():
            raise BadSpecError(f"the folder of {str(out)[:200]} does not exist")
        keys = [key] if isinstance(key, str) else list(key) if key is not None else _sample_key(ds)
        reader = self.scan(name, lock=lock or "off", tests=False)  # default: the data as it is now
        try:
            taken = samples.select(reader, reader.schema, keys or list(reader.schema.names), rows, seed)
        finally:
            reader.close()
        parent = lookup(provenance_of(reader).read_id) or provenance_of(reader)
        record = samples.sample_record(parent, taken, name)
        wanted = [c for c in ds.checks if not isinstance(c, RowCount)] if tests else []
        if wanted:
            record.checks = evaluate(taken.table, [self._resolve(c, lock or "off") if isinstance(c, Relationships)
                                                   else c for c in wanted])
        table = samples.tagged(taken, record, parent)
        remember(record, finished=True)
        remember_returned(record, table)
        if record.checks:
            verdict(record, table)
        if out is not None:
            samples.write(table, str(out))
            self._list_sample(Path(out), record)
        return table

    def _list_sample(self, path: Path, record: Provenance) -> None:
        """Note a written sample in the lock file (what it was taken from, how, its content)."""
        lockfile = self.lockfile()
        try:
            where = os.path.relpath(path.resolve(), self.lock_path.resolve().parent)
        except ValueError:  # another drive
            where = str(path.resolve())
        info = dict((record.catalog or {}).get("sample") or {})
        parent = record.parent
        lockfile.samples[where.replace(os.sep, "/")] = {
            **{k: info[k] for k in ("dataset", "key", "seed", "rows_asked", "rows", "method") if k in info},
            "fingerprint": record.result.fingerprint, "schema_fingerprint": record.result.schema_fingerprint,
            "parent": {"rows": parent.result.rows if parent else None,
                       "fingerprint": parent.result.fingerprint if parent else None},
            "tests": None if record.checks is None else {
                "passed": sum(r.success for r in record.checks), "failed": sum(not r.success for r in record.checks)},
        }
        lockfile.write()

    # -- locking -------------------------------------------------------------------------------------
    def _fresh(self, name: str) -> tuple[LockEntry, pa.Table]:
        """Read ``name`` as defined, not pinned, and make its would-be lock entry."""
        ds = self.dataset(name)
        src_def = self.document.sources[ds.source]
        table = self._read(name, "read", "off", {"tests": False})  # pinning is not testing
        entry = LockEntry.of_read(provenance_of(table), table.schema, src_def.redacted,
                                  definition_digest(ds.definition(src_def)))
        return entry, table

    def lock(self, names: list[str] | None = None, *,
             progress: Callable[[str, str, LockEntry], None] | None = None) -> dict[str, str]:
        """Read each dataset (``names``, default all) and write the lock file; return each one's outcome.

        Outcomes: ``new``, ``updated``, ``unchanged`` (same content: the entry is kept
        byte for byte, snapshot included), ``removed`` (no longer in the catalog).
        Nothing is written if a read fails.
        """
        wanted = self.datasets() if names is None else [self.dataset(n).name for n in names]
        current = self.lockfile()
        entries = {k: v for k, v in current.entries.items() if k in self.document.datasets}
        outcome = {k: "removed" for k in current.entries if k not in self.document.datasets}
        for name in wanted:
            entry, _ = self._fresh(name)
            old = entries.get(name)
            if old is not None and old.same_data(entry):
                outcome[name] = "unchanged"
            else:
                entries[name] = entry
                outcome[name] = "new" if old is None else "updated"
            if progress is not None:
                progress(name, outcome[name], entries[name])
        LockFile(self.lock_path, entries, samples=current.samples).write()
        return outcome

    def check(self, names: list[str] | None = None, *,
              progress: Callable[[Check], None] | None = None) -> list[Check]:
        """Read each dataset as ``lock`` would and compare with the lock file (nothing is written)."""
        wanted = self.datasets() if names is None else [self.dataset(n).name for n in names]
        locked = self.lockfile().entries
        checks = []
        for name in wanted:
            try:
                now, _ = self._fresh(name)
            except UnistoreError as exc:
                check = Check(name, FAILED, locked[name].rows if name in locked else None, None,
                              detail=f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}")
            else:
                check = check_entry(name, locked.get(name), now)
            checks.append(check)
            if progress is not None:
                progress(check)
        if names is None:
            for name in sorted(set(locked) - set(self.document.datasets)):
                checks.append(Check(name, STALE, locked[name].rows, None,
                                    detail="in the lock file, not in the catalog: run `unistore lock`"))
        return checks

    def __repr__(self) -> str:
        return f"<Catalog {self.path} ({len(self.document.datasets)} datasets)>"


def catalog(path: str | os.PathLike[str] | None = None) -> Catalog:
    """Load the catalog at ``path``, else ``$UNISTORE_CATALOG``, else the nearest ``unistore.yaml``
    walking up from the current directory. See docs/data-as-code.md."""
    return Catalog.load(path)


def _merge(ds: DatasetDef, overrides: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The dataset's read arguments with the caller's overrides; whether they change what is read."""
    kwargs = ds.read_kwargs()
    given = {k: v for k, v in overrides.items() if v is not None}
    refused = sorted(set(given) & _REFUSED)
    if refused:
        raise BadSpecError(f"dataset {ds.name} defines what it reads; {', '.join(refused)} cannot be overridden "
                           "(define another dataset instead)")
    for key, value in given.items():
        if key == "filter" and kwargs.get("filter") is not None:
            kwargs["filter"] = kwargs["filter"] & as_filter(value)
        else:
            kwargs[key] = value
    return kwargs, bool(set(given) - _NEUTRAL)


def _record_part(cat: Catalog, ds: DatasetDef, mode: str) -> dict[str, Any]:
    """The ``catalog`` part of the read's provenance record."""
    part: dict[str, Any] = {"file": str(cat.path), "dataset": ds.name}
    if ds.description:
        part["description"] = ds.description
    if ds.owners:
        part["owners"] = [{"name": o.name, **({"type": o.type} if o.type else {})} for o in ds.owners]
    if ds.tags:
        part["tags"] = dict(ds.tags)
    part["lock"] = None if mode == "off" else {"file": str(cat.lock_path), "mode": mode, "entry": ds.name}
    return part


def _caller_level() -> int:
    """The ``stacklevel`` that points a warning given in :meth:`Catalog._drift` at the first frame outside
    unistore: the caller's code, however deep the check ran (a read, a scan being iterated, a query)."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
    frame, level = sys._getframe(2), 2  # _drift's caller, as warnings.warn counts from _drift
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def _sample_key(ds: DatasetDef) -> list[str]:
    """The columns that identify a row of ``ds``: those of its (first) ``unique`` test, else none (every column)."""
    return next((list(c.column_names) for c in ds.checks if isinstance(c, Unique)), [])


def _pop_tests(overrides: dict[str, Any]) -> tuple[Any, bool | None]:
    """Take ``checks=`` (more data tests for this read) and ``tests=`` (run the dataset's: None = when the
    read is the dataset as defined) out of a read's overrides."""
    tests = overrides.pop("tests", None)
    if tests is not None and not isinstance(tests, bool):
        raise BadSpecError(f"tests= takes True or False, got {type(tests).__name__}")
    return overrides.pop("checks", None), tests


def _read_named(name: str, how: str, table: Any, kwargs: dict[str, Any]) -> Any:
    """``unistore.read("catalog:orders")``: dataset ``orders`` of the default catalog."""
    if table is not None:
        raise BadSpecError(f"catalog:{name[:80]} names a dataset, which names its own table; pass no table")
    lock = kwargs.pop("lock", None)
    cat = catalog()
    return cat.read(name, lock=lock, **kwargs) if how == "read" else cat.scan(name, lock=lock, **kwargs)


def _input_named(name: str, options: dict[str, Any]) -> NamedInput:
    """``unistore.sql(..., sources={"orders": "catalog:orders"})``: dataset ``orders`` of the default catalog,
    ``options`` (that source's read options in the query) narrowing it as :meth:`Catalog.read`'s overrides do."""
    lock = options.pop("lock", None)
    return catalog().input(name, lock=lock, **options)


api.NAMED_READERS["catalog"] = _read_named
NAMED_INPUTS["catalog"] = _input_named
