"""Planning a cross-silo query: parse, resolve each table to a declared input, qualify, push down.

The query is parsed once with sqlglot in DuckDB's dialect after the read-only
classifier of :mod:`unistore.sqlguard` accepted it (one SELECT, nothing that
writes or reaches outside). Every table reference must name a declared input:
``name.table``, ``name.schema.table``, or ``name`` alone for a file data set.
Each distinct input becomes one read, registered in DuckDB under a view name;
the planner asks only for its Arrow schema (``schema_of``), so a misspelt
source, table or column, or a join between columns of incompatible types,
fails here, before any data is read.

Per input the plan pushes down what it can (:mod:`.pushdown`): the columns the
query uses, the conditions of a WHERE (or of an inner join's ON, or a left
join's ON for its right side) that touch only that input, and the LIMIT of a
query that only reads one input unchanged. The query itself keeps every
condition, so pushdown narrows what is read and never changes the answer; a
condition that is not NULL-rejecting (``IS NULL``) is not pushed into the
NULL-supplying side of an outer join.

Values layer: sqlglot, pyarrow and the filter types only.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import sqlglot
# every query is parsed in DuckDB's dialect, which sqlglot loads on first use: loaded with the planner
# (0.19 s of CPU), not inside the first query
import sqlglot.dialects.duckdb  # noqa: F401
from sqlglot import exp
from sqlglot.errors import OptimizeError, SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, traverse_scope

from ..errors import BadSpecError
from ..filters import Filter, short
from ..sqlguard import classify
from .pushdown import conjuncts, to_filter
from .semijoin import Link, column_equalities, join_links

DIALECT = "duckdb"
VIEW_PREFIX = "unistore_input_"

Table = str | tuple[str, ...] | None


@dataclass
class InputPlan:
    """One input read: which source and table, registered in DuckDB as ``view``, and what is pushed down."""

    name: str                 # as written in the query, e.g. "pg.orders" (normalised: parts joined by dots)
    source: str               # the source name, e.g. "pg"
    table: Table              # what the source reads (None: the source is one data set)
    view: str                 # the name DuckDB knows it by
    schema: pa.Schema         # the input's full schema
    columns: list[str] = field(default_factory=list)  # needed columns, in schema order (store's spelling)
    filter: Filter | None = None
    limit: int | None = None
    references: int = 0       # table references in the query (a stream can be scanned once)


@dataclass
class Plan:
    """What runs: the DuckDB SQL over the views, and each input's read."""

    query: str                # as the caller wrote it
    sql: str                  # what DuckDB runs (tables replaced by the inputs' views)
    inputs: list[InputPlan]
    ordered: bool             # a top-level ORDER BY: the result's order is part of the answer
    qualified: exp.Expression  # the query with every column qualified (for column lineage)
    has_ctes: bool
    links: list[Link] = field(default_factory=list)  # join keys whose key sets may reduce another input
    joins: bool = False       # DuckDB joins inputs (JOIN, a comma, a subquery): it orders them by their sizes

    def input_of_view(self, view: str) -> InputPlan | None:
        return next((i for i in self.inputs if i.view == view), None)


def references(query: str) -> list[tuple[str, Table]]:
    """The (source, table) pairs the query names, in order, once the classifier accepted it: what the
    planner will ask ``schema_of`` about, so the caller can look them up concurrently beforehand."""
    if not isinstance(query, str) or not query.strip():
        return []
    classify(query, DIALECT)
    try:
        tree = sqlglot.parse_one(query, read=DIALECT)
    except SqlglotError:
        return []
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    out: list[tuple[str, Table]] = []
    for node in tree.find_all(exp.Table):
        parts = [p.name for p in node.parts] if isinstance(node.this, exp.Identifier) else []
        if not parts or (len(parts) == 1 and parts[0].lower() in ctes):
            continue
        rest = parts[1:]
        ref = (parts[0], None if not rest else rest[0] if len(rest) == 1 else tuple(rest))
        if ref not in out:
            out.append(ref)
    return out


