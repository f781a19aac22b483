"""Which WHERE/ON conditions one input can evaluate itself: SQL conjuncts -> unistore filters.

A conjunct that names columns of one input only and has a shape every store
understands (a comparison with a literal, ``IN``/``NOT IN`` a list, ``IS [NOT]
NULL``, ``BETWEEN``, an ``OR`` of those, a boolean column) becomes a
:class:`~unistore.filters.Filter`, which each adapter translates to its store
(bound parameters in SQL, dataset expressions on files). A literal whose type
does not fit the column (a string compared with a number, which DuckDB would
cast) is not pushed: the store might compare differently. The query keeps every
condition, so a pushed filter only narrows what is read, never the answer.

Values layer: sqlglot and the filter types only.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Mapping
from typing import Any

import pyarrow as pa
from sqlglot import exp

from ..filters import Filter, as_filter

_FLIP = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_OPS = {exp.EQ: "==", exp.NEQ: "!=", exp.LT: "<", exp.LTE: "<=", exp.GT: ">", exp.GTE: ">="}
#: marks a literal that cannot be pushed
_NO = object()


def conjuncts(condition: exp.Expression | None) -> list[exp.Expression]:
    """The AND-ed parts of a condition (parentheses removed)."""
    if condition is None:
        return []
    return [c.unnest() for c in condition.flatten()] if isinstance(condition, exp.And) else [condition.unnest()]


def to_filter(node: exp.Expression, schema: pa.Schema, params: Mapping[str, Any] | None) -> Filter | None:
    """``node`` as a filter on the columns of ``schema``, or None when it cannot be pushed.

    Columns are matched by name, case-insensitively (the names in ``schema`` are the store's).
    """
    node = node.unnest()
    if isinstance(node, exp.Or):
        left, right = to_filter(node.this, schema, params), to_filter(node.expression, schema, params)
        return left | right if left is not None and right is not None else None
    if isinstance(node, exp.And):
        parts = [to_filter(c, schema, params) for c in conjuncts(node)]
        if any(p is None for p in parts):
            return None
        out = parts[0]
        for p in parts[1:]:
            out = out & p
        return out
    negated = isinstance(node, exp.Not)
    inner = node.this.unnest() if negated else node
    if isinstance(inner, exp.Is) and isinstance(inner.expression, exp.Null):
        field = _field(inner.this, schema)
        return None if field is None else as_filter((field.name, "is not null" if negated else "is null"))
    if isinstance(inner, exp.In) and not inner.args.get("query") and not inner.args.get("unnest"):
        field = _field(inner.this, schema)
        values = [_value(v, field, params) for v in inner.expressions] if field is not None else [_NO]
        if any(v is _NO for v in values):
            return None
        return as_filter((field.name, "not in" if negated else "in", values))
    if isinstance(inner, exp.Column):  # a boolean column, or NOT one
        field = _field(inner, schema)
        if field is None or not pa.types.is_boolean(field.type):
            return None
        return as_filter((field.name, "==", not negated))
    if negated:
        return None
    if isinstance(node, exp.Between):
        field = _field(node.this, schema)
        if field is None:
            return None
        low, high = _value(node.args["low"], field, params), _value(node.args["high"], field, params)
        if low is _NO or high is _NO:
            return None
        return as_filter([(field.name, ">=", low), (field.name, "<=", high)])
    op = _OPS.get(type(node))
    if op is None:
        return None
    left, right = node.this.unnest(), node.expression.unnest()
    if not isinstance(left, exp.Column):
        left, right, op = right, left, _FLIP[op]
    field = _field(left, schema)
    if field is None:
        return None
    value = _value(right, field, params)
    return None if value is _NO else as_filter((field.name, op, value))


def _field(node: exp.Expression, schema: pa.Schema) -> pa.Field | None:
    if not isinstance(node, exp.Column):
        return None
    wanted = node.name.lower()
    found = [f for f in schema if f.name.lower() == wanted]
    return found[0] if len(found) == 1 else None


def _value(node: exp.Expression, field: pa.Field, params: Mapping[str, Any] | None) -> Any:
    """The Python value of a literal (or bound parameter) if it fits ``field``'s type, else ``_NO``."""
    node = node.unnest()
    if isinstance(node, exp.Placeholder):
        name = node.name
        if not name or params is None or name not in params:
            return _NO
        return _fits(params[name], field.type)
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
        value = _number(node.this.this)
        return _NO if value is _NO else _fits(-value, field.type)
    if isinstance(node, exp.Literal):
        return _fits(node.this if node.is_string else _number(node.this), field.type)
    if isinstance(node, exp.Boolean):
        return _fits(node.this, field.type)
    if isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal) and node.this.is_string:
        to = node.to.this
        try:
            if to == exp.DataType.Type.DATE:
                return _fits(dt.date.fromisoformat(node.this.this), field.type)
            if to in (exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPNTZ, exp.DataType.Type.DATETIME):
                return _fits(dt.datetime.fromisoformat(node.this.this), field.type)
        except ValueError:
            return _NO
    return _NO


def _number(text: Any) -> Any:
    try:
        return int(text)
    except (TypeError, ValueError):
        try:
            return float(text)
        except (TypeError, ValueError):
            return _NO


def _fits(value: Any, typ: pa.DataType) -> Any:
    """``value`` when a store compares it with a ``typ`` column as DuckDB would, else ``_NO``."""
    if value is _NO or value is None:
        return _NO
    if pa.types.is_boolean(typ):
        return value if isinstance(value, bool) else _NO
    if pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_decimal(typ):
        ok = isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool)
        return value if ok else _NO
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        return value if isinstance(value, str) else _NO
    if pa.types.is_date(typ):
        return value if isinstance(value, dt.date) and not isinstance(value, dt.datetime) else _NO
    if pa.types.is_timestamp(typ):
        if isinstance(value, dt.datetime):
            pass
        elif isinstance(value, dt.date):
            value = dt.datetime.combine(value, dt.time())
        else:
            return _NO
        if typ.tz is not None and value.tzinfo is None:  # the query engine runs in UTC
            value = value.replace(tzinfo=dt.timezone.utc)
        if typ.tz is None and value.tzinfo is not None:
            return _NO
        return value
    return _NO
