"""File formats: names, extensions and their pyarrow.dataset format objects."""

from __future__ import annotations

import posixpath

import pyarrow.dataset as ds

from ...errors import BadSpecError

#: format name -> file extensions (lower case, with dot)
EXTENSIONS: dict[str, tuple[str, ...]] = {
    "parquet": (".parquet", ".pq", ".parq"),
    "csv": (".csv", ".tsv", ".csv.gz", ".tsv.gz"),
    "json": (".jsonl", ".ndjson", ".json", ".jsonl.gz", ".ndjson.gz"),
    "ipc": (".arrow", ".feather", ".ipc", ".arrows"),
    "orc": (".orc",),
}
ALIASES = {"feather": "ipc", "arrow": "ipc", "jsonl": "json", "ndjson": "json", "tsv": "csv"}


def format_name(name: str) -> str:
    name = ALIASES.get(name.lower(), name.lower())
    if name not in EXTENSIONS:
        raise BadSpecError(f"unknown file format {name!r}; use one of {', '.join(EXTENSIONS)}")
    return name


def infer_format(paths: list[str]) -> str:
    """The single format the extensions of ``paths`` agree on."""
    found: set[str] = set()
    for path in paths:
        lower = posixpath.basename(path).lower()
        matches = [f for f, exts in EXTENSIONS.items() if any(lower.endswith(e) for e in exts)]
        if not matches:
            raise BadSpecError(f"cannot tell the format of {posixpath.basename(path)!r}; pass format='parquet'|'csv'|'json'|'ipc'|'orc'")
        found.add(matches[0])
    if len(found) > 1:
        raise BadSpecError(f"files of several formats ({', '.join(sorted(found))}) match; pass format= or narrow the path")
    return found.pop()


def dataset_format(name: str, path_hint: str = "") -> ds.FileFormat:
    if name == "parquet":
        return ds.ParquetFileFormat()
    if name == "csv":
        if path_hint.lower().endswith((".tsv", ".tsv.gz")):
            import pyarrow.csv as pacsv

            return ds.CsvFileFormat(parse_options=pacsv.ParseOptions(delimiter="\t"))
        return ds.CsvFileFormat()
    if name == "json":
        return ds.JsonFileFormat()
    if name == "ipc":
        return ds.IpcFileFormat()
    if name == "orc":
        return ds.OrcFileFormat()
    raise BadSpecError(f"unknown file format {name!r}")  # pragma: no cover - format_name guards
