"""The error tree's rebuilding and the one mechanism that maps driver errors (unistore.errormap)."""

from __future__ import annotations

import importlib
import traceback

import pytest

import unistore
from unistore.errormap import ErrorTable, Rule, mapped_errors
from unistore.errors import (AuthenticationError, DriftError, MissingExtraError, QueryError, ReadOnlyError,
                             SourceNotFoundError, SourceUnavailableError, UnknownSchemeError)
from unistore.location import MESSAGE_LIMIT

SECRET = "Pw0rdZq9xSecret"


class DriverError(Exception):
    """Stands for a driver's base exception."""

    def __init__(self, message: str, code: object = None):
        self.code = code
        super().__init__(message)


class DriverAuthError(DriverError):
    """Stands for a driver's subclass."""


DRIVER = f"{__name__}.DriverError"
TABLE = ErrorTable(
    Rule(QueryError, "{where} rejected the query: {first_line}", classes=(DRIVER,)),
    Rule(SourceUnavailableError, "cannot reach {where}: {text}", classes=(f"{__name__}.DriverAuthError",)),
    Rule(AuthenticationError, "{where} refused user {user!r}", classes=(DRIVER,), codes=(1045,)),
    Rule(ReadOnlyError, "a write was refused: {first_line}", classes=(DRIVER,), codes=("25",)),
    Rule(SourceNotFoundError, "{where}: no such table", classes=(DRIVER,), when=lambda text: "no such table" in text),
    code=lambda exc: getattr(exc, "code", None),
)


def mapped(exc: BaseException, **fields: object) -> BaseException:
    """What ``mapped_errors`` raises for ``exc`` raised inside it."""
    try:
        with mapped_errors(TABLE, "db://host", (SECRET,), **{"user": "ann", **fields}):
            raise exc
    except BaseException as raised:  # noqa: BLE001 - the test inspects whatever comes out
        return raised
    raise AssertionError("mapped_errors swallowed the error")


def everything_said(error: BaseException) -> str:
    """All text reachable from an error: message, fields, chain, formatted traceback."""
    parts = ["".join(traceback.format_exception(error)), repr(error.args), repr(vars(error))]
    seen, todo = set(), [error.__cause__, error.__context__]
    while todo:
        err = todo.pop()
        if err is not None and id(err) not in seen:
            seen.add(id(err))
            parts.append(repr(err))
            todo += [err.__cause__, err.__context__]
    return "\n".join(parts)


# -- the mechanism ---------------------------------------------------------------------------------

def test_a_driver_class_maps_to_its_error_with_a_formatted_message():
    err = mapped(DriverError("syntax error at FROM\nLINE 1: ..."))
    assert type(err) is QueryError
    assert str(err) == "db://host rejected the query: syntax error at FROM"


def test_the_most_specific_rule_wins():
    # a code beats a bare class, wherever the rule stands in the table
    assert type(mapped(DriverError("denied", code=1045))) is AuthenticationError
    assert str(mapped(DriverError("denied", code=1045))) == "db://host refused user 'ann'"
    # text codes match as prefixes (SQLSTATE classes)
    assert type(mapped(DriverError("read-only", code="25006"))) is ReadOnlyError
    # a declared text predicate counts like a code
    assert type(mapped(DriverError("no such table: t"))) is SourceNotFoundError
    # the nearer driver class wins over its base class
    assert type(mapped(DriverAuthError("refused"))) is SourceUnavailableError
    # numbers match exactly, and a code no rule names falls back to the class rule
    assert type(mapped(DriverError("odd", code=1046))) is QueryError


def test_the_deeper_unistore_class_wins_a_tie():
    table = ErrorTable(Rule(SourceUnavailableError, "down", classes=(DRIVER,), codes=(1,)),
                       Rule(AuthenticationError, "refused", classes=(DRIVER,), codes=(1,)),
                       code=lambda exc: exc.code)
    assert type(table.translate(DriverError("x", code=1), "w")) is AuthenticationError


