"""Delivering OpenLineage events to a client's append-mode file transport without building client objects.

openlineage-python turns each event into attrs objects, serialises them
(``attr.asdict`` over the whole provenance facet) and reopens the file for
every event: about a millisecond of interpreter time per read on the sender
thread, which the reading thread then waits for (the interpreter lock). For
the one transport where the result is a line in a local file, the same line
can be written from the event dict: nulls and enums removed by the client's
own :class:`~openlineage.client.serde.Serde`, keys sorted as it sorts them,
on a file kept open (reopened when the path names another file).

It is only used when it writes what the client would: a plain
``OpenLineageClient`` whose transport is a local ``FileTransport`` in append
mode, without event filters or dataset reduction, and whose own pipeline
(environment facets, tags, source code location, schema URL) turns a sample
event into exactly the line this path writes. Anything else goes through
``client.emit``.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("unistore.lineage")

#: a sample with what the real events hold: nested facets, nulls in dicts and lists, empty dicts in lists
_SAMPLE: dict[str, Any] = {
    "eventType": "COMPLETE",
    "eventTime": "2026-01-01T00:00:00.000000Z",
    "producer": "https://pypi.org/project/unistore/0/",
    "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
    "run": {"runId": "01890000-0000-7000-8000-000000000000", "facets": {}},
    "job": {
        "namespace": "unistore",
        "name": "unistore.read.sample",
        "facets": {"sql": {"_producer": "p", "_schemaURL": "s", "query": "SELECT 1", "dialect": "sqlite"}},
    },
    "inputs": [
        {
            "namespace": "file",
            "name": "/sample.db/t",
            "facets": {"version": {"_producer": "p", "_schemaURL": "s", "datasetVersion": "v"}},
            "inputFacets": {
                "unistore_provenance": {
                    "_producer": "p",
                    "_schemaURL": "s",
                    "record": {
                        "params": None,
                        "values": [1, None, {}, {"a": None, "b": [None]}],
                        "text": 'é\n"',
                        "n": 1.5,
                        "flag": False,
                    },
                }
            },
        }
    ],
    "outputs": [],
}


def _without_nulls(value: Any, general: Callable[[Any], Any]) -> Any:
    """``Serde.remove_nulls_and_enums`` for JSON values (what events are built of), without its per-item
    lambdas; any other value goes to ``general`` (the client's own)."""
    kind = type(value)
    if kind is dict:
        out = {}
        for k, v in value.items():
            if v is not None:
                v = _without_nulls(v, general)
                if v is not None:
                    out[k] = v
        return out
    if kind is list:
        items = []
        for v in value:
            if v is not None:
                v = _without_nulls(v, general)
                if v is not None and not (type(v) is dict and not v):
                    items.append(v)
        return items
    if kind is str or kind is int or kind is float or kind is bool:
        return value
    return general(value)


def _samples() -> list[dict[str, Any]]:
    """Two samples that differ where events differ (type, names, run facets): the client's additions must
    be the same for both."""
    start = {
        **_SAMPLE,
        "eventType": "START",
        "inputs": [],
        "run": {
            "runId": "01890000-0000-7000-8000-000000000001",
            "facets": {"errorMessage": {"_producer": "p", "_schemaURL": "s", "message": "x"}},
        },
        "job": {"namespace": "other", "name": "unistore.read.other", "facets": {}},
    }
    return [_SAMPLE, start]


def _added(found: dict[str, Any] | None, given: dict[str, Any]) -> dict[str, Any]:
    """The facets the client's pipeline added to those an event had."""
    return {k: v for k, v in (found or {}).items() if k not in given}


class _Capture:
    """A transport that keeps what the client hands it (for the self-check)."""

    kind = "unistore-capture"

    def __init__(self) -> None:
        self.events: list[Any] = []

    def emit(self, event: Any) -> None:
        self.events.append(event)


class FileLines:
    """Appends events as the client's file transport would, one line each, on a file kept open.

    ``run_facets`` and ``job_facets`` are what the client's pipeline adds to every
    event (its version tag, configured tags or environment variables, source
    code location), as serialised; an event that already has one of those
    facets goes through ``fallback`` (the client merges them its own way).
    """

    def __init__(
        self,
        path: str,
        schema_url: str,
        serde: Any,
        run_facets: dict[str, Any],
        job_facets: dict[str, Any],
        fallback: Callable[[dict[str, Any]], None],
    ):
        self.path = path
        self.schema_url = schema_url
        self.run_facets, self.job_facets = run_facets, job_facets
        self.fallback = fallback
        self._serde = serde
        self._file: Any = None
        self._identity: tuple[int, int] | None = None
        self._lock = threading.Lock()

    def line(self, event: dict[str, Any]) -> str | None:
        """The line the client would write for ``event``; None when only the client can say."""
        run, job = event["run"], event["job"]
        if (
            self.run_facets.keys() & (run.get("facets") or {}).keys()
            or self.job_facets.keys() & (job.get("facets") or {}).keys()
        ):
            return None
        event = {
            **event,
            "schemaURL": self.schema_url,
            "run": {**run, "facets": {**(run.get("facets") or {}), **self.run_facets}},
            "job": {**job, "facets": {**(job.get("facets") or {}), **self.job_facets}},
        }
        data = _without_nulls(event, self._serde.remove_nulls_and_enums)
        return json.dumps(data, sort_keys=True, default=lambda o: f"<<non-serializable: {type(o).__qualname__}>>")

    def __call__(self, event: dict[str, Any]) -> None:
        text = self.line(event)
        if text is None:
            self.fallback(event)
            return
        text += "\n"
        with self._lock:
            f = self._open()
            f.write(text)
            f.flush()

    def _open(self) -> Any:
        """The open file, reopened when the path was moved or removed (log rotation) since the last event."""
        try:
            st = os.stat(self.path)
            current: tuple[int, int] | None = (st.st_dev, st.st_ino)
        except FileNotFoundError:
            current = None
        if self._file is None or current != self._identity:
            self.close()
            self._file = open(self.path, "a")  # as the transport opens it
            st = os.fstat(self._file.fileno())
            self._identity = (st.st_dev, st.st_ino)
        return self._file

    def close(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            finally:
                self._file = None


def file_lines(client: Any, to_client_event: Callable[[dict[str, Any]], Any]) -> FileLines | None:
    """The direct writer for ``client``, or None when only ``client.emit`` is sure to do what it would."""
    try:
        from openlineage.client import OpenLineageClient
        from openlineage.client.serde import Serde
        from openlineage.client.transport.file import FileTransport, LocalFileHandler
    except ImportError:  # pragma: no cover - another client layout
        return None
    try:
        transport = client.transport
        config = transport.config
        if (
            type(client) is not OpenLineageClient
            or type(transport) is not FileTransport
            or not config.append
            or config.debug_mode
            or not isinstance(transport._file_handler, LocalFileHandler)
            or getattr(client, "_filters", None) != []
            or client.config.dataset.reducing_enabled
        ):
            return None
        path = LocalFileHandler._to_local_path(config.log_file_path)
        writer: FileLines | None = None
        for sample in _samples():
            # the client's own pipeline on a sample, stopped at the transport
            capture = _Capture()
            client.transport = capture
            try:
                client.emit(to_client_event(copy.deepcopy(sample)))  # the client adds to the dicts it is given
            finally:
                client.transport = transport
            if len(capture.events) != 1:
                return None
            expected = Serde.to_json(capture.events[0])
            if writer is None:
                data = json.loads(expected)
                writer = FileLines(
                    path,
                    data.get("schemaURL"),
                    Serde,
                    _added(data["run"].get("facets"), sample["run"]["facets"]),
                    _added(data["job"].get("facets"), sample["job"]["facets"]),
                    lambda event: client.emit(to_client_event(event)),
                )
            if writer.line(sample) != expected:
                log.debug("OpenLineage events go through client.emit: the client changes them")
                return None
        return writer
    except Exception:  # any surprise in the client's internals: the ordinary path
        log.debug("OpenLineage events go through client.emit", exc_info=True)
        return None
