"""OpenLineage RunEvents for reads and runs, sent through openlineage-python (extra ``unistore[openlineage]``).

A read outside :func:`unistore.run` is its own OpenLineage run (``runId`` =
the read id): a START and a COMPLETE event — ABORT when the stream was closed
before its end, FAIL with the error — both sent when the read ends. Reads
inside a run are grouped into the run's own events instead.

Each input dataset carries the standard facets ``schema``, ``dataSource``,
``version`` (the snapshot), ``inputStatistics``, ``dataQualityMetrics`` (row
count, bytes, per-column null counts and numeric min/max/sum gathered while
the stream went by), ``dataQualityAssertions`` when the read ran data tests
(one assertion per result: name, column, success, severity, expected and
observed) and the custom ``unistore_provenance`` facet holding the
complete provenance record; its JSON schema ships as
``unistore/schemas/unistore_provenance.json``. SQL reads add the ``sql`` job
facet. A read of a catalog dataset (docs/data-as-code.md) adds the catalog's
description, owners and tags as the ``documentation``, ``ownership`` and
``tags`` dataset facets. Facet versions are pinned here (not taken from the installed client)
so the events keep validating against the same spec whatever client version
is installed.

The reading thread only takes a compact *job* (:func:`read_job`: the record,
schema fields, column metrics, run id, end time), which the spool journals
before the read returns; the sender thread builds the events from it
(:func:`build_events`) as plain JSON-ready dicts — the same events whenever
and by whichever process they are built — and turns them into
openlineage-python objects only for delivery, so the
user's own client configuration (``openlineage.yml``, ``OPENLINEAGE_*``
variables, or a client passed in) decides the transport.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .._version import __version__
from ..errors import MissingExtraError
from ..location import Location
from ..provenance import jsonable, uuid7
from .spool import Spool

if TYPE_CHECKING:
    import pyarrow as pa

    from .events import ReadEvent

PRODUCER = f"https://pypi.org/project/unistore/{__version__}/"
SPEC = "https://openlineage.io/spec"
RUN_EVENT_SCHEMA = f"{SPEC}/2-0-2/OpenLineage.json#/$defs/RunEvent"
CUSTOM_FACET = "unistore_provenance"
CUSTOM_FACET_SCHEMA = ("https://unistore.dev/spec/facets/1-0-0/UnistoreProvenanceInputDatasetFacet.json"
                       "#/$defs/UnistoreProvenanceInputDatasetFacet")

_FACET_SCHEMAS = {
    "schema": "1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
    "dataSource": "1-0-1/DatasourceDatasetFacet.json#/$defs/DatasourceDatasetFacet",
    "version": "1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet",
    "inputStatistics": "1-0-0/InputStatisticsInputDatasetFacet.json#/$defs/InputStatisticsInputDatasetFacet",
    "dataQualityMetrics": ("1-0-3/DataQualityMetricsInputDatasetFacet.json"
                           "#/$defs/DataQualityMetricsInputDatasetFacet"),
    "dataQualityAssertions": ("1-1-0/DataQualityAssertionsDatasetFacet.json"
                              "#/$defs/DataQualityAssertionsDatasetFacet"),
    "sql": "1-1-0/SQLJobFacet.json#/$defs/SQLJobFacet",
    "jobType": "2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet",
    "errorMessage": "1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet",
    "documentation": "1-1-0/DocumentationDatasetFacet.json#/$defs/DocumentationDatasetFacet",
    "ownership": "1-0-1/OwnershipDatasetFacet.json#/$defs/OwnershipDatasetFacet",
    "tags": "1-0-0/TagsDatasetFacet.json#/$defs/TagsDatasetFacet",
    "columnLineage": "1-2-0/ColumnLineageDatasetFacet.json#/$defs/ColumnLineageDatasetFacet",
}

#: OpenLineage has no event id; (runId, eventType) is unique for the events unistore sends, and
#: stays the same when an event is delivered again, so collectors can deduplicate on it.
_EVENT_ID_NAMESPACE = uuid.UUID("6d1f0b8e-3c53-4c55-9a9e-2b2f1d5b6a10")


def event_id(event: dict[str, Any]) -> str:
    """The stable id of an event: a UUID5 of its run id and event type."""
    return str(uuid.uuid5(_EVENT_ID_NAMESPACE, f"{event['run']['runId']}/{event['eventType']}"))


def facet(key: str, **fields: Any) -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": f"{SPEC}/facets/{_FACET_SCHEMAS[key]}", **fields}


def _schema_fields(schema: "pa.Schema") -> list[dict[str, Any]]:
    import pyarrow as pa

    def field(f: "pa.Field", position: int | None) -> dict[str, Any]:
        out: dict[str, Any] = {"name": f.name, "type": str(f.type)}
        if position is not None:
            out["ordinal_position"] = position
        if pa.types.is_struct(f.type):
            out["fields"] = [field(f.type.field(i), None) for i in range(f.type.num_fields)]
        return out

    return [field(f, i) for i, f in enumerate(schema, start=1)]


def _data_source_uri(source: dict[str, Any]) -> str:
    """A URI for the ``dataSource`` facet: the dataset namespace when it is one, else the redacted URI."""
    ns = source["namespace"]
    return ns if "://" in ns else source["uri"]


def _snapshot_version(snapshot: dict[str, Any]) -> str:
    value = snapshot.get("value")
    text = value if isinstance(value, str) else json.dumps(value, default=jsonable, sort_keys=True)
    return f"{snapshot['kind']}:{text}"


def read_input(event: "ReadEvent") -> dict[str, Any]:
    """What an input dataset is built from, as JSON-ready data (taken on the reading thread, kept compact)."""
    return {"record": event.record.to_dict() if event.record is not None else None,
            "schema": _schema_fields(event.schema) if event.schema is not None else None,
            "columns": event.columns.to_openlineage() if event.columns is not None else None}


def input_dataset(read: dict[str, Any]) -> dict[str, Any] | None:
    """The OpenLineage input dataset of one finished read, from :func:`read_input` (None: never started)."""
    record = read["record"]
    if record is None:
        return None
    source, result = record["source"], record["result"]
    facets: dict[str, Any] = {
        "dataSource": facet("dataSource", name=source["namespace"], uri=_data_source_uri(source)),
        "version": facet("version", datasetVersion=_snapshot_version(record["snapshot"])),
    }
    if read.get("schema") is not None:
        facets["schema"] = facet("schema", fields=read["schema"])
    facets.update(catalog_facets(record.get("catalog")))
    input_facets = {
        "inputStatistics": facet("inputStatistics", rowCount=result["rows"], size=result["bytes"]),
        "dataQualityMetrics": facet("dataQualityMetrics", rowCount=result["rows"],
                                    bytes=result["bytes"], columnMetrics=read.get("columns") or {}),
        CUSTOM_FACET: {"_producer": PRODUCER, "_schemaURL": CUSTOM_FACET_SCHEMA, "record": record},
    }
    if record.get("checks"):
        input_facets["dataQualityAssertions"] = facet("dataQualityAssertions",
                                                      assertions=[_assertion(c) for c in record["checks"]])
    # the adapter names the dataset the OpenLineage way; passed through unchanged
    return {"namespace": source["namespace"], "name": source["name"],
            "facets": facets, "inputFacets": input_facets}


def catalog_facets(part: dict[str, Any] | None) -> dict[str, Any]:
    """``documentation``, ``ownership`` and ``tags`` facets from the record's catalog part (if any)."""
    if not part:
        return {}
    out: dict[str, Any] = {}
    if part.get("description"):
        out["documentation"] = facet("documentation", description=str(part["description"]),
                                     contentType="text/markdown")
    if part.get("owners"):
        out["ownership"] = facet("ownership", owners=[
            {"name": str(o["name"]), **({"type": str(o["type"])} if o.get("type") else {})} for o in part["owners"]])
    if part.get("tags"):
        out["tags"] = facet("tags", tags=[{"key": str(k), "value": str(v), "source": "UNISTORE_CATALOG"}
                                          for k, v in sorted(part["tags"].items())])
    return out


