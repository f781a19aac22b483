"""Column lineage of a cross-silo query, in OpenLineage's ``columnLineage`` form.

For each output column, sqlglot's lineage walks the qualified query down to the
input columns it is computed from (through CTEs, subqueries and each branch of
a UNION); each step is classified where the column occurs in its expression:

- DIRECT ``IDENTITY`` (the column itself), ``TRANSFORMATION`` (an expression of
  it), ``AGGREGATION`` (inside an aggregate function);
- INDIRECT ``CONDITIONAL`` (in a CASE/IF condition), ``WINDOW`` (in a window's
  PARTITION BY or ORDER BY).

Along a path the first INDIRECT step (from the output) decides, else the
strongest DIRECT one (AGGREGATION > TRANSFORMATION > IDENTITY). Columns that
shape the whole result go to the facet's ``dataset`` list: INDIRECT ``JOIN``
(join conditions), ``FILTER`` (WHERE, HAVING), ``GROUP_BY`` and ``SORT``
(ORDER BY). ``masking`` is true where the input value cannot be seen in the
output (COUNT, hash functions).

Values layer: sqlglot only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlglot import exp
from sqlglot.lineage import Node, lineage
from sqlglot.optimizer.scope import Scope, traverse_scope

from .plan import DIALECT

DIRECT, INDIRECT = "DIRECT", "INDIRECT"
_STRENGTH = {"IDENTITY": 0, "TRANSFORMATION": 1, "AGGREGATION": 2}
_MASKING = (exp.Count, exp.MD5, exp.SHA, exp.SHA2)

#: (type, subtype, masking)
Step = tuple[str, str, bool]


def column_lineage(tree: exp.Expression, outputs: list[str], datasets: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
    """The ``columnLineage`` facet body (``fields`` and ``dataset``) for the qualified query ``tree``.

    ``outputs`` are the result's column names, in order (matched to the query's
    projections by position); ``datasets`` maps an input's view name to its
    OpenLineage (namespace, name).
    """
    return resolve(trace(tree), outputs, datasets)


#: what :func:`trace` finds: per projection, then for the whole result, (view, field) -> steps
Traced = tuple[list[dict[tuple[str, str], set[Step]]], dict[tuple[str, str], set[Step]]]


class _Views(Mapping[str, tuple[str, str]]):
    """Every table stands for itself (its view name): tracing needs no input record yet."""

    def get(self, key: str, default: Any = None) -> tuple[str, str]:  # type: ignore[override]
        return ("", key)

    def __getitem__(self, key: str) -> tuple[str, str]:
        return ("", key)

    def __iter__(self) -> Any:
        return iter(())

    def __len__(self) -> int:
        return 0


def trace(tree: exp.Expression) -> Traced:
    """The expensive part (sqlglot's lineage walk), keyed by view: it can run while the inputs are read."""
    views = _Views()
    per_output = []
    for select in tree.named_selects:
        found: dict[tuple[str, str, str], set[Step]] = {}
        _walk(lineage(exp.to_identifier(select), tree, None, dialect=DIALECT), None, found, views)
        per_output.append({(view, f): steps for (_, view, f), steps in found.items()})
    return per_output, {(view, f): steps for (_, view, f), steps in _dataset_level(tree, views).items()}


def resolve(traced: Traced, outputs: list[str], datasets: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
    """The facet body from :func:`trace`'s result, each view named by its input's dataset (unknown: left out)."""
    per_output, whole = traced
    fields = {output: {"inputFields": _input_fields(_named(per_output[position], datasets))}
              for position, output in enumerate(outputs) if position < len(per_output)}
    return {"fields": fields, "dataset": _input_fields(_named(whole, datasets))}


def _named(found: dict[tuple[str, str], set[Step]],
           datasets: Mapping[str, tuple[str, str]]) -> dict[tuple[str, str, str], set[Step]]:
    out: dict[tuple[str, str, str], set[Step]] = {}
    for (view, field), steps in found.items():
        dataset = datasets.get(view)
        if dataset is not None:
            out.setdefault((*dataset, field), set()).update(steps)
    return out


def _walk(node: Node, step: Step | None, found: dict[tuple[str, str, str], set[Step]],
          datasets: Mapping[str, tuple[str, str]]) -> None:
    if isinstance(node.source, exp.Table) and not node.downstream:
        dataset = datasets.get(node.source.name)
        if dataset is not None:
            field = node.expression.name if isinstance(node.expression, exp.Column) else node.name.split(".")[-1]
            found.setdefault((*dataset, _bare(field)), set()).add(step or (DIRECT, "IDENTITY", False))
        return
    for child in node.downstream:
        _walk(child, _compose(step, _edge(node, child)), found, datasets)


def _compose(outer: Step | None, inner: Step) -> Step:
    if outer is None:
        return inner
    if outer[0] == INDIRECT:
        return outer
    if inner[0] == INDIRECT:
        return inner
    strongest = outer if _STRENGTH[outer[1]] >= _STRENGTH[inner[1]] else inner
    return (DIRECT, strongest[1], outer[2] or inner[2])


def _bare(name: str) -> str:
    return name.replace('"', "")


def _edge(parent: Node, child: Node) -> Step:
    """How ``child``'s column is used in ``parent``'s expression (a UNION branch passes columns through)."""
    expression = parent.expression
    target = _bare(child.name).lower()
    occurrences = [c for c in expression.find_all(exp.Column)
                   if f"{c.table}.{c.name}".lower() == target or (not c.table and c.name.lower() == target)]
    if not occurrences:
        return (DIRECT, "IDENTITY", False)
    steps = [_role(c, expression) for c in occurrences]
    direct = [s for s in steps if s[0] == DIRECT]
    if direct:  # a column both shown and tested (CASE WHEN x > 0 THEN x) is at least DIRECT
        return max(direct, key=lambda s: _STRENGTH[s[1]])
    return steps[0]


def _role(column: exp.Column, root: exp.Expression) -> Step:
    body = root.this if isinstance(root, exp.Alias) else root
    if body is column:
        return (DIRECT, "IDENTITY", False)
    node: exp.Expression = column
    aggregated = masking = False
    while node is not root and node.parent is not None:
        parent, key = node.parent, node.arg_key
        if isinstance(parent, exp.Window) and key in ("partition_by", "order"):
            return (INDIRECT, "WINDOW", False)
        if isinstance(parent, exp.If) and key == "this":
            return (INDIRECT, "CONDITIONAL", False)
        if isinstance(parent, exp.AggFunc):
            aggregated = True
        if isinstance(parent, _MASKING):
            masking = True
        node = parent
    return (DIRECT, "AGGREGATION" if aggregated else "TRANSFORMATION", masking)


# -- columns that shape the whole result -----------------------------------------------

_CLAUSES = (("joins", "JOIN"), ("where", "FILTER"), ("having", "FILTER"), ("group", "GROUP_BY"), ("order", "SORT"))


def _dataset_level(tree: exp.Expression, datasets: Mapping[str, tuple[str, str]]) -> dict[tuple[str, str, str], set[Step]]:
    found: dict[tuple[str, str, str], set[Step]] = {}
    scopes = traverse_scope(tree)
    by_expression = {id(s.expression): s for s in scopes}
    for scope in scopes:
        select = scope.expression
        if not isinstance(select, exp.Select):
            if isinstance(select, exp.SetOperation) and select.args.get("order") is not None:
                _collect(scope, select.args["order"], "SORT", found, datasets, by_expression)
            continue
        for key, subtype in _CLAUSES:
            value = select.args.get(key)
            if key == "joins":
                for join in value or []:
                    for part in (join.args.get("on"), *(join.args.get("using") or [])):
                        if part is not None:
                            _collect(scope, part, subtype, found, datasets, by_expression)
            elif value is not None:
                _collect(scope, value, subtype, found, datasets, by_expression)
    return found


def _collect(scope: Scope, clause: exp.Expression, subtype: str, found: dict[tuple[str, str, str], set[Step]],
             datasets: Mapping[str, tuple[str, str]], by_expression: dict[int, Scope]) -> None:
    # what a subquery in the clause returns counts too (x IN (SELECT k ...): k filters)
    for inner in clause.find_all(exp.Select):
        sub = by_expression.get(id(inner))
        if sub is not None and inner is not scope.expression:
            for projection in inner.expressions:
                for column in projection.find_all(exp.Column):
                    for origin in _origins(sub, column, datasets, set()):
                        found.setdefault(origin, set()).add((INDIRECT, subtype, False))
    for column in clause.find_all(exp.Column):
        if isinstance(scope.expression, exp.Select) and column.find_ancestor(exp.Select) is not scope.expression:
            continue  # a subquery's own columns are seen in its own scope
        for origin in _origins(scope, column, datasets, set()):
            found.setdefault(origin, set()).add((INDIRECT, subtype, False))


def _origins(scope: Scope, column: exp.Column, datasets: Mapping[str, tuple[str, str]],
             seen: set[int]) -> set[tuple[str, str, str]]:
    """The input columns a column of ``scope`` is made from (through derived tables, CTEs and aliases)."""
    if id(column) in seen:
        return set()
    seen.add(id(column))
    table = column.table
    if not table:  # an output alias used in ORDER BY / HAVING
        select = scope.expression
        for projection in getattr(select, "expressions", []):
            if projection.alias_or_name == column.name and isinstance(projection, exp.Alias):
                return set().union(*(_origins(scope, c, datasets, seen) for c in projection.find_all(exp.Column)),
                                   set())
        return set()
    current: Scope | None = scope
    while current is not None and table not in current.sources:
        current = current.parent
    if current is None:
        return set()
    source = current.sources[table]
    if isinstance(source, exp.Table):
        dataset = datasets.get(source.name)
        return {(*dataset, column.name)} if dataset is not None else set()
    out: set[tuple[str, str, str]] = set()
    for branch in _branches(source):
        for projection in branch.expression.expressions:
            if projection.alias_or_name == column.name:
                for inner in projection.find_all(exp.Column):
                    out |= _origins(branch, inner, datasets, seen)
    return out


def _branches(scope: Scope) -> list[Scope]:
    """The SELECT scopes a derived table is made of (each side of a UNION)."""
    if isinstance(scope.expression, exp.Select):
        return [scope]
    return [b for s in scope.union_scopes for b in _branches(s)]


def _input_fields(found: dict[tuple[str, str, str], set[Step]]) -> list[dict[str, Any]]:
    return [{"namespace": ns, "name": name, "field": field,
             "transformations": [{"type": t, "subtype": sub, "masking": masking}
                                 for t, sub, masking in sorted(found[(ns, name, field)])]}
            for ns, name, field in sorted(found)]
