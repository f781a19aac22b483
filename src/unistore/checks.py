"""Data tests: declarative checks evaluated on the batches of a read as they stream by.

A check is a small frozen value built by one of the constructors here
(:func:`not_null`, :func:`unique`, :func:`accepted_values`, :func:`between`,
:func:`row_count`, :func:`freshness`, :func:`schema`, :func:`relationships`,
:func:`expression`) or from its dict form (:func:`from_dict`, the shape a
catalog's ``tests:`` list holds)::

    {"not_null": {"columns": ["id", "kind"]}, "severity": "warn"}

Each check starts an *evaluator* on the result's schema (a missing column or a
wrong type is a :class:`~unistore.errors.BadSpecError` before any row is
looked at), which is fed every batch and finally gives one
:class:`~unistore.provenance.CheckResult` per tested column; how each is
computed, exactly whatever the batching, is :mod:`unistore.checkeval`.
:func:`evaluate` runs checks over a table already in memory.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from .checkeval import (
    CheckRun,
    ExpressionEvaluator,
    Evaluator,
    FreshnessEvaluator,
    NotNullEvaluator,
    RowCountEvaluator,
    RowTestEvaluator,
    SchemaEvaluator,
    UniqueEvaluator,
    plain,
    short,
    utc,
    value_type,
)
from .errors import BadSpecError
from .provenance import CheckResult, provenance_of

__all__ = [
    "Check", "CheckResult", "accepted_values", "between", "evaluate", "expression", "freshness",
    "from_dict", "not_null", "relationships", "row_count", "schema", "unique",
]

SEVERITIES = ("error", "warn")


# -- the checks ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Check:
    """A data test. ``severity`` ``error`` fails the read (:class:`~unistore.DataTestError`), ``warn`` warns;
    ``name`` overrides the default result name; ``key`` names the column whose values identify failing
    rows in the examples (without it, examples are the failing values themselves where there are any)."""

    severity: str = "error"
    name: str | None = None
    key: str | None = None

    assertion: ClassVar[str] = ""

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise BadSpecError(f"severity must be 'error' or 'warn', got {short(self.severity)}")
        if self.name is not None and (not isinstance(self.name, str) or not self.name.strip()):
            raise BadSpecError("a check's name must be a non-empty string")
        if self.key is not None:
            _check_name(self.key, "key")

    # what subclasses define
    def params(self) -> dict[str, Any]:
        """The check's parameters as JSON-able data (the inner dict of :meth:`to_dict`)."""
        raise NotImplementedError

    def columns(self) -> list[str]:
        """The columns the check reads (a projection must include them)."""
        return [self.key] if self.key else []

    def expected(self) -> str:
        raise NotImplementedError

    def start(self, schema: pa.Schema) -> "Evaluator":
        """An evaluator for a result of ``schema``; :class:`BadSpecError` if the check cannot apply to it."""
        raise NotImplementedError

    # shared
    def result_name(self, column: str | None = None) -> str:
        base = self.name or (f"{self.assertion}({column})" if column else self.assertion)
        if self.name and column and len(self.columns_tested()) > 1:
            return f"{self.name}({column})"
        return base

    def columns_tested(self) -> list[str]:
        """The columns that get one result each (empty: one result for the whole result)."""
        return []

    def to_dict(self) -> dict[str, Any]:
        """The dict form :func:`from_dict` reads back: ``{assertion: params, "severity": ..., ...}``."""
        out: dict[str, Any] = {self.assertion: self.params(), "severity": self.severity}
        if self.name is not None:
            out["name"] = self.name
        if self.key is not None:
            out["key"] = self.key
        return out

    def _result(self, column: str | None, success: bool, observed: Any, failing_rows: int | None = None,
                examples: Sequence[Any] = ()) -> CheckResult:
        return CheckResult(name=self.result_name(column), assertion=self.assertion, success=bool(success),
                           severity=self.severity, column=column, observed=observed, failing_rows=failing_rows,
                           examples=[plain(v) for v in examples], expected=self.expected(), params=self.params())

    def _field(self, schema: pa.Schema, column: str) -> pa.Field:
        if column not in schema.names:
            raise BadSpecError(f"data test {self.result_name(column)} names column {short(column)}, which the "
                               f"result lacks; columns: {short(', '.join(schema.names), 300)}")
        return schema.field(column)

    def _key_field(self, schema: pa.Schema) -> None:
        if self.key is not None:
            self._field(schema, self.key)


