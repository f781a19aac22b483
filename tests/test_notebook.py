"""Where notebook users look: a record's text and HTML renderings, and pandas / polars frames that keep it.

The renderings are checked field by field and for secrets (a password in the
location, in the query text, a secret-named parameter) on a real PostgreSQL read.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import unistore
from stores import missing_store
from stores.servers_sql import PG_PORT, SECRET, pg_available

LABELS = ["source", "dataset", "snapshot", "query", "rows", "fingerprint", "read"]


class _Cells(HTMLParser):
    """The (th, td) text pairs of an HTML table, and whether every tag closed."""

    def __init__(self):
        super().__init__()
        self.pairs, self._tag, self._row, self.open = [], None, [], []

    def handle_starttag(self, tag, attrs):
        self.open.append(tag)
        self._tag = tag if tag in ("th", "td") else self._tag

    def handle_endtag(self, tag):
        assert self.open.pop() == tag
        if tag == "tr":
            self.pairs.append(tuple(self._row))
            self._row = []

    def handle_data(self, data):
        if self._tag in ("th", "td") and self.open and self.open[-1] in ("th", "td", "code"):
            self._row.append(data)


@pytest.fixture
def parquet_table(tmp_path):
    pq.write_table(pa.table({"id": [1, 2, 3, 4], "kind": ["a", "b", "a", "c"], "amount": [1.5, 2.5, None, 4.0]}),
                   tmp_path / "t.parquet")
    return unistore.read(tmp_path / "t.parquet")


def test_the_text_repr_is_a_readable_block(parquet_table):
    record = unistore.provenance_of(parquet_table)
    text = repr(record)
    lines = text.splitlines()
    assert lines[0].startswith("<Provenance of ") and len(lines) < 15
    assert [line.split()[0] for line in lines[1:]] == LABELS
    assert "4 (" in text and record.result.fingerprint in text and "files.objects" in text
    assert str(record) == text


def test_the_html_repr_is_a_table_of_the_same_fields(parquet_table):
    record = unistore.provenance_of(parquet_table)
    cells = _Cells()
    cells.feed(record._repr_html_())
    assert not cells.open, "every tag is closed"
    assert [k for k, *_ in cells.pairs] == LABELS
    assert dict((k, v) for k, v, *_ in cells.pairs)["fingerprint"] == record.result.fingerprint


def test_a_derived_record_shows_its_parent(parquet_table):
    parent = unistore.provenance_of(parquet_table)
    derived = unistore.provenance_of(parquet_table.slice(1, 2))
    assert f"parents      {parent.read_id}" in repr(derived) and "derived" in repr(derived)


@pytest.mark.server
def test_no_rendering_can_show_a_secret():
    if not pg_available():
        missing_store(f"PostgreSQL on 127.0.0.1:{PG_PORT}")  # a failure in CI, a skip on a developer's machine
    uri = f"postgresql://unistore_auth:{SECRET}@127.0.0.1:{PG_PORT}/test"
    table = unistore.read(uri, query=f"SELECT '{SECRET}' AS echoed, :token AS t, :day AS d",
                          params={"token": "tok-Secret-123456", "day": "2026-01-01"})
    record = unistore.provenance_of(table)
    for shown in (repr(record), record._repr_html_(), str(record)):
        assert SECRET not in shown and "tok-Secret-123456" not in shown
        assert "params" in shown  # positional values (as this driver records them) are counted, not shown
    frame = unistore.to_pandas(table)
    assert SECRET not in repr(unistore.provenance_of(frame))


def test_named_parameters_with_secret_names_are_masked(parquet_table):
    data = unistore.provenance_of(parquet_table).to_dict()
    data["query"]["params"] = {"api_token": "tok-Secret-98765", "day": "2026-01-01"}
    record = unistore.Provenance.from_dict(data)
    for shown in (repr(record), record._repr_html_()):
        assert "tok-Secret-98765" not in shown and "***" in shown and "2026-01-01" in shown


def test_html_escapes_what_it_shows(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"x": [1]}), path)
    table = unistore.read(path, filter=[("x", "=", 1)])
    record = unistore.provenance_of(table)
    assert "<script" not in record._repr_html_()


# -- pandas ---------------------------------------------------------------------------------------

def test_pandas_keeps_the_record_in_attrs(parquet_table):
    record = unistore.provenance_of(parquet_table)
    df = unistore.to_pandas(parquet_table)
    assert isinstance(df, pd.DataFrame) and "unistore.provenance" in df.attrs
    same = unistore.provenance_of(df)
    assert same.read_id == record.read_id and not same.derived
    assert unistore.provenance_of(df.sort_values("id", ascending=False)).read_id == record.read_id  # same rows


def test_a_changed_pandas_frame_gets_a_derived_record(parquet_table):
    record = unistore.provenance_of(parquet_table)
    df = unistore.to_pandas(parquet_table)
    filtered = df[df["kind"] == "a"]
    derived = unistore.provenance_of(filtered)
    assert derived.derived and derived.parents == [record.read_id] and derived.result.rows == 2
    assert derived.snapshot == record.snapshot and derived.source == record.source
    assert unistore.provenance_of(filtered).read_id == derived.read_id  # same content, same id
    df.loc[0, "amount"] = 99.0  # edited in place
    edited = unistore.provenance_of(df)
    assert edited.derived and edited.result.rows == 4 and edited.result.fingerprint != record.result.fingerprint
    with_column = unistore.provenance_of(unistore.to_pandas(parquet_table).assign(double=lambda d: d.id * 2))
    assert with_column.derived and with_column.parents == [record.read_id]


def test_a_frame_of_a_derived_table_names_the_read_as_parent(parquet_table):
    record = unistore.provenance_of(parquet_table)
    df = unistore.to_pandas(parquet_table.filter(pa.compute.field("id") > 2))
    derived = unistore.provenance_of(df)
    assert derived.derived and derived.result.rows == 2 and derived.parents == [record.read_id]


def test_a_plain_frame_has_no_record():
    with pytest.raises(TypeError, match="to_pandas"):
        unistore.provenance_of(pd.DataFrame({"a": [1]}))


# -- polars ---------------------------------------------------------------------------------------

def test_polars_round_trip(parquet_table):
    record = unistore.provenance_of(parquet_table)
    df = unistore.to_polars(parquet_table)
    assert isinstance(df, pl.DataFrame) and df.height == 4
    assert unistore.provenance_of(df).read_id == record.read_id
    df[0, "amount"] = 42.0  # polars' one in-place edit
    edited = unistore.provenance_of(df)
    assert edited.derived and edited.parents == [record.read_id] and edited.result.rows == 4


def test_a_new_polars_frame_says_polars_keeps_no_metadata(parquet_table):
    df = unistore.to_polars(parquet_table)
    with pytest.raises(LookupError, match="polars keeps no metadata"):
        unistore.provenance_of(df.filter(pl.col("id") > 2))
