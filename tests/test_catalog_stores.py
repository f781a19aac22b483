"""The catalog and lock file across real stores: one dataset per store, locked, changed, checked.

PostgreSQL and MariaDB (servers), S3 with object versions (moto's server),
Delta Lake and Iceberg (table versions), SQLite (a file), VictoriaMetrics (a
time-series server). Each store's data is loaded by the conformance suite's
loaders (tests/stores/), and changed by their ``mutate`` (one amount of one row)
or, for the time series, by a late sample arriving inside the locked window.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pyarrow as pa
import pytest

import unistore
from reference import TABLE
from stores.servers_sql import MY_PORT, PG_PORT, SECRET
from stores.timeseries import vm_import
from unistore.catalogs import format_checks
from unistore.cli import main
from unistore.lineage.openlineage import build_events, read_job

pytestmark = pytest.mark.server

UTC = dt.timezone.utc
T0 = dt.datetime(2024, 3, 1, tzinfo=UTC)
VERSIONED = ("s3", "delta", "iceberg")
MUTABLE = ("postgresql", "mariadb", "sqlite")


def series(sites: tuple[str, ...], first: int, count: int) -> pa.Table:
    """A small long-shape series: one sample a minute per site."""
    times = [T0 + dt.timedelta(minutes=first + i) for i in range(count)]
    return pa.table({
        "timestamp": pa.array([t for _ in sites for t in times], pa.timestamp("ms", "UTC")),
        "site": [s for s in sites for _ in times],
        "value": [float(i) for s in sites for i in range(count)],
    })


class Stores:
    """Every store loaded with a fresh copy of the data, and how to change each one."""

    def __init__(self, loaders: dict, victoria_metrics):
        self.cases = {name: loader.load(f"cat_{name}_{uuid.uuid4().hex[:8]}", TABLE) for name, loader in loaders.items()}
        self.vm = victoria_metrics
        self.metric = f"catalog_temp_{uuid.uuid4().hex[:8]}"
        vm_import(victoria_metrics, series(("a", "b"), 0, 120), self.metric)

    def mutate(self, name: str) -> None:
        if name == "metrics":  # a late sample inside the locked window
            vm_import(self.vm, series(("z",), 30, 5), self.metric)
        else:
            self.cases[name].mutate()

    def catalog(self) -> str:
        c = self.cases
        sources = {
            "postgresql": {"uri": f"postgresql://unistore_auth:${{UNISTORE_TEST_DB_PW}}@127.0.0.1:{PG_PORT}/test"},
            "mariadb": {"uri": f"mysql://unistore_auth:${{UNISTORE_TEST_DB_PW}}@127.0.0.1:{MY_PORT}/test"},
            "s3": {"uri": c["s3"].uri,
                   "options": {"storage_options": {"key": "unistore-test-key",
                                                   "secret": "${UNISTORE_TEST_S3_SECRET}"}}},
            "delta": {"uri": c["delta"].uri},
            "iceberg": {"uri": c["iceberg"].uri},
            "sqlite": {"uri": c["sqlite"].uri, "options": c["sqlite"].options},
            "metrics": {"uri": f"prometheus://127.0.0.1:{self.vm.port}"},
        }
        datasets = {name: {"source": name, "description": f"the reference table in {name}",
                           "owner": "team:data", "tags": ["test", name]} for name in c}
        for name in ("postgresql", "mariadb", "iceberg", "sqlite"):
            datasets[name]["table"] = c[name].table
        datasets["metrics"] = {"source": "metrics", "table": self.metric, "description": "temperatures",
                               "time": {"start": (T0 + dt.timedelta(minutes=10)).isoformat(),
                                        "end": (T0 + dt.timedelta(minutes=70)).isoformat(), "step": "1m"}}
        return json.dumps({"version": 1, "lock": "strict", "sources": sources, "datasets": datasets}, indent=2)


@pytest.fixture
def stores(loader_postgresql, loader_mariadb, loader_s3_parquet, loader_delta, loader_iceberg, loader_sqlite,
           victoria_metrics, tmp_path, monkeypatch):
    monkeypatch.setenv("UNISTORE_TEST_DB_PW", SECRET)
    monkeypatch.setenv("UNISTORE_TEST_S3_SECRET", "unistore-S3-secret-value")
    loaders = {"postgresql": loader_postgresql, "mariadb": loader_mariadb, "s3": loader_s3_parquet,
               "delta": loader_delta, "iceberg": loader_iceberg, "sqlite": loader_sqlite}
    stores = Stores(loaders, victoria_metrics)
    (tmp_path / "unistore.yaml").write_text(stores.catalog())  # JSON is YAML
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UNISTORE_CATALOG", raising=False)
    return stores


def statuses(cat) -> dict[str, str]:
    return {c.dataset: c.status for c in cat.check()}


def test_lock_change_check_reports_exactly_the_changed_stores(stores, tmp_path, capsys):
    cat = unistore.catalog()
    names = cat.datasets()
    assert main(["lock"]) == 0
    lock = json.loads((tmp_path / "unistore.lock").read_text())["datasets"]
    assert sorted(lock) == sorted(names)
    assert lock["postgresql"]["rows"] == TABLE.num_rows and lock["metrics"]["rows"] == 2 * 60
    # the stores that keep versions are pinned to one
    assert lock["delta"]["version"].startswith("delta.version:")
    assert lock["iceberg"]["version"].startswith("iceberg.snapshot_id:")
    assert lock["s3"]["version"].startswith("files.objects:")
    assert all("version_id" in o for o in lock["s3"]["snapshot"]["objects"])
    assert all(lock[n]["version"] is None for n in (*MUTABLE, "metrics"))
    assert main(["lock", "--check"]) == 0
    capsys.readouterr()

    first = ("postgresql", "s3", "iceberg", "metrics")
    for name in first:
        stores.mutate(name)
    assert main(["lock", "--check"]) == 1
    report = capsys.readouterr().out
    print(report)
    rows = {line.split()[0]: line for line in report.splitlines()[1:] if line.strip() and "match" not in line}
    assert {n: rows[n].split()[1] for n in names} == {n: "drifted" if n in first else "ok" for n in names}
    for name in ("postgresql", "s3", "iceberg"):
        assert rows[name].split()[2:4] == [str(TABLE.num_rows), "amount"], rows[name]
    locked, arrow, now = rows["metrics"].split()[2:5]  # the late series adds rows to the locked window
    assert (locked, arrow) == ("120", "->") and int(now) > 120

    for name in set(names) - set(first):
        stores.mutate(name)
    assert statuses(cat) == {n: "drifted" for n in names}


def test_strict_reads_return_the_locked_data_where_stores_keep_versions(stores):
    cat = unistore.catalog()
    cat.lock()
    for name in cat.datasets():
        stores.mutate(name)
    for name in VERSIONED:
        table = cat.read(name)
        assert table.sort_by("id").equals(TABLE.sort_by("id")), name  # the locked data, not the changed
        part = unistore.provenance_of(table).catalog
        assert part["lock"]["status"] == "verified" and part["lock"]["version"] == cat.describe(name)["lock"]["version"]
        fresh = cat.read(name, lock="off")
        assert not fresh.sort_by("id").equals(TABLE.sort_by("id")), name  # the store did change
    for name in (*MUTABLE, "metrics"):
        with pytest.raises(unistore.DriftError, match=f"catalog:{name} .* differs from its entry") as info:
            cat.read(name)
        assert ("columns" in info.value.differences) if name != "metrics" else ("rows" in info.value.differences)
    # re-pinning one dataset makes it readable again, the others stay as they were
    assert cat.lock(["postgresql"]) == {"postgresql": "updated"}
    assert unistore.provenance_of(cat.read("postgresql")).catalog["lock"]["status"] == "verified"
    assert statuses(cat)["postgresql"] == "ok"


def test_secrets_from_variables_never_reach_lock_records_events_or_errors(stores, tmp_path, lineage_events,
                                                                          monkeypatch):
    secrets = (SECRET, "unistore-S3-secret-value")
    cat = unistore.catalog()
    cat.lock()
    tables = [cat.read(name) for name in ("postgresql", "mariadb", "s3")]
    stores.mutate("postgresql")
    with pytest.raises(unistore.DriftError) as drift:
        cat.read("postgresql")
    monkeypatch.setenv("UNISTORE_TEST_DB_PW", "wrong-" + SECRET)
    failures = []
    for name in ("postgresql", "mariadb"):
        with pytest.raises(unistore.UnistoreError) as info:
            cat.read(name)
        failures.append(info.value)
    checks = cat.check(["postgresql", "mariadb"])
    assert [c.status for c in checks] == ["error", "error"]

    seen = [(tmp_path / "unistore.lock").read_text(), (tmp_path / "unistore.yaml").read_text(), str(drift.value),
            format_checks(checks), json.dumps([c.to_dict() for c in checks])]
    seen += [unistore.provenance_of(t).to_json() for t in tables]
    seen += [f"{type(e).__name__}: {e} {e.fields()!r} {e.__cause__!r} {e.__context__!r}" for e in failures]
    assert lineage_events
    for event in lineage_events:
        seen.append(json.dumps(build_events(read_job(event, "tests")), default=str))
        seen.append(f"{event.source_uri} {event.error}")
    for text in seen:
        for secret in secrets + ("wrong-" + SECRET,):
            assert secret not in text
    assert "${UNISTORE_TEST_DB_PW}" in seen[1] and "UNISTORE_TEST_DB_PW" not in seen[0]
    assert any(isinstance(e, unistore.AuthenticationError) for e in failures)
