"""Column lineage of representative queries, exactly as the OpenLineage facet states it, cross-checked
with openlineage-sql's own parser (which names input columns but no transformation types)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from unistore.federated.columns import column_lineage
from unistore.federated.plan import plan

SCHEMAS = {
    ("pg", "orders"): pa.schema([("o_id", pa.int64()), ("o_cust", pa.int64()), ("o_total", pa.float64()),
                                 ("o_date", pa.date32())]),
    ("my", "customers"): pa.schema([("c_id", pa.int64()), ("c_name", pa.string()), ("c_tier", pa.string())]),
}
NAMES = {"pg.orders": ("postgres://db:5432", "shop.public.orders"), "my.customers": ("mysql://crm:3306", "crm.customers")}
O, C = NAMES["pg.orders"], NAMES["my.customers"]


def facet(query: str) -> dict:
    p = plan(query, {"pg": 1, "my": 1}, lambda s, t: SCHEMAS[(s, t)])
    datasets = {i.view: NAMES[i.name] for i in p.inputs}
    return column_lineage(p.qualified, p.qualified.named_selects, datasets)


def f(ds: tuple[str, str], field: str, *steps: tuple[str, str], masking: bool = False) -> dict:
    return {"namespace": ds[0], "name": ds[1], "field": field,
            "transformations": [{"type": t, "subtype": s, "masking": masking} for t, s in steps]}


D_ID, D_TR, D_AGG = ("DIRECT", "IDENTITY"), ("DIRECT", "TRANSFORMATION"), ("DIRECT", "AGGREGATION")
JOIN, FILTER, GROUP, SORT = ("INDIRECT", "JOIN"), ("INDIRECT", "FILTER"), ("INDIRECT", "GROUP_BY"), ("INDIRECT", "SORT")

CASES = {
    "projection": ("SELECT o_id, o_total FROM pg.orders",
                   {"o_id": [f(O, "o_id", D_ID)], "o_total": [f(O, "o_total", D_ID)]}, []),
    "rename": ("SELECT o_id AS order_key FROM pg.orders", {"order_key": [f(O, "o_id", D_ID)]}, []),
    "expression": ("SELECT o_total * 1.2 + o_id AS gross FROM pg.orders",
                   {"gross": [f(O, "o_id", D_TR), f(O, "o_total", D_TR)]}, []),
    "case": ("SELECT CASE WHEN c_tier = 'gold' THEN c_name ELSE 'other' END AS label FROM my.customers",
             {"label": [f(C, "c_name", D_TR), f(C, "c_tier", ("INDIRECT", "CONDITIONAL"))]}, []),
    "aggregation": ("SELECT o_cust, SUM(o_total) AS total, COUNT(o_id) AS n FROM pg.orders GROUP BY o_cust",
                    {"o_cust": [f(O, "o_cust", D_ID)], "total": [f(O, "o_total", D_AGG)],
                     "n": [f(O, "o_id", D_AGG, masking=True)]},
                    [f(O, "o_cust", GROUP)]),
    "join keys": ("SELECT c.c_name, o.o_total FROM pg.orders o JOIN my.customers c ON o.o_cust = c.c_id "
                  "WHERE o.o_date > DATE '2024-01-01' ORDER BY o.o_total",
                  {"c_name": [f(C, "c_name", D_ID)], "o_total": [f(O, "o_total", D_ID)]},
                  [f(C, "c_id", JOIN), f(O, "o_cust", JOIN), f(O, "o_date", FILTER), f(O, "o_total", SORT)]),
    "window": ("SELECT o_id, SUM(o_total) OVER (PARTITION BY o_cust ORDER BY o_date) AS running FROM pg.orders",
               {"o_id": [f(O, "o_id", D_ID)],
                "running": [f(O, "o_cust", ("INDIRECT", "WINDOW")), f(O, "o_date", ("INDIRECT", "WINDOW")),
                            f(O, "o_total", D_AGG)]}, []),
    "cte": ("WITH big AS (SELECT o_cust, o_total * 2 AS doubled FROM pg.orders WHERE o_total > 10) "
            "SELECT c.c_name, b.doubled FROM big b JOIN my.customers c ON b.o_cust = c.c_id",
            {"c_name": [f(C, "c_name", D_ID)], "doubled": [f(O, "o_total", D_TR)]},
            [f(C, "c_id", JOIN), f(O, "o_cust", JOIN), f(O, "o_total", FILTER)]),
    "union": ("SELECT o_id AS k FROM pg.orders UNION ALL SELECT c_id FROM my.customers",
              {"k": [f(C, "c_id", D_ID), f(O, "o_id", D_ID)]}, []),
    "subquery": ("SELECT o_id FROM pg.orders WHERE o_cust IN (SELECT c_id FROM my.customers WHERE c_tier = 'gold')",
                 {"o_id": [f(O, "o_id", D_ID)]},
                 [f(C, "c_id", FILTER), f(C, "c_tier", FILTER), f(O, "o_cust", FILTER)]),
    "derived table": ("SELECT s.total FROM (SELECT o_cust, SUM(o_total) AS total FROM pg.orders GROUP BY o_cust) s",
                      {"total": [f(O, "o_total", D_AGG)]}, [f(O, "o_cust", GROUP)]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_column_lineage_matches_the_expected_facet(name):
    query, fields, dataset = CASES[name]
    assert facet(query) == {"fields": {k: {"inputFields": v} for k, v in fields.items()}, "dataset": dataset}


@pytest.mark.parametrize("name", list(CASES))
def test_openlineage_sql_finds_the_same_input_columns(name):
    """openlineage-sql reports, per output column, the input columns it reads (DIRECT and CASE/window inputs
    alike, without types); the same pairs must appear in unistore's facet. For a
    UNION openlineage-sql lists each branch under its own column name (``k`` from orders, ``c_id`` from
    customers), where the result has one column ``k`` made from both."""
    import openlineage_sql  # in the test extra: its absence fails
    query, fields, _ = CASES[name]
    parsed = openlineage_sql.parse([query], dialect="generic")
    theirs = {}
    for column in parsed.column_lineage:
        theirs[column.descendant.name] = {(f"{c.origin.schema}.{c.origin.name}", c.name) for c in column.lineage}
    by_name = {v: k for k, v in NAMES.items()}
    ours = {out: {(by_name[(i["namespace"], i["name"])], i["field"]) for i in inputs}
            for out, inputs in fields.items() if inputs}
    if name == "union":  # openlineage-sql keeps each branch apart, under each branch's own column name
        assert set().union(*theirs.values()) == set().union(*ours.values())
    else:
        assert theirs == ours
