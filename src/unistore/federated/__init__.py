"""Cross-silo SQL: one read-only query over many stores, pushed down, with one record and column lineage.

See docs/cross-silo-sql.md. The modules, bottom-up: :mod:`.pushdown` (SQL
conditions -> unistore filters), :mod:`.plan` (parse, resolve, qualify, push
down), :mod:`.columns` (column lineage), :mod:`.query` (read the inputs, run
DuckDB, build the record) and :mod:`.rerun` (replay a query's record).
"""

from __future__ import annotations

from .query import sql, sql_scan

__all__ = ["sql", "sql_scan"]
