"""Inputs named by something other than a store location (``catalog:orders``), for readers that plan
their own reads.

``unistore.read("catalog:orders")`` hands the whole read to the layer that owns
the name (:data:`unistore.named.NAMED_READERS`). A reader that plans its reads
itself — cross-silo SQL pushes columns, conditions and limits into each input —
needs the input described instead: the open source, what the name stands for
(table, columns, filter, time options), the snapshot it is pinned to, the part
its record carries, and the check to run once it has been read. The owner of
the names registers a factory in :data:`unistore.named.NAMED_INPUTS`; this layer sits below
both, so neither imports the other.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from .errors import BadSpecError, UnistoreError
from .filters import Filter, as_filter, short
from .location import scrub
from .named import NAMED_INPUTS  # filled by the catalog, which this layer does not import
from .provenance import Provenance
from .snapshot import Snapshot
from .source import Source
from .spec import ReadSpec


@dataclass
class NamedInput:
    """One named input, resolved and opened (nothing read yet). Whoever reads it closes ``source``."""

    name: str                      # as given, e.g. "catalog:orders" (no secrets)
    source: Source
    table: str | tuple[str, ...] | None
    read: dict[str, Any]           # the read arguments the name stands for (columns, filter, time options...)
    pin: Snapshot | None = None    # read at this snapshot (a lock's pinned version)
    part: dict[str, Any] | None = None  # the record's ``catalog`` part, set around the read
    #: after a complete read as defined (``whole``): compare with what the name promises; may raise
    finish: Callable[[Provenance, pa.Schema], None] | None = None
    whole: bool = False            # narrowing the read would defeat ``finish``: read it exactly as defined
    secrets: tuple[str, ...] = field(default=(), repr=False)

    def schema(self) -> pa.Schema:
        """The schema a read of the input returns: the table's, narrowed to the defined columns."""
        if self.read.get("query") is not None:
            raise BadSpecError(f"{short(self.name, 80)} reads a query, whose columns are unknown until it runs; "
                               "only table and path data sets can be inputs of a query")
        full = self.source.schema(self.table) if self.table is not None else self.source.schema(None)
        columns = self.read.get("columns")
        if not columns:
            return full
        missing = [c for c in columns if c not in full.names]
        if missing:
            close = difflib.get_close_matches(missing[0], full.names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise BadSpecError(f"{short(self.name, 80)} defines column {short(missing[0], 60)}, which its table "
                               f"lacks{hint}")
        return pa.schema([full.field(c) for c in columns])

    def spec(self, columns: list[str] | None = None, filter: Filter | None = None,
             limit: int | None = None) -> ReadSpec:
        """The read, narrowed by ``columns``, ``filter`` (ANDed with the input's own) and ``limit``
        unless it must be read ``whole``; pinned when the input is."""
        kwargs = dict(self.read)
        if not self.whole:
            if columns is not None:
                kwargs["columns"] = list(columns)
            if filter is not None:
                own = kwargs.get("filter")
                kwargs["filter"] = filter if own is None else as_filter(own) & filter
            if limit is not None:
                kwargs["limit"] = limit
        spec = self.source.spec(self.table, **kwargs)
        return dataclasses.replace(spec, pin=self.pin) if self.pin is not None else spec


def scrub_error(exc: UnistoreError, secrets: tuple[str, ...]) -> UnistoreError:
    """``exc`` with every substituted ``${VAR}`` value removed from its message and fields."""
    if not secrets:
        return exc
    text = str(exc)
    fields = [v for v in exc.fields().values() if isinstance(v, str)]
    if scrub(text, list(secrets)) == text and all(scrub(v, list(secrets)) == v for v in fields):
        return exc
    return exc.with_message(scrub(text, list(secrets)), lambda v: scrub(v, list(secrets)))


def named_input(value: Any, options: dict[str, Any]) -> NamedInput | None:
    """The named input ``value`` stands for (``catalog:orders``), None for a store location."""
    if isinstance(value, str) and ":" in value and "://" not in value:
        prefix, name = value.split(":", 1)
        factory = NAMED_INPUTS.get(prefix.lower())
        if factory is not None:
            return factory(name, dict(options))
    return None
