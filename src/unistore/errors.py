"""The one error tree of unistore.

Every error a caller can act on derives from :class:`UnistoreError` and also
from the built-in exception it resembles, so ``except LookupError`` keeps
working for code that does not know unistore::

    UnistoreError
    ├── UnknownSchemeError      (LookupError)   no adapter for the scheme
    ├── MissingExtraError       (ImportError)   adapter needs an optional extra
    ├── SourceNotFoundError     (LookupError)   path, table, bucket, database missing
    ├── SourceUnavailableError  (ConnectionError) server down, timeout, refused
    │   └── AuthenticationError                 wrong user or password
    ├── BadSpecError            (ValueError)    the read request itself is wrong
    │   ├── ReadOnlyError                       a write was asked for
    │   └── CatalogError                        a mistake in a catalog or lock file (file, line, key)
    ├── QueryError              (RuntimeError)  the store rejected the query
    ├── AdapterError            (RuntimeError)  an adapter failed in a way it does not map (a bug)
    ├── SnapshotUnavailableError(LookupError)   as_of pin cannot be honoured
    ├── DriftError                              replay found other data
    ├── DataTestError           (AssertionError) a data test of severity error failed on a read
    ├── DataTestWarning         (UserWarning)   a data test of severity warn failed (warned, never raised)
    └── SinkError                               a lineage sink failed (never raised by a read)

Messages name sources only in redacted form (see :mod:`unistore.location`).

Adapters turn driver errors into these through a declared table
(:mod:`unistore.errormap`), never by hand.
"""

from __future__ import annotations

from collections.abc import Callable
import difflib
from typing import Any


class UnistoreError(Exception):
    """Base class of every error raised by unistore."""

    def fields(self) -> dict[str, Any]:
        """The constructor arguments a caller can act on (none for most errors), by keyword."""
        return {}

    def with_message(self, message: str, clean: Callable[[str], str] | None = None) -> "UnistoreError":
        """The same error with another message (scrubbed, shortened), every field kept, chained to nothing.

        Rebuilt through the class's own constructor, so a subclass's fields
        (``DriftError.differences``) survive and its invariants hold; ``clean``
        is applied to the fields that are text.
        """
        fields = {k: clean(v) if clean and isinstance(v, str) else v for k, v in self.fields().items()}
        return type(self)(**fields, message=message) if fields else type(self)(message)


class UnknownSchemeError(UnistoreError, LookupError):
    """No adapter is registered for the URI's scheme."""

    def __init__(self, scheme: str, known: list[str], *, message: str | None = None):
        self.scheme = scheme
        self.known = sorted(known)
        close = difflib.get_close_matches(scheme.lower(), self.known, n=3, cutoff=0.6)
        hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
        super().__init__(message or f"no adapter for scheme {scheme!r}; {hint}known schemes: {', '.join(self.known)}")

    def fields(self) -> dict[str, Any]:
        return {"scheme": self.scheme, "known": self.known}


class MissingExtraError(UnistoreError, ImportError):
    """The adapter exists but its optional dependencies are not installed."""

    def __init__(self, what: str, extra: str | None, missing: str, *, message: str | None = None):
        self.what, self.extra, self.missing = what, extra, missing
        hint = f"pip install 'unistore[{extra}]'" if extra else f"pip install {missing}"
        super().__init__(message or f"{what} needs the package {missing!r}, which is not installed; run: {hint}")

    def fields(self) -> dict[str, Any]:
        return {"what": self.what, "extra": self.extra, "missing": self.missing}


class SourceNotFoundError(UnistoreError, LookupError):
    """The named file, table, bucket or database does not exist."""


class SourceUnavailableError(UnistoreError, ConnectionError):
    """The store could not be reached (down, refused, timed out)."""


class AuthenticationError(SourceUnavailableError):
    """The store refused the credentials (which are never echoed)."""


class BadSpecError(UnistoreError, ValueError):
    """The read request is invalid; raised before anything is sent to the store."""


class ReadOnlyError(BadSpecError):
    """A statement that could write was passed to a read."""


class CatalogError(BadSpecError):
    """A mistake in a catalog (``unistore.yaml``) or lock file: ``file``, ``line`` (1-based, or None)
    and ``key`` (dotted path, e.g. ``datasets.orders.source``) say where."""

    def __init__(self, file: str, line: int | None, key: str | None, problem: str, *, message: str | None = None):
        self.file, self.line, self.key, self.problem = file, line, key, problem
        where = f"{file}:{line}" if line is not None else file
        super().__init__(message or f"{where}: {key + ': ' if key else ''}{problem}")

    def fields(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "key": self.key, "problem": self.problem}


class QueryError(UnistoreError, RuntimeError):
    """The store rejected the query; the store's own message is kept."""


class AdapterError(UnistoreError, RuntimeError):
    """An adapter raised something its error table does not map: a bug in it, or a driver error it should declare.

    Never disguised as :class:`QueryError` (the store did not reject anything
    the caller can fix by rewriting the query); the message names the original
    exception's type and its scrubbed text, which is all a bug report needs.
    """


class SnapshotUnavailableError(UnistoreError, LookupError):
    """The requested ``as_of`` pin cannot be honoured by this store or no longer exists."""


class DriftError(UnistoreError):
    """A replay found data different from the recorded read.

    ``differences`` maps what changed (``rows``, ``schema``, ``fingerprint``,
    ``objects``...) to a ``{"recorded": ..., "now": ...}`` pair.
    """

    def __init__(self, source: str, differences: dict[str, Any], *, message: str | None = None):
        self.source = source
        self.differences = differences
        parts = []
        for key, diff in differences.items():
            if isinstance(diff, dict) and "recorded" in diff:
                parts.append(f"{key}: recorded {diff['recorded']!r}, now {diff['now']!r}")
            else:
                parts.append(f"{key}: {diff!r}")
        super().__init__(message or f"data drifted since the recorded read of {source}: " + "; ".join(parts))

    def fields(self) -> dict[str, Any]:
        return {"source": self.source, "differences": self.differences}


class SinkError(UnistoreError):
    """A lineage sink failed. Reads never raise it; sinks log and spool instead."""


class DataTestError(UnistoreError, AssertionError):
    """A data test of severity ``error`` failed on a read (raised once the stream has ended).

    ``results`` holds every failed test (:class:`~unistore.provenance.CheckResult`, warnings
    included), ``table`` the table the read returned (None for a stream, whose batches the
    caller has already had), so nothing read is lost; ``source`` names the data read.
    """

    def __init__(self, source: str, results: list[Any], table: Any = None, *, message: str | None = None):
        self.source, self.results, self.table = source, list(results), table
        failed = [r for r in self.results if r.severity == "error"]
        parts = [describe_failure(r) for r in self.results]
        super().__init__(message or f"{len(failed)} data test(s) failed on {source}: " + "; ".join(parts))

    def fields(self) -> dict[str, Any]:
        return {"source": self.source, "results": self.results, "table": self.table}


class DataTestWarning(UnistoreError, UserWarning):
    """A data test of severity ``warn`` failed; the result stays in the read's record."""


def describe_failure(result: Any) -> str:
    """One failed test in a line: its name, severity, failing rows and what was observed."""
    rows = f", {result.failing_rows} failing row(s)" if result.failing_rows is not None else ""
    examples = f", e.g. {', '.join(_short(repr(e)) for e in result.examples[:3])}" if result.examples else ""
    return f"{result.name} [{result.severity}]{rows}, observed {_short(repr(result.observed), 200)}{examples}"


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