@dataclass(frozen=True)
class NotNull(Check):
    """No nulls in each of ``column_names`` (one result per column)."""

    column_names: tuple[str, ...] = ()
    assertion: ClassVar[str] = "not_null"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_columns(self.column_names, "not_null")

    def params(self) -> dict[str, Any]:
        return {"columns": list(self.column_names)}

    def columns(self) -> list[str]:
        return [*self.column_names, *super().columns()]

    def columns_tested(self) -> list[str]:
        return list(self.column_names)

    def expected(self) -> str:
        return "no nulls"

    def start(self, schema: pa.Schema) -> "Evaluator":
        for c in self.column_names:
            self._field(schema, c)
        self._key_field(schema)
        return NotNullEvaluator(self, schema)


@dataclass(frozen=True)
class Unique(Check):
    """No value (or combination of values, for several columns) occurs twice; nulls are not compared."""

    column_names: tuple[str, ...] = ()
    assertion: ClassVar[str] = "unique"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_columns(self.column_names, "unique")

    def params(self) -> dict[str, Any]:
        return {"columns": list(self.column_names)}

    def columns(self) -> list[str]:
        return list(self.column_names)

    def result_name(self, column: str | None = None) -> str:
        return self.name or f"unique({', '.join(self.column_names)})"

    def expected(self) -> str:
        return "no duplicates"

    def start(self, schema: pa.Schema) -> "Evaluator":
        fields = [self._field(schema, c) for c in self.column_names]
        return UniqueEvaluator(self, fields)


@dataclass(frozen=True)
class AcceptedValues(Check):
    """Every non-null value of ``column`` is one of ``values``."""

    column: str = ""
    values: tuple[Any, ...] = ()
    assertion: ClassVar[str] = "accepted_values"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_name(self.column, "accepted_values column")
        if not self.values:
            raise BadSpecError("accepted_values needs a non-empty list of values")

    def params(self) -> dict[str, Any]:
        return {"column": self.column, "values": [plain(v) for v in self.values]}

    def columns(self) -> list[str]:
        return [self.column, *super().columns()]

    def columns_tested(self) -> list[str]:
        return [self.column]

    def expected(self) -> str:
        return f"values in {short(str([plain(v) for v in self.values]), 200)}"

    def start(self, schema: pa.Schema) -> "Evaluator":
        typ = value_type(self._field(schema, self.column).type)
        self._key_field(schema)
        try:
            value_set = pa.array([_coerce(v, typ) for v in self.values], type=typ)
        except (pa.ArrowException, ValueError, TypeError) as exc:
            raise BadSpecError(f"{self.result_name(self.column)}: the accepted values do not fit the column's "
                               f"type {typ}: {short(str(exc), 200)}") from None
        return RowTestEvaluator(self, self.column, lambda arr: pc.invert(pc.is_in(arr, value_set=value_set)))


@dataclass(frozen=True)
class Between(Check):
    """Every non-null value of ``column`` is ``>= min`` and ``<= max`` (either bound may be None)."""

    column: str = ""
    min: Any = None
    max: Any = None
    assertion: ClassVar[str] = "between"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_name(self.column, "between column")
        if self.min is None and self.max is None:
            raise BadSpecError("between needs min=, max= or both")

    def params(self) -> dict[str, Any]:
        return {"column": self.column, "min": plain(self.min), "max": plain(self.max)}

    def columns(self) -> list[str]:
        return [self.column, *super().columns()]

    def columns_tested(self) -> list[str]:
        return [self.column]

    def expected(self) -> str:
        parts = ([f">= {plain(self.min)}"] if self.min is not None else []) + \
                ([f"<= {plain(self.max)}"] if self.max is not None else [])
        return " and ".join(parts)

    def start(self, schema: pa.Schema) -> "Evaluator":
        typ = value_type(self._field(schema, self.column).type)
        self._key_field(schema)
        try:
            lo = None if self.min is None else pa.scalar(_coerce(self.min, typ), type=typ)
            hi = None if self.max is None else pa.scalar(_coerce(self.max, typ), type=typ)
            probe = pa.array([], type=typ)
            for bound in (lo, hi):
                if bound is not None:
                    pc.less(probe, bound)
        except (pa.ArrowException, ValueError, TypeError, decimal.InvalidOperation) as exc:
            raise BadSpecError(f"{self.result_name(self.column)}: the bounds do not fit the column's type "
                               f"{typ}: {short(str(exc), 200)}") from None

        def outside(arr: pa.Array) -> pa.Array:
            below = pc.less(arr, lo) if lo is not None else None
            above = pc.greater(arr, hi) if hi is not None else None
            if below is None:
                return above
            return below if above is None else pc.or_(below, above)

        return RowTestEvaluator(self, self.column, outside, track_range=True)


