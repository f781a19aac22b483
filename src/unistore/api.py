"""The public read API: name a location, get Arrow back with its provenance.

``read``/``scan`` open a source for one read and close it afterwards;
``source`` keeps it open for many reads. Options that configure the
connection (credentials, storage options, timeouts) are told apart from
read options by the adapter's ``open_options``.
"""

from __future__ import annotations

import os
from typing import Any

import pyarrow as pa

from . import registry
from .errors import BadSpecError
from .filters import FilterLike
from .location import Location
from .source import Source, collect, start_read
from .spec import ReadSpec

Target = "str | tuple[str, ...] | None"


def source(uri: str | os.PathLike[str], **options: Any) -> Source:
    """Open ``uri`` for repeated reads, listing and schema look-ups. Close it (or use ``with``)."""
    location = Location.parse(uri)
    adapter = registry.get_adapter(location.scheme)
    unknown = set(options) - adapter.open_options
    if unknown:
        raise BadSpecError(
            f"unknown option(s) {', '.join(sorted(unknown))} for {location.redacted()}; "
            f"the {location.scheme!r} adapter accepts: {', '.join(sorted(adapter.open_options)) or 'none'}"
        )
    return adapter.open(location, **options)


def scan(
    uri: str | os.PathLike[str],
    table: str | tuple[str, ...] | None = None,
    *,
    query: str | None = None,
    columns: list[str] | None = None,
    filter: FilterLike = None,
    limit: int | None = None,
    params: dict[str, Any] | list[Any] | None = None,
    **options: Any,
) -> pa.RecordBatchReader:
    """Stream a read as a ``pyarrow.RecordBatchReader`` (usable as a context manager).

    The source is closed when the stream is exhausted or closed. The complete
    provenance is available from :func:`unistore.provenance_of` afterwards.
    """
    location = Location.parse(uri)
    adapter = registry.get_adapter(location.scheme)
    open_options = {k: options.pop(k) for k in list(options) if k in adapter.open_options}
    # Shape checks first: nothing is opened or sent for a malformed request.
    ReadSpec.build(table, query=query, columns=columns, filter=filter, limit=limit, params=params, **options)
    src = adapter.open(location, **open_options)
    try:
        spec = src.spec(table, query=query, columns=columns, filter=filter, limit=limit, params=params, **options)
    except BaseException:
        src.close()
        raise
    return start_read(src, spec, owned=True)


def read(
    uri: str | os.PathLike[str],
    table: str | tuple[str, ...] | None = None,
    *,
    query: str | None = None,
    columns: list[str] | None = None,
    filter: FilterLike = None,
    limit: int | None = None,
    params: dict[str, Any] | list[Any] | None = None,
    **options: Any,
) -> pa.Table:
    """Read ``table`` (or run ``query``) at ``uri`` into a ``pyarrow.Table``.

    The table's schema metadata ``unistore.provenance`` holds the record of
    the read (source, snapshot, query, result); each field's metadata
    ``unistore.read`` holds the read id.
    """
    return collect(scan(uri, table, query=query, columns=columns, filter=filter, limit=limit,
                        params=params, **options))
