"""The ``unistore`` command: browse a location, read it or query several with provenance, look back at the
lineage, replay a run, run the demo, list and check a catalog, write and check its lock file.

The command line owns every subcommand: each is a pair of functions (one adds
its arguments, one runs it and returns the exit status) listed in ``COMMANDS``
at the bottom; families of them live one module each in :mod:`unistore.commands`.
The modules they drive (:mod:`unistore.api`, :mod:`unistore.runs`, ...) know
nothing of the command line. Errors are one line on stderr; ``--debug`` adds
the traceback. The exit statuses are in ``EPILOG``.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any, NoReturn

from ._version import __version__
from .commands import data
from .commands.browse import ls_args, ls_cmd, schema_args, schema_cmd
from .commands.catalog import catalog_args, catalog_cmd, lock_args, lock_cmd
from .commands.graph import graph_args, graph_cmd
from .commands.history import log_args, log_cmd
from .commands.read import read_args, read_cmd
from .commands.sql import sql_args, sql_cmd
from .errors import UnistoreError
from .provenance import jsonable
from .runs import replay_manifest


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


#: name -> (add its arguments, run it and return the exit status)
COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "ls": (ls_args, ls_cmd),
    "schema": (schema_args, schema_cmd),
    "read": (read_args, read_cmd),
    "sql": (sql_args, sql_cmd),
    "demo": (_demo_args, _demo),
    "replay": (_replay_args, _replay),
    "log": (log_args, log_cmd),
    "graph": (graph_args, graph_cmd),
    "catalog": (catalog_args, catalog_cmd),
    "lock": (lock_args, lock_cmd),
    "test": (data.test_args, data.test),
    "sample": (data.sample_args, data.sample),
}

EPILOG = """exit status:
  0  success (also when the reader of the output goes away early, as `| head` does)
  1  unistore error (bad request, source not found or unreachable, query rejected, drift);
     one line on stderr: "unistore: ErrorType: message" (--debug adds the traceback)
  2  usage error (unknown command, option or argument; a close name is suggested)
  3  internal error: a bug in unistore or an adapter; one line, --debug shows the traceback
  130 interrupted (Ctrl-C)
"""


class _Parser(argparse.ArgumentParser):
    """argparse, with "did you mean" for a misspelt option or subcommand."""

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments:"):
            options = [s for a in self._actions for s in a.option_strings]
            hints = []
            for word in message.split(":", 1)[1].split():
                if word.startswith("-"):
                    close = difflib.get_close_matches(word.split("=", 1)[0], options, n=1, cutoff=0.6)
                    if close:
                        hints.append(close[0])
            if hints:
                message += f" (did you mean {', '.join(hints)}?)"
        elif "invalid choice:" in message and "argument command" in message:
            word = message.split("invalid choice:", 1)[1].split("(", 1)[0].strip().strip("'")
            close = difflib.get_close_matches(word, list(COMMANDS), n=1)
            if close:
                message += f"; did you mean {close[0]!r}?"
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="unistore", description="Read any silo into Arrow, with provenance.",
                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"unistore {__version__}")
    parser.add_argument("--debug", action="store_true", help="print the traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, (configure, _) in COMMANDS.items():
        p = sub.add_parser(name, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="print the traceback of an error")
        configure(p)
    return parser


def _parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    args, extra = parser.parse_known_args(argv)
    if extra:  # reported by the subcommand's parser, which knows its own options
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        sub.choices[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _fail(code: int, line: str, debug: bool) -> int:
    if debug:  # the traceback too, with the credentials of every location parsed so far masked
        print(_scrubbed(traceback.format_exc(), limit=None), file=sys.stderr, end="")
    print(" ".join(line.split())[:2000], file=sys.stderr)  # one line, however the message was built
    return code


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (see ``EPILOG``)."""
    parser = build_parser()
    args = _parse(parser, argv)
    debug = bool(getattr(args, "debug", False)) or os.environ.get("UNISTORE_DEBUG") == "1"
    try:
        return COMMANDS[args.command][1](args)
    except UnistoreError as exc:
        return _fail(1, f"unistore: {type(exc).__name__}: {exc}", debug)
    except KeyboardInterrupt:
        return _fail(130, "unistore: interrupted", debug)
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    except Exception as exc:  # a bug: still one line, with where to look
        return _fail(3, f"unistore: internal error {type(exc).__name__}: {_scrubbed(exc)} "
                        "(run again with --debug for the traceback, and report it)", debug)


def _scrubbed(text: object, limit: int | None = 300) -> str:
    """Text about an unexpected error, cut short; known credentials in it masked."""
    from .location import known_secrets, scrub

    clean = scrub(str(text), known_secrets())
    return clean if limit is None else clean[:limit]


def _quiet_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the interpreter's final flush stays silent."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _entry() -> Any:  # pragma: no cover - the console script
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