def plan(query: str, sources: Mapping[str, Any], schema_of: Callable[[str, Table], pa.Schema],
         params: Mapping[str, Any] | None = None) -> Plan:
    """Plan ``query`` over the named ``sources``; ``schema_of(source, table)`` gives an input's schema."""
    if not isinstance(query, str) or not query.strip():
        raise BadSpecError("the query must be non-empty SQL text")
    statement = classify(query, DIALECT)
    try:
        tree = sqlglot.parse_one(query, read=DIALECT)
    except SqlglotError as exc:  # classify parsed it already; kept for safety
        raise BadSpecError(f"cannot parse the query: {str(exc).splitlines()[0][:200]}") from None
    if tree.find(exp.TableSample) is not None:
        # DuckDB samples the rows a FROM produces before WHERE and LIMIT apply; here filters and limits are
        # pushed into the stores and rows that cannot join are dropped first, so the sample would differ
        raise BadSpecError("sampling (TABLESAMPLE, USING SAMPLE) is not supported in unistore.sql: filters and "
                           "limits run in the stores before DuckDB would sample, so the sample would not be the "
                           "query's; sample the returned table instead")
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    inputs: dict[str, InputPlan] = {}
    for node in list(tree.find_all(exp.Table)):
        if not isinstance(node.this, exp.Identifier):
            continue  # a table function (range(...)): DuckDB's own, external access is off
        parts = [p.name for p in node.parts]
        if len(parts) == 1 and parts[0].lower() in ctes:
            continue
        source = parts[0]
        if source not in sources:
            raise BadSpecError(_unknown("source", source, list(sources), f"in {short('.'.join(parts))}")
                               + f"; declare it in sources= (known: {', '.join(sorted(sources)) or 'none'})")
        rest = parts[1:]
        table: Table = None if not rest else rest[0] if len(rest) == 1 else tuple(rest)
        name = ".".join(parts)
        entry = inputs.get(name)
        if entry is None:
            entry = InputPlan(name=name, source=source, table=table, view=f"{VIEW_PREFIX}{len(inputs)}",
                              schema=schema_of(source, table))
            inputs[name] = entry
        entry.references += 1
        extra = sorted(k for k, v in node.args.items() if v and k not in ("this", "db", "catalog", "alias"))
        if extra:  # PIVOT, time travel, hints...: replacing the table by its input's view would drop them
            raise BadSpecError(f"{', '.join(_TABLE_PARTS.get(k, k.upper()) for k in extra)} on a declared input ({short(node.sql(dialect=DIALECT), 80)})"
                               " is not supported; apply it to a subquery: (SELECT ... FROM source.table) ...")
        given_alias = node.args.get("alias")
        if given_alias is not None and given_alias.columns:
            raise BadSpecError(f"a column alias list ({short(node.sql(dialect=DIALECT), 80)}) on a declared input is "
                               "not supported; rename the columns in the SELECT list instead (col AS name)")
        alias = node.alias or parts[-1]
        node.replace(exp.Table(this=exp.to_identifier(entry.view, quoted=True),
                               alias=exp.TableAlias(this=exp.to_identifier(alias))))
    if not inputs:
        raise BadSpecError("the query reads no declared source; name tables as source.table "
                           f"(sources: {', '.join(sorted(sources)) or 'none'})")
    by_view = {i.view: i for i in inputs.values()}
    qualified = _qualify(tree.copy(), by_view)
    _push_down(qualified, by_view, params)
    _check_join_types(qualified, by_view)
    return Plan(query=query, sql=tree.sql(dialect=DIALECT), inputs=list(inputs.values()), ordered=statement.ordered,
                qualified=qualified, has_ctes=bool(ctes), links=join_links(qualified, by_view),
                joins=len(inputs) > 1 and _joins(tree))


#: what a table's other parts are called in messages
_TABLE_PARTS = {"pivots": "PIVOT / UNPIVOT", "version": "time travel (AT, FOR SYSTEM_TIME)", "hints": "table hints",
                "joins": "joins nested in a table", "ordinality": "WITH ORDINALITY"}


def _joins(tree: exp.Expression) -> bool:
    """Whether the query joins tables (a JOIN or a comma, a subquery in FROM or in a condition), as opposed
    to only putting them one after the other (UNION)."""
    return tree.find(exp.Join, exp.Subquery, exp.Exists) is not None or any(
        node.args.get("query") is not None for node in tree.find_all(exp.In))


