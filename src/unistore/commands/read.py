"""``unistore read``: preview a read (reading only what is shown) with its provenance, or write it to a file."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable
from typing import Any

import pyarrow as pa

from ..api import scan
from ..errors import BadSpecError, SourceNotFoundError
from ..preview import preview
from ..provenance import jsonable, provenance_of, tag_schema
from .common import as_of_value, json_value, open_options_arg, positive, with_table_hint
from .progress import Progress


def parse_filter(text: str) -> Any:
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


def read_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("uri", help="location: a path, file://, s3://, sqlite:///..., postgresql://..., prometheus://...")
    p.add_argument("table_arg", nargs="?", metavar="TABLE", help="table, view, metric or relative path to read")
    p.add_argument("--table", "-t", help="the same as TABLE")
    p.add_argument("--query", "-q", help="a read-only query in the store's language (SQL, PromQL, InfluxQL)")
    p.add_argument("--columns", "-c", help="comma-separated column names")
    p.add_argument("--filter", "-f", type=parse_filter, help='DNF filter as JSON, e.g. \'[["amount", ">", 10]]\'')
    p.add_argument("--limit", "-n", type=positive, help="read at most N rows")
    p.add_argument("--params", type=json_value, help="query parameters as JSON: an object (named) or a list")
    p.add_argument("--start", help="time range start (ISO 8601, inclusive)")
    p.add_argument("--end", help="time range end (ISO 8601, exclusive)")
    p.add_argument("--step", help="resolution of evaluated series: 15s, 5m, 1h, 1d")
    p.add_argument("--time-column", help="for tables and files: the column --start/--end apply to")
    p.add_argument("--shape", choices=("long", "wide"), help="time series: one row per point (long) or per time")
    p.add_argument("--as-of", type=as_of_value, help="read a pinned version: a number, an ISO time or a snapshot id")
    p.add_argument("--partitions", type=positive, help="read the plan's splits on N threads")
    p.add_argument("--batch-size", type=positive, help="rows per Arrow batch")
    open_options_arg(p)
    p.add_argument("--output", "-o", help="write the result to FILE.parquet, .csv, .json(l) or .arrow")
    p.add_argument("--rows", type=positive, default=10,
                   help="rows to preview (default 10); without --output or --limit only these are read")
    p.add_argument("--json", action="store_true",
                   help="print the whole provenance record as JSON, without the preview (reads every row)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="show rows, bytes and rate on stderr (default: when stderr is a terminal)")


def request(args: argparse.Namespace) -> tuple[str | None, dict[str, Any]]:
    """The table and the keyword arguments of the read the command line asks for."""
    if args.table and args.table_arg and args.table != args.table_arg:
        raise BadSpecError(f"two tables named: {args.table_arg!r} and --table {args.table!r}")
    table = args.table or args.table_arg
    kwargs: dict[str, Any] = dict(args.option)
    named = {"query": args.query, "filter": args.filter, "limit": args.limit, "params": args.params,
             "start": args.start, "end": args.end, "step": args.step, "time_column": args.time_column,
             "shape": args.shape, "as_of": args.as_of, "partitions": args.partitions,
             "batch_size": args.batch_size,
             "columns": [c.strip() for c in args.columns.split(",")] if args.columns else None}
    for key, value in named.items():
        if value is not None:
            if key in kwargs:
                raise BadSpecError(f"{key} given twice: as --{key.replace('_', '-')} and as -O {key}=...")
            kwargs[key] = value
    if not args.output and not args.json and kwargs.get("limit") is None:
        kwargs["limit"] = args.rows  # a preview reads only what it shows
    return table, kwargs


def read_cmd(args: argparse.Namespace) -> int:
    if args.output:  # checked before the read: a typo in the folder must not cost a whole read
        check_output(args.output)
    table_name, kwargs = request(args)
    table = run_read(args.uri, table_name, kwargs, progress=args.progress)
    record = provenance_of(table)
    if args.json:
        print(json.dumps(record.to_dict(), indent=2, default=jsonable))
        if args.output:
            write_output(table, args.output, progress=args.progress)
        return 0
    print(preview(table, args.rows))
    if table.num_rows == 0 and record.query.language == "promql" and kwargs.get("start") is None:
        print("(no --start: an instant query evaluated at --end, default now; for stored history give "
              "--start, --end and --step)", file=sys.stderr)
    if not args.output and kwargs.get("limit") == args.rows and table.num_rows == args.rows and args.rows:
        print(f"(read stopped at --rows {args.rows}; pass --limit N or --output FILE to read more)")
    if args.output:
        write_output(table, args.output, progress=args.progress)
        print(f"\nwrote {table.num_rows} rows to {args.output}")
    print()
    print(repr(record))  # the readable block; --json gives the whole record
    return 0


def run_read(uri: str, table: str | None, kwargs: dict[str, Any], *, progress: bool | None = None) -> pa.Table:
    """Stream the read, counting it on the progress line; the table carries the complete record."""
    meter = Progress("reading", enabled=progress)
    try:
        reader = scan(uri, table, **kwargs)
    except SourceNotFoundError as exc:
        if table is None:
            raise
        raise with_table_hint(exc, uri, table, kwargs) from None
    batches = []
    with reader:
        for batch in reader:
            batches.append(batch)
            meter.add(batch.num_rows, batch.nbytes)
    meter.done()
    result = pa.Table.from_batches(batches, schema=reader.schema)
    record = provenance_of(reader)  # complete now that the stream is consumed
    return result.replace_schema_metadata(tag_schema(result.schema, record).metadata)


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


def write_output(table: pa.Table, path: str, *, progress: bool | None = None) -> None:
    """Write ``table`` to ``path`` in the format its suffix names, batch by batch on the progress line."""
    check_output(path)
    meter = Progress("writing", enabled=progress)
    try:
        _write(table, path, meter)
    except OSError as exc:
        raise BadSpecError(f"cannot write --output {path[:200]}: {exc.strerror or type(exc).__name__}") from None
    finally:
        meter.done()


def _counted(table: pa.Table, meter: Progress) -> Iterable[pa.RecordBatch]:
    for batch in table.to_batches(max_chunksize=65_536):
        yield batch
        meter.add(batch.num_rows, batch.nbytes)


def _write(table: pa.Table, path: str, meter: Progress) -> None:
    lower = path.lower()
    if lower.endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq

        with pq.ParquetWriter(path, table.schema) as writer:
            for batch in _counted(table, meter):
                writer.write_batch(batch)
    elif lower.endswith(".csv"):
        import pyarrow.csv as pacsv

        with pacsv.CSVWriter(path, table.schema) as writer:
            for batch in _counted(table, meter):
                writer.write_batch(batch)
    elif lower.endswith((".json", ".jsonl")):
        with open(path, "w") as f:
            for batch in _counted(table, meter):
                for row in batch.to_pylist():
                    f.write(json.dumps(row, default=jsonable) + "\n")
    elif lower.endswith((".arrow", ".feather", ".ipc")):
        import pyarrow.ipc as ipc

        with pa.OSFile(path, "wb") as sink, ipc.new_file(sink, table.schema) as writer:
            for batch in _counted(table, meter):
                writer.write_batch(batch)
