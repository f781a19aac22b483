"""How data tests are computed over a stream: one evaluator per check, fed every batch, merged exactly.

An evaluator keeps only what merges exactly whatever the batching and the
order of the batches: counts, min/max, the few smallest failing keys
(:class:`_Smallest`), and for ``unique`` the keys as 64-bit words or hashes
(sorted once at the end). So a table read in one batch, in many, or from
parallel splits arriving in any order gets the same results.
:class:`CheckRun` is the one observer the read engine feeds; :func:`verdict`
is what a finished read does with the results (warn, or raise
:class:`~unistore.errors.DataTestError`). The checks themselves, their
parameters and validation live in :mod:`unistore.checks`.
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .errors import BadSpecError, DataTestError, DataTestWarning, describe_failure
from .provenance import CheckResult, Provenance, jsonable

if TYPE_CHECKING:
    from .checks import Check

#: failing keys or values kept per result: the smallest ones, so they do not depend on batching
EXAMPLES = 5


class Evaluator:
    """Fed every batch of a result; gives the check's results at the end."""

    def update(self, batch: pa.RecordBatch) -> None:
        pass

    def results(self) -> list[CheckResult]:
        raise NotImplementedError


class _Smallest:
    """The ``n`` smallest distinct values seen (the same whatever the batching or order)."""

    def __init__(self, n: int = EXAMPLES):
        self.n = n
        self.kept: pa.Array | None = None

    def add(self, values: pa.Array | pa.ChunkedArray) -> None:
        if len(values) == 0:
            return
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        values = values.drop_null()
        if len(values) == 0:
            return
        if self.kept is not None:
            values = pa.concat_arrays([self.kept, values.cast(self.kept.type)])
        self.kept = _first_sorted(pc.unique(values), self.n)

    def values(self) -> list[Any]:
        return self.kept.to_pylist() if self.kept is not None else []


def _first_sorted(values: pa.Array, n: int) -> pa.Array:
    try:
        if len(values) > n:
            values = values.take(pc.bottom_k_unstable(values, k=n))
        return values.take(pc.array_sort_indices(values))
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
        ordered = sorted(values.to_pylist(), key=repr)[:n]
        return pa.array(ordered, type=values.type)


class NotNullEvaluator(Evaluator):
    def __init__(self, check: "Check", schema: pa.Schema):
        self.check = check
        self.index = {c: schema.get_field_index(c) for c in check.column_names}
        self.key = schema.get_field_index(check.key) if check.key else None
        self.nulls = dict.fromkeys(check.column_names, 0)
        self.examples = {c: _Smallest() for c in check.column_names}

    def update(self, batch: pa.RecordBatch) -> None:
        for c, i in self.index.items():
            arr = batch.column(i)
            n = arr.null_count
            if n:
                self.nulls[c] += n
                if self.key is not None:
                    self.examples[c].add(pc.filter(batch.column(self.key), pc.is_null(arr)))

    def results(self) -> list[CheckResult]:
        return [self.check._result(c, self.nulls[c] == 0, self.nulls[c], self.nulls[c], self.examples[c].values())
                for c in self.check.column_names]


class RowTestEvaluator(Evaluator):
    """A per-row test: ``failing(array)`` is true where a non-null value breaks it."""

    def __init__(self, check: "Check", column: str, failing: Callable[[pa.Array], pa.Array],
                 track_range: bool = False):
        self.check, self.column, self.failing, self.track_range = check, column, failing, track_range
        self.count = 0
        self.examples = _Smallest()
        self.lo: Any = None
        self.hi: Any = None
        self.extra: dict[str, Any] = {}

    def update(self, batch: pa.RecordBatch) -> None:
        arr = batch.column(self.column)
        if pa.types.is_dictionary(arr.type):
            arr = arr.cast(arr.type.value_type)
        if len(arr) == arr.null_count:
            return
        if self.track_range:
            lo, hi = pc.min_max(arr).values()
            self.lo = lo if self.lo is None or (lo.is_valid and pc.less(lo, self.lo).as_py()) else self.lo
            self.hi = hi if self.hi is None or (hi.is_valid and pc.greater(hi, self.hi).as_py()) else self.hi
        mask = self.failing(arr)
        if arr.null_count:
            mask = pc.and_(mask, arr.is_valid())
        bad = pc.sum(mask).as_py() or 0  # nulls (and NaN comparisons) never fail
        if bad:
            self.count += bad
            mask = mask.fill_null(False)
            source = batch.column(self.check.key) if self.check.key else arr
            self.examples.add(pc.filter(source, mask))

    def results(self) -> list[CheckResult]:
        if self.track_range:
            observed: Any = {"min": plain(self.lo.as_py() if self.lo is not None else None),
                             "max": plain(self.hi.as_py() if self.hi is not None else None),
                             "outside": self.count}
        elif self.extra:
            observed = {"missing": self.count, **self.extra}
        else:
            observed = self.count
        return [self.check._result(self.column, self.count == 0, observed, self.count, self.examples.values())]


