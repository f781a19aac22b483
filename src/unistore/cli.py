"""The ``unistore`` command: read a location or query several, preview with provenance, replay a run, run the demo.

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

from ._version import __version__
from .api import read
from .federated import sql
from .errors import BadSpecError, UnistoreError
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
