"""A catalog dataset's description, owners and tags reach OpenLineage as standard dataset facets."""

from __future__ import annotations

import textwrap

import unistore
from unistore import lineage

from .conftest import file_client, make_sqlite, read_jsonl


def test_catalog_documentation_ownership_and_tags_facets_validate(tmp_path, monkeypatch, ol_spec):
    make_sqlite(tmp_path / "shop.db")
    (tmp_path / "unistore.yaml").write_text(textwrap.dedent("""\
        sources:
          shop: {uri: "sqlite:///shop.db"}
        datasets:
          events:
            source: shop
            table: events
            description: "Click events, **one row per click**"
            owner: [{name: "team:growth", type: MAINTAINER}, "user:jdoe"]
            tags: {pii: false, domain: marketing}
          bare: {source: shop, table: events}
        """))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UNISTORE_CATALOG", raising=False)
    path = tmp_path / "ol.jsonl"
    unistore.configure_lineage(openlineage=file_client(path), spool_dir=tmp_path / "spool")
    unistore.read("catalog:events")
    unistore.read("catalog:bare")
    assert lineage.flush(30)
    events = [e for e in read_jsonl(path) if e["eventType"] == "COMPLETE"]
    assert len(events) == 2
    for event in events:
        assert ol_spec.validate(event) >= 6
    facets = events[0]["inputs"][0]["facets"]
    assert facets["documentation"]["description"] == "Click events, **one row per click**"
    assert facets["ownership"]["owners"] == [{"name": "team:growth", "type": "MAINTAINER"}, {"name": "user:jdoe"}]
    assert facets["tags"]["tags"] == [{"key": "domain", "value": "marketing", "source": "UNISTORE_CATALOG"},
                                      {"key": "pii", "value": "false", "source": "UNISTORE_CATALOG"}]
    record = events[0]["inputs"][0]["inputFacets"]["unistore_provenance"]["record"]
    assert record["catalog"]["dataset"] == "events"
    assert not {"documentation", "ownership", "tags"} & set(events[1]["inputs"][0]["facets"])
