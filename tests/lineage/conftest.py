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
    """The vendored OpenLineage spec: ``<repo>/../shared/spec/openlineage`` (CI) or /work/shared."""
    for candidate in (REPO.parent / "shared" / "spec" / "openlineage", pathlib.Path("/work/shared/spec/openlineage")):
        if (candidate / "OpenLineage.json").is_file():
            return candidate
    pytest.fail("OpenLineage spec not found beside the repository (../shared/spec/openlineage)")


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