class RowCountEvaluator(Evaluator):
    def __init__(self, check: "Check"):
        self.check, self.rows = check, 0

    def update(self, batch: pa.RecordBatch) -> None:
        self.rows += batch.num_rows

    def results(self) -> list[CheckResult]:
        c = self.check
        ok = (c.min is None or self.rows >= c.min) and (c.max is None or self.rows <= c.max)
        return [c._result(None, ok, self.rows)]


class FreshnessEvaluator(Evaluator):
    def __init__(self, check: "Check"):
        self.check, self.latest = check, None

    def update(self, batch: pa.RecordBatch) -> None:
        arr = batch.column(self.check.column)
        if len(arr) == arr.null_count:
            return
        top = pc.max(arr).as_py()
        if top is not None:
            top = utc(top if isinstance(top, dt.datetime) else dt.datetime.combine(top, dt.time()))
            self.latest = top if self.latest is None or top > self.latest else self.latest

    def results(self) -> list[CheckResult]:
        c = self.check
        now = c.now or dt.datetime.now(dt.timezone.utc)
        if self.latest is None:
            return [c._result(c.column, False, {"latest": None, "age_s": None})]
        age = now - self.latest
        return [c._result(c.column, age <= c.max_age,
                          {"latest": self.latest.isoformat(), "age_s": round(age.total_seconds(), 6)})]


class SchemaEvaluator(Evaluator):
    def __init__(self, check: "Check", schema: pa.Schema):
        self.check = check
        actual = {f.name: str(f.type) for f in schema}
        self.missing = [c for c, _ in check.types if c not in actual]
        self.mismatched = {c: actual[c] for c, t in check.types if c in actual and actual[c] != t}
        named = {c for c, _ in check.types}
        self.extra = [c for c in schema.names if c not in named] if check.exact else []

    def results(self) -> list[CheckResult]:
        ok = not (self.missing or self.mismatched or self.extra)
        observed = {"missing": self.missing, "mismatched": self.mismatched, "extra": self.extra}
        return [self.check._result(None, ok, observed)]