@dataclass(frozen=True)
class RowCount(Check):
    """The result has at least ``min`` and at most ``max`` rows."""

    min: int | None = None
    max: int | None = None
    assertion: ClassVar[str] = "row_count"

    def __post_init__(self) -> None:
        super().__post_init__()
        for bound in (self.min, self.max):
            if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int) or bound < 0):
                raise BadSpecError(f"row_count bounds must be non-negative integers, got {short(bound)}")
        if self.min is None and self.max is None:
            raise BadSpecError("row_count needs min=, max= or both")

    def params(self) -> dict[str, Any]:
        return {"min": self.min, "max": self.max}

    def expected(self) -> str:
        return " and ".join(([f">= {self.min} rows"] if self.min is not None else []) +
                            ([f"<= {self.max} rows"] if self.max is not None else []))

    def start(self, schema: pa.Schema) -> "Evaluator":
        return RowCountEvaluator(self)


@dataclass(frozen=True)
class Freshness(Check):
    """The latest value of the time ``column`` is at most ``max_age`` before ``now`` (default: when
    the read ends). Naive timestamps and dates count as UTC."""

    column: str = ""
    max_age: dt.timedelta = dt.timedelta(0)
    now: dt.datetime | None = None
    assertion: ClassVar[str] = "freshness"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_name(self.column, "freshness column")
        object.__setattr__(self, "max_age", _duration(self.max_age))
        if self.now is not None:
            object.__setattr__(self, "now", utc(_datetime(self.now, "freshness now")))

    def params(self) -> dict[str, Any]:
        return {"column": self.column, "max_age": self.max_age.total_seconds(),
                "now": self.now.isoformat() if self.now is not None else None}

    def columns(self) -> list[str]:
        return [self.column]

    def columns_tested(self) -> list[str]:
        return [self.column]

    def expected(self) -> str:
        return f"latest value at most {self.max_age} old"

    def start(self, schema: pa.Schema) -> "Evaluator":
        typ = value_type(self._field(schema, self.column).type)
        if not (pa.types.is_timestamp(typ) or pa.types.is_date(typ)):
            raise BadSpecError(f"{self.result_name(self.column)} needs a timestamp or date column; "
                               f"{short(self.column)} is {typ}")
        return FreshnessEvaluator(self)


@dataclass(frozen=True)
class Schema(Check):
    """The named columns exist with these Arrow types (``exact``: and no other columns)."""

    types: tuple[tuple[str, str], ...] = ()
    exact: bool = False
    assertion: ClassVar[str] = "schema"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.types:
            raise BadSpecError("schema needs a mapping of column names to Arrow types")

    def params(self) -> dict[str, Any]:
        return {"columns": dict(self.types), "exact": self.exact}

    def expected(self) -> str:
        return ", ".join(f"{c}: {t}" for c, t in self.types) + (" (no other columns)" if self.exact else "")

    def start(self, schema: pa.Schema) -> "Evaluator":
        return SchemaEvaluator(self, schema)


@dataclass(frozen=True)
class Reference:
    """The other side of a :func:`relationships` check once read: its distinct keys and where they came from."""

    keys: pa.Array
    description: str
    read_id: str | None = None


