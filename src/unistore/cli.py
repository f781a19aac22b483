"""The ``unistore`` command: read a location or query several, preview with provenance, replay a run, run the
demo, list and check a catalog, write and check its lock file.

The command line owns every subcommand: each is a pair of functions (one adds
its arguments, one runs it) listed in ``COMMANDS`` at the bottom. The modules
it drives (:mod:`unistore.api`, :mod:`unistore.runs`, :mod:`unistore.demo`)
know nothing of it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from . import datacommands
from ._version import __version__
from .api import read
from .catalogs import Catalog, catalog, format_checks
from .errors import BadSpecError, UnistoreError
from .federated import sql
from .preview import preview
from .provenance import jsonable, provenance_of
from .runs import replay_manifest


def _parse_filter(text: str) -> Any:
    """``--filter`` takes DNF tuples as JSON: ``'[["amount", ">", 10]]'`` (an OR of ANDs: one level deeper)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"must be JSON like '[[\"amount\", \">\", 10]]' ({exc.msg})") from None
    if not isinstance(data, list) or not data or not all(isinstance(p, list) and p for p in data):
        raise argparse.ArgumentTypeError("must be a JSON list of [column, op, value] lists, "
                                         "e.g. '[[\"amount\", \">\", 10]]'")
    nested = [isinstance(p[0], list) for p in data]
    if any(nested):  # [[[...], [...]], [[...]]]: OR of AND-clauses
        if not all(nested) or not all(isinstance(t, list) for clause in data for t in clause):
            raise argparse.ArgumentTypeError("mixes clauses ([[...], ...]) and [column, op, value] lists")
        return [[tuple(t) for t in clause] for clause in data]
    return [tuple(p) for p in data]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text[:40]!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _read_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("uri", help="location: a path, file://, memory://, sqlite:///..., duckdb:///..., postgresql://...")
    p.add_argument("--table", "-t", help="table, view or relative path to read")
    p.add_argument("--query", "-q", help="a read-only query in the store's language")
    p.add_argument("--columns", "-c", help="comma-separated column names")
    p.add_argument("--filter", "-f", type=_parse_filter, help='DNF filter as JSON, e.g. \'[["amount", ">", 10]]\'')
    p.add_argument("--limit", "-n", type=_positive)
    p.add_argument("--output", "-o", help="write the result to FILE.parquet, .csv, .json(l) or .arrow")
    p.add_argument("--rows", type=_positive, default=10, help="rows to preview (default 10)")


def _read(args: argparse.Namespace) -> int:
    if args.output:  # checked before the read: a typo in the folder must not cost a whole read
        check_output(args.output)
    table = read(args.uri, args.table, query=args.query,
                 columns=args.columns.split(",") if args.columns else None,
                 filter=args.filter, limit=args.limit)
    print(preview(table, args.rows))
    if args.output:
        write_output(table, args.output)
        print(f"\nwrote {table.num_rows} rows to {args.output}")
    print("\nprovenance:")
    print(json.dumps(provenance_of(table).to_dict(), indent=2, default=str))
    return 0


OUTPUT_SUFFIXES = (".parquet", ".pq", ".csv", ".json", ".jsonl", ".arrow", ".feather", ".ipc")