def _assertion(check: dict[str, Any]) -> dict[str, Any]:
    """One data test result as an OpenLineage assertion (``actual`` is the observed value as JSON text)."""
    out: dict[str, Any] = {"assertion": check["assertion"], "success": bool(check["success"]),
                           "name": check["name"], "severity": check["severity"],
                           "actual": json.dumps(check.get("observed"), default=jsonable, sort_keys=True),
                           "params": {**(check.get("params") or {}), "failing_rows": check.get("failing_rows")}}
    if check.get("column"):
        out["column"] = check["column"]
    if check.get("expected"):
        out["expected"] = check["expected"]
    if check["assertion"] == "expression":
        out["content"], out["contentType"] = (check.get("params") or {}).get("sql", ""), "sql"
    return out


def output_dataset(output: Any) -> dict[str, Any]:
    """An output named by a URI/path, a ``(namespace, name)`` pair or a ``{"namespace", "name"}`` dict."""
    if isinstance(output, dict):
        return {"namespace": str(output["namespace"]), "name": str(output["name"])}
    if isinstance(output, tuple) and len(output) == 2:
        return {"namespace": str(output[0]), "name": str(output[1])}
    loc = Location.parse(output)
    if loc.scheme == "file":
        import os

        return {"namespace": "file", "name": os.path.abspath(loc.path)}
    host = loc.netloc_host or ""
    if loc.port:
        host = f"{host}:{loc.port}"
    return {"namespace": f"{loc.scheme}://{host}" if host else loc.scheme, "name": loc.path.lstrip("/") or "/"}