@dataclass(frozen=True, repr=False)
class Relationships(Check):
    """Every non-null value of ``column`` occurs in ``field`` of another data set (``to``).

    ``to`` is a ``pyarrow.Table`` or ``RecordBatchReader`` (for instance ``unistore.scan(...)``: its
    read id is recorded), a callable returning one, or a location URI read with ``table=`` when
    the check runs (a catalog passes dataset names and resolves them itself).
    """

    column: str = ""
    to: Any = None
    field: str | None = None
    table: str | None = None
    reference: Reference | None = dataclasses.field(default=None, compare=False, repr=False)
    assertion: ClassVar[str] = "relationships"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_name(self.column, "relationships column")
        if self.field is not None:
            _check_name(self.field, "relationships field")
        if not (isinstance(self.to, (str, pa.Table, pa.RecordBatchReader)) or callable(self.to)):
            raise BadSpecError("relationships to= must be a pyarrow Table or RecordBatchReader, a callable "
                               f"returning one, or a location URI; got {type(self.to).__name__}")
        if isinstance(self.to, str) and not self.to.strip():
            raise BadSpecError("relationships to= must not be empty")

    def __repr__(self) -> str:  # ``to`` may be a URI with a password: never shown as given
        return (f"Relationships(column={self.column!r}, to={self.target_description()!r}, field={self.field!r}, "
                f"table={self.table!r}, severity={self.severity!r}, name={self.name!r}, key={self.key!r})")

    @property
    def other_field(self) -> str:
        return self.field or self.column

    def params(self) -> dict[str, Any]:
        return {"column": self.column, "to": self.target_description(), "field": self.other_field,
                **({"table": self.table} if self.table is not None else {})}

    def target_description(self) -> str:
        """``to`` as text that holds no credential (URIs redacted, tables named by their provenance)."""
        from .location import redact

        if isinstance(self.to, str):
            return redact(self.to) if "://" in self.to else self.to
        if self.reference is not None:
            return self.reference.description
        return "<callable>" if callable(self.to) and not isinstance(self.to, pa.Table) else "<arrow data>"

    def columns(self) -> list[str]:
        return [self.column, *super().columns()]

    def columns_tested(self) -> list[str]:
        return [self.column]

    def expected(self) -> str:
        return f"every value present in {self.target_description()} ({self.other_field})"

    def resolve(self, read: Callable[[str, str | None, str], Any] | None = None) -> "Relationships":
        """This check with the other side read into its distinct keys (nothing to do when already done).

        ``read(uri, table, field)`` reads a location named by a string; without it such a check
        cannot be resolved here.
        """
        if self.reference is not None:
            return self
        data = self.to
        if isinstance(data, str):
            if read is None:
                raise BadSpecError(f"{self.result_name(self.column)} names {self.target_description()}, which "
                                   "only unistore.read/scan (or a catalog) can read; pass a table instead")
            data = read(data, self.table, self.other_field)
        elif callable(data) and not isinstance(data, (pa.Table, pa.RecordBatchReader)):
            data = data()
        if isinstance(data, pa.RecordBatchReader):
            data = data.read_all()
        if not isinstance(data, pa.Table):
            raise BadSpecError(f"{self.result_name(self.column)}: the other side must be a pyarrow Table, got "
                               f"{type(data).__name__}")
        if self.other_field not in data.column_names:
            raise BadSpecError(f"{self.result_name(self.column)}: the other side has no column "
                               f"{short(self.other_field)}; columns: {short(', '.join(data.column_names), 300)}")
        try:
            record = provenance_of(data)
            description, read_id = f"{record.source.namespace}/{record.source.name}", record.read_id
        except (LookupError, TypeError):
            description, read_id = self.target_description(), None
        if isinstance(self.to, str):
            description = self.target_description() + (f" {self.table}" if self.table else "")
        column = data.column(self.other_field)
        column = column.cast(value_type(column.type)) if pa.types.is_dictionary(column.type) else column
        keys = pc.unique(column.combine_chunks()).drop_null()
        return dataclasses.replace(self, reference=Reference(keys, description, read_id))

    def start(self, schema: pa.Schema) -> "Evaluator":
        typ = value_type(self._field(schema, self.column).type)
        self._key_field(schema)
        if self.reference is None:
            raise BadSpecError(f"{self.result_name(self.column)} was not resolved before the read "
                               "(Relationships.resolve)")
        keys = self.reference.keys
        if keys.type != typ:
            try:
                keys = keys.cast(typ)
            except pa.ArrowException as exc:
                raise BadSpecError(f"{self.result_name(self.column)}: the other side's {keys.type} keys do not "
                                   f"fit the column's type {typ}: {short(str(exc), 200)}") from None
        evaluator = RowTestEvaluator(self, self.column, lambda arr: pc.invert(pc.is_in(arr, value_set=keys)))
        evaluator.extra = {"reference_keys": len(keys), "reference_read_id": self.reference.read_id}
        return evaluator