def _unknown(what: str, name: str, known: list[str], where: str = "") -> str:
    close = difflib.get_close_matches(name, known, n=1) or difflib.get_close_matches(name.lower(), [k.lower() for k in known], n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {what} {short(name, 60)}{(' ' + where) if where else ''}{hint}"


def sql_schema(schema: pa.Schema) -> dict[str, str]:
    """Column -> a SQL type name, for sqlglot's qualifier (names lower-cased as DuckDB resolves them)."""
    return {f.name.lower(): _sql_type(f.type) for f in schema}


def _sql_type(t: pa.DataType) -> str:
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    if pa.types.is_integer(t):
        return "BIGINT"
    if pa.types.is_floating(t):
        return "DOUBLE"
    if pa.types.is_decimal(t):
        return f"DECIMAL({t.precision}, {t.scale})"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "VARCHAR"
    if pa.types.is_date(t):
        return "DATE"
    if pa.types.is_timestamp(t):
        return "TIMESTAMPTZ" if t.tz else "TIMESTAMP"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "BLOB"
    return "UNKNOWN"


def _qualify(tree: exp.Expression, by_view: dict[str, InputPlan]) -> exp.Expression:
    """Every column qualified with its table; an unknown column is a :class:`BadSpecError` with a hint."""
    schema = {view: sql_schema(i.schema) for view, i in by_view.items()}
    try:
        return qualify(tree, schema=schema, dialect=DIALECT, validate_qualify_columns=True, quote_identifiers=True)
    except OptimizeError as exc:
        message = str(exc).splitlines()[0]
        known = sorted({f.name for i in by_view.values() for f in i.schema})
        name = message.split("'")[1].strip('"') if message.count("'") >= 2 else ""
        for view, i in by_view.items():  # sqlglot names the view: say the input's name instead
            message = message.replace(view, i.name)
        if name:
            raise BadSpecError(_unknown("column", name, known, "in the query")
                               + f"; the inputs have: {short(', '.join(known), 300)}") from None
        raise BadSpecError(f"cannot resolve the query's columns: {message[:300]}") from None


def _input_sources(scope: Scope, by_view: dict[str, InputPlan]) -> dict[str, InputPlan]:
    """Table alias -> input, for the inputs read directly in ``scope``."""
    out = {}
    for alias, source in scope.sources.items():
        if isinstance(source, exp.Table) and source.name in by_view:
            out[alias] = by_view[source.name]
    return out


def _owner(scope: Scope | None, alias: str, by_view: dict[str, InputPlan]) -> InputPlan | None:
    """The input a column's table alias names, looked up outwards (a correlated subquery names an outer table)."""
    while scope is not None:
        source = scope.sources.get(alias)
        if source is not None:
            return by_view.get(source.name) if isinstance(source, exp.Table) else None
        scope = scope.parent
    return None


def _push_down(tree: exp.Expression, by_view: dict[str, InputPlan], params: Mapping[str, Any] | None) -> None:
    """Fill each input's needed columns, pushed filter and limit from the qualified query."""
    needed: dict[str, set[str]] = {v: set() for v in by_view}
    # per input: the filter of each reference (None: that reference reads every row)
    filters: dict[str, list[Filter | None]] = {v: [] for v in by_view}
    scopes = traverse_scope(tree)
    for scope in scopes:
        direct = _input_sources(scope, by_view)
        for column in scope.columns:
            i = _owner(scope, column.table, by_view)
            if i is not None:
                needed[i.view].add(column.name)
        if not direct or not isinstance(scope.expression, exp.Select):
            for alias, i in direct.items():
                filters[i.view].append(None)
            continue
        select = scope.expression
        nullable = _null_supplying(select)
        candidates: list[tuple[exp.Expression, set[str] | None]] = [
            (c, None) for c in conjuncts(select.args.get("where") and select.args["where"].this)]
        for join in select.args.get("joins") or []:
            side, kind = (join.side or "").upper(), (join.kind or "").upper()
            on = join.args.get("on")
            if side == "" and kind in ("", "INNER"):
                candidates += [(c, None) for c in conjuncts(on)]
            elif side == "LEFT":  # an ON condition of a left join narrows only its right side
                candidates += [(c, {join.this.alias_or_name}) for c in conjuncts(on)]
        per_alias: dict[str, Filter | None] = {alias: None for alias in direct}
        for condition, only in candidates:
            if condition.find(exp.Subquery, exp.Select, exp.Window, exp.AggFunc):
                continue
            tables = {c.table for c in condition.find_all(exp.Column)}
            if len(tables) != 1:
                continue
            (alias,) = tables
            if alias not in direct or (only is not None and alias not in only):
                continue
            if alias in nullable and only is None and not _null_rejecting(condition):
                continue
            found = to_filter(condition, direct[alias].schema, params)
            if found is not None:
                per_alias[alias] = found if per_alias[alias] is None else per_alias[alias] & found
        for alias, i in direct.items():
            filters[i.view].append(per_alias[alias])
    for view, i in by_view.items():
        actual = {f.name.lower(): f.name for f in i.schema}
        wanted = {actual.get(n.lower(), n) for n in needed[view]}
        # a query that uses no column of an input (COUNT(*)) still needs its rows: read the narrowest column
        i.columns = [f.name for f in i.schema if f.name in wanted] or [_narrowest(i.schema)]
        parts = filters[view]
        if parts and all(p is not None for p in parts):
            combined = parts[0]
            for p in parts[1:]:
                combined = combined | p  # type: ignore[operator]
            i.filter = combined
    _push_limit(tree, scopes, by_view)


def _null_supplying(select: exp.Select) -> set[str]:
    """Aliases on the NULL-supplying side of an outer join in ``select``."""
    out: set[str] = set()
    seen = [select.args["from"].this.alias_or_name] if select.args.get("from") else []
    for join in select.args.get("joins") or []:
        side = (join.side or "").upper()
        name = join.this.alias_or_name
        if side in ("LEFT", "FULL"):
            out.add(name)
        if side in ("RIGHT", "FULL"):
            out.update(seen)
        seen.append(name)
    return out


def _null_rejecting(condition: exp.Expression) -> bool:
    """False for conditions a row of NULLs can satisfy (IS NULL, OR, NOT, COALESCE...)."""
    return not condition.find(exp.Is, exp.Or, exp.Not, exp.Coalesce, exp.Case, exp.If)


def _push_limit(tree: exp.Expression, scopes: list[Scope], by_view: dict[str, InputPlan]) -> None:
    """LIMIT n [OFFSET m] reaches the input only when the query reads one input and changes nothing else."""
    if len(scopes) != 1 or not isinstance(tree, exp.Select) or len(by_view) != 1:
        return
    limit = tree.args.get("limit")
    if limit is None or not isinstance(limit.expression, exp.Literal) or limit.expression.is_string:
        return
    if any(tree.args.get(k) for k in ("joins", "group", "having", "order", "distinct", "qualify", "windows")):
        return
    if tree.find(exp.AggFunc, exp.Window, exp.Explode, exp.Unnest):
        return
    (i,) = by_view.values()
    where = tree.args.get("where")
    if where is not None and (i.filter is None or any(
            to_filter(c, i.schema, None) is None for c in conjuncts(where.this))):
        return  # a condition the store does not evaluate: the first n rows read are not the answer
    offset = limit.args.get("offset") or tree.args.get("offset")
    skip = 0
    if offset is not None:
        node = offset.expression if isinstance(offset, exp.Offset) else offset
        if not isinstance(node, exp.Literal) or node.is_string:
            return
        skip = int(node.this)
    i.limit = int(limit.expression.this) + skip


_KINDS = (("number", lambda t: pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)),
          ("text", lambda t: pa.types.is_string(t) or pa.types.is_large_string(t)),
          ("time", lambda t: pa.types.is_date(t) or pa.types.is_timestamp(t)),
          ("boolean", pa.types.is_boolean),
          ("binary", lambda t: pa.types.is_binary(t) or pa.types.is_large_binary(t)))


def _kind(t: pa.DataType) -> str | None:
    return next((name for name, test in _KINDS if test(t)), None)


def _check_join_types(tree: exp.Expression, by_view: dict[str, InputPlan]) -> None:
    """An equality between columns of two inputs whose types cannot match (a number and a text) is an error."""
    for scope in traverse_scope(tree):
        direct = _input_sources(scope, by_view)
        for a, fa, b, fb in column_equalities(scope.expression.find_all(exp.EQ), direct):
            ka, kb = _kind(fa.type), _kind(fb.type)
            if ka and kb and ka != kb:
                raise BadSpecError(f"type mismatch: {a.name}.{fa.name} is {fa.type} and {b.name}.{fb.name} is "
                                   f"{fb.type}; they cannot be compared (CAST one of them in the query)")


def _narrowest(schema: pa.Schema) -> str:
    """The column cheapest to read (fixed width first)."""
    def width(f: pa.Field) -> int:
        try:
            return f.type.bit_width
        except ValueError:
            return 1 << 20
    return min(schema, key=width).name
