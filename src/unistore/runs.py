"""Runs: group the reads of one piece of work, write a manifest, replay it later.

::

    with unistore.run("train-resnet", outputs=["s3://models/resnet.pt"]) as run:
        train = unistore.read("postgresql://db/shop", "events")
        ...
    # run.manifest_path: the inputs (source, snapshot, query, fingerprint) and outputs

    report = unistore.replay_manifest(run.manifest_path)   # or: unistore replay MANIFEST
    for item in report:  # identical / drifted (what changed) / not_replayable (why)
        print(item.status, item.source, item.differences or item.reason)

Every read *started* inside the ``with`` block (in the same thread, or in
code run under a copy of its context, e.g. ``contextvars.copy_context().run``)
belongs to the run. With OpenLineage enabled the run is one OpenLineage run:
a START event on entry, then COMPLETE — or FAIL with the error — listing every
input on exit. Replaying reuses :func:`unistore.replay` for each input.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from . import lineage
from .api import read
from .errors import BadSpecError, DriftError, SourceNotFoundError, UnistoreError
from .lineage.log import is_jsonl
from .lineage.openlineage import output_dataset
from .provenance import Provenance, jsonable, now_rfc3339, uuid7
from .replay import replay

if TYPE_CHECKING:
    from .lineage import ReadEvent

log = logging.getLogger("unistore.runs")
MANIFEST_VERSION = 1


class Run:
    """One run: its id, the reads made inside it, and its outputs. Use through :func:`run`."""

    def __init__(self, name: str, outputs: list[Any] | tuple[Any, ...] = (), *,
                 manifest: str | os.PathLike[str] | bool | None = None):
        if not isinstance(name, str) or not name.strip():
            raise BadSpecError("a run needs a non-empty name")
        self.name = name
        self.outputs: list[Any] = list(outputs)
        self.run_id = uuid7()
        self.started_at: str | None = None
        self.ended_at: str | None = None
        self.status = "new"  # running | completed | failed
        self.error: str | None = None
        self.manifest_path: Path | None = _manifest_path(name, self.run_id, manifest)
        self._reads: list["ReadEvent"] = []
        self._deferred: list[Any] = []  # reads whose record completes elsewhere (distributed reads)
        self._lock = threading.Lock()
        self._token: Any = None
        self._span: tuple[Any, Any] | None = None  # (OpenTelemetry span, context token) while running

    # -- the reads ---------------------------------------------------------------
    def _add_read(self, event: "ReadEvent") -> None:
        with self._lock:
            self._reads.append(event)
        if self.status != "running":
            log.warning("a read of %s finished after run %r ended; it is not in the manifest",
                        event.source_uri, self.name)

    def defer(self, report: Any) -> None:
        """Call ``report()`` when the run ends: a distributed read reports itself then if it has not yet,
        so its record is in the manifest even when nobody asked for it inside the block."""
        with self._lock:
            self._deferred.append(report)

    @property
    def reads(self) -> list["ReadEvent"]:
        with self._lock:
            return list(self._reads)

    @property
    def inputs(self) -> list[Provenance]:
        """Provenance records of the reads that returned data (failed reads are in the manifest's ``failed_reads``)."""
        return [e.record for e in self.reads if e.record is not None and e.error is None]

    def add_output(self, output: Any) -> None:
        """Declare an output found out during the run (a URI, path, ``(namespace, name)`` or dict)."""
        self.outputs.append(output)

    # -- the block -----------------------------------------------------------------
    def __enter__(self) -> "Run":
        if self.status != "new":
            raise BadSpecError(f"run {self.name!r} was already started; make a new one")
        self.started_at = now_rfc3339()
        self.status = "running"
        self._token = lineage.current_run.set(self)
        self._span = lineage.otel.start_run(self.name, self.run_id)  # reads inside get it as parent span
        for sink in lineage.run_sinks():
            _safely(sink.run_started, self)
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        with self._lock:
            deferred, self._deferred = self._deferred, []
        for report in deferred:
            _safely(report)
        try:
            lineage.current_run.reset(self._token)
        except ValueError:  # exited in another context than it was entered in
            lineage.current_run.set(None)
        if self._span is not None:
            try:
                lineage.otel.end_run(*self._span, exc)
            except Exception:  # pragma: no cover - a broken SDK must not break the run
                log.warning("ending the span of run %r failed", self.name, exc_info=True)
            self._span = None
        self.ended_at = now_rfc3339()
        self.status = "failed" if exc is not None else "completed"
        if exc is not None:
            self.error = f"{type(exc).__name__}: {exc}"
        if self.manifest_path is not None:
            write_manifest(self.manifest_path, self.manifest())
        reads = self.reads
        for sink in lineage.run_sinks():
            _safely(sink.run_finished, self, reads, exc)

    def manifest(self) -> dict[str, Any]:
        """The manifest: the run, every input's provenance record, the outputs, failed reads."""
        reads = self.reads
        return {
            "unistore_manifest": MANIFEST_VERSION,
            "run": {"id": self.run_id, "name": self.name, "namespace": lineage.configured().namespace,
                    "status": self.status, "started_at": self.started_at, "ended_at": self.ended_at,
                    "error": self.error},
            "inputs": [e.record.to_dict() for e in reads if e.record is not None and e.error is None],
            "outputs": [{**output_dataset(o), "uri": o if isinstance(o, str) else None} for o in self.outputs],
            "failed_reads": [{"source": e.source_uri, "read_id": e.record.read_id if e.record else None,
                              "error": f"{type(e.error).__name__}: {e.error}"} for e in reads if e.error is not None],
        }

    def __repr__(self) -> str:
        return f"<Run {self.name!r} {self.run_id} {self.status}>"


def run(name: str, outputs: list[Any] | tuple[Any, ...] = (), *,
        manifest: str | os.PathLike[str] | bool | None = None) -> Run:
    """Group every read inside ``with unistore.run(name, outputs=[...]) as run:`` into one run.

    ``manifest``: where to write the manifest (default
    ``<manifest_dir>/<name>-<run id>.json``, ``manifest_dir`` from
    :func:`unistore.configure_lineage`, else ``./unistore-runs``); ``False``
    writes none.
    """
    return Run(name, outputs, manifest=manifest)


def _manifest_path(name: str, run_id: str, manifest: Any) -> Path | None:
    if manifest is False:
        return None
    if manifest is not None and manifest is not True:
        return Path(manifest)
    directory = lineage.configured().manifest_dir or Path("unistore-runs")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "run"
    return directory / f"{safe}-{run_id}.json"


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Write atomically (temporary file, then rename): a manifest is never half written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, default=jsonable) + "\n")
    os.replace(tmp, path)


