"""``unistore graph``: a self-contained HTML picture of a run manifest or of a result's provenance record."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from ..errors import BadSpecError, SourceNotFoundError
from ..lineage.graph import lineage_graph, to_html
from ..provenance import SCHEMA_KEY


def graph_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="MANIFEST_OR_RECORD",
                   help="a run manifest (.json), a provenance record (.json), or a .parquet/.arrow file unistore wrote")
    p.add_argument("--html", required=True, metavar="OUT.html", help="where to write the page")


def load_lineage(path: str) -> dict[str, Any]:
    """The manifest or record in ``path``: JSON, or the provenance in a Parquet / Arrow file's schema."""
    if not os.path.isfile(path):
        raise SourceNotFoundError(f"{path} does not exist")
    lower = path.lower()
    if lower.endswith((".parquet", ".pq", ".arrow", ".feather", ".ipc")):
        import pyarrow.parquet as pq
        import pyarrow.ipc as ipc

        schema = pq.read_schema(path) if lower.endswith((".parquet", ".pq")) else ipc.open_file(path).schema
        raw = (schema.metadata or {}).get(SCHEMA_KEY)
        if raw is None:
            raise BadSpecError(f"{path} carries no unistore provenance (was it written by unistore read --output?)")
        return json.loads(raw)
    try:
        with open(path) as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadSpecError(f"{path} is not JSON: {exc}") from None


def graph_cmd(args: argparse.Namespace) -> int:
    if not args.html.lower().endswith((".html", ".htm")):
        raise BadSpecError(f"--html must name a .html file: {args.html[:200]}")
    folder = os.path.dirname(os.path.abspath(args.html))
    if not os.path.isdir(folder):
        raise BadSpecError(f"--html folder does not exist: {folder[:200]}")
    data = load_lineage(args.source)
    try:
        graph = lineage_graph(data)
    except ValueError as exc:
        raise BadSpecError(f"{args.source}: {exc}") from None
    with open(args.html, "w", encoding="utf-8") as f:
        f.write(to_html(graph))
    counts = {k: len(graph.of_kind(k)) for k in ("input", "run", "query", "output")}
    print(f"wrote {args.html}: {counts['input']} input(s) -> {counts['run'] + counts['query']} "
          f"{'run' if counts['run'] else 'query'} -> {counts['output']} output(s)")
    return 0
