"""Driver errors to unistore errors, declared once per adapter and applied by one context manager.

An adapter writes a table instead of ``except`` blocks that match strings::

    ERRORS = ErrorTable(
        Rule(AuthenticationError, "{where} refused the credentials", codes=(1045, 1698)),
        Rule(QueryError, "{where} rejected the query: {text}", classes=("pymysql.err.Error",)),
        code=lambda exc: exc.args[0] if exc.args else None,
    )

    with mapped_errors(ERRORS, where=source.uri, secrets=location.secrets):
        cursor.execute(sql)

Driver classes are named by qualified name, so naming them imports no driver:
an exception can only be an instance of a class whose module is already
loaded. When several rules match, the most specific wins (see
:meth:`ErrorTable.translate`). The error raised is built through its own
constructor with the driver's text scrubbed of secrets and capped, raised
``from None`` with no ``__context__`` either, so the original (which may echo
a password) is not reachable from it. Exceptions that no rule names, adapter
bugs included, pass through unchanged: the read engine decides about those.

A module of its own, above :mod:`unistore.location` (it scrubs with it) and
below the adapters; :mod:`unistore.errors` stays the bare tree that
everything, ``location`` included, can import.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Collection
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from .errors import UnistoreError
from .location import cap, scrub

__all__ = ["ErrorTable", "Rule", "is_instance", "mapped_errors"]


@dataclass(frozen=True)
class Rule:
    """One line of an adapter's table: a driver error that matches becomes ``error(message)``.

    Every criterion given must hold: ``classes`` (qualified names of driver
    exception classes, subclasses included), ``codes`` (the table's ``code``
    of the exception: numbers match exactly, text codes as prefixes, so
    ``"08"`` is the SQLSTATE class), ``when`` (a predicate over the scrubbed
    text, for drivers that say nothing better). ``message`` is a
    :meth:`str.format` template over ``where``, ``text`` (``detail``: the text,
    or the exception's type when it has none), ``first_line``, ``code``,
    ``type`` and the keyword fields given to :func:`mapped_errors`.
    """

    error: type[UnistoreError]
    message: str
    classes: tuple[str, ...] = ()
    codes: Collection[Any] = ()
    when: Callable[[str], bool] | None = None


def _code_matches(code: Any, codes: Collection[Any]) -> bool:
    if code is None or isinstance(code, bool):
        return False
    if isinstance(code, str):
        return any(isinstance(c, str) and code.startswith(c) for c in codes)
    return code in codes


def _resolve(qualified: str) -> type | None:
    """The class named ``module.Class``, if its module is loaded (an unloaded driver raised nothing)."""
    module, _, name = qualified.rpartition(".")
    loaded = sys.modules.get(module)
    found = getattr(loaded, name, None) if loaded is not None else None
    return found if isinstance(found, type) else None


def is_instance(exc: BaseException, classes: Collection[str]) -> bool:
    """Whether ``exc`` is an instance of a class named ``module.Class`` in ``classes`` (nothing is imported)."""
    return any(c is not None and isinstance(exc, c) for c in map(_resolve, classes))


def _default_text(exc: BaseException) -> str:
    return str(exc)


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0][:300] if lines else ""


class ErrorTable:
    """An adapter's rules, and how to read a code and a text out of its driver's exceptions."""

    def __init__(self, *rules: Rule, code: Callable[[BaseException], Any] | None = None,
                 text: Callable[[BaseException], str] = _default_text, brief: Callable[[str], str] = _first_line):
        """``code`` and ``text`` read an exception (the text is scrubbed before any rule sees it);
        ``brief`` shortens the scrubbed text to the ``first_line`` a message may quote."""
        self.rules = rules
        self.code, self.text, self.brief = code, text, brief

    def class_names(self) -> set[str]:
        """Every driver class the table names (a test resolves them against the installed drivers)."""
        return {name for rule in self.rules for name in rule.classes}

    def translate(self, exc: BaseException, /, where: str, secrets: Collection[str] = (),
                  **fields: Any) -> UnistoreError | None:
        """The unistore error for ``exc``, or None when no rule names it.

        Of the matching rules the most specific wins: one that checks a code or
        the text beats one that checks only a class; then the rule whose driver
        class is nearest to the exception's own class; then the deeper unistore
        class (``AuthenticationError`` over ``SourceUnavailableError``); then
        the earlier rule.
        """
        if isinstance(exc, UnistoreError):
            return None
        secrets = tuple(secrets)
        text = scrub(self._text(exc), secrets)
        code = self._code(exc)
        mro = type(exc).__mro__
        best: tuple[tuple[int, int, int, int], Rule] | None = None
        for order, rule in enumerate(self.rules):
            nearest = 0
            if rule.classes:
                found = [c for c in map(_resolve, rule.classes) if c is not None and isinstance(exc, c)]
                if not found:
                    continue
                nearest = -min(mro.index(c) for c in found)
            if rule.codes and not _code_matches(code, rule.codes):
                continue
            if rule.when is not None and not rule.when(text):
                continue
            checks = bool(rule.codes) + (rule.when is not None)
            depth = sum(issubclass(c, UnistoreError) for c in rule.error.__mro__)
            key = (checks, nearest, depth, -order)
            if best is None or key > best[0]:
                best = (key, rule)
        if best is None:
            return None
        rule = best[1]
        values = {"where": where, "text": text, "detail": text or type(exc).__name__,
                  "first_line": self.brief(text) or type(exc).__name__,
                  "code": code, "type": type(exc).__name__, **fields}
        return rule.error(cap(scrub(rule.message.format_map(values), secrets)))

    def _text(self, exc: BaseException) -> str:
        try:
            return self.text(exc)
        except Exception:
            return str(exc)

    def _code(self, exc: BaseException) -> Any:
        if self.code is None:
            return None
        try:
            return self.code(exc)
        except Exception:
            return None


class mapped_errors:  # noqa: N801 - used as a context manager, named like one
    """Within the block, a driver error the table names is raised as the unistore error it maps to.

    A class rather than :func:`contextlib.contextmanager`: the new error must
    be raised with no ``__context__``, and only an ``__exit__`` that clears it
    after raising can promise that (a generator-based manager chains the
    original, whose text may hold a secret).
    """

    def __init__(self, table: ErrorTable, /, where: str, secrets: Collection[str] = (), **fields: Any):
        self.table, self.where, self.secrets, self.fields = table, where, secrets, fields

    def __enter__(self) -> "mapped_errors":
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> bool:
        if exc is None or not isinstance(exc, Exception):
            return False
        error = self.table.translate(exc, self.where, self.secrets, **self.fields)
        if error is None:
            return False  # not ours to name: re-raised unchanged
        del exc, traceback  # the original is not kept alive by the new error's frames either
        try:
            raise error from None
        finally:
            error.__context__ = None