def _safely(fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except Exception:
        log.warning("lineage sink %r failed; the run is unaffected", fn, exc_info=True)


# -- replay ----------------------------------------------------------------------

IDENTICAL, DRIFTED, NOT_REPLAYABLE = "identical", "drifted", "not_replayable"


@dataclass(frozen=True)
class InputReplay:
    """The outcome for one input: ``status`` is identical, drifted or not_replayable."""

    read_id: str
    source: str  # redacted URI
    dataset: str  # namespace/name
    status: str
    differences: dict[str, Any] = field(default_factory=dict)  # drifted: what changed
    reason: str | None = None  # not_replayable: why

    def describe(self) -> str:
        if self.status == DRIFTED:
            what = "; ".join(f"{k}: {v['recorded']!r} -> {v['now']!r}" if isinstance(v, dict) and "recorded" in v
                             else f"{k}: {v!r}" for k, v in self.differences.items())
            return f"{self.status:<15}{self.dataset}  ({what})"
        if self.status == NOT_REPLAYABLE:
            return f"{self.status:<15}{self.dataset}  ({self.reason})"
        return f"{self.status:<15}{self.dataset}"


@dataclass(frozen=True)
class ReplayReport:
    """Per-input outcomes of :func:`replay_manifest`, iterable; ``identical`` when all are."""

    manifest: dict[str, Any]
    inputs: list[InputReplay]

    def __iter__(self) -> Iterator[InputReplay]:
        return iter(self.inputs)

    def __len__(self) -> int:
        return len(self.inputs)

    @property
    def identical(self) -> bool:
        return all(i.status == IDENTICAL for i in self.inputs)

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.manifest.get("run"), "identical": self.identical,
                "inputs": [i.__dict__ for i in self.inputs]}


def load_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise SourceNotFoundError(f"manifest {os.fspath(path)} does not exist") from None
    except ValueError as exc:
        raise BadSpecError(f"{os.fspath(path)} is not a unistore manifest: {exc}") from None
    if not isinstance(data, dict) or data.get("unistore_manifest") != MANIFEST_VERSION:
        raise BadSpecError(f"{os.fspath(path)} is not a unistore manifest (version {MANIFEST_VERSION})")
    return data


def replay_manifest(path: str | os.PathLike[str], *, uris: dict[str, str] | None = None,
                    **options: Any) -> ReplayReport:
    """Re-read every input of a manifest at its recorded snapshot; report each as identical, drifted or not replayable.

    Recorded URIs carry no credentials: ``uris`` maps a recorded (redacted)
    URI to the one to use; ``options`` go to every :func:`unistore.source`.
    """
    manifest = load_manifest(path)
    results = []
    for data in manifest.get("inputs", []):
        record = Provenance.from_dict(data)
        sep = ":" if record.source.name.startswith("/") else "/"
        dataset = f"{record.source.namespace}{sep}{record.source.name}"
        common = dict(read_id=record.read_id, source=record.source.uri, dataset=dataset)
        try:
            replay(record, uri=(uris or {}).get(record.source.uri), **options)
        except DriftError as exc:
            results.append(InputReplay(status=DRIFTED, differences=exc.differences, **common))
        except UnistoreError as exc:
            results.append(InputReplay(status=NOT_REPLAYABLE, reason=f"{type(exc).__name__}: {exc}", **common))
        else:
            results.append(InputReplay(status=IDENTICAL, **common))
    return ReplayReport(manifest, results)


# -- the lineage log, read back ---------------------------------------------------

def read_log(path: str | os.PathLike[str] | None = None, **kwargs: Any) -> pa.Table:
    """Read a lineage log with :func:`unistore.read` (``filter=``, ``columns=`` as for any read).

    Metadata is data too: the answer carries its own provenance, and the read
    is itself logged. ``path`` defaults to the log set up with
    :func:`unistore.configure_lineage`, whose buffered rows are written first.
    """
    configured = lineage.configured().log
    if path is None:
        if configured is None:
            raise BadSpecError("no lineage log configured; pass a path or call unistore.configure_lineage(log=...)")
        path = configured.path
    if configured is not None and Path(path) == configured.path:
        configured.flush()
    if not is_jsonl(path):
        kwargs.setdefault("format", "parquet")
    return read(os.fspath(path), **kwargs)
