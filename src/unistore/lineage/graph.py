"""A picture of lineage: inputs with their snapshots -> the run or query -> outputs, as one HTML page.

:func:`lineage_graph` turns a run manifest (``unistore.run``) or a provenance
record (a read, or a table derived from one) into nodes and edges;
:func:`to_html` lays them out in three columns and writes a page that is
self-contained: inline CSS and SVG, no script, no font or file fetched, so it
opens in any browser without a network and can be mailed or attached to a
ticket. Everything shown comes from records whose locations are redacted, and
is HTML-escaped.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from typing import Any

from ..location import known_secrets, scrub

NODE_WIDTH = 320
LINE_HEIGHT = 18
COLUMN_GAP = 140
ROW_GAP = 24
MARGIN = 24


@dataclass
class Node:
    id: str
    kind: str                     # input | run | query | output
    title: str
    lines: list[str] = field(default_factory=list)
    details: dict[str, Any] | None = None


@dataclass
class Graph:
    title: str
    nodes: list[Node]
    edges: list[tuple[str, str]]

    def of_kind(self, kind: str) -> list[Node]:
        return [n for n in self.nodes if n.kind == kind]


def _short(value: Any, width: int = 60) -> str:
    text = " ".join(scrub(str(value), known_secrets()).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _tail(value: Any, width: int = 38) -> str:
    """The end of a long name (``…/shop.db/customers``): where names differ."""
    text = _short(value, 10_000)
    return text if len(text) <= width else "…" + text[-(width - 1):]


def _snapshot(snapshot: dict[str, Any] | None) -> str:
    if not snapshot:
        return "snapshot: -"
    value = snapshot.get("value")
    if value is None and isinstance(snapshot.get("objects"), list):
        value = f"{len(snapshot['objects'])} object(s)"
    flag = "replayable" if snapshot.get("replayable") else "not replayable"
    return f"snapshot: {snapshot.get('kind')} {'' if value is None else value} ({flag})"


def _input(record: dict[str, Any], index: int) -> Node:
    src, result = record.get("source") or {}, record.get("result") or {}
    return Node(f"in{index}", "input", src.get("name") or src.get("uri") or "?",
                [f"{src.get('system', '')} {src.get('uri', '')}", _snapshot(record.get("snapshot")),
                 f"rows: {result.get('rows', 0):,}", f"fingerprint: {result.get('fingerprint') or '-'}",
                 f"read {record.get('read_id', '')}"], record)


def lineage_graph(data: dict[str, Any]) -> Graph:
    """Nodes and edges of a run manifest or of one provenance record."""
    if "unistore_manifest" in data:
        return _manifest_graph(data)
    if "read_id" in data and "source" in data:
        return _record_graph(data)
    raise ValueError("neither a unistore run manifest nor a provenance record")


def _manifest_graph(manifest: dict[str, Any]) -> Graph:
    run = manifest.get("run") or {}
    center = Node("run", "run", f"run {run.get('name')}",
                  [f"id {run.get('id')}", f"status: {run.get('status')}",
                   f"{run.get('started_at') or ''} → {run.get('ended_at') or ''}",
                   f"namespace: {run.get('namespace')}"] + ([f"error: {run['error']}"] if run.get("error") else []),
                  {"run": run, "failed_reads": manifest.get("failed_reads") or []})
    nodes = [center]
    edges = []
    for i, record in enumerate(manifest.get("inputs") or []):
        node = _input(record, i)
        nodes.append(node)
        edges.append((node.id, center.id))
    for i, failed in enumerate(manifest.get("failed_reads") or []):
        node = Node(f"failed{i}", "input", f"{failed.get('source')} (failed)", [str(failed.get("error"))], failed)
        nodes.append(node)
        edges.append((node.id, center.id))
    for i, output in enumerate(manifest.get("outputs") or []):
        node = Node(f"out{i}", "output", output.get("name") or output.get("uri") or "?",
                    [f"namespace: {output.get('namespace')}"] + ([output["uri"]] if output.get("uri") else []), output)
        nodes.append(node)
        edges.append((center.id, node.id))
    return Graph(f"run {run.get('name')} {run.get('id')}", nodes, edges)


def _record_graph(record: dict[str, Any]) -> Graph:
    query, result = record.get("query") or {}, record.get("result") or {}
    source = _input(record, 0)
    center = Node("query", "query", f"{query.get('language', 'query')} read",
                  [query.get("text") or ""] + ([f"filter: {query['filter']}"] if query.get("filter") else [])
                  + ([f"columns: {', '.join(query['columns'])}"] if query.get("columns") else []), query)
    label = "derived table" if record.get("derived") else "result"
    out = Node("result", "output", label,
               [f"rows: {result.get('rows', 0):,}", f"fingerprint: {result.get('fingerprint') or '-'}",
                f"columns: {', '.join(sorted(result.get('columns') or {})) or '-'}"]
               + [f"from read {p}" for p in record.get("parents") or []], result)
    source.lines = [line for line in source.lines if not line.startswith(("rows:", "fingerprint:"))]
    return Graph(f"read {record.get('read_id')}", [source, center, out],
                 [(source.id, center.id), (center.id, out.id)])


# -- layout and HTML ----------------------------------------------------------------------

def _height(node: Node) -> int:
    return (len(node.lines) + 1) * LINE_HEIGHT + 16


def _layout(graph: Graph) -> tuple[dict[str, tuple[int, int, int]], int, int]:
    """node id -> (x, y, height), and the canvas size: inputs left, the run or query centre, outputs right."""
    columns = [graph.of_kind("input"), graph.of_kind("run") + graph.of_kind("query"), graph.of_kind("output")]
    heights = [sum(_height(n) for n in col) + ROW_GAP * max(len(col) - 1, 0) for col in columns]
    total = max(heights)
    where = {}
    for c, col in enumerate(columns):
        y = MARGIN + (total - heights[c]) // 2
        x = MARGIN + c * (NODE_WIDTH + COLUMN_GAP)
        for node in col:
            where[node.id] = (x, y, _height(node))
            y += _height(node) + ROW_GAP
    return where, MARGIN * 2 + 3 * NODE_WIDTH + 2 * COLUMN_GAP, MARGIN * 2 + total


_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1f2328;background:#fff}
h1{font-size:18px;margin:0 0 16px}
.canvas{position:relative}
.canvas svg{position:absolute;left:0;top:0}
.edge{fill:none;stroke:#8c959f;stroke-width:2}
.node{position:absolute;box-sizing:border-box;width:%dpx;border:2px solid;border-radius:8px;padding:6px 10px;
background:#fff;overflow:hidden}
.node .title{font-weight:600;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.node .line{font:12px/%dpx ui-monospace,monospace;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.input{border-color:#0969da;background:#ddf4ff}.run,.query{border-color:#8250df;background:#fbefff}
.output{border-color:#1a7f37;background:#dafbe1}
.legend span{display:inline-block;margin-right:16px}
details{margin:6px 0}pre{background:#f6f8fa;padding:8px;overflow:auto;font-size:12px}
""" % (NODE_WIDTH, LINE_HEIGHT)


