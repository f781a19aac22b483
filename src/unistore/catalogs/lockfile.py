"""The lock file (``unistore.lock``): which state of each catalog dataset a project expects.

Per dataset it keeps the source as written (credentials removed, ``${VAR}``
unexpanded), a digest of the dataset's definition, the snapshot of the read
that locked it, the pinned version where the store keeps versions, the row
count, the schema, and the content fingerprint with its per-column digests
(from the read's provenance record, see :mod:`unistore.fingerprint`).

The text is JSON with sorted keys and one value per line, so a lock diffs
well in review, and the same state always writes the same bytes: there is no
timestamp in it (git knows when it changed), and re-locking data whose content
did not change keeps its entry as it was, snapshot included.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa
import xxhash

from ..errors import CatalogError
from ..provenance import Provenance, jsonable

LOCK_VERSION = 1
#: statuses of :class:`Check`
OK, DRIFTED, REDEFINED, UNLOCKED, STALE, FAILED = "ok", "drifted", "redefined", "unlocked", "stale", "error"


def plain_json(value: Any) -> Any:
    """``value`` as it reads back from JSON (so an entry made now equals the same entry loaded later)."""
    return json.loads(json.dumps(value, default=jsonable, sort_keys=True))


def definition_digest(definition: dict[str, Any]) -> str:
    """A short, stable digest of a dataset's definition (source as written + read request)."""
    text = json.dumps(definition, default=jsonable, sort_keys=True, separators=(",", ":"))
    return "xxh3_64:" + xxhash.xxh3_64_hexdigest(text.encode())


def schema_lines(schema: pa.Schema) -> list[str]:
    """``name: type`` per column, in order (readable in a diff; the fingerprint pins it exactly)."""
    return [f"{f.name}: {f.type}" for f in schema]


def pinned_version(snapshot: dict[str, Any]) -> str | None:
    """The version a read can be pinned to, where the store keeps versions (None otherwise)."""
    if not snapshot.get("replayable"):
        return None
    value = snapshot.get("value")
    return f"{snapshot.get('kind')}:{value if isinstance(value, str) else json.dumps(value, sort_keys=True)}"


@dataclass(frozen=True)
class LockEntry:
    """One dataset's pinned state."""

    source: str
    definition: str
    snapshot: dict[str, Any]
    version: str | None
    rows: int
    schema: list[str]
    schema_fingerprint: str
    fingerprint: str
    columns: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of_read(cls, record: Provenance, schema: pa.Schema, source: str, definition: str) -> "LockEntry":
        """The entry for a completed read of the dataset (``record`` is its provenance)."""
        r = record.result
        snapshot = plain_json(record.snapshot.to_dict())
        return cls(source=source, definition=definition, snapshot=snapshot, version=pinned_version(snapshot),
                   rows=r.rows, schema=schema_lines(schema), schema_fingerprint=r.schema_fingerprint or "",
                   fingerprint=r.fingerprint or "", columns=dict(r.columns or {}))

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "definition": self.definition, "snapshot": self.snapshot,
                "version": self.version, "rows": self.rows, "schema": list(self.schema),
                "schema_fingerprint": self.schema_fingerprint, "fingerprint": self.fingerprint,
                "columns": dict(self.columns)}

    @classmethod
    def from_dict(cls, data: Any) -> "LockEntry":
        if not isinstance(data, dict):
            raise TypeError("an entry is an object")
        return cls(source=str(data["source"]), definition=str(data["definition"]), snapshot=dict(data["snapshot"]),
                   version=data.get("version"), rows=int(data["rows"]), schema=[str(s) for s in data["schema"]],
                   schema_fingerprint=str(data["schema_fingerprint"]), fingerprint=str(data["fingerprint"]),
                   columns={str(k): str(v) for k, v in (data.get("columns") or {}).items()})

    def same_data(self, other: "LockEntry") -> bool:
        """Whether ``other`` pins the same content under the same definition (snapshots may differ)."""
        return (self.definition, self.rows, self.schema_fingerprint, self.fingerprint) == \
            (other.definition, other.rows, other.schema_fingerprint, other.fingerprint)

    def differences(self, now: "LockEntry") -> dict[str, Any]:
        """What differs between this pinned state and ``now`` (empty: the same data).

        ``rows``, ``schema`` (columns added, removed or retyped), ``fingerprint``,
        and ``columns``: the columns whose per-column digest changed.
        """
        diffs: dict[str, Any] = {}
        if self.definition != now.definition:
            diffs["definition"] = {"recorded": self.definition, "now": now.definition}
        if self.rows != now.rows:
            diffs["rows"] = {"recorded": self.rows, "now": now.rows}
        if self.schema_fingerprint != now.schema_fingerprint:
            diffs["schema"] = {"recorded": self.schema, "now": now.schema}
        if self.fingerprint != now.fingerprint:
            diffs["fingerprint"] = {"recorded": self.fingerprint, "now": now.fingerprint}
            names = list(self.columns) + [c for c in now.columns if c not in self.columns]
            changed = [c for c in names if self.columns.get(c) != now.columns.get(c)]
            if changed:
                diffs["columns"] = changed
        return diffs


