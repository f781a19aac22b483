"""``unistore log``: the local lineage log as data — recent reads and runs, and how a dataset changed.

The log (``--log`` or ``UNISTORE_LINEAGE_LOG``) is loaded with pyarrow alone,
so looking at it is not itself a logged read. ``--dataset NAME`` follows one
dataset over time: each read's snapshot and fingerprint, and for each change
the columns whose per-column digests differ from the previous read of the
same query (reads that asked different things are never compared).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
from typing import Any

from ..errors import BadSpecError, SourceNotFoundError
from ..lineage.config import LOG_VARIABLE
from ..lineage.log import load
from .common import did_you_mean

_AGO = re.compile(r"^\s*(\d+)\s*(m|h|d|w)\s*$")
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


def log_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log", help=f"the lineage log: a .jsonl file or a Parquet folder (default ${LOG_VARIABLE})")
    p.add_argument("--run", help="only the reads of this run (id or name)")
    p.add_argument("--dataset", "-d", help="the history of one dataset: snapshots, fingerprints, drifted columns")
    p.add_argument("--since", type=time_bound, help="from this time: ISO 8601, or 30m, 12h, 7d ago")
    p.add_argument("--until", type=time_bound, help="before this time: ISO 8601, or 30m, 12h, 7d ago")
    p.add_argument("--status", choices=("ok", "error", "incomplete"), help="only reads that ended so")
    p.add_argument("--runs", action="store_true", help="one line per run instead of one per read")
    p.add_argument("--last", "-n", type=int, default=20, help="show the last N entries (default 20, 0: all)")
    p.add_argument("--json", action="store_true", help="print JSON")


def time_bound(text: str) -> str:
    """A bound in the log's own form (RFC 3339, UTC, microseconds), so bounds compare as text."""
    ago = _AGO.match(text)
    if ago:
        when = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=int(ago.group(1)) * _UNITS[ago.group(2)])
    else:
        try:
            when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an ISO 8601 time or 30m/12h/7d, got {text[:40]!r}") from None
        when = when.replace(tzinfo=dt.timezone.utc) if when.tzinfo is None else when.astimezone(dt.timezone.utc)
    return when.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _entries(args: argparse.Namespace) -> list[dict[str, Any]]:
    path = args.log or os.environ.get(LOG_VARIABLE)
    if not path:
        raise BadSpecError(f"no lineage log: pass --log PATH or set {LOG_VARIABLE}")
    if not os.path.exists(path):
        raise SourceNotFoundError(f"lineage log {path} does not exist")
    rows = load(path).to_pylist()
    if args.run:
        rows = [r for r in rows if args.run in (r.get("run_id"), r.get("run_name"))]
    # a read that failed before it started has no time: a time filter leaves it out
    if args.since:
        rows = [r for r in rows if r.get("read_at") and r["read_at"] >= args.since]
    if args.until:
        rows = [r for r in rows if r.get("read_at") and r["read_at"] < args.until]
    if args.status:
        rows = [r for r in rows if r.get("status") == args.status]
    return rows  # in log order: the order the reads ended


def _names(row: dict[str, Any]) -> set[str]:
    ns, name = row.get("source_namespace") or "", row.get("source_name") or ""
    return {name, row.get("source_uri") or "", f"{ns}/{name}", f"{ns}:{name}"} - {"", "/", ":"}


def log_cmd(args: argparse.Namespace) -> int:
    rows = _entries(args)
    if args.dataset:
        return _history(args, rows)
    if args.runs:
        return _runs(args, rows)
    shown = rows[-args.last:] if args.last else rows
    if args.json:
        print(json.dumps([{k: v for k, v in r.items() if k != "record"} for r in shown], indent=2, default=str))
        return 0
    for r in shown:
        run = f" run {r['run_name']}" if r.get("run_name") else ""
        what = f"{r.get('rows', 0):>10,} rows  {_fp(r.get('fingerprint'))}" if r.get("status") == "ok" else \
            f"{r.get('status')}: {(r.get('error') or '')[:80]}"
        print(f"{(r.get('read_at') or '(not started)')[:23]:<23}  {r.get('source_name') or r.get('source_uri')}  "
              f"{r.get('snapshot_kind') or '-'}  {what}{run}")
    print(f"({len(shown)} of {len(rows)} reads)")
    return 0


def _fp(fingerprint: str | None) -> str:
    return (fingerprint or "-")[:20]


