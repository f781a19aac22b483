"""Snapshots: which state of a store a read saw.

A snapshot is captured by the adapter in the same transaction / listing that
produced the data. ``replayable`` says whether the store can return exactly
that state again (object versions, table versions); otherwise replay re-reads
and verifies by fingerprint (see :func:`unistore.replay`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Snapshot:
    """``kind`` names the pin type (``"postgresql.xid_snapshot"``, ``"files.objects"``...);
    ``value`` is the pin itself; ``pins`` holds store-specific details."""

    kind: str
    value: Any = None
    consistent: bool = True
    replayable: bool = False
    pins: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "value": self.value, "consistent": self.consistent,
                "replayable": self.replayable, **self.pins}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Snapshot":
        rest = {k: v for k, v in data.items() if k not in ("kind", "value", "consistent", "replayable")}
        return cls(data["kind"], data.get("value"), data.get("consistent", True),
                   data.get("replayable", False), rest)