def _error_text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:8192]


def _error_facet(error: BaseException | str) -> dict[str, Any]:
    message = error if isinstance(error, str) else _error_text(error)
    return facet("errorMessage", message=message[:8192], programmingLanguage="PYTHON")


def _job_type(kind: str) -> dict[str, Any]:
    return facet("jobType", processingType="BATCH", integration="UNISTORE", jobType=kind)


def run_event(event_type: str, *, run_id: str, job_namespace: str, job_name: str, event_time: str,
              inputs: Iterable[dict[str, Any]] = (), outputs: Iterable[dict[str, Any]] = (),
              job_facets: dict[str, Any] | None = None, run_facets: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "eventType": event_type,
        "eventTime": event_time,
        "producer": PRODUCER,
        "schemaURL": RUN_EVENT_SCHEMA,
        "run": {"runId": run_id, "facets": dict(run_facets or {})},
        "job": {"namespace": job_namespace, "name": job_name, "facets": dict(job_facets or {})},
        "inputs": list(inputs),
        "outputs": list(outputs),
    }


def read_job(event: "ReadEvent", job_namespace: str) -> dict[str, Any]:
    """The compact job the reading thread journals for a read outside a run (events are built later)."""
    record = event.record
    job = {"kind": "read", "namespace": job_namespace, "time": _now(),
           "run_id": record.read_id if record is not None else uuid7(),
           "source_uri": event.source_uri,
           "error": _error_text(event.error) if event.error is not None else None,
           **read_input(event)}
    if record is not None and record.kind == "query":
        job.update(kind="query", inputs=query_inputs(event), output=query_output(record))
    return job


def query_inputs(event: "ReadEvent") -> list[dict[str, Any]]:
    """A cross-silo query's inputs as :func:`read_input` data: from their own events, else from its record."""
    if event.inputs:
        return [read_input(e) for e in event.inputs]
    assert event.record is not None
    return [{"record": i.record.to_dict(), "schema": None, "columns": None} for i in event.record.inputs]


def query_output(record: Any) -> dict[str, Any] | None:
    """The dataset a query result was named as (``output=``), or None."""
    output = (record.query.request or {}).get("output")
    return output_dataset(output) if output is not None else None


