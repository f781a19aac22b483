"""``unistore ls`` and ``unistore schema``: what a location holds, and what a read of it returns."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..api import source
from ..errors import BadSpecError, SourceNotFoundError
from ..source import Source
from .common import open_options_arg, with_table_hint


def _partitions(src: Source, table: str | None) -> list[str]:
    """Partition columns where the store has them (hive folders of a file source); [] elsewhere."""
    find = getattr(src.connection, "partition_columns", None)
    return list(find(table)) if find is not None else []


def ls_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("uri", help="a folder, bucket prefix, database or server")
    p.add_argument("--long", "-l", action="store_true", help="also each table's column count (one look-up each)")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    open_options_arg(p)


def ls_cmd(args: argparse.Namespace) -> int:
    rows: list[dict[str, Any]] = []
    with source(args.uri, **dict(args.option)) as src:
        for name in src.tables():
            entry: dict[str, Any] = {"name": name}
            partitions = _partitions(src, name) if name == "." or args.long else []
            if partitions:
                entry["partitioned_by"] = partitions
            if args.long:
                entry["columns"] = len(src.schema(name))
            rows.append(entry)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max((len(r["name"]) for r in rows), default=0)
    for r in rows:
        notes = []
        if r["name"] == ".":
            notes.append("this folder")
        if "columns" in r:
            notes.append(f"{r['columns']} columns")
        if r.get("partitioned_by"):
            notes.append("partitioned by " + ", ".join(r["partitioned_by"]))
        print(f"{r['name'].ljust(width)}  ({'; '.join(notes)})" if notes else r["name"])
    return 0


def schema_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("uri", help="the location")
    p.add_argument("table", nargs="?", help="table, view or relative path (default: the location itself)")
    p.add_argument("--json", action="store_true", help="print the fields as JSON")
    open_options_arg(p)


def schema_cmd(args: argparse.Namespace) -> int:
    options = dict(args.option)
    with source(args.uri, **options) as src:
        if args.table is None and not hasattr(src.connection, "partition_columns"):
            # only a file location is a table by itself; a database or server holds named ones
            raise BadSpecError(f"name a table: unistore schema {src.uri} TABLE (unistore ls {src.uri} lists them)")
        try:
            schema = src.schema(args.table)
        except SourceNotFoundError as exc:
            if args.table is None:
                raise
            raise with_table_hint(exc, args.uri, args.table, options) from None
        partitions = set(_partitions(src, args.table))
    fields = [{"name": f.name, "type": str(f.type), "nullable": f.nullable,
               **({"partition": True} if f.name in partitions else {})} for f in schema]
    if args.json:
        print(json.dumps(fields, indent=2))
        return 0
    width = max((len(f["name"]) for f in fields), default=0)
    tw = max((len(f["type"]) for f in fields), default=0)
    for f in fields:
        notes = ([] if f["nullable"] else ["not null"]) + (["partition column"] if f.get("partition") else [])
        print(f"{f['name'].ljust(width)}  {f['type'].ljust(tw)}  {', '.join(notes)}".rstrip())
    return 0