@dataclass
class LockFile:
    """The entries of one lock file, by dataset name."""

    path: Path
    entries: dict[str, LockEntry] = field(default_factory=dict)
    #: whether the file was there when loaded (a missing file is an empty lock)
    exists: bool = True
    #: unit data sets taken from the datasets (``unistore sample``), by file path relative to the lock file
    samples: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "LockFile":
        """Read ``path``; a missing file is an empty lock, a malformed one a :class:`CatalogError`."""
        path = Path(path)
        file = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(path, exists=False)
        except (OSError, UnicodeDecodeError) as exc:
            raise CatalogError(file, None, None, f"cannot read the lock file ({type(exc).__name__})") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CatalogError(file, exc.lineno, None, f"not a lock file (bad JSON: {exc.msg}); "
                               "write it again with `unistore lock`") from None
        if not isinstance(data, dict) or data.get("unistore_lock") != LOCK_VERSION:
            raise CatalogError(file, 1, "unistore_lock", f"not a unistore lock file of version {LOCK_VERSION}")
        entries = {}
        for name, raw in (data.get("datasets") or {}).items():
            try:
                entries[name] = LockEntry.from_dict(raw)
            except (KeyError, TypeError, ValueError) as exc:
                raise CatalogError(file, _line_of_key(text, name), f"datasets.{name}",
                                   f"malformed entry ({type(exc).__name__}: {str(exc)[:80]}); "
                                   f"re-pin it with `unistore lock --update {name}`") from None
        samples = data.get("samples") or {}
        if not isinstance(samples, dict) or not all(isinstance(v, dict) for v in samples.values()):
            raise CatalogError(file, _line_of_key(text, "samples"), "samples", "malformed samples section; "
                               "take the samples again with `unistore sample`")
        return cls(path, entries, samples=samples)

    def dumps(self) -> str:
        """The file's text: the same entries always give the same bytes (keys sorted, the version first)."""
        data = {"unistore_lock": LOCK_VERSION,
                "datasets": _sorted({name: self.entries[name].to_dict() for name in self.entries})}
        if self.samples:  # only once there are samples: older lock files keep their bytes
            data["samples"] = _sorted(plain_json(self.samples))
        return json.dumps(data, indent=2, ensure_ascii=False, default=jsonable) + "\n"

    def write(self) -> None:
        """Write atomically (a temporary file, then rename): a lock is never half written."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(self.dumps(), encoding="utf-8")
        os.replace(tmp, self.path)


def _sorted(value: Any) -> Any:
    """Mappings with their keys sorted, at every depth (lists keep their order: a schema's is meaningful)."""
    if isinstance(value, dict):
        return {str(k): _sorted(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, (list, tuple)):
        return [_sorted(v) for v in value]
    return value


def describe_differences(diffs: dict[str, Any]) -> str:
    """One line: ``rows 93 -> 94; columns changed: amount; schema: ...``."""
    parts = []
    for key, diff in diffs.items():
        if key == "columns":
            parts.append(f"columns changed: {', '.join(diff)}")
        elif key == "schema":
            before, after = diff["recorded"], diff["now"]
            gone = [c for c in before if c not in after]
            new = [c for c in after if c not in before]
            parts.append("schema: " + "; ".join(filter(None, [f"was {', '.join(gone)}" if gone else "",
                                                                f"now {', '.join(new)}" if new else ""])))
        elif isinstance(diff, dict) and "recorded" in diff:
            parts.append(f"{key}: locked {diff['recorded']}, now {diff['now']}")
        else:
            parts.append(f"{key}: {diff}")
    return "; ".join(parts)


def _line_of_key(text: str, key: str) -> int | None:
    needle = json.dumps(key) + ":"
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip().startswith(needle):
            return number
    return None


# -- checking ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Check:
    """One dataset's line in ``unistore lock --check``.

    ``status``: ``ok``, ``drifted`` (the data changed), ``redefined`` (the catalog
    entry changed since it was locked), ``unlocked`` (not in the lock yet),
    ``stale`` (in the lock, no longer in the catalog) or ``error`` (the read failed).
    """

    dataset: str
    status: str
    locked_rows: int | None = None
    rows: int | None = None
    columns: list[str] = field(default_factory=list)
    differences: dict[str, Any] = field(default_factory=dict)
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == OK

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "status": self.status, "locked_rows": self.locked_rows, "rows": self.rows,
                "columns": list(self.columns), "differences": self.differences, "detail": self.detail}


def check_entry(name: str, locked: LockEntry | None, now: LockEntry) -> Check:
    """Compare a fresh read (as an entry) with the locked one."""
    if locked is None:
        return Check(name, UNLOCKED, None, now.rows, detail="not in the lock file: run `unistore lock`")
    diffs = locked.differences(now)
    if not diffs:
        return Check(name, OK, locked.rows, now.rows)
    columns = list(diffs.get("columns", []))
    if "schema" in diffs:
        before = dict(s.split(": ", 1) for s in locked.schema)
        after = dict(s.split(": ", 1) for s in now.schema)
        columns = sorted(set(columns) | {c for c in before.keys() | after.keys() if before.get(c) != after.get(c)},
                         key=lambda c: (list(after) + list(before)).index(c))
    if "definition" in diffs:
        return Check(name, REDEFINED, locked.rows, now.rows, columns, diffs,
                     f"the catalog entry changed since it was locked: run `unistore lock --update {name}`")
    detail = ", ".join(k for k in ("rows", "schema", "fingerprint") if k in diffs)
    return Check(name, DRIFTED, locked.rows, now.rows, columns, diffs, f"changed: {detail}")


def format_checks(checks: Iterable[Check]) -> str:
    """The drift table: one line per dataset, columns aligned."""
    rows = [("DATASET", "STATUS", "ROWS (LOCKED -> NOW)", "CHANGED COLUMNS", "DETAIL")]
    for c in checks:
        if c.locked_rows is None and c.rows is None:
            counts = "-"
        elif c.locked_rows == c.rows:
            counts = str(c.rows)
        else:
            counts = f"{'-' if c.locked_rows is None else c.locked_rows} -> {'-' if c.rows is None else c.rows}"
        rows.append((c.dataset, c.status, counts, ", ".join(c.columns) or "-", c.detail or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join("  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4] for r in rows)
