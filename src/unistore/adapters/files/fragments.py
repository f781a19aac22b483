"""Cutting a read of files into splits: whole files, or Parquet row groups when there are few files.

Files, Delta tables and Iceberg tables all read immutable-or-pinned data files,
so they plan the same way. The read's files (after partition pruning) become
units — one per file, or one per Parquet row group when there are fewer files
than splits asked for, so that a single large file is still cut — and the
units are dealt, in path order, into at most ``max_splits`` groups of about
equal bytes. A split's payload names files by the path the adapter listed them
under (never a URL carrying a token) and row group ids: it pickles, holds no
open file, and is read on a connection opened anywhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds

from ...adapter import Split
from ...errors import BadSpecError, SnapshotUnavailableError
from ...snapshot import Snapshot

#: files named in a split's ``covers`` before the rest are only counted (the record stays small)
NAMED_FILES = 4


@dataclass(frozen=True)
class Piece:
    """One file of a split: all of it (``row_groups`` None) or only those Parquet row groups."""

    path: str
    row_groups: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Payload:
    """What a split carries: the snapshot the plan pinned (the split's scan reports exactly it) and its pieces."""

    pin: Snapshot
    pieces: tuple[Piece, ...]


def payload_of(split: Split, kind: str, where: str) -> Payload:
    """The payload of ``split``, refused unless a plan of this kind of store made it."""
    payload = split.payload
    if not isinstance(payload, Payload) or payload.pin.kind != kind:
        raise BadSpecError(f"{where} can only read splits its own plan() made")
    return payload


@dataclass(frozen=True)
class Unit:
    """The smallest piece a plan deals out: a file, or one row group of a Parquet file."""

    path: str
    row_group: int | None = None
    rows: int | None = None
    bytes: int | None = None


def units_of(fragments: list[ds.Fragment], max_splits: int, expr: ds.Expression | None, schema: pa.Schema,
             describe: Callable[[str], tuple[str, int | None, int | None]], *, row_groups: bool = True) -> list[Unit]:
    """The units of ``fragments``: whole files, or their row groups when there are fewer Parquet files than splits.

    ``describe(fragment.path)`` gives the file's name in the payload, its size
    and its row count when the listing knows them. Only row groups that
    ``expr`` may match are kept (Parquet statistics); footers are read only
    when the files are cut, and then there are fewer than ``max_splits`` of them.
    ``row_groups=False`` never cuts a file (a reader that takes whole files only).
    """
    if (row_groups and len(fragments) < max_splits
            and all(isinstance(f, ds.ParquetFileFragment) for f in fragments)):
        units = []
        for fragment in fragments:
            name = describe(fragment.path)[0]
            for part in fragment.split_by_row_group(expr, schema=schema):
                group = part.row_groups[0]
                units.append(Unit(name, group.id, group.num_rows, group.total_byte_size))
        return units
    return [Unit(name, None, rows, size) for name, size, rows in (describe(f.path) for f in fragments)]


def plan_splits(units: list[Unit], max_splits: int, pin: Snapshot,
                name: Callable[[str], str]) -> tuple[Split, ...]:
    """The units dealt into at most ``max_splits`` splits of about equal bytes, each carrying ``pin``.

    No units (everything pruned) still make one split, which reads nothing.
    ``name`` shortens a path for the record (relative to the data set).
    """
    groups = balance(units, max_splits) or [[]]
    return tuple(Split(index=i, payload=Payload(pin, pieces_of(group)), covers=covers_of(group, name),
                       rows=_total(u.rows for u in group), bytes=_total(u.bytes for u in group))
                 for i, group in enumerate(groups))


def balance(units: list[Unit], n: int) -> list[list[Unit]]:
    """Contiguous runs of ``units`` in at most ``n`` groups: each unit goes to the group its byte midpoint falls in.

    Units of unknown size weigh one byte. Groups that receive nothing are dropped.
    """
    weights = [max(u.bytes or 0, 1) for u in units]
    total = sum(weights)
    groups: list[list[Unit]] = [[] for _ in range(n)]
    before = 0
    for unit, weight in zip(units, weights):
        groups[(2 * before + weight) * n // (2 * total)].append(unit)
        before += weight
    return [g for g in groups if g]


def pieces_of(units: Iterable[Unit]) -> tuple[Piece, ...]:
    """Consecutive units of one file merged into one piece."""
    pieces: list[Piece] = []
    for unit in units:
        last = pieces[-1] if pieces else None
        if last is not None and last.path == unit.path and unit.row_group is not None and last.row_groups:
            pieces[-1] = Piece(unit.path, (*last.row_groups, unit.row_group))
        else:
            pieces.append(Piece(unit.path, None if unit.row_group is None else (unit.row_group,)))
    return tuple(pieces)


def covers_of(units: list[Unit], name: Callable[[str], str]) -> dict[str, Any]:
    """What a split covers, for people: its first few files, their row groups ("0-3,7"), and the file count."""
    pieces = pieces_of(units)
    shown = pieces[:NAMED_FILES]
    covers: dict[str, Any] = {"files": [name(p.path) for p in shown]}
    if any(p.row_groups is not None for p in pieces):
        covers["row_groups"] = [_runs(p.row_groups or ()) for p in shown]
    if len(pieces) > NAMED_FILES:
        covers["file_count"] = len(pieces)
    return covers


def restrict(dataset: ds.FileSystemDataset, pieces: tuple[Piece, ...], data_path: Callable[[str], str],
             where: str) -> ds.FileSystemDataset:
    """The part of ``dataset`` a split reads: its files, cut to their row groups.

    ``data_path`` maps a piece's path to the dataset's name for the file. The
    dataset must be the one the plan saw (same files, same schema), so every
    split reads the same columns and partition values; a planned file it lacks
    means the pinned state is gone.
    """
    wanted: Mapping[str, Piece] = {data_path(p.path): p for p in pieces}
    fragments = []
    for fragment in dataset.get_fragments():
        piece = wanted.get(fragment.path)
        if piece is not None:
            fragments.append(fragment if piece.row_groups is None
                             else fragment.subset(row_group_ids=list(piece.row_groups)))
    if len(fragments) != len(wanted):
        raise SnapshotUnavailableError(f"{where}: {len(wanted) - len(fragments)} planned file(s) are no longer "
                                       "part of the data read; plan the read again")
    return ds.FileSystemDataset(fragments, dataset.schema, dataset.format, dataset.filesystem)


def _total(values: Iterable[int | None]) -> int | None:
    values = list(values)
    return None if any(v is None for v in values) else sum(values)  # type: ignore[arg-type]


def _runs(ids: tuple[int, ...]) -> str:
    """Row group ids as short text: (0, 1, 2, 5) -> "0-2,5"."""
    runs: list[list[int]] = []
    for i in ids:
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)