def column_lineage_facet(lineage: dict[str, Any]) -> dict[str, Any]:
    return facet("columnLineage", fields=lineage["fields"], dataset=lineage.get("dataset") or [])


def query_events(job: dict[str, Any]) -> list[dict[str, Any]]:
    """START and COMPLETE/FAIL of a cross-silo query: one run, every input, the named output with its
    ``columnLineage`` facet."""
    record = job["record"]
    job_facets = {"jobType": _job_type("QUERY"),
                  "sql": facet("sql", query=record["query"]["text"], dialect=record["engine"]["name"])}
    inputs = [d for d in (input_dataset(r) for r in job["inputs"]) if d is not None]
    outputs = []
    if job.get("output") is not None:
        facets: dict[str, Any] = {"columnLineage": column_lineage_facet(record["column_lineage"])}
        if job.get("schema") is not None:
            facets["schema"] = facet("schema", fields=job["schema"])
        outputs.append({**job["output"], "facets": facets})
    common = dict(run_id=job["run_id"], job_namespace=job["namespace"],
                  job_name=f"unistore.sql.{record['source']['name']}", job_facets=job_facets)
    state = end_state(job["error"], record)
    run_facets = {"errorMessage": _error_facet(job["error"])} if state == "FAIL" else {}
    return [run_event("START", event_time=record["read_at"], **common),
            run_event(state, event_time=job["time"], inputs=inputs, outputs=outputs, run_facets=run_facets,
                      **common)]


def end_state(error: str | None, record: dict[str, Any] | None) -> str:
    """FAIL on an error, ABORT for a read that ended incomplete (stream closed early), else COMPLETE."""
    if error is not None:
        return "FAIL"
    if record is not None and not record["result"].get("complete", True):
        return "ABORT"
    return "COMPLETE"


def read_events(job: dict[str, Any]) -> list[dict[str, Any]]:
    """START and COMPLETE/ABORT/FAIL for one read that is not part of a run, from its :func:`read_job`."""
    record = job["record"]
    started = record["read_at"] if record is not None else job["time"]
    target = record["source"]["name"] if record is not None else job["source_uri"]
    job_facets: dict[str, Any] = {"jobType": _job_type("QUERY")}
    if record is not None and record["query"]["language"] == "sql":
        job_facets["sql"] = facet("sql", query=record["query"]["text"], dialect=record["source"]["system"])
    inputs = [d for d in [input_dataset(job)] if d is not None]
    common = dict(run_id=job["run_id"], job_namespace=job["namespace"], job_name=f"unistore.read.{target}",
                  job_facets=job_facets)
    start = run_event("START", event_time=started, **common)
    state = end_state(job["error"], record)
    run_facets = {"errorMessage": _error_facet(job["error"])} if state == "FAIL" else {}
    return [start, run_event(state, event_time=job["time"], inputs=inputs, run_facets=run_facets, **common)]


def run_start_job(run: Any, job_namespace: str) -> dict[str, Any]:
    return {"kind": "run_start", "namespace": job_namespace, "run_id": run.run_id, "name": run.name,
            "time": run.started_at, "outputs": [output_dataset(o) for o in run.outputs]}


def run_end_job(run: Any, reads: list["ReadEvent"], error: BaseException | None,
                job_namespace: str) -> dict[str, Any]:
    """The run's end; a cross-silo query in it counts with its inputs, and its column lineage goes on the
    run's outputs (the last query's, when there are several)."""
    inputs: list[dict[str, Any]] = []
    outputs = [output_dataset(o) for o in run.outputs]
    for r in reads:
        if r.record is None:
            continue
        if r.record.kind != "query":
            inputs.append(read_input(r))
            continue
        inputs += query_inputs(r)
        if r.record.column_lineage is not None:
            outputs = [{**o, "facets": {"columnLineage": column_lineage_facet(r.record.column_lineage)}}
                       for o in outputs]
    return {"kind": "run_end", "namespace": job_namespace, "run_id": run.run_id, "name": run.name,
            "time": run.ended_at, "outputs": outputs,
            "error": _error_text(error) if error is not None else None, "inputs": inputs}


