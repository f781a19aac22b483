"""Row filters: one normal form, translated to every store.

Callers write what the Arrow ecosystem already uses, DNF tuples as in
pyarrow/pandas/Dask/deltalake::

    [("amount", ">", 10), ("kind", "in", ["a", "b"])]            # AND
    [[("kind", "==", "a")], [("amount", "<", 0)]]                  # OR of ANDs

or the small expression form, which composes with ``&``, ``|`` and ``~``::

    (col("amount") > 10) & col("kind").isin(["a", "b"])

Both become a :class:`Filter` (an OR of AND-clauses of :class:`Predicate`),
which adapters translate to their store (:meth:`Filter.to_arrow`,
:meth:`Filter.to_sqlalchemy`, ...). Null semantics are SQL's on every store:
a comparison with NULL is never true, so ``!=`` and ``not in`` drop NULL rows.
"""

from __future__ import annotations

import datetime as dt
import decimal
import itertools
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Union

from .errors import BadSpecError

COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
SET_OPS = ("in", "not in")
NULL_OPS = ("is null", "is not null")
OPERATORS = COMPARISONS + SET_OPS + NULL_OPS
_ALIASES = {"=": "==", "<>": "!=", "not_in": "not in", "notin": "not in"}
_NEGATION = {"==": "!=", "!=": "==", "<": ">=", ">=": "<", ">": "<=", "<=": ">",
             "in": "not in", "not in": "in", "is null": "is not null", "is not null": "is null"}
_SCALARS = (bool, int, float, str, bytes, decimal.Decimal, dt.date, dt.datetime, dt.time, dt.timedelta)
#: how much of a caller's value an error message may quote
SHORT = 80


def short(value: Any, limit: int = SHORT) -> str:
    """``repr(value)`` cut to ``limit`` characters: messages quote input, never all of a huge one."""
    if isinstance(value, (list, tuple, set, frozenset, dict)) and len(value) > limit:
        text = f"<{type(value).__name__} of {len(value)} items>"  # repr of a huge container costs time too
    else:
        try:
            text = repr(value)
        except Exception:  # a repr that fails must not replace the real error
            text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


@dataclass(frozen=True)
class Predicate:
    """``column op value``; ``value`` is a tuple for set operators, None for null tests."""

    column: str
    op: str
    value: Any = None

    def negate(self) -> "Predicate":
        return Predicate(self.column, _NEGATION[self.op], self.value)

    def __str__(self) -> str:
        if self.op in NULL_OPS:
            return f"{self.column} {self.op.upper()}"
        if self.op in SET_OPS:
            return f"{self.column} {self.op.upper()} ({', '.join(_literal(v) for v in self.value)})"
        return f"{self.column} {self.op} {_literal(self.value)}"


def _literal(value: Any) -> str:
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return repr(value.isoformat())
    if isinstance(value, bytes):
        return f"x'{value.hex()}'"
    return repr(value)


def _predicate(column: Any, op: Any, value: Any = None) -> Predicate:
    if not isinstance(column, str) or not column:
        raise BadSpecError(f"filter column must be a non-empty string, got {short(column)}")
    if not isinstance(op, str):
        raise BadSpecError(f"filter operator must be a string, got {short(op)}")
    op = _ALIASES.get(op.strip().lower(), op.strip().lower())
    if op not in OPERATORS:
        raise BadSpecError(f"unknown filter operator {short(op)}; use one of {', '.join(OPERATORS)}")
    if op in NULL_OPS:
        return Predicate(column, op, None)
    if op in SET_OPS:
        if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
            raise BadSpecError(f"{op!r} needs a list of values for column {short(column)}")
        values = tuple(value)  # once: a generator can be iterated only once
        for v in values:
            _check_scalar(column, v, op)
        return Predicate(column, op, values)
    _check_scalar(column, value, op)
    return Predicate(column, op, value)


def _check_scalar(column: str, value: Any, op: str) -> None:
    if value is None:
        raise BadSpecError(
            f"filter on {short(column)} compares with None using {op!r}; "
            "use ('col', 'is null') or ('col', 'is not null') instead"
        )
    if not isinstance(value, _SCALARS):
        raise BadSpecError(f"filter value for {short(column)} must be a scalar, got {type(value).__name__}")
    if isinstance(value, float) and value != value:
        raise BadSpecError(f"filter on {short(column)} compares with NaN, which matches nothing on SQL stores")


