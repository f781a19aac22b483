"""Semi-join reduction: the rows of an input that no row of an input already read can join are dropped before
DuckDB, only where that is exact, and the answer and the inputs' records are those of the whole read."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import unistore
from federated import data
from unistore.federated.plan import plan
from unistore.federated.semijoin import MAX_RANGE, KeySet

#: ten times more rows than keys the lake can match, a few with a NULL key
FACTS = pa.table({"k": [i % 1000 if i % 97 else None for i in range(10_000)], "v": list(range(10_000))})
DIMS = pa.table({"k": [3, 5, 7, None, 5000], "label": ["c", "e", "g", "null", "outside"]})


@pytest.fixture(scope="module")
def slow_facts():
    """FACTS in PostgreSQL behind a view whose first row comes half a second late, so the lake is read first."""
    from stores import missing_store
    from stores.servers_sql import PG_URI, pg_available, pg_connect

    if not pg_available():
        missing_store("PostgreSQL")
    table, view = data.fresh("facts"), data.fresh("slow_facts")
    data.load_postgresql(FACTS, table)
    with pg_connect() as con:
        con.execute(f'CREATE VIEW "{view}" AS SELECT * FROM "{table}" WHERE (SELECT pg_sleep(0.5)) IS NOT NULL')
    return PG_URI, view


def test_rows_no_key_of_an_input_read_first_can_join_are_dropped(slow_facts, tmp_path, explaining):
    pg, view = slow_facts
    pq.write_table(DIMS, tmp_path / "dims.parquet")
    query = "SELECT d.label, count(*) AS n, sum(f.v) AS total FROM {f} f JOIN dims d ON f.k = d.k GROUP BY 1"
    table = unistore.sql(query.format(f=f"pg.{view}"), {"pg": pg, "dims": str(tmp_path / "dims.parquet")})
    (con,) = explaining
    assert data.rows(table) == data.reference(query.format(f="facts"), {"facts": FACTS, "dims": DIMS})
    facts = next(i for i in unistore.provenance_of(table).inputs if i.source == "pg")
    assert facts.record.result.rows == 10_000  # the record says what the store returned
    view_of = {i.source: f"unistore_input_{n}" for n, i in enumerate(unistore.provenance_of(table).inputs)}
    given = (con.given[view_of["pg"]], con.given[view_of["dims"]])
    matching = sum(1 for k in FACTS["k"].to_pylist() if k in (3, 5, 7))
    # DuckDB got only the facts that can join (the lake ended first, as it does unless the machine stalls
    # for half a second; else the dims that can join: 3, 5 and 7)
    assert given in ((matching, 5), (10_000, 3)) and matching < 40, given
    assert con.estimates() == sorted(con.given.values())


@pytest.mark.parametrize("join", ["LEFT JOIN", "RIGHT JOIN", "FULL JOIN", "ANTI JOIN"])
def test_no_reduction_where_a_row_without_a_partner_counts(slow_facts, tmp_path, explaining, join):
    pg, view = slow_facts
    pq.write_table(DIMS, tmp_path / "dims.parquet")
    query = f"SELECT count(*) AS n FROM {{f}} f {join} dims d ON f.k = d.k"
    table = unistore.sql(query.format(f=f"pg.{view}"), {"pg": pg, "dims": str(tmp_path / "dims.parquet")})
    (con,) = explaining
    assert data.rows(table) == data.reference(query.format(f="facts"), {"facts": FACTS, "dims": DIMS})
    assert sorted(con.given.values()) == [5, 10_000]


# -- which joins qualify (planning only) ---------------------------------------------------------

SCHEMAS = {"a": pa.schema([("k", pa.int64()), ("d", pa.date32()), ("f", pa.float64()), ("s", pa.string())]),
           "b": pa.schema([("k", pa.int32()), ("d", pa.date32()), ("f", pa.float64()), ("s", pa.string())])}


def links(query: str) -> set[tuple[str, str, str, str]]:
    p = plan(query, dict.fromkeys(SCHEMAS), lambda source, table: SCHEMAS[source])
    names = {i.view: i.name for i in p.inputs}
    return {(names[x.source], x.source_column, names[x.target], x.target_column) for x in p.links}


@pytest.mark.parametrize("query", [
    "SELECT * FROM a x, b y WHERE x.k = y.k AND x.f > 1",
    "SELECT count(*) FROM a x JOIN b y ON y.k = x.k",
    "SELECT x.s, sum(y.f) FROM a x INNER JOIN b y ON x.k = y.k GROUP BY 1 ORDER BY 2 DESC LIMIT 3",
])
def test_an_inner_equijoin_on_integer_keys_links_both_ways(query):
    assert links(query) == {("a", "k", "b", "k"), ("b", "k", "a", "k")}


def test_dates_link_too():
    assert links("SELECT * FROM a x JOIN b y ON x.d = y.d") == {("a", "d", "b", "d"), ("b", "d", "a", "d")}


@pytest.mark.parametrize("query", [
    "SELECT * FROM a x LEFT JOIN b y ON x.k = y.k",                      # a row of a without partner counts
    "SELECT * FROM a x FULL JOIN b y ON x.k = y.k",
    "SELECT * FROM a x SEMI JOIN b y ON x.k = y.k",
    "SELECT * FROM a x, b y WHERE x.k = y.k OR x.f > 1",                 # not a conjunct
    "SELECT * FROM a x, b y WHERE x.k + 1 = y.k",                        # not a bare column
    "SELECT * FROM a x, b y WHERE x.f = y.f",                            # floats: -0.0, NaN
    "SELECT * FROM a x, b y WHERE x.s = y.s",                            # text: no key set (yet)
    "SELECT * FROM a x, b y WHERE x.k = y.k UNION ALL SELECT * FROM a x, b y WHERE x.k = y.k",
    "SELECT * FROM a x WHERE x.k IN (SELECT y.k FROM b y)",              # a subquery
    "SELECT * FROM a x, (SELECT * FROM b) y WHERE x.k = y.k",
    "WITH t AS (SELECT * FROM b) SELECT * FROM a x, t WHERE x.k = t.k",
    "SELECT * FROM a x, b y, range(3) r WHERE x.k = y.k",                # a table that is no input
    "SELECT * FROM a x, a z, b y WHERE x.k = y.k AND z.k = y.k",         # an input named twice
    "SELECT * FROM a x, b y WHERE x.k = x.k",                            # one input
])
def test_no_link_where_the_reduction_would_not_be_exact(query):
    assert links(query) == set()


# -- key sets ---------------------------------------------------------------------------------------

def test_a_key_set_matches_exactly_its_values_and_never_null():
    keys = KeySet.of(pa.chunked_array([[5, None, -2], [7, 5]], pa.int32()))
    probe = pa.array([5, 6, -2, None, 7, -3, 8, 2**40], pa.int64())
    assert keys.mask(probe).tolist() == [True, False, True, False, True, False, False, False]


def test_a_key_set_of_dates():
    days = [dt.date(2024, 1, 1), dt.date(2024, 3, 1)]
    keys = KeySet.of(pa.array(days, pa.date32()))
    probe = pa.array([dt.date(2024, 1, 1), dt.date(2024, 1, 2), None, dt.date(2024, 3, 1)], pa.date32())
    assert keys.mask(probe).tolist() == [True, False, False, True]


def test_no_key_set_over_a_range_too_wide_and_an_empty_one_matches_nothing():
    assert KeySet.of(pa.array([0, MAX_RANGE], pa.int64())) is None
    assert KeySet.of(pa.array([0, MAX_RANGE - 1], pa.int64())) is not None
    assert KeySet.of(pa.array([None], pa.int64())).mask(pa.array([0, None], pa.int64())).tolist() == [False, False]
