"""Semi-join reduction: rows of one input that no row of another input can join are dropped before DuckDB.

The inputs of a join are read concurrently and held whole (:mod:`.query`), so
memory is the sum of what they returned. When the query joins inputs ``a`` and
``b`` on ``a.x = b.y`` and ``b`` has been read to its end first, a row of ``a``
whose ``x`` is not among ``b``'s ``y`` values cannot be part of any joined row,
and is dropped as it arrives: on TPC-H Q5 at scale 1, the 6 M lineitem rows
shrink to the 0.9 M that can meet an order of 1994. The inputs' records are
untouched (they describe what each store returned; the rows are dropped after
their fingerprint), and so is the answer, because the reduction is applied only
where it is exact:

- the query is one SELECT over the inputs (no subquery, CTE or set operation),
  each input named once, every join inner (``,``, ``JOIN``, ``INNER``,
  ``CROSS``, ``NATURAL``) and every table an input;
- the equality is a conjunct of the WHERE or of an inner join's ON, between
  bare columns of two inputs;
- both keys are integers (any width but unsigned 64-bit) or both dates, whose
  equality DuckDB decides exactly; NULL keys never join, so they are dropped.

A key set is a bitmap over the range of the keys, built only when that range is
at most :data:`MAX_RANGE` values (dense surrogate keys, dates).

Values layer: sqlglot, pyarrow and numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
from sqlglot import exp
from sqlglot.optimizer.scope import traverse_scope

from .pushdown import conjuncts

if TYPE_CHECKING:
    from .plan import InputPlan

#: widest key range a key set covers (one byte per value: 32 MB)
MAX_RANGE = 1 << 25
_INNER = {"", "INNER", "CROSS"}


@dataclass(frozen=True)
class Link:
    """``target``'s rows whose ``target_column`` is not among ``source``'s ``source_column`` cannot join."""

    source: str          # view of the input whose key set filters
    source_column: str   # the input's own spelling
    target: str          # view of the input filtered
    target_column: str


def join_links(tree: exp.Expression, by_view: dict[str, InputPlan]) -> list[Link]:
    """Every (source, target) pair of inputs the reduction may apply to, in both directions; none unless
    the query qualifies (see the module docstring). ``tree`` is the qualified query."""
    scopes = traverse_scope(tree)
    if len(scopes) != 1 or not isinstance(tree, exp.Select) or len(by_view) < 2:
        return []
    if any(i.references != 1 for i in by_view.values()):
        return []
    (scope,) = scopes
    aliases: dict[str, InputPlan] = {}
    for alias, source in scope.sources.items():
        if not isinstance(source, exp.Table) or source.name not in by_view:
            return []  # a table function, VALUES, UNNEST...: kept out rather than reasoned about
        aliases[alias] = by_view[source.name]
    conditions = conjuncts(tree.args["where"].this) if tree.args.get("where") else []
    for join in tree.args.get("joins") or []:
        if (join.side or "").upper() or (join.kind or "").upper() not in _INNER or (
                (join.method or "").upper() not in ("", "NATURAL")):
            return []  # an outer, semi, anti, ASOF or positional join
        conditions += conjuncts(join.args.get("on"))
    links: list[Link] = []
    for a, fa, b, fb in column_equalities(conditions, aliases):
        if _key_kind(fa.type) is None or _key_kind(fa.type) != _key_kind(fb.type):
            continue
        links += [Link(a.view, fa.name, b.view, fb.name), Link(b.view, fb.name, a.view, fa.name)]
    return links


def column_equalities(conditions: "Iterable[exp.Expression]", inputs: "Mapping[str, InputPlan]",
                      ) -> "Iterator[tuple[InputPlan, pa.Field, InputPlan, pa.Field]]":
    """``a.x = b.y`` among ``conditions`` where ``a`` and ``b`` are two different inputs (by alias in
    ``inputs``) and both columns are theirs: each as (input, field, other input, other field)."""
    for condition in conditions:
        if not isinstance(condition, exp.EQ):
            continue
        left, right = condition.this.unnest(), condition.expression.unnest()
        if not (isinstance(left, exp.Column) and isinstance(right, exp.Column)):
            continue
        a, b = inputs.get(left.table), inputs.get(right.table)
        if a is None or b is None or a is b:
            continue
        fa, fb = field_named(a.schema, left.name), field_named(b.schema, right.name)
        if fa is not None and fb is not None:
            yield a, fa, b, fb


def field_named(schema: pa.Schema, name: str) -> pa.Field | None:
    """The field ``name`` refers to, as DuckDB resolves names (case-insensitively); None when none or several do."""
    found = [f for f in schema if f.name.lower() == name.lower()]
    return found[0] if len(found) == 1 else None


def _key_kind(t: pa.DataType) -> str | None:
    if pa.types.is_integer(t) and not pa.types.is_uint64(t):
        return "integer"
    if pa.types.is_date32(t):
        return "date"
    return None


class KeySet:
    """The distinct non-null values of a join key, as a bitmap over their range."""

    def __init__(self, lowest: int, present: np.ndarray):
        self.lowest, self.present = lowest, present

    @classmethod
    def of(cls, column: pa.ChunkedArray | pa.Array) -> "KeySet | None":
        """The key set of ``column``, or None when its range is too wide for a bitmap."""
        chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
        bounds = [(int(v.min()), int(v.max())) for v in (_integers(c) for c in chunks) if len(v)]
        if not bounds:
            return cls(0, np.zeros(0, dtype=bool))
        lowest, highest = min(b[0] for b in bounds), max(b[1] for b in bounds)
        if highest - lowest >= MAX_RANGE:
            return None
        present = np.zeros(highest - lowest + 1, dtype=bool)
        for chunk in chunks:  # one chunk at a time: a large input is not copied whole
            present[_integers(chunk) - lowest] = True
        return cls(lowest, present)

    def mask(self, column: pa.Array) -> np.ndarray:
        """For each value of ``column``: whether it is in the set (NULL never is)."""
        values = _integers(column, keep_nulls=True)
        offset = values - self.lowest
        inside = (offset >= 0) & (offset < len(self.present))
        inside[inside] = self.present[offset[inside]]
        if column.null_count:
            inside &= ~np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        return inside


def restrict(batch: pa.RecordBatch, column: str, keys: KeySet) -> pa.RecordBatch:
    """The rows of ``batch`` whose ``column`` is in ``keys``."""
    mask = keys.mask(batch.column(column))
    return batch if mask.all() else batch.filter(pa.array(mask))


def _integers(column: pa.Array, keep_nulls: bool = False) -> np.ndarray:
    """The values as int64 (dates as days); NULLs dropped, or (``keep_nulls``) left as some value
    that the caller masks out."""
    if pa.types.is_date32(column.type):
        column = column.view(pa.int32())
    if not keep_nulls:
        column = column.drop_null()
    elif column.null_count:
        column = column.fill_null(0)
    return np.asarray(column.cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)