def to_html(graph: Graph) -> str:
    """The page: the three-column picture, then every node's full record under a ``<details>``."""
    where, width, height = _layout(graph)
    e = html.escape
    paths = []
    for a, b in graph.edges:
        (x1, y1, h1), (x2, y2, h2) = where[a], where[b]
        sx, sy, tx, ty = x1 + NODE_WIDTH, y1 + h1 // 2, x2, y2 + h2 // 2
        mid = (sx + tx) // 2
        paths.append(f'<path class="edge" data-from="{e(a)}" data-to="{e(b)}" '
                     f'd="M{sx},{sy} C{mid},{sy} {mid},{ty} {tx - 8},{ty}" marker-end="url(#arrow)"/>')
    boxes = []
    for node in graph.nodes:
        x, y, h = where[node.id]
        lines = "".join(f'<div class="line" title="{e(_short(t, 2000))}">{e(_short(t))}</div>' for t in node.lines)
        boxes.append(f'<div class="node {e(node.kind)}" id="{e(node.id)}" data-kind="{e(node.kind)}" '
                     f'style="left:{x}px;top:{y}px;height:{h}px">'
                     f'<div class="title" title="{e(_short(node.title, 2000))}">{e(_tail(node.title))}</div>'
                     f'{lines}</div>')
    details = "".join(
        f'<details><summary>{e(node.kind)}: {e(_short(node.title, 120))}</summary>'
        f'<pre>{e(scrub(json.dumps(node.details, indent=2, default=str), known_secrets()))}</pre></details>'
        for node in graph.nodes if node.details is not None)
    svg = (f'<svg width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg"><defs>'
           '<marker id="arrow" viewBox="0 0 10 10" refX="2" refY="5" markerWidth="8" markerHeight="8" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#8c959f"/></marker></defs>'
           + "".join(paths) + "</svg>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>unistore lineage: {e(graph.title)}</title><style>{_CSS}</style></head><body>"
            f"<h1>Lineage of {e(graph.title)}</h1>"
            '<p class="legend"><span style="color:#0969da">■ inputs (with the snapshot read)</span>'
            '<span style="color:#8250df">■ run or query</span><span style="color:#1a7f37">■ outputs</span></p>'
            f'<div class="canvas" style="width:{width}px;height:{height}px">{svg}{"".join(boxes)}</div>'
            f"<h2>Records</h2>{details}</body></html>\n")