class UniqueEvaluator(Evaluator):
    """Exact duplicate detection with the memory it takes reported.

    Integer-like single keys (integers, dates, times, timestamps) are kept as int64 words and
    sorted at the end. Anything else is kept as 64-bit value hashes (the content fingerprint's,
    see :mod:`unistore.fingerprint`) plus the values, and only rows whose hashes collide are
    compared by value, so a hash collision can never report a false duplicate. ``memory_bytes``
    is the state kept while streaming (8 bytes per non-null key, plus the values of keys that are
    not integer-like), counted the same whatever the batching; finishing briefly takes up to
    twice that again (the concatenated words and their sorted copy).
    """

    def __init__(self, check: "Check", fields: list[pa.Field]):
        from .fingerprint import column_keys

        self.check, self.fields = check, fields
        self.names = [f.name for f in fields]
        self.words = len(fields) == 1 and _integer_like(value_type(fields[0].type))
        self.seeds = [column_keys(i, f)[0] for i, f in enumerate(fields)]
        self.parts: list[np.ndarray] = []
        self.values: list[pa.RecordBatch] = []
        self.peak = 0
        self.nbytes = 0

    def update(self, batch: pa.RecordBatch) -> None:
        from .fingerprint import fmix64, value_hashes

        cols = [batch.column(n) for n in self.names]
        if any(c.null_count for c in cols):
            valid = cols[0].is_valid()
            for c in cols[1:]:
                valid = pc.and_(valid, c.is_valid())
            cols = [pc.filter(c, valid) for c in cols]
        if not len(cols[0]):
            return
        if self.words:
            col = cols[0]
            col = col.cast(value_type(col.type)) if pa.types.is_dictionary(col.type) else col
            part = _int_words(col)
        else:
            part = value_hashes(cols[0], self.seeds[0])
            for c, seed in zip(cols[1:], self.seeds[1:]):
                part = fmix64(part * np.uint64(0x9E3779B97F4A7C15) + value_hashes(c, seed))
            kept = pa.RecordBatch.from_arrays([c for c in cols], names=[f"c{i}" for i in range(len(cols))])
            self.values.append(kept)
            self.nbytes += sum(_value_bytes(c) for c in cols)
        self.parts.append(part)
        self.nbytes += part.nbytes
        self.peak = max(self.peak, self.nbytes)

    def results(self) -> list[CheckResult]:
        all_words = np.concatenate(self.parts) if self.parts else np.empty(0, np.uint64)
        self.parts = []
        if self.words and len(all_words) > 1 and bool((all_words[1:] > all_words[:-1]).all()):
            return [self._done(len(all_words), 0, 0, [])]  # keys that arrive strictly increasing: no sort needed
        ordered = np.sort(all_words)
        same = ordered[1:] == ordered[:-1]
        if not same.any():
            return [self._done(len(ordered), 0, 0, [])]
        candidates = np.unique(ordered[1:][same])
        if self.words:
            counts = _run_lengths(ordered, candidates)
            rows = int(counts.sum())
            values = pa.array(candidates[:EXAMPLES]).cast(pa.int64())
            typ = value_type(self.fields[0].type)
            examples = _from_words(values, typ)
            distinct = len(ordered) - rows + len(candidates)
            return [self._done(distinct, len(candidates), rows, examples)]
        return [self._verify(all_words, candidates)]

    def _verify(self, words: np.ndarray, candidates: np.ndarray) -> CheckResult:
        """Group the rows whose hashes collide by their values: only real duplicates count."""
        mask = np.isin(words, candidates)
        table = pa.Table.from_batches(self.values).filter(pa.array(mask))
        names = table.column_names
        grouped = table.group_by(names, use_threads=False).aggregate([(names[0], "count")])
        counts = grouped.column(f"{names[0]}_count").to_numpy()
        dup = counts > 1
        dup_values = int(dup.sum())
        rows = int(counts[dup].sum())
        distinct = len(words) - int(mask.sum()) + len(counts)
        examples: list[Any] = []
        if dup_values:
            dups = grouped.filter(pa.array(dup)).select(names)
            if len(names) == 1:
                smallest = _Smallest()
                smallest.add(dups.column(0))
                examples = smallest.values()
            else:
                rows_py = [tuple(plain(v) for v in r.values()) for r in dups.to_pylist()]
                examples = [list(r) for r in sorted(rows_py, key=repr)[:EXAMPLES]]
        return self._done(distinct, dup_values, rows, examples)

    def _done(self, distinct: int, dup_values: int, rows: int, examples: list[Any]) -> CheckResult:
        self.values = []
        observed = {"duplicate_values": dup_values, "distinct": distinct, "memory_bytes": int(self.peak)}
        column = ", ".join(self.names)
        return self.check._result(column, dup_values == 0, observed, rows, examples)


class ExpressionEvaluator(Evaluator):
    """DuckDB in memory, file and network access off, configuration locked; one batch registered at a time."""

    def __init__(self, check: "Check", schema: pa.Schema):
        import duckdb

        self.check = check
        self.con = duckdb.connect(":memory:", config={"enable_external_access": False, "threads": 1,
                                                      "lock_configuration": True})
        self.query = f"SELECT coalesce(({check.sql}), false) AS ok FROM batch"
        self.count = 0
        self.examples = _Smallest()
        empty = pa.Table.from_batches([], schema=pa.schema([f.remove_metadata() for f in schema]))
        problem = None
        try:
            self._evaluate(empty)
        except duckdb.Error as exc:
            problem = str(exc).splitlines()[0]
        if problem is not None:  # raised outside the handler: no cycle through the frames keeps the read alive
            self.close()
            raise BadSpecError(f"{check.result_name()} cannot be evaluated on this result: {short(problem, 300)}")

    def _evaluate(self, table: pa.Table) -> pa.Array:
        self.con.register("batch", table)
        try:
            ok = self.con.sql(self.query).to_arrow_table().column(0)
        finally:
            self.con.unregister("batch")
        if not pa.types.is_boolean(ok.type):
            raise BadSpecError(f"{self.check.result_name()} is not a boolean expression (it gives {ok.type})")
        return ok.combine_chunks() if isinstance(ok, pa.ChunkedArray) else ok

    def update(self, batch: pa.RecordBatch) -> None:
        ok = self._evaluate(pa.Table.from_batches([batch]))
        failing = pc.invert(ok)
        bad = pc.sum(failing).as_py() or 0
        if bad:
            self.count += bad
            if self.check.key:
                self.examples.add(pc.filter(batch.column(self.check.key), failing))

    def results(self) -> list[CheckResult]:
        self.close()
        return [self.check._result(None, self.count == 0, self.count, self.count, self.examples.values())]

    def close(self) -> None:
        self.con.close()


