"""A plain-text preview of a table, shared by the command line and the demo."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

MAX_WIDTH = 30  # a column wider than this is cut, so a preview fits a terminal


def preview(table: pa.Table, rows: int = 10) -> str:
    """Column names, types and the first ``rows`` rows, aligned; then the row count."""
    shown = table.slice(0, rows).to_pylist()
    names = table.column_names
    cells = [[_cell(r[n]) for n in names] for r in shown]
    types = [str(f.type) for f in table.schema]
    widths = [min(MAX_WIDTH, max([len(n), len(t)] + [len(c[i]) for c in cells]))
              for i, (n, t) in enumerate(zip(names, types))]

    def line(values: list[str]) -> str:
        return "  ".join(v[:w].ljust(w) for v, w in zip(values, widths))

    out = [line(names), line(types), line(["-" * w for w in widths])] + [line(c) for c in cells]
    out.append(f"({table.num_rows} rows{', showing ' + str(len(shown)) if table.num_rows > len(shown) else ''})")
    return "\n".join(out)


def _cell(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)