def test_unknown_exceptions_pass_through_unchanged():
    bug = KeyError("an adapter bug")
    assert mapped(bug) is bug
    own = SourceNotFoundError("already a unistore error")
    assert mapped(own) is own
    assert TABLE.translate(ValueError("not a driver error"), "w") is None


def test_messages_are_scrubbed_capped_and_chain_nothing():
    err = mapped(DriverError(f"password {SECRET} rejected for postgresql://ann:{SECRET}@host " + "x" * 5000))
    assert type(err) is QueryError
    assert SECRET not in everything_said(err)
    assert err.__cause__ is None and err.__context__ is None and err.__suppress_context__
    assert len(str(err)) <= MESSAGE_LIMIT + 40

    # fields given to the context manager are scrubbed too
    err = mapped(DriverError("denied", code=1045), user=SECRET)
    assert SECRET not in everything_said(err)


def test_driver_classes_are_named_not_imported():
    table = ErrorTable(Rule(QueryError, "never", classes=("unistore_no_such_driver.Error",)))
    assert table.translate(Exception("x"), "w") is None  # an unloaded module raised nothing


# -- rebuilding through constructors ------------------------------------------------------------------

@pytest.mark.parametrize("error", [
    DriftError(f"db://ann:{SECRET}@h", {"rows": {"recorded": 1, "now": 2}}),
    UnknownSchemeError("nope", ["file", "s3"]),
    MissingExtraError("reading s3:// locations", "s3", "s3fs"),
    QueryError(f"the driver said {SECRET}"),
])
def test_with_message_rebuilds_through_the_constructor_keeping_fields(error):
    clean = lambda text: text.replace(SECRET, "***")  # noqa: E731
    try:
        try:
            raise RuntimeError(SECRET)
        except RuntimeError:
            raise error  # noqa: B904 - the original chained as context on purpose
    except unistore.UnistoreError as raised:
        copy = raised.with_message("short", clean)
    assert type(copy) is type(error) and str(copy) == "short"
    assert copy.fields() == {k: clean(v) if isinstance(v, str) else v for k, v in error.fields().items()}
    assert copy.__cause__ is None and copy.__context__ is None
    assert SECRET not in everything_said(copy)


# -- every adapter's table names real driver classes -----------------------------------------------

ADAPTER_TABLES = [
    ("unistore.adapters.sql.postgresql", ("CONNECT_ERRORS", "QUERY_ERRORS")),
    ("unistore.adapters.sql.mysql", ("CONNECT_ERRORS", "QUERY_ERRORS")),
    ("unistore.adapters.sql.dbapi", ("CONNECT_ERRORS", "SCHEMA_ERRORS", "QUERY_ERRORS")),
    ("unistore.adapters.sql.duckdb", ("OPEN_ERRORS", "SCHEMA_ERRORS", "QUERY_ERRORS")),
    ("unistore.adapters.sql.sqlite", ("OPEN_ERRORS", "QUERY_ERRORS")),
    ("unistore.adapters.files.source", ("STORE_ERRORS", "DATASET_ERRORS", "READ_ERRORS")),
    ("unistore.adapters.files.delta", ("OPEN_ERRORS", "VERSION_ERRORS")),
    ("unistore.adapters.files.iceberg", ("LOAD_ERRORS", "SCAN_ERRORS")),
    ("unistore.adapters.arcticdb", ("READ_ERRORS", "VERSION_ERRORS")),
    ("unistore.adapters.prometheus", ("ERRORS",)),
    ("unistore.adapters.influxdb", ("ERRORS", "BROKEN_STREAM")),
]


@pytest.mark.parametrize("module,names", ADAPTER_TABLES, ids=[m for m, _ in ADAPTER_TABLES])
def test_each_adapter_table_names_only_real_exception_classes(module, names):
    tables = [getattr(importlib.import_module(module), name) for name in names]
    for table in tables:
        assert isinstance(table, ErrorTable) and table.rules
        for qualified in table.class_names():
            owner, _, attr = qualified.rpartition(".")
            cls = getattr(importlib.import_module(owner), attr, None)  # every driver is installed in CI
            assert isinstance(cls, type) and issubclass(cls, BaseException), qualified