class CheckRun:
    """The checks of one read, fed every batch by the read engine; :meth:`results` once it ends.

    A check whose evaluation breaks mid-stream (an expression DuckDB cannot compute on some
    value) stops being fed and reports a failed result saying why; the others go on.
    """

    def __init__(self, checks: Sequence[Check], schema: pa.Schema):
        self.checks = tuple(checks)
        self.evaluators: list[Evaluator] = []
        try:
            for check in self.checks:
                self.evaluators.append(check.start(schema))
        except BaseException:
            self.close()
            raise
        self.broken: dict[int, str] = {}

    def update(self, batch: pa.RecordBatch) -> None:
        for i, evaluator in enumerate(self.evaluators):
            if i in self.broken:
                continue
            try:
                evaluator.update(batch)
            except Exception as exc:
                self.broken[i] = f"{type(exc).__name__}: {short(str(exc), 300)}"

    def results(self) -> list[CheckResult]:
        out: list[CheckResult] = []
        for i, (check, evaluator) in enumerate(zip(self.checks, self.evaluators)):
            if i not in self.broken:
                try:
                    out.extend(evaluator.results())
                    continue
                except Exception as exc:
                    self.broken[i] = f"{type(exc).__name__}: {short(str(exc), 300)}"
            for column in check.columns_tested() or [None]:
                out.append(check._result(column, False, {"error": self.broken[i]}))
        return out

    def close(self) -> None:
        for evaluator in self.evaluators:
            close = getattr(evaluator, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # pragma: no cover - closing an in-memory DuckDB
                    pass


def verdict(record: Provenance, table: pa.Table | None = None) -> None:
    """Warn for each failed ``warn`` test; raise :class:`DataTestError` if an ``error`` test failed."""
    failed = [r for r in record.checks or [] if not r.success]
    for result in failed:
        if result.severity == "warn":
            warnings.warn(DataTestWarning(f"data test failed on {record.source.name}: {describe_failure(result)}"),
                          stacklevel=4)
    if any(r.severity == "error" for r in failed):
        raise DataTestError(record.source.name, failed, table)


# -- helpers ---------------------------------------------------------------------------------------

def short(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def value_type(typ: pa.DataType) -> pa.DataType:
    return typ.value_type if pa.types.is_dictionary(typ) else typ


def _integer_like(typ: pa.DataType) -> bool:
    return (pa.types.is_integer(typ) or pa.types.is_date(typ) or pa.types.is_timestamp(typ)
            or pa.types.is_time(typ) or pa.types.is_duration(typ)) and not pa.types.is_uint64(typ)


def _int_words(col: pa.Array) -> np.ndarray:
    """An integer-like column as int64 values (a bijection, so equal words mean equal values)."""
    typ = col.type
    if pa.types.is_date32(typ) or pa.types.is_time32(typ):
        col = col.view(pa.int32())
    elif pa.types.is_date64(typ) or pa.types.is_timestamp(typ) or pa.types.is_time64(typ) or \
            pa.types.is_duration(typ):
        col = col.view(pa.int64())
    return col.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def _from_words(words: pa.Array, typ: pa.DataType) -> list[Any]:
    if pa.types.is_integer(typ):
        return words.cast(typ).to_pylist()
    storage = pa.int32() if pa.types.is_date32(typ) or pa.types.is_time32(typ) else pa.int64()
    return words.cast(storage).view(typ).to_pylist()


def _value_bytes(arr: pa.Array) -> int:
    """The bytes ``arr``'s values take, counted the same however the column was cut into batches."""
    typ = value_type(arr.type)
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(typ)
    if pa.types.is_string(typ) or pa.types.is_binary(typ) or pa.types.is_large_string(typ) or \
            pa.types.is_large_binary(typ):
        offset = 8 if pa.types.is_large_string(typ) or pa.types.is_large_binary(typ) else 4
        return int(pc.sum(pc.binary_length(arr)).as_py() or 0) + offset * len(arr)
    try:
        return len(arr) * typ.byte_width
    except ValueError:
        return arr.nbytes


def _run_lengths(ordered: np.ndarray, values: np.ndarray) -> np.ndarray:
    """How often each of ``values`` (sorted, present) occurs in the sorted ``ordered``."""
    return np.searchsorted(ordered, values, side="right") - np.searchsorted(ordered, values, side="left")


def utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


def plain(value: Any) -> Any:
    """A value as JSON takes it (dates as ISO text, decimals as text, bytes as hex, NaN as text)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return jsonable(value)
