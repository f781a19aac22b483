"""File formats: names, extensions and their pyarrow.dataset format objects."""

from __future__ import annotations

import posixpath

import pyarrow as pa
import pyarrow.dataset as ds

from ...errors import BadSpecError
from ...filters import short

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
    if not isinstance(name, str):
        raise BadSpecError(f"format must be a name like 'parquet' or 'csv', got {type(name).__name__}")
    name = ALIASES.get(name.lower(), name.lower())
    if name not in EXTENSIONS:
        raise BadSpecError(f"unknown file format {short(name)}; use one of {', '.join(EXTENSIONS)}")
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


def json_storage_schema(schema: pa.Schema) -> pa.Schema:
    """What the JSON reader can parse for ``schema``: dates, times, decimals and binary as text."""
    def storage(t: pa.DataType) -> pa.DataType:
        if (pa.types.is_date(t) or pa.types.is_time(t) or pa.types.is_decimal(t)
                or pa.types.is_binary(t) or pa.types.is_large_binary(t)):
            return pa.string()
        return t
    return pa.schema([f.with_type(storage(f.type)) for f in schema], metadata=schema.metadata)


def dataset_format(name: str, path_hint: str = "", schema: pa.Schema | None = None) -> ds.FileFormat:
    """The pyarrow.dataset format; with ``schema``, text formats convert to its types."""
    if name == "parquet":
        return ds.ParquetFileFormat()
    if name == "csv":
        import pyarrow.csv as pacsv

        tsv = path_hint.lower().endswith((".tsv", ".tsv.gz"))
        parse = pacsv.ParseOptions(delimiter="\t") if tsv else pacsv.ParseOptions()
        # an unquoted empty field is null, as pandas, polars and DuckDB read it (and as pyarrow and
        # pandas write a null); a quoted empty field "" stays an empty string
        convert = pacsv.ConvertOptions(column_types=schema, strings_can_be_null=True,
                                       quoted_strings_can_be_null=False)
        return ds.CsvFileFormat(parse_options=parse, convert_options=convert)
    if name == "json":
        import pyarrow.json as pajson

        if schema is not None:
            return ds.JsonFileFormat(parse_options=pajson.ParseOptions(explicit_schema=json_storage_schema(schema)))
        return ds.JsonFileFormat()
    if name == "ipc":
        return ds.IpcFileFormat()
    if name == "orc":
        return ds.OrcFileFormat()
    raise BadSpecError(f"unknown file format {name!r}")  # pragma: no cover - format_name guards
