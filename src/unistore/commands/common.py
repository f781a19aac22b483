"""What the subcommands share: option values from the command line, and "did you mean" hints."""

from __future__ import annotations

import argparse
import datetime as dt
import difflib
import json
from collections.abc import Iterable
from typing import Any

from ..api import source
from ..errors import SourceNotFoundError, UnistoreError


def did_you_mean(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Close names: a qualified name ending in ``name`` first (``orders`` -> ``shop.orders``), then spelling."""
    names = sorted(set(candidates))
    lowered = name.lower()
    suffix = [c for c in names if c.lower().endswith("." + lowered) or c.lower().endswith("/" + lowered)]
    close = difflib.get_close_matches(name, names, n=n, cutoff=0.6)
    last = {c.rsplit(".", 1)[-1]: c for c in names}  # shop.ordres -> shop.orders via the last part
    close += [last[m] for m in difflib.get_close_matches(name.rsplit(".", 1)[-1], list(last), n=n, cutoff=0.75)]
    out: list[str] = []
    for c in suffix + close:
        if c not in out and c != name:
            out.append(c)
    return out[:n]


def with_table_hint(exc: SourceNotFoundError, uri: str, table: str, options: dict[str, Any]) -> UnistoreError:
    """``exc`` with "did you mean ..." added when the source lists a close name; ``exc`` itself otherwise."""
    try:
        with source(uri, **{k: v for k, v in options.items() if k in _open_options(uri)}) as src:
            names = src.tables()
    except Exception:  # a hint is a courtesy: the original error is what counts
        return exc
    close = did_you_mean(table, names)
    if not close:
        return exc
    return exc.with_message(f"{exc} (did you mean {' or '.join(close)}?)")


def _open_options(uri: str) -> frozenset[str]:
    from .. import registry
    from ..location import Location

    return registry.get_adapter(Location.parse(uri).scheme).open_options


def option_value(text: str) -> Any:
    """A ``KEY=VALUE`` value: JSON when it parses (numbers, lists, objects, true/false), else the text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def key_value(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"takes KEY=VALUE, got {text[:60]!r}")
    return key.strip(), option_value(value)


def as_of_value(text: str) -> Any:
    """``--as-of``: a version number, an ISO-8601 time, or a snapshot id as given."""
    if text.isdigit():
        return int(text)
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text


def json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"must be JSON ({exc.msg})") from None


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text[:40]!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def open_options_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--option", "-O", action="append", type=key_value, default=[], metavar="KEY=VALUE",
                   help="any other source or read option (value as JSON, else text), e.g. -O format=csv")
