"""Is this SQL text one read-only query? Decided by parsing it, before anything is sent.

A user's ``query=`` must be exactly one statement that reads: a SELECT (with
CTEs, set operations, subqueries), VALUES or TABLE. It is parsed with sqlglot
in the store's dialect, so quoting, comments and dollar quotes are understood
as the server understands them (a ``"--"`` inside quotes cannot hide a second
statement), and every node of the tree is checked: no data-modifying CTE, no
``SELECT INTO``, no ``FOR UPDATE/SHARE``, no COPY/EXPORT/EXPLAIN/SET/PRAGMA/
ATTACH/LOAD, no MySQL executable comment (``/*! ... */``), and no function
on the dialect's deny-list (backend control, configuration, WAL, advisory
locks, large objects, server files, sequences, file and extension functions).

This is the first guard; the store is the second (read-only transactions,
DuckDB without external access, SQLite opened read-only), and a read-only
database role is the real boundary: a user-defined function can still do
whatever its owner allowed.

Core layer: imports only :mod:`unistore.errors` (cross-silo SQL reuses it).
"""

from __future__ import annotations

import fnmatch
import functools
import logging
import threading
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from .errors import ReadOnlyError

__all__ = ["DENIED_FUNCTIONS", "Statement", "classify"]

#: unistore's dialect names -> sqlglot's ("generic": sqlglot's own dialect, every deny-list applies)
DIALECTS = {"postgres": "postgres", "mysql": "mysql", "sqlite": "sqlite", "duckdb": "duckdb", "generic": "",
            "oracle": "oracle", "mssql": "tsql"}
#: other names of the same dialects (SQLAlchemy's)
ALIASES = {"postgresql": "postgres", "mariadb": "mysql"}

#: functions with side effects, per dialect (``*`` matches any characters)
DENIED_FUNCTIONS: dict[str, frozenset[str]] = {
    "postgres": frozenset({
        # backend and server control
        "pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf", "pg_rotate_logfile", "pg_promote",
        "pg_log_backend_memory_contexts", "pg_switch_wal", "pg_switch_xlog", "pg_create_restore_point",
        "pg_start_backup", "pg_stop_backup", "pg_backup_start", "pg_backup_stop", "pg_wal_replay_pause",
        "pg_wal_replay_resume", "pg_stat_reset*", "pg_import_system_collations", "pg_truncate_visibility_map",
        # configuration and notifications
        "set_config", "pg_notify",
        # advisory locks (held by a pooled connection after the read)
        "pg_advisory_*", "pg_try_advisory_*",
        # large objects and server files
        "lo_*", "pg_read_file", "pg_read_binary_file", "pg_ls_*", "pg_stat_file", "pg_file_*",
        # sequences and transaction ids
        "nextval", "setval", "txid_current", "pg_current_xact_id",
        # replication, logical decoding, other servers
        "pg_logical_*", "pg_replication_*", "pg_create_*_replication_slot", "pg_drop_replication_slot",
        "pg_copy_*_replication_slot", "dblink*", "pg_sleep*",
    }),
    "mysql": frozenset({
        "get_lock", "release_lock", "release_all_locks", "is_free_lock", "is_used_lock",
        "sleep", "benchmark", "load_file", "nextval", "setval", "lastval", "last_insert_id",
        "master_pos_wait", "source_pos_wait", "master_gtid_wait", "wait_for_executed_gtid_set",
        "wait_until_sql_thread_after_gtids", "sys_exec", "sys_eval",
    }),
    "duckdb": frozenset({
        "read_text", "read_blob", "read_csv*", "read_json*", "read_ndjson*", "read_parquet", "parquet_*",
        "read_xlsx", "st_read", "glob", "sniff_csv", "iceberg_*", "delta_scan", "postgres_*", "mysql_*",
        "sqlite_scan", "sqlite_attach", "query", "query_table", "getenv", "duckdb_secrets", "which_secret",
        "load_extension", "nextval", "setval", "checkpoint", "force_checkpoint", "install_extension",
        "load_extension",
    }),
    "sqlite": frozenset({
        "load_extension", "readfile", "writefile", "edit", "fts3_tokenizer", "zipfile", "sqlar_*",
        "lsdir", "fsdir",
    }),
}
DENIED_FUNCTIONS["generic"] = frozenset().union(*DENIED_FUNCTIONS.values())
for _name in ("oracle", "mssql"):
    DENIED_FUNCTIONS[_name] = DENIED_FUNCTIONS["generic"]