@dataclass(frozen=True)
class Filter:
    """A filter in disjunctive normal form: ``OR`` over ``AND``-clauses of predicates."""

    clauses: tuple[tuple[Predicate, ...], ...]

    # -- composition (the expression form) --------------------------------
    def __and__(self, other: "Filter") -> "Filter":
        other = as_filter(other)
        return Filter(tuple(a + b for a, b in itertools.product(self.clauses, other.clauses)))

    def __or__(self, other: "Filter") -> "Filter":
        return Filter(self.clauses + as_filter(other).clauses)

    def __invert__(self) -> "Filter":
        # De Morgan: not (A or B) = (not A) and (not B); not (p and q) = (not p) or (not q)
        result: Filter | None = None
        for clause in self.clauses:
            negated = Filter(tuple((p.negate(),) for p in clause))
            result = negated if result is None else result & negated
        assert result is not None
        return result

    def __bool__(self) -> bool:  # a Filter is never used as a truth value by accident
        raise BadSpecError("use & and | to combine filters, not 'and' / 'or'")

    # -- inspection --------------------------------------------------------
    @property
    def columns(self) -> set[str]:
        return {p.column for clause in self.clauses for p in clause}

    def to_dnf(self) -> list[list[tuple]]:
        """The filter as DNF tuples (JSON-friendly except for the values)."""
        return [[(p.column, p.op, list(p.value) if p.op in SET_OPS else p.value) for p in c]
                for c in self.clauses]

    def __str__(self) -> str:
        ands = [" AND ".join(str(p) for p in clause) for clause in self.clauses]
        if len(ands) == 1:
            return ands[0]
        return " OR ".join(f"({a})" for a in ands)

    # -- translations ------------------------------------------------------
    def to_arrow(self, floating: Collection[str] = ()):
        """A ``pyarrow.compute.Expression`` with SQL null semantics.

        ``floating`` names the floating-point columns: there ``!=`` also says that
        NaN passes, which pyarrow.dataset would otherwise forget when it judges a
        Parquet row group from statistics (they leave NaN out, so a row group whose
        numbers all equal the value was dropped with its NaN rows).
        """
        import pyarrow.compute as pc

        def one(p: Predicate):
            f = pc.field(p.column)
            if p.op == "!=" and p.column in floating:
                return (f != _arrow_value(p.value)) | pc.is_nan(f)
            if p.op == "is null":
                return f.is_null()
            if p.op == "is not null":
                return f.is_valid()
            if p.op == "in":  # an empty value set has no type to match: constant false
                return f.isin(list(p.value)) if p.value else pc.scalar(False)
            if p.op == "not in":
                return (~f.isin(list(p.value)) & f.is_valid()) if p.value else f.is_valid()
            return {"==": f.__eq__, "!=": f.__ne__, "<": f.__lt__, "<=": f.__le__,
                    ">": f.__gt__, ">=": f.__ge__}[p.op](_arrow_value(p.value))

        expr = None
        for clause in self.clauses:
            conj = None
            for p in clause:
                conj = one(p) if conj is None else conj & one(p)
            expr = conj if expr is None else expr | conj
        return expr

    def to_sqlalchemy(self, columns: dict[str, Any]):
        """A SQLAlchemy boolean clause; values become bound parameters, never literals."""
        import sqlalchemy as sa

        def one(p: Predicate):
            c = columns[p.column]
            if p.op == "is null":
                return c.is_(None)
            if p.op == "is not null":
                return c.is_not(None)
            if p.op == "in":
                return c.in_(list(p.value)) if p.value else sa.false()
            if p.op == "not in":
                return c.not_in(list(p.value)) if p.value else c.is_not(None)
            # sa.literal() is a bound parameter even for True/False, which SQLAlchemy would inline
            return {"==": c.__eq__, "!=": c.__ne__, "<": c.__lt__, "<=": c.__le__,
                    ">": c.__gt__, ">=": c.__ge__}[p.op](sa.literal(p.value))

        return sa.or_(*(sa.and_(*(one(p) for p in clause)) for clause in self.clauses))


def _arrow_value(value: Any):
    import pyarrow as pa

    if isinstance(value, decimal.Decimal):
        return pa.scalar(value)
    return value


class col:
    """The expression form: ``col("x") > 1``, ``col("k").isin([...])``, ``col("v").is_null()``."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        if not isinstance(name, str) or not name:
            raise BadSpecError("col() needs a column name")
        self.name = name

    def _f(self, op: str, value: Any = None) -> Filter:
        return Filter(((_predicate(self.name, op, value),),))

    def __eq__(self, v): return self._f("==", v)  # type: ignore[override]
    def __ne__(self, v): return self._f("!=", v)  # type: ignore[override]
    def __lt__(self, v): return self._f("<", v)
    def __le__(self, v): return self._f("<=", v)
    def __gt__(self, v): return self._f(">", v)
    def __ge__(self, v): return self._f(">=", v)
    def isin(self, values: Iterable[Any]) -> Filter: return self._f("in", values)
    def not_in(self, values: Iterable[Any]) -> Filter: return self._f("not in", values)
    def is_null(self) -> Filter: return self._f("is null")
    def is_not_null(self) -> Filter: return self._f("is not null")
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"col({self.name!r})"


FilterLike = Union[Filter, Sequence[tuple], Sequence[Sequence[tuple]], tuple, None]


def as_filter(obj: FilterLike) -> Filter:
    """Normalise DNF tuples or an expression into a :class:`Filter` (raises :class:`BadSpecError`)."""
    if isinstance(obj, Filter):
        return obj
    if isinstance(obj, col):
        raise BadSpecError(f"{short(obj)} is a column, not a filter; compare it, e.g. {short(obj)} > 0")
    if isinstance(obj, tuple) and obj and isinstance(obj[0], str):
        return Filter(((_predicate(*_arity(obj)),),))
    if isinstance(obj, (list, tuple)) and obj:
        if all(isinstance(x, tuple) for x in obj):
            return Filter((tuple(_predicate(*_arity(t)) for t in obj),))
        if all(isinstance(x, (list, tuple)) and x and all(isinstance(t, tuple) for t in x) for x in obj):
            return Filter(tuple(tuple(_predicate(*_arity(t)) for t in clause) for clause in obj))
    raise BadSpecError(
        "filter must be DNF tuples like [('x', '>', 1)] or [[...], [...]], "
        f"or an expression like col('x') > 1; got {type(obj).__name__}"
    )


def _arity(t: tuple) -> tuple:
    if len(t) == 2 and isinstance(t[1], str) and t[1].strip().lower() in NULL_OPS:
        return t
    if len(t) != 3:
        raise BadSpecError(f"filter tuple must be (column, op, value), got {short(t)}")
    return t
