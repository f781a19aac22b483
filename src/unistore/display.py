"""How a provenance record looks to a person: a short plain-text block and an HTML table for Jupyter.

Both show the same fields (source, snapshot, query, rows, fingerprint, checks,
parents) and are built only from the record, whose location is already
redacted; the query text and parameters are also passed through the process's
known secrets, and parameters whose names look secret are never shown, so no
rendering can carry a credential.
"""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING, Any

from .location import is_secret_param, known_secrets, scrub

if TYPE_CHECKING:
    from .provenance import Provenance

WIDTH = 100  # longest value shown in full; longer ones are cut with an ellipsis


def _short(text: Any, width: int = WIDTH) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _clean(text: Any) -> str:
    return scrub(str(text), known_secrets())


def _params(params: Any) -> str | None:
    if params is None:
        return None
    if isinstance(params, dict):
        shown = {k: ("***" if is_secret_param(str(k)) else v) for k, v in params.items()}
        return _clean(json.dumps(shown, default=str))
    # positional values have no name to judge them by: a token may be one of them
    return f"{len(params)} positional value(s), not shown" if isinstance(params, list) else "not shown"


def _snapshot(record: "Provenance") -> str:
    snap = record.snapshot
    value = snap.value
    if value is None:
        objects = snap.pins.get("objects")
        value = f"{len(objects)} object(s)" if isinstance(objects, list) else ""
    flags = ["replayable" if snap.replayable else "not replayable"] + ([] if snap.consistent else ["not consistent"])
    return f"{snap.kind} {_short(value, 60)} ({', '.join(flags)})".replace("  ", " ")


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n} B"  # pragma: no cover


def rows(record: "Provenance") -> list[tuple[str, str]]:
    """The (label, value) pairs both renderings show, in order."""
    src, q, r = record.source, record.query, record.result
    out = [
        ("source", f"{src.system} {src.uri}"),
        ("dataset", f"{src.namespace} / {src.name}"),
        ("snapshot", _snapshot(record)),
        ("query", f"{q.language}: {_short(_clean(q.text))}"),
    ]
    params = _params(q.params)
    if params:
        out.append(("params", _short(params)))
    if q.columns:
        out.append(("columns", _short(", ".join(q.columns))))
    if q.filter:
        out.append(("filter", _short(_clean(q.filter))))
    if (q.request or {}).get("limit") is not None:
        out.append(("limit", f"{q.request['limit']:,}"))
    out.append(("rows", f"{r.rows:,} ({_size(r.bytes)})" + ("" if r.complete else ", incomplete: stream not consumed")))
    out.append(("fingerprint", r.fingerprint or "-"))
    checks = getattr(record, "checks", None)
    if checks:
        out.append(("checks", _short(_clean(json.dumps(checks, default=str)))))
    if record.parents:
        out.append(("parents", ", ".join(record.parents)))
    if record.derived:
        out.append(("derived", "yes: a table made from the parent read's result (its own rows and fingerprint)"))
    out.append(("read", f"{record.read_id} at {record.read_at} (unistore {record.unistore})"))
    return out


def text(record: "Provenance") -> str:
    """A plain-text block, one field a line: what ``repr(record)`` and ``print`` show."""
    pairs = rows(record)
    width = max(len(k) for k, _ in pairs)
    return "\n".join([f"<Provenance of {record.source.name}>"] + [f"  {k.ljust(width)}  {v}" for k, v in pairs])


def to_html(record: "Provenance") -> str:
    """A small self-contained HTML table: what Jupyter shows for a record."""
    body = "".join(f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(k)}</th>"
                   f"<td style='text-align:left'><code>{html.escape(v)}</code></td></tr>" for k, v in rows(record))
    title = html.escape(f"Provenance of {record.source.name}")
    return f"<div class='unistore-provenance'><strong>{title}</strong><table>{body}</table></div>"
