"""``unistore sql``: one read-only query over several sources, previewed or written, with its provenance."""

from __future__ import annotations

import argparse
import json
import os

from ..errors import BadSpecError
from ..federated import sql
from ..preview import preview
from ..provenance import provenance_of
from .common import positive
from .read import check_output, write_output


def sql_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("query", help='one read-only SELECT naming inputs as source.table, e.g. "SELECT ... FROM pg.orders"')
    p.add_argument("--source", "-s", action="append", default=[], metavar="NAME=URI",
                   help="an input, e.g. --source pg=postgresql://db/shop --source lake=s3://lake/events/")
    p.add_argument("--param", "-p", action="append", default=[], metavar="NAME=JSON",
                   help="bind $NAME in the query to a JSON value, e.g. --param day='\"2024-01-01\"'")
    p.add_argument("--output", "-o", help="write the result to FILE.parquet, .csv, .json(l) or .arrow")
    p.add_argument("--rows", type=positive, default=10, help="rows to preview (default 10)")


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise BadSpecError(f"{flag} takes NAME=VALUE, got {item[:40]!r}")
        out[name] = value
    return out


def sql_cmd(args: argparse.Namespace) -> int:
    if args.output:
        check_output(args.output)
    params = {}
    for name, text in _pairs(args.param, "--param").items():
        try:
            params[name] = json.loads(text)
        except json.JSONDecodeError:
            params[name] = text  # a bare word is a string
    table = sql(args.query, _pairs(args.source, "--source"), params=params or None,
                output=os.path.abspath(args.output) if args.output else None)
    print(preview(table, args.rows))
    if args.output:
        write_output(table, args.output)
        print(f"\nwrote {table.num_rows} rows to {args.output}")
    print("\nprovenance:")
    print(json.dumps(provenance_of(table).to_dict(), indent=2, default=str))
    return 0