def build_events(job: dict[str, Any]) -> list[dict[str, Any]]:
    """The OpenLineage events of a journalled job (the spool's sender thread, or a later process)."""
    kind = job["kind"]
    if kind == "read":
        return read_events(job)
    if kind == "query":
        return query_events(job)
    common = dict(run_id=job["run_id"], job_namespace=job["namespace"], job_name=job["name"],
                  event_time=job["time"], outputs=job["outputs"], job_facets={"jobType": _job_type("JOB")})
    if kind == "run_start":
        return [run_event("START", **common)]
    if kind == "run_end":
        inputs = [d for d in (input_dataset(r) for r in job["inputs"]) if d is not None]
        error = job["error"]
        return [run_event("FAIL" if error is not None else "COMPLETE", inputs=inputs,
                          run_facets={"errorMessage": _error_facet(error)} if error is not None else {}, **common)]
    raise ValueError(f"unknown lineage job kind {kind!r}")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


# -- delivery through openlineage-python ----------------------------------------

def make_client(client: Any = None) -> Any:
    """The client to deliver with: the one passed, or one built from the user's OpenLineage configuration."""
    if client is not None:
        return client
    try:
        from openlineage.client import OpenLineageClient
    except ImportError:
        raise MissingExtraError("OpenLineage reporting", "openlineage", "openlineage-python") from None
    return OpenLineageClient()


def to_client_event(event: dict[str, Any]) -> Any:
    """The openlineage-python ``RunEvent`` for an event dict (facets stay plain dicts)."""
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState

    return RunEvent(
        eventType=RunState(event["eventType"]),
        eventTime=event["eventTime"],
        run=Run(runId=event["run"]["runId"], facets=event["run"].get("facets") or {}),
        job=Job(namespace=event["job"]["namespace"], name=event["job"]["name"],
                facets=event["job"].get("facets") or {}),
        producer=event["producer"],
        inputs=[InputDataset(namespace=d["namespace"], name=d["name"], facets=d.get("facets") or {},
                             inputFacets=d.get("inputFacets") or {}) for d in event.get("inputs", [])],
        outputs=[OutputDataset(namespace=d["namespace"], name=d["name"], facets=d.get("facets") or {})
                 for d in event.get("outputs", [])],
    )


def make_spool(directory: Any, client: Any, **options: Any) -> "Spool":
    """A write-ahead :class:`~.spool.Spool` delivering this module's jobs through ``client``."""
    from .olfile import file_lines

    deliver = file_lines(client, to_client_event) or (lambda event: client.emit(to_client_event(event)))
    return Spool(directory, deliver, event_id, build=build_events, **options)


class OpenLineageSink:
    """Turns finished reads and runs into OpenLineage jobs, journalled by a :class:`~.spool.Spool`.

    The reading thread only serialises a compact job and appends it to the
    journal (so it survives ``kill -9`` once the read returned); the spool's
    sender thread builds the events and delivers them.
    """

    wants_column_stats = True

    def __init__(self, spool: "Spool", *, namespace: str = "unistore"):
        self.spool = spool
        self.namespace = namespace

    def emit(self, event: "ReadEvent") -> None:
        if event.run is not None:  # part of a run: reported in the run's COMPLETE/FAIL event
            return
        self.spool.submit(read_job(event, self.namespace))

    def run_started(self, run: Any) -> None:
        self.spool.submit(run_start_job(run, self.namespace))

    def run_finished(self, run: Any, reads: list["ReadEvent"], error: BaseException | None) -> None:
        self.spool.submit(run_end_job(run, reads, error, self.namespace))

    def close(self, timeout: float = 5.0) -> bool:
        return self.spool.close(timeout)
