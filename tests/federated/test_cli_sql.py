"""``unistore sql``: one query over several --source inputs, with the preview, the record and --output."""

from __future__ import annotations

import json
import sqlite3

import pyarrow as pa
import pyarrow.parquet as pq

from unistore.cli import main


def test_sql_joins_two_sources_and_writes_the_output(tmp_path, capsys):
    pq.write_table(pa.table({"id": [1, 2, 3], "amount": [5.0, 7.0, 9.0]}), tmp_path / "sales.parquet")
    with sqlite3.connect(tmp_path / "crm.db") as con:
        con.execute("CREATE TABLE customers (id INTEGER, name TEXT)")
        con.executemany("INSERT INTO customers VALUES (?, ?)", [(1, "ann"), (2, "bob"), (3, "cy")])
    out_file = tmp_path / "out.parquet"
    code = main(["sql", "SELECT c.name, s.amount FROM lake s JOIN crm.customers c ON s.id = c.id "
                        "WHERE s.amount > $floor ORDER BY c.name",
                 "--source", f"lake={tmp_path / 'sales.parquet'}", "--source", f"crm=sqlite:///{tmp_path / 'crm.db'}",
                 "--param", "floor=6", "--output", str(out_file)])
    assert code == 0
    out = capsys.readouterr().out
    assert "bob" in out and "cy" in out and "ann" not in out.split("provenance:")[0]
    record = json.loads(out.split("provenance:\n", 1)[1])
    assert record["kind"] == "query" and len(record["inputs"]) == 2
    assert record["query"]["pushed_down"]["lake"]["filter"] == "amount > 6"
    assert record["source"]["name"] == str(out_file)
    assert pq.read_table(out_file).column("name").to_pylist() == ["bob", "cy"]


def test_sql_errors_are_one_line_and_exit_1(tmp_path, capsys):
    assert main(["sql", "SELECT * FROM nope.t", "--source", f"lake={tmp_path}"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("unistore: BadSpecError: unknown source 'nope'") and err.count("\n") == 1
    assert main(["sql", "SELECT 1", "--source", "lake"]) == 1
    assert "NAME=VALUE" in capsys.readouterr().err
