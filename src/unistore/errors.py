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
    │   └── ReadOnlyError                       a write was asked for
    ├── QueryError              (RuntimeError)  the store rejected the query
    ├── SnapshotUnavailableError(LookupError)   as_of pin cannot be honoured
    ├── DriftError                              replay found other data
    └── SinkError                               a lineage sink failed (never raised by a read)

Messages name sources only in redacted form (see :mod:`unistore.location`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class UnistoreError(Exception):
    """Base class of every error raised by unistore."""

    def with_message(self, message: str, clean: Callable[[str], str] | None = None) -> "UnistoreError":
        """A copy with another message (scrubbed, shortened), every field kept, chained to nothing.

        Built without calling ``__init__`` so that subclasses with their own
        fields (``DriftError.differences``) lose none of them; ``clean`` is
        applied to the fields that are text.
        """
        clone = type(self).__new__(type(self))
        clone.__dict__.update({k: clean(v) if clean and isinstance(v, str) else v for k, v in vars(self).items()})
        clone.args = (message,)
        clone.__cause__ = None
        clone.__context__ = None
        clone.__suppress_context__ = True
        return clone


class UnknownSchemeError(UnistoreError, LookupError):
    """No adapter is registered for the URI's scheme."""

    def __init__(self, scheme: str, known: list[str]):
        self.scheme = scheme
        self.known = sorted(known)
        super().__init__(
            f"no adapter for scheme {scheme!r}; known schemes: {', '.join(self.known)}"
        )


class MissingExtraError(UnistoreError, ImportError):
    """The adapter exists but its optional dependencies are not installed."""

    def __init__(self, what: str, extra: str | None, missing: str):
        self.extra = extra
        hint = f"pip install 'unistore[{extra}]'" if extra else f"pip install {missing}"
        super().__init__(f"{what} needs the package {missing!r}, which is not installed; run: {hint}")


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


class QueryError(UnistoreError, RuntimeError):
    """The store rejected the query; the store's own message is kept."""


class SnapshotUnavailableError(UnistoreError, LookupError):
    """The requested ``as_of`` pin cannot be honoured by this store or no longer exists."""


class DriftError(UnistoreError):
    """A replay found data different from the recorded read.

    ``differences`` maps what changed (``rows``, ``schema``, ``fingerprint``,
    ``objects``...) to a ``{"recorded": ..., "now": ...}`` pair.
    """

    def __init__(self, source: str, differences: dict[str, Any]):
        self.source = source
        self.differences = differences
        parts = []
        for key, diff in differences.items():
            if isinstance(diff, dict) and "recorded" in diff:
                parts.append(f"{key}: recorded {diff['recorded']!r}, now {diff['now']!r}")
            else:
                parts.append(f"{key}: {diff!r}")
        super().__init__(f"data drifted since the recorded read of {source}: " + "; ".join(parts))


class SinkError(UnistoreError):
    """A lineage sink failed. Reads never raise it; sinks log and spool instead."""