#: the longest query text the classification cache keeps
_CACHED_TEXT = 20_000
#: statements a read may be
_READS = (exp.Select, exp.SetOperation, exp.Values, exp.Subquery)
#: nodes that write, lock, change the session or reach outside the database, wherever they appear
_REFUSED: tuple[tuple[type, str], ...] = tuple((cls, label) for cls, label in (
    (exp.Insert, "INSERT"), (exp.Update, "UPDATE"), (exp.Delete, "DELETE"), (exp.Merge, "MERGE"),
    (exp.Copy, "COPY"), (exp.Create, "CREATE"), (exp.Drop, "DROP"), (exp.Alter, "ALTER"),
    (exp.TruncateTable, "TRUNCATE"), (exp.Into, "SELECT INTO"), (exp.Lock, "FOR UPDATE/SHARE"),
    (exp.Command, "this statement"), (exp.Set, "SET"), (exp.Pragma, "PRAGMA"), (exp.Use, "USE"),
    (exp.Transaction, "BEGIN"), (exp.Commit, "COMMIT"), (exp.Rollback, "ROLLBACK"), (exp.LoadData, "LOAD DATA"),
    (exp.Attach, "ATTACH"), (exp.Detach, "DETACH"), (exp.Export, "EXPORT"), (exp.Install, "INSTALL"),
    (exp.Kill, "KILL"), (exp.Analyze, "ANALYZE"), (exp.Describe, "DESCRIBE"), (exp.Show, "SHOW"),
    (exp.Cache, "CACHE"), (exp.Uncache, "UNCACHE"), (exp.Refresh, "REFRESH"), (exp.Grant, "GRANT"),
    (exp.Revoke, "REVOKE"), (exp.Summarize, "SUMMARIZE"), (exp.Execute, "EXECUTE"), (exp.Declare, "DECLARE"),
    (exp.Comment, "COMMENT"), (exp.DML, "a data-modifying statement"), (exp.DDL, "a schema change"),
))


@dataclass(frozen=True)
class Statement:
    """A statement found read-only: its kind and whether its top level orders the rows."""

    kind: str
    ordered: bool


def classify(sql: str, dialect: str = "generic") -> Statement:
    """The one read-only statement in ``sql``, or :class:`ReadOnlyError` naming what was refused."""
    if not isinstance(sql, str):
        raise ReadOnlyError(f"a query must be SQL text, not {type(sql).__name__}")
    dialect = ALIASES.get(dialect, dialect)
    if dialect not in DIALECTS:
        raise ReadOnlyError(f"no SQL dialect {dialect!r}; known: {', '.join(sorted(DIALECTS))}")
    # the cache keeps the texts it was asked about: huge ones are classified, not kept
    found = _classify(sql, dialect) if len(sql) <= _CACHED_TEXT else _classify.__wrapped__(sql, dialect)
    if isinstance(found, str):
        raise ReadOnlyError(found)
    return found


@functools.lru_cache(maxsize=512)
def _classify(sql: str, dialect: str) -> Statement | str:
    """The statement, or the refusal message (cached per text and dialect)."""
    try:
        statements = _parse(sql, DIALECTS[dialect])
    except (sqlglot.errors.SqlglotError, RecursionError, ValueError, TypeError, KeyError, IndexError,
            AttributeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return (f"unistore only reads, and could not parse this query as {dialect} SQL to prove it reads only "
                f"({first[:120]}); it was not sent")
    if isinstance(statements, str):
        return statements
    statements = [s for s in statements if s is not None]
    if not statements:
        return "the query is empty"
    if len(statements) > 1:
        return f"only a single statement may be read; the query holds {len(statements)} statements; it was not sent"
    root = statements[0]
    if not isinstance(root, _READS):
        return f"unistore only reads: {_label(root)} is refused; it was not sent"
    denied = DENIED_FUNCTIONS[dialect]
    for node in root.walk():
        for cls, label in _REFUSED:
            if isinstance(node, cls):
                return f"unistore only reads: the query contains {label}, which is refused; it was not sent"
        if isinstance(node, exp.PropertyEQ) and DIALECTS[dialect] in ("mysql", ""):
            return "unistore only reads: assigning a session variable (:=) is refused; it was not sent"
        if isinstance(node, exp.Func):
            name = _function_name(node)
            if name and _denied(name, denied):
                return (f"unistore only reads: the function {name}() has side effects or reaches outside the "
                        "database, and is refused; it was not sent")
    return Statement(kind=root.key, ordered=_ordered(root))


def _parse(sql: str, dialect: str) -> list[exp.Expression | None] | str:
    d = Dialect.get_or_raise(dialect)
    tokens = d.tokenize(sql)
    if dialect in ("mysql", ""):
        for token in tokens:
            for comment in token.comments or ():
                if comment.lstrip().startswith(("!", "M!")):  # MySQL/MariaDB run the text of /*! ... */
                    return "unistore only reads: an executable comment (/*! ... */) is refused; it was not sent"
    with _quiet():
        return d.parser().parse(tokens, sql)


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return node.name.lower()
    return node.sql_name().lower()


@functools.lru_cache(maxsize=4096)
def _denied(name: str, denied: frozenset[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, entry) for entry in denied)


def _ordered(root: exp.Expression) -> bool:
    """Whether the outermost query has an ORDER BY (its rows come in a requested order)."""
    while isinstance(root, exp.Subquery):
        root = root.this
    return isinstance(root, (exp.Select, exp.SetOperation)) and root.args.get("order") is not None


def _label(node: exp.Expression) -> str:
    if isinstance(node, exp.Command):
        return f"{str(node.this).upper()[:30]!r}"
    for cls, label in _REFUSED:
        if isinstance(node, cls):
            return label
    return f"a {node.key.upper()} statement"


# -- sqlglot logs a warning when it parses an unknown statement as a Command: we refuse those anyway

_local = threading.local()


class _DropWhileClassifying(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_local, "active", False)


logging.getLogger("sqlglot").addFilter(_DropWhileClassifying())


class _quiet:
    def __enter__(self) -> None:
        _local.active = True

    def __exit__(self, *exc: object) -> None:
        _local.active = False