@dataclass(frozen=True)
class Expression(Check):
    """A SQL boolean expression true for every row, evaluated by DuckDB over each batch (no file or
    network access: the batch is its only table). A row where it is false or NULL fails."""

    sql: str = ""
    assertion: ClassVar[str] = "expression"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.sql, str) or not self.sql.strip():
            raise BadSpecError("expression needs a non-empty SQL boolean expression")
        _check_expression(self.sql)

    def params(self) -> dict[str, Any]:
        return {"sql": self.sql}

    def result_name(self, column: str | None = None) -> str:
        return self.name or f"expression({short(self.sql, 80)})"

    def expected(self) -> str:
        return "true for every row"

    def start(self, schema: pa.Schema) -> "Evaluator":
        self._key_field(schema)
        return ExpressionEvaluator(self, schema)


# -- constructors (the public spelling) -----------------------------------------------------------

def not_null(columns: str | Sequence[str], *, severity: str = "error", name: str | None = None,
             key: str | None = None) -> Check:
    """No nulls in ``columns`` (a name or a list; one result per column)."""
    return NotNull(severity, name, key, column_names=_names(columns, "not_null"))


def unique(columns: str | Sequence[str], *, severity: str = "error", name: str | None = None) -> Check:
    """No duplicate values in ``columns`` (a list: no duplicate combination). Exact; its memory is reported."""
    return Unique(severity, name, None, column_names=_names(columns, "unique"))


