"""Refuse statements that could write, before they are sent.

This is the first of two guards: the statement must be a single query that
starts with a read-only keyword. The second is the store itself, which runs
every read in a read-only transaction or on a read-only connection.
"""

from __future__ import annotations

import re

from ...errors import ReadOnlyError

READ_KEYWORDS = {"select", "with", "values", "table", "show", "describe", "desc", "explain", "from"}
#: words that make a SELECT/WITH statement write (data-modifying CTEs, SELECT INTO, FOR UPDATE);
#: statements that start with any other verb are refused by the first-keyword check
WRITE_KEYWORDS = re.compile(
    r"\b(insert|update|delete|merge|upsert|truncate|drop|alter|create|grant|revoke|into)\b",
    re.IGNORECASE,
)
_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
#: quoted string literals, quoted identifiers and dollar-quoted bodies
QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`|\$\$.*?\$\$", re.DOTALL)


def strip_literals(sql: str) -> str:
    """SQL with comments removed and quoted strings / identifiers blanked."""
    return QUOTED.sub("''", _COMMENTS.sub(" ", sql))


def check_read_only(sql: str) -> None:
    """Raise :class:`ReadOnlyError` unless ``sql`` is a single read-only query."""
    bare = strip_literals(sql).strip().rstrip(";").strip()
    if not bare:
        raise ReadOnlyError("the query is empty")
    if ";" in bare:
        raise ReadOnlyError("only a single statement may be read; the query contains ';'")
    first = bare.split(None, 1)[0].lower().lstrip("(")
    if first not in READ_KEYWORDS:
        raise ReadOnlyError(f"unistore only reads: a query starting with {first.upper()!r} is refused")
    found = WRITE_KEYWORDS.search(bare)
    if found:
        raise ReadOnlyError(
            f"unistore only reads: the query contains {found.group(1).upper()!r}, which can write; "
            "it was not sent"
        )
