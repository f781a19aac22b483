"""Fixtures for the lineage tests: a SQLite store, in-memory OpenTelemetry, the OpenLineage spec."""

from __future__ import annotations

import json
import pathlib
import sqlite3

import pytest

import unistore
from unistore import lineage
from unistore.lineage import otel

REPO = pathlib.Path(__file__).resolve().parents[2]


def spec_dir() -> pathlib.Path:
    """The OpenLineage spec vendored in the repository (tests read nothing outside a clone)."""
    return REPO / "tests" / "data" / "openlineage"


def make_sqlite(path: pathlib.Path, rows: int = 3) -> str:
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE events (id INTEGER NOT NULL, kind TEXT, amount REAL)")
        con.executemany("INSERT INTO events VALUES (?, ?, ?)",
                        [(i, None if i % 3 == 2 else f"k{i}", float(i) * 1.5) for i in range(1, rows + 1)])
    return f"sqlite:///{path}"


@pytest.fixture
def sqlite_uri(tmp_path):
    return make_sqlite(tmp_path / "shop.db")


@pytest.fixture(autouse=True)
def _no_lineage_left_behind():
    """Every test starts and ends with no configured sinks."""
    unistore.configure_lineage()
    yield
    unistore.configure_lineage()
    for sink in lineage.sinks():
        lineage.remove_sink(sink)
        if hasattr(sink, "close"):
            sink.close(1.0)


def add_openlineage_sink(client, spool_dir, **spool_options):
    """An OpenLineage sink with a private spool (fast retries for the tests), added to the sinks."""
    from unistore.lineage.openlineage import OpenLineageSink, make_spool

    options = {"retry_initial": 0.02, "retry_max": 0.2, **spool_options}
    spool = make_spool(spool_dir, client, **options)
    return lineage.add_sink(OpenLineageSink(spool))


@pytest.fixture
def telemetry():
    """Injected SDK providers with in-memory exporters (the set-once global is never touched)."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    otel.use_providers(tracer_provider, meter_provider)

    class Telemetry:
        def spans(self):
            return exporter.get_finished_spans()

        def histogram(self, name):
            data = reader.get_metrics_data()
            points = []
            for rm in data.resource_metrics if data else []:
                for sm in rm.scope_metrics:
                    for metric in sm.metrics:
                        if metric.name == name:
                            points.extend(metric.data.data_points)
            return points

    yield Telemetry()
    otel.use_providers(None, None)
    tracer_provider.shutdown()
    meter_provider.shutdown()


class OpenLineageSpec:
    """Validates events against the official core schema, each facet's own schema, and unistore's facet."""

    def __init__(self) -> None:
        from referencing import Registry, Resource

        resources = []
        self.by_id: dict[str, dict] = {}
        files = [spec_dir() / "OpenLineage.json", *sorted((spec_dir() / "facets").glob("*.json")),
                 REPO / "src" / "unistore" / "schemas" / "unistore_provenance.json"]
        for path in files:
            schema = json.loads(path.read_text())
            self.by_id[schema["$id"]] = schema
            resources.append((schema["$id"], Resource.from_contents(schema)))
        self.registry = Registry().with_resources(resources)
        self.core_id = json.loads((spec_dir() / "OpenLineage.json").read_text())["$id"]

    def validator(self, schema_id: str):
        import jsonschema

        schema = self.by_id[schema_id]
        cls = jsonschema.validators.validator_for(schema)
        return cls(schema, registry=self.registry, format_checker=cls.FORMAT_CHECKER)

    def facets_of(self, event: dict):
        for key, facet in (event["run"].get("facets") or {}).items():
            yield key, facet
        for key, facet in (event["job"].get("facets") or {}).items():
            yield key, facet
        for ds in event.get("inputs", []) + event.get("outputs", []):
            for group in ("facets", "inputFacets", "outputFacets"):
                for key, facet in (ds.get(group) or {}).items():
                    yield key, facet

    def validate(self, event: dict) -> int:
        """Validate ``event`` completely; return how many facets were checked against their own schema."""
        self.validator(self.core_id).validate(event)
        checked = 0
        for key, facet in self.facets_of(event):
            schema_id = facet["_schemaURL"].split("#", 1)[0]
            assert schema_id in self.by_id, f"facet {key} points to a schema not in the spec: {facet['_schemaURL']}"
            self.validator(schema_id).validate({key: facet})
            # the pointer after '#' must name the facet's definition in that file
            pointer = facet["_schemaURL"].split("#", 1)[1]
            assert pointer.startswith("/$defs/") and pointer[len("/$defs/"):] in self.by_id[schema_id]["$defs"]
            checked += 1
        return checked


@pytest.fixture(scope="session")
def ol_spec():
    return OpenLineageSpec()


def read_jsonl(path: pathlib.Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def file_client(path: pathlib.Path):
    """An openlineage-python client writing events as JSON lines to ``path``."""
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport.file import FileConfig, FileTransport

    return OpenLineageClient(transport=FileTransport(FileConfig(log_file_path=str(path), append=True)))


def http_client(port: int, timeout: float = 5.0):
    """An openlineage-python client posting to a loopback collector, without its own retries."""
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport.http import HttpConfig, HttpTransport

    config = HttpConfig.from_dict({"url": f"http://127.0.0.1:{port}", "timeout": timeout,
                                   "retry": {"total": 0, "connect": 0, "read": 0, "status": 0}})
    return OpenLineageClient(transport=HttpTransport(config))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Collector:
    """A tiny OpenLineage HTTP collector on loopback that deduplicates by unistore's stable event id.

    ``hold()`` makes it accept requests but not answer until ``release()`` (a slow collector).
    """

    def __init__(self, port: int | None = None):
        import http.server
        import threading

        from unistore.lineage.openlineage import event_id

        self.port = port or free_port()
        self.received: list[dict] = []          # every delivery, duplicates included
        self.by_id: dict[str, dict] = {}        # deduplicated
        self.lock = threading.Lock()
        self.released = threading.Event()
        self.released.set()
        self.waiting = threading.Event()        # a request is being held
        collector = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if not collector.released.is_set():
                    collector.waiting.set()
                    collector.released.wait(60)
                with collector.lock:
                    collector.received.append(body)
                    collector.by_id.setdefault(event_id(body), body)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def hold(self):
        self.released.clear()

    def release(self):
        self.released.set()

    def stop(self):
        self.release()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def collector():
    c = Collector()
    yield c
    c.stop()


@pytest.fixture
def events_file(tmp_path):
    """configure_lineage with a client writing to a file; returns a function reading the delivered events."""
    path = tmp_path / "ol.jsonl"
    unistore.configure_lineage(openlineage=file_client(path), spool_dir=tmp_path / "spool")

    def delivered() -> list[dict]:
        assert lineage.flush(30), "events were not delivered"
        return read_jsonl(path)

    return delivered