def check_output(path: str) -> None:
    """Raise :class:`~unistore.errors.BadSpecError` unless ``path`` can be written: known suffix, existing folder."""
    if not path.lower().endswith(OUTPUT_SUFFIXES):
        raise BadSpecError(f"--output must end in .parquet, .csv, .json, .jsonl or .arrow: {path[:200]}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise BadSpecError(f"--output folder does not exist: {folder[:200]}")
    if os.path.isdir(path):
        raise BadSpecError(f"--output is a folder, not a file: {path[:200]}")


def write_output(table: pa.Table, path: str) -> None:
    """Write ``table`` to ``path`` in the format its suffix names."""
    check_output(path)
    try:
        _write(table, path)
    except OSError as exc:
        raise BadSpecError(f"cannot write --output {path[:200]}: {exc.strerror or type(exc).__name__}") from None


def _write(table: pa.Table, path: str) -> None:
    lower = path.lower()
    if lower.endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq

        pq.write_table(table, path)
    elif lower.endswith(".csv"):
        import pyarrow.csv as pacsv

        pacsv.write_csv(table, path)
    elif lower.endswith((".json", ".jsonl")):
        with open(path, "w") as f:
            for row in table.to_pylist():
                f.write(json.dumps(row, default=jsonable) + "\n")
    elif lower.endswith((".arrow", ".feather", ".ipc")):
        import pyarrow.feather as feather

        feather.write_feather(table, path)


def _demo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", default="unistore-demo", help="where to build the demo data (default ./unistore-demo)")


def _demo(args: argparse.Namespace) -> int:
    from .demo import run  # imported when asked for: the demo brings DuckDB and sqlite3


    run(args.dir)
    return 0


def _replay_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("manifest", help="a run manifest written by unistore.run")
    p.add_argument("--uri", action="append", default=[], metavar="RECORDED=ACTUAL",
                   help="read RECORDED (the redacted URI in the manifest) from ACTUAL, e.g. with credentials")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def _replay(args: argparse.Namespace) -> int:
    uris = {}
    for item in args.uri:
        recorded, sep, actual = item.partition("=")
        if not sep:
            raise SystemExit(f"--uri takes RECORDED=ACTUAL, got {item!r}")
        uris[recorded] = actual
    report = replay_manifest(args.manifest, uris=uris)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, default=jsonable))
    else:
        run_info = report.manifest.get("run") or {}
        print(f"run {run_info.get('name')} {run_info.get('id')}: {len(report)} input(s)")
        for item in report:
            print("  " + item.describe())
    return 0 if report.identical else 1


def _catalog_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--catalog", metavar="PATH",
                   help="the catalog file (default: $UNISTORE_CATALOG, else the nearest unistore.yaml upwards)")


def _catalog_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    _catalog_option(sub.add_parser("list", help="the datasets, their sources and lock state"))
    describe = sub.add_parser("describe", help="one dataset: source, target, documentation, schema, pinned state")
    describe.add_argument("name")
    describe.add_argument("--json", action="store_true", help="print it as JSON")
    _catalog_option(describe)
    _catalog_option(sub.add_parser("check", help="validate the catalog and lock file without reading data"))


def _catalog(args: argparse.Namespace) -> int:
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


def _lock_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--update", action="append", metavar="NAME", default=[],
                   help="re-pin only this dataset (repeatable); the others stay as locked")
    p.add_argument("--check", action="store_true",
                   help="re-read every dataset and compare with the lock file; exit 1 if any drifted (a CI gate)")
    p.add_argument("--json", action="store_true", help="with --check: print the report as JSON")
    _catalog_option(p)


def _lock(args: argparse.Namespace) -> int:
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


def _sql_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("query", help='one read-only SELECT naming inputs as source.table, e.g. "SELECT ... FROM pg.orders"')
    p.add_argument("--source", "-s", action="append", default=[], metavar="NAME=URI",
                   help="an input, e.g. --source pg=postgresql://db/shop --source lake=s3://lake/events/")
    p.add_argument("--param", "-p", action="append", default=[], metavar="NAME=JSON",
                   help="bind $NAME in the query to a JSON value, e.g. --param day='\"2024-01-01\"'")
    p.add_argument("--output", "-o", help="write the result to FILE.parquet, .csv, .json(l) or .arrow")
    p.add_argument("--rows", type=_positive, default=10, help="rows to preview (default 10)")


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise BadSpecError(f"{flag} takes NAME=VALUE, got {item[:40]!r}")
        out[name] = value
    return out


def _sql(args: argparse.Namespace) -> int:
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


#: name -> (add its arguments, run it and return the exit status)
COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "read": (_read_args, _read),
    "sql": (_sql_args, _sql),
    "demo": (_demo_args, _demo),
    "replay": (_replay_args, _replay),
    "catalog": (_catalog_args, _catalog),
    "lock": (_lock_args, _lock),
    "test": (datacommands.test_args, datacommands.test),
    "sample": (datacommands.sample_args, datacommands.sample),
}

EPILOG = """exit status:
  0  success
  1  unistore error (bad request, source not found or unreachable, query rejected, drift);
     one line on stderr: "unistore: ErrorType: message"
  2  usage error (unknown command, bad or missing argument)
"""


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (see ``EPILOG``)."""
    parser = argparse.ArgumentParser(prog="unistore", description="Read any silo into Arrow, with provenance.",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"unistore {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (configure, _) in COMMANDS.items():
        configure(sub.add_parser(name, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter))
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command][1](args)
    except UnistoreError as exc:
        message = " ".join(str(exc).split())  # one line, however the message was built
        print(f"unistore: {type(exc).__name__}: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
