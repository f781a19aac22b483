"""``unistore catalog`` and ``unistore lock``: list and check a catalog, write and check its lock file."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..catalogs import Catalog, catalog, format_checks
from ..provenance import jsonable


def _catalog_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--catalog", metavar="PATH",
                   help="the catalog file (default: $UNISTORE_CATALOG, else the nearest unistore.yaml upwards)")


def catalog_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    _catalog_option(sub.add_parser("list", help="the datasets, their sources and lock state"))
    describe = sub.add_parser("describe", help="one dataset: source, target, documentation, schema, pinned state")
    describe.add_argument("name")
    describe.add_argument("--json", action="store_true", help="print it as JSON")
    _catalog_option(describe)
    _catalog_option(sub.add_parser("check", help="validate the catalog and lock file without reading data"))


def catalog_cmd(args: argparse.Namespace) -> int:
    cat = catalog(args.catalog)
    if args.action == "check":
        cat.validate()
        print(f"{cat.path}: {len(cat.datasets())} dataset(s), {len(cat.sources())} source(s), "
              f"lock mode {cat.lock_mode}; valid")
        return 0
    if args.action == "describe":
        info = cat.describe(args.name)
        if args.json:
            print(json.dumps(info, indent=2, default=jsonable))
        else:
            print(_described(info))
        return 0
    rows = [("DATASET", "SOURCE", "TARGET", "LOCK", "DESCRIPTION")]
    for name in cat.datasets():
        info = cat.describe(name)
        target = info["table"] or (" ".join((info["query"] or "").split())[:40])
        rows.append((name, f"{info['source']} ({info['uri']})", target or "-", info["lock"]["state"],
                     (info["description"] or "-").splitlines()[0][:60]))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4])
    return 0


def _described(info: dict[str, Any]) -> str:
    lock = info["lock"]
    lines = [f"{info['name']}: {info['description'] or '(no description)'}",
             f"  source   {info['source']} ({info['uri']})",
             f"  reads    {info['table'] or info['query']}"]
    for key in ("columns", "filter", "time"):
        if info[key]:
            lines.append(f"  {key:<8} {info[key]}")
    if info["owners"]:
        lines.append("  owners   " + ", ".join(o["name"] + (f" ({o['type']})" if o["type"] else "")
                                           for o in info["owners"]))
    if info["tags"]:
        lines.append("  tags     " + ", ".join(k if v == "true" else f"{k}={v}" for k, v in info["tags"].items()))
    lines.append(f"  lock     {lock['state']} (mode {lock['mode']})" +
                 (f": {lock['rows']} rows, {lock['fingerprint']}" if lock["rows"] is not None else ""))
    if lock["version"]:
        lines.append(f"  version  {lock['version']}")
    if info["schema"]:
        lines.append("  schema   " + "\n           ".join(info["schema"]))
    return "\n".join(lines)


def lock_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--update", action="append", metavar="NAME", default=[],
                   help="re-pin only this dataset (repeatable); the others stay as locked")
    p.add_argument("--check", action="store_true",
                   help="re-read every dataset and compare with the lock file; exit 1 if any drifted (a CI gate)")
    p.add_argument("--json", action="store_true", help="with --check: print the report as JSON")
    _catalog_option(p)


def lock_cmd(args: argparse.Namespace) -> int:
    cat: Catalog = catalog(args.catalog)
    if args.check:
        if args.update:
            raise SystemExit("--check and --update do not go together")
        checks = cat.check(progress=None if args.json else
                           lambda c: print(f"checked {c.dataset}: {c.status}", file=sys.stderr))
        if args.json:
            print(json.dumps([c.to_dict() for c in checks], indent=2, default=jsonable))
        else:
            print(format_checks(checks))
            bad = [c for c in checks if not c.ok]
            print(f"\n{len(checks) - len(bad)} of {len(checks)} dataset(s) match {cat.lock_path.name}"
                  + ("" if not bad else f"; {len(bad)} do not"))
        return 0 if all(c.ok for c in checks) else 1

    def progress(name: str, outcome: str, entry: Any) -> None:
        version = f", {entry.version}" if entry.version else ""
        print(f"locked {name}: {outcome} ({entry.rows} rows, {entry.fingerprint}{version})", file=sys.stderr)

    outcome = cat.lock(args.update or None, progress=progress)
    for name, what in outcome.items():
        if what == "removed":
            print(f"removed {name}: no longer in the catalog", file=sys.stderr)
    changed = sum(1 for v in outcome.values() if v != "unchanged")
    print(f"wrote {cat.lock_path} ({len(outcome)} dataset(s), {changed} changed)")
    return 0