def accepted_values(column: str, values: Iterable[Any], *, severity: str = "error", name: str | None = None,
                    key: str | None = None) -> Check:
    """Every non-null value of ``column`` is one of ``values``."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise BadSpecError("accepted_values needs a list of values")
    return AcceptedValues(severity, name, key, column=column, values=tuple(values))


def between(column: str, min: Any = None, max: Any = None, *, severity: str = "error", name: str | None = None,
            key: str | None = None) -> Check:
    """Every non-null value of ``column`` lies in ``[min, max]`` (bounds included; either may be None)."""
    return Between(severity, name, key, column=column, min=min, max=max)


def row_count(min: int | None = None, max: int | None = None, *, severity: str = "error",
              name: str | None = None) -> Check:
    """The result has between ``min`` and ``max`` rows (bounds included)."""
    return RowCount(severity, name, None, min=min, max=max)


def freshness(column: str, max_age: dt.timedelta | float | str, *, now: dt.datetime | str | None = None,
              severity: str = "error", name: str | None = None) -> Check:
    """The newest value of the timestamp or date ``column`` is at most ``max_age`` old
    (a timedelta, seconds, or ``"90s"``, ``"30m"``, ``"36h"``, ``"7d"``)."""
    return Freshness(severity, name, None, column=column, max_age=max_age, now=now)  # type: ignore[arg-type]


def schema(columns: Mapping[str, pa.DataType | str], *, exact: bool = False, severity: str = "error",
           name: str | None = None) -> Check:
    """The named columns exist with these Arrow types (``pa.int64()`` or ``"int64"``; ``exact``: no others)."""
    if not isinstance(columns, Mapping):
        raise BadSpecError("schema needs a mapping of column names to Arrow types")
    types = []
    for column, typ in columns.items():
        _check_name(column, "schema column")
        types.append((column, _type_name(typ)))
    if not isinstance(exact, bool):
        raise BadSpecError("schema exact= must be true or false")
    return Schema(severity, name, None, types=tuple(types), exact=exact)


def relationships(column: str, to: Any, field: str | None = None, *, table: str | None = None,
                  severity: str = "error", name: str | None = None, key: str | None = None) -> Check:
    """Every non-null value of ``column`` is present in ``field`` (default: the same name) of ``to``:
    a pyarrow Table or RecordBatchReader, a callable returning one, or a URI read with ``table=``."""
    return Relationships(severity, name, key, column=column, to=to, field=field, table=table)


def expression(sql: str, *, severity: str = "error", name: str | None = None, key: str | None = None) -> Check:
    """A SQL boolean over each row (DuckDB dialect), e.g. ``"amount >= 0 OR kind = 'refund'"``."""
    return Expression(severity, name, key, sql=sql)


_CONSTRUCTORS: dict[str, Callable[..., Check]] = {
    "not_null": not_null, "unique": unique, "accepted_values": accepted_values, "between": between,
    "row_count": row_count, "freshness": freshness, "schema": schema, "relationships": relationships,
    "expression": expression,
}
_COMMON_KEYS = ("severity", "name", "key")


def from_dict(data: Mapping[str, Any] | str | Check, *, column: str | None = None) -> Check:
    """A check from its dict form: ``{assertion: {params}, "severity": ..., "name": ..., "key": ...}``.

    The params are the constructor's keyword arguments (``columns``/``column`` for the column tests,
    ``values``, ``min``/``max``, ``max_age``, ``to``/``field``/``table``, ``sql``); ``expression``
    also takes the SQL text directly (``{"expression": "amount >= 0"}``). Tests declared under a
    column (a catalog's ``columns: {id: {tests: [not_null, unique]}}``) pass ``column=``: the params
    may then leave the column out, and a bare name (``"not_null"``) is a test without params.
    """
    if isinstance(data, Check):
        return data
    if isinstance(data, str) and column is not None:
        data = {data: {}}
    if not isinstance(data, Mapping):
        raise BadSpecError(f"a data test is a check or a mapping like {{'not_null': {{'columns': ['id']}}}}, "
                           f"got {type(data).__name__}")
    kinds = [k for k in data if k not in _COMMON_KEYS]
    if len(kinds) != 1 or kinds[0] not in _CONSTRUCTORS:
        raise BadSpecError(f"a data test names exactly one of {', '.join(_CONSTRUCTORS)}; got "
                           f"{short(', '.join(map(str, kinds)) or 'none', 200)}")
    kind = kinds[0]
    params = data[kind]
    common = {k: data[k] for k in _COMMON_KEYS if k in data}
    if kind in ("unique", "row_count", "freshness", "schema") and "key" in common:
        raise BadSpecError(f"{kind} takes no key=")
    if kind == "expression" and isinstance(params, str):
        params = {"sql": params}
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise BadSpecError(f"the parameters of {kind} must be a mapping")
    if column is not None and kind not in ("row_count", "schema", "expression") and \
            "column" not in params and "columns" not in params:
        params = {**params, "column": column}
    params = dict(params)
    if kind in ("not_null", "unique") and "column" in params and "columns" not in params:
        params["columns"] = params.pop("column")
    try:
        return _CONSTRUCTORS[kind](**params, **common)
    except TypeError as exc:
        raise BadSpecError(f"bad parameters for {kind}: {short(str(exc), 200)}") from None


def as_checks(checks: Iterable[Check | Mapping[str, Any]] | Check | None) -> tuple[Check, ...]:
    """``checks=`` as given to a read, validated: checks or their dict forms, names unique."""
    if checks is None:
        return ()
    if isinstance(checks, (Check, Mapping)):
        checks = [checks]
    if isinstance(checks, (str, bytes)) or not isinstance(checks, Iterable):
        raise BadSpecError("checks= takes a list of data tests (unistore.checks.not_null(...), ...)")
    out = tuple(from_dict(c) for c in checks)
    names = [n for c in out for n in ([c.result_name(col) for col in c.columns_tested()] or [c.result_name()])]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise BadSpecError(f"data test names must be unique; repeated: {short(', '.join(dupes), 200)} "
                           "(give one of them name=)")
    return out


def evaluate(data: pa.Table | pa.RecordBatch | pa.RecordBatchReader,
             checks: Iterable[Check | Mapping[str, Any]]) -> list[CheckResult]:
    """Run ``checks`` over Arrow data already in hand (no store, no record); the same results a read gives.

    ``relationships`` to a location URI cannot be read here: give it a table.
    """
    prepared = [c.resolve() if isinstance(c, Relationships) else c for c in as_checks(checks)]
    run = CheckRun(prepared, data.schema)
    batches = data.to_batches() if isinstance(data, pa.Table) else [data] if isinstance(data, pa.RecordBatch) \
        else data
    for batch in batches:
        if batch.num_rows:
            run.update(batch)
    return run.results()


# -- helpers ---------------------------------------------------------------------------------------


def _check_name(name: Any, what: str) -> None:
    if not isinstance(name, str) or not name:
        raise BadSpecError(f"{what} must be a non-empty column name, got {short(name)}")


def _check_columns(columns: tuple[str, ...], what: str) -> None:
    if not columns:
        raise BadSpecError(f"{what} needs at least one column")
    for c in columns:
        _check_name(c, f"{what} column")
    if len(set(columns)) != len(columns):
        raise BadSpecError(f"{what} names a column twice")


def _names(columns: Any, what: str) -> tuple[str, ...]:
    if isinstance(columns, str):
        return (columns,)
    if not isinstance(columns, Iterable):
        raise BadSpecError(f"{what} takes a column name or a list of them, got {type(columns).__name__}")
    return tuple(columns)


def _check_expression(sql: str) -> None:
    """One SQL expression, not a statement or a query: nothing but this row's columns is reachable."""
    import sqlglot
    from sqlglot import exp

    try:
        parsed = sqlglot.parse(sql, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise BadSpecError(f"expression {short(sql)} is not valid SQL: {short(str(exc).splitlines()[0], 200)}") \
            from None
    if len(parsed) != 1 or parsed[0] is None:
        raise BadSpecError(f"expression {short(sql)} must be one SQL expression")
    tree = parsed[0]
    if isinstance(tree, (exp.Query, exp.Command, exp.DDL, exp.DML)) or \
            any(isinstance(node, (exp.Query, exp.Subquery, exp.Table)) for node in tree.walk()):
        raise BadSpecError(f"expression {short(sql)} must be a row expression, not a query or a statement")








def _coerce(value: Any, typ: pa.DataType) -> Any:
    """A bound or accepted value given as text (YAML) in the column's terms."""
    if isinstance(value, str):
        if pa.types.is_timestamp(typ):
            value = dt.datetime.fromisoformat(value)
        elif pa.types.is_date(typ):
            value = dt.date.fromisoformat(value)
        elif pa.types.is_decimal(typ):
            value = decimal.Decimal(value)
    if pa.types.is_timestamp(typ) and isinstance(value, dt.datetime):
        if typ.tz is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        elif typ.tz is None and value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    if pa.types.is_decimal(typ) and isinstance(value, float):
        value = decimal.Decimal(repr(value))
    if pa.types.is_floating(typ) and isinstance(value, (int, decimal.Decimal)) and not isinstance(value, bool):
        value = float(value)
    return value


def _type_name(typ: Any) -> str:
    if isinstance(typ, pa.DataType):
        return str(typ)
    if not isinstance(typ, str) or not typ.strip():
        raise BadSpecError(f"a schema type is a pyarrow DataType or its name, got {short(typ)}")
    try:
        return str(pa.type_for_alias(typ.strip()))
    except (ValueError, KeyError):
        return typ.strip()


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _duration(value: Any) -> dt.timedelta:
    if isinstance(value, dt.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and _DURATION.match(value):
        number, unit = _DURATION.match(value).groups()  # type: ignore[union-attr]
        seconds = float(number) * _UNITS[unit]
    else:
        raise BadSpecError(f"max_age must be a timedelta, seconds or a text like '36h' / '7d', got {short(value)}")
    if not math.isfinite(seconds) or seconds < 0:
        raise BadSpecError(f"max_age must be a non-negative duration, got {short(value)}")
    return dt.timedelta(seconds=seconds)


def _datetime(value: Any, what: str) -> dt.datetime:
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            raise BadSpecError(f"{what} must be an ISO 8601 time, got {short(value)}") from None
    if not isinstance(value, dt.datetime):
        raise BadSpecError(f"{what} must be a datetime, got {type(value).__name__}")
    return value