def _runs(args: argparse.Namespace, rows: list[dict[str, Any]]) -> int:
    runs: dict[str, dict[str, Any]] = {}
    for r in rows:
        if not r.get("run_id"):
            continue
        run = runs.setdefault(r["run_id"], {"run_id": r["run_id"], "run_name": r.get("run_name"), "reads": 0,
                                            "failed": 0, "first": r.get("read_at"), "datasets": []})
        run["reads"] += 1
        run["failed"] += r.get("status") == "error"
        run["last"] = r.get("read_at")
        if r.get("source_name") not in run["datasets"]:
            run["datasets"].append(r.get("source_name"))
    listed = list(runs.values())
    listed = listed[-args.last:] if args.last else listed
    if args.json:
        print(json.dumps(listed, indent=2))
        return 0
    for run in listed:
        failed = f", {run['failed']} failed" if run["failed"] else ""
        print(f"{(run['first'] or '')[:23]}  run {run['run_name']} {run['run_id']}: {run['reads']} read(s){failed} "
              f"of {', '.join(map(str, run['datasets']))}")
    print(f"({len(listed)} runs)")
    return 0


def _history(args: argparse.Namespace, rows: list[dict[str, Any]]) -> int:
    mine = [r for r in rows if args.dataset in _names(r)]
    if not mine:  # a short name: the datasets whose name ends in it (shop.db/orders for "orders")
        ends = {n for r in rows for n in [r.get("source_name") or ""]
                if n.endswith(("/" + args.dataset, "." + args.dataset))}
        if len(ends) == 1:
            mine = [r for r in rows if r.get("source_name") in ends]
    if not mine:
        close = did_you_mean(args.dataset, {r.get("source_name") or "" for r in rows} - {""})
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
        raise SourceNotFoundError(f"no read of {args.dataset} in the lineage log{hint}")
    changes = drift_history([r for r in mine if r.get("status") == "ok"])
    shown = changes[-args.last:] if args.last else changes
    if args.json:
        print(json.dumps(shown, indent=2, default=str))
        return 0
    print(f"{args.dataset}: {len(changes)} read(s)")
    for c in shown:
        print(f"  {c['read_at'][:23]}  {c['snapshot'][:40]:<40}  {c['rows']:>10,} rows  {_fp(c['fingerprint'])}  "
              f"{_describe(c)}")
    return 0


def _describe(change: dict[str, Any]) -> str:
    status = change["change"]
    if status == "drifted":
        cols = change["columns"]
        parts = [f"columns {', '.join(cols['changed'])}" if cols["changed"] else "",
                 f"added {', '.join(cols['added'])}" if cols["added"] else "",
                 f"removed {', '.join(cols['removed'])}" if cols["removed"] else "",
                 "rows only" if not any(cols.values()) else ""]
        return "DRIFTED: " + "; ".join(p for p in parts if p)
    return status


def drift_history(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each read with how it compares to the previous read of the same request.

    ``change``: ``first`` (no earlier read of this request), ``same`` (same fingerprint),
    ``drifted`` (other content: ``columns`` says which changed, were added or removed).
    """
    previous: dict[str, dict[str, Any]] = {}
    out = []
    for r in rows:
        record = json.loads(r["record"]) if r.get("record") else {}
        query = record.get("query") or {}
        key = json.dumps([query.get("text"), query.get("request")], sort_keys=True, default=str)
        digests = (record.get("result") or {}).get("columns") or {}
        entry = {"read_id": r.get("read_id"), "read_at": r.get("read_at") or "", "rows": r.get("rows") or 0,
                 "snapshot": _snapshot_text(record.get("snapshot"), r.get("snapshot")),
                 "fingerprint": r.get("fingerprint"), "query": query.get("text"), "change": "first"}
        before = previous.get(key)
        if before is not None:
            if before["fingerprint"] == entry["fingerprint"]:
                entry["change"] = "same"
            else:
                old = before["_digests"]
                entry["change"] = "drifted"
                entry["columns"] = {"changed": sorted(c for c in digests if c in old and old[c] != digests[c]),
                                    "added": sorted(c for c in digests if c not in old),
                                    "removed": sorted(c for c in old if c not in digests)}
                entry["rows_before"] = before["rows"]
        previous[key] = {**entry, "_digests": digests}
        out.append(entry)
    return out


def _snapshot_text(snapshot: Any, fallback: Any) -> str:
    if isinstance(snapshot, dict):
        value = snapshot.get("value")
        return f"{snapshot.get('kind')} {value if value is not None else ''}".strip()
    return str(fallback or "-")
