"""A catalog read checked against its lock: every sink sees the outcome the table's record carries.

The lock check needs the complete read (rows, fingerprint, snapshot), so it runs
when the read ends, before the read is reported: the lineage log, OpenLineage
and the table's metadata all hold the same record, lock status included.
"""

from __future__ import annotations

import json
import sqlite3
import textwrap

import pytest

import unistore
from unistore import lineage
from unistore.catalogs import DriftWarning
from unistore.provenance import SCHEMA_KEY, lookup

from .conftest import file_client, make_sqlite, read_jsonl

CATALOG = textwrap.dedent("""\
    lock: strict
    sources:
      shop: {uri: "sqlite:///shop.db"}
    datasets:
      events: {source: shop, table: events}
    """)


@pytest.fixture
def shop(tmp_path, monkeypatch):
    """A locked catalog in the current directory; the lineage log and OpenLineage (to a file) configured."""
    make_sqlite(tmp_path / "shop.db", rows=20)
    (tmp_path / "unistore.yaml").write_text(CATALOG)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UNISTORE_CATALOG", raising=False)
    cat = unistore.catalog()
    cat.lock()
    unistore.configure_lineage(log=tmp_path / "lineage.jsonl", openlineage=file_client(tmp_path / "ol.jsonl"),
                               spool_dir=tmp_path / "spool")
    return tmp_path


def drift(folder) -> None:
    with sqlite3.connect(folder / "shop.db") as con:
        con.execute("UPDATE events SET amount = amount + 1 WHERE id = 7")


def last_logged(folder) -> dict:
    """The last line of the lineage log, and the OpenLineage COMPLETE event of the same read."""
    row = read_jsonl(folder / "lineage.jsonl")[-1]
    assert lineage.flush(30)
    complete = [e for e in read_jsonl(folder / "ol.jsonl") if e["eventType"] == "COMPLETE"]
    facet = complete[-1]["inputs"][0]["inputFacets"]["unistore_provenance"]["record"]
    assert facet["read_id"] == row["read_id"]
    return {"row": row, "record": json.loads(row["record"]), "openlineage": facet}


def read(how: str, lock: str | None = None):
    """A read (the table) or a scan read to its end (the reader) of dataset ``events``."""
    cat = unistore.catalog()
    if how == "read":
        return cat.read("events", lock=lock)
    reader = cat.scan("events", lock=lock)
    reader.read_all()
    return reader


@pytest.mark.parametrize("how", ["read", "scan"])
def test_a_verified_read_is_logged_as_verified(shop, how):
    result = read(how)
    record = unistore.provenance_of(result)
    assert record.catalog["lock"]["status"] == "verified"
    logged = last_logged(shop)
    assert logged["row"]["status"] == "ok" and logged["row"]["read_id"] == record.read_id
    assert logged["record"]["catalog"]["lock"]["status"] == "verified"
    assert logged["openlineage"]["catalog"]["lock"]["status"] == "verified"
    assert logged["row"]["record"] == record.to_json()
    if how == "read":  # the table carries the very text the sinks got
        assert logged["row"]["record"].encode() == result.schema.metadata[SCHEMA_KEY]


@pytest.mark.parametrize("how", ["read", "scan"])
def test_a_drifted_read_in_warn_mode_is_logged_as_drifted(shop, how):
    drift(shop)
    with pytest.warns(DriftWarning, match="differs from its entry"):
        result = read(how, lock="warn")
    record = unistore.provenance_of(result)
    assert record.catalog["lock"]["status"] == "drifted" and record.catalog["lock"]["changed"] == ["columns",
                                                                                                   "fingerprint"]
    logged = last_logged(shop)
    assert logged["record"]["catalog"]["lock"] == record.catalog["lock"]
    lock = logged["openlineage"]["catalog"]["lock"]  # the facet leaves out null values
    assert (lock["status"], lock["changed"]) == ("drifted", ["columns", "fingerprint"])
    assert logged["row"]["record"] == record.to_json()
    if how == "read":
        assert logged["row"]["record"].encode() == result.schema.metadata[SCHEMA_KEY]


@pytest.mark.parametrize("how", ["read", "scan"])
def test_a_drifted_read_in_strict_mode_raises_and_is_logged_as_read_and_drifted(shop, how):
    drift(shop)
    with pytest.raises(unistore.DriftError, match="columns changed: amount"):
        read(how)
    logged = last_logged(shop)
    # the data was read (the read is ok and complete); what it read differs from the lock
    assert logged["row"]["status"] == "ok" and logged["record"]["result"]["complete"]
    assert logged["record"]["catalog"]["lock"]["status"] == "drifted"
    assert logged["openlineage"]["catalog"]["lock"]["status"] == "drifted"
    assert lookup(logged["row"]["read_id"]).catalog["lock"]["status"] == "drifted"  # what replay finds


def test_a_narrowed_read_is_logged_as_unchecked(shop):
    table = unistore.catalog().read("events", columns=["id"])
    assert unistore.provenance_of(table).catalog["lock"]["status"] == "unchecked"
    logged = last_logged(shop)
    assert logged["record"]["catalog"]["lock"]["status"] == "unchecked"
    assert logged["row"]["record"].encode() == table.schema.metadata[SCHEMA_KEY]



def test_a_query_input_is_logged_as_the_query_records_it(shop):
    table = unistore.sql("SELECT count(*) AS n FROM events", {"events": "catalog:events"})
    (given,) = unistore.provenance_of(table).inputs
    assert given.record.catalog["lock"]["status"] == "verified"
    rows = {r["read_id"]: r for r in read_jsonl(shop / "lineage.jsonl")}
    assert rows[given.record.read_id]["record"] == given.record.to_json()


def test_the_drift_warning_points_at_the_callers_line(shop):
    drift(shop)
    for how in ("read", "scan"):
        with pytest.warns(DriftWarning) as caught:
            read(how, lock="warn")
        assert caught[0].filename == __file__, how
