"""The public read API: name a location, get Arrow back with its provenance.

``read``/``scan`` open a source for one read and close it afterwards;
``source`` keeps it open for many reads. Options that configure the
connection (credentials, storage options, timeouts) are told apart from
read options by the adapter's ``open_options``.
"""

from __future__ import annotations

import difflib
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from . import lineage, registry
from .errors import BadSpecError
from .filters import FilterLike, short
from .location import Location
from .named import NAMED_READERS  # filled by the catalog, which this layer does not import
from .engine import read_table, start_read
from .source import Source, prepared_checks
from .spec import COMMON_OPTIONS, ReadSpec
from .timeseries import GENERIC_OPTIONS

if TYPE_CHECKING:
    from .checks import Check


def _given(**arguments: Any) -> dict[str, Any]:
    """The keyword arguments that were given (not None), to pass on only those."""
    return {k: v for k, v in arguments.items() if v is not None}


def _named(uri: Any) -> tuple[Callable[..., Any], str] | None:
    """The reader and name for ``catalog:orders``-style names, None for a store location."""
    if isinstance(uri, str) and ":" in uri and "://" not in uri:
        prefix, name = uri.split(":", 1)
        reader = NAMED_READERS.get(prefix.lower())
        if reader is not None:
            return reader, name
    return None


def source(uri: str | os.PathLike[str], **options: Any) -> Source:
    """Open ``uri`` for repeated reads, listing and schema look-ups. Close it (or use ``with``)."""
    location = Location.parse(uri)
    adapter = registry.get_adapter(location.scheme)
    unknown = sorted(set(options) - adapter.open_options)
    if unknown:
        hints = []
        # a misspelt read option (colums=) is suggested too: it belongs to read(), not source()
        candidates = sorted(adapter.open_options | COMMON_OPTIONS | GENERIC_OPTIONS)
        for name in unknown[:5]:
            close = difflib.get_close_matches(name, candidates, n=1)
            where = "" if not close or close[0] in adapter.open_options else ", a read option: pass it to read()"
            hints.append(f"{short(name, 40)} (did you mean {close[0]}{where}?)" if close else short(name, 40))
        raise BadSpecError(
            f"unknown option(s) {', '.join(hints)} for {location.redacted()}; "
            f"the {location.scheme!r} adapter accepts: {', '.join(sorted(adapter.open_options)) or 'none'}"
        )
    return Source(adapter.open(location, **options))


def _open_for_read(uri: str | os.PathLike[str], table: Any, read_kwargs: dict[str, Any],
                   options: dict[str, Any], checks: Any = None) -> tuple[Source, ReadSpec, "tuple[Check, ...]"]:
    """Resolve the adapter, check the request's shape, open the source, validate the spec.

    A request that is malformed fails before the store is touched; a source that
    cannot be opened is still reported as a failed read (span, lineage events).
    """
    location = Location.parse(uri)
    adapter = registry.get_adapter(location.scheme)
    open_options = {k: options.pop(k) for k in list(options) if k in adapter.open_options}
    # built once: a second build would find a generator (filter values, columns) already drained
    shape = ReadSpec.build(table, **read_kwargs, **options)
    prepared = prepared_checks(checks, shape)  # data tests: validated (and relationships' other sides read) first
    started = time.perf_counter()
    try:
        src = Source(adapter.open(location, **open_options))
    except Exception as exc:
        lineage.report_unopened(location, shape, exc, time.perf_counter() - started)
        raise
    try:
        spec = src.spec(shape)
    except BaseException:
        src.close()
        raise
    return src, spec, prepared


def scan(
    uri: str | os.PathLike[str],
    table: str | tuple[str, ...] | None = None,
    *,
    query: str | None = None,
    columns: list[str] | None = None,
    filter: FilterLike = None,
    limit: int | None = None,
    params: dict[str, Any] | list[Any] | None = None,
    checks: "list[Check | dict[str, Any]] | None" = None,
    **options: Any,
) -> pa.RecordBatchReader:
    """Stream a read as a ``pyarrow.RecordBatchReader`` (usable as a context manager).

    The source is closed when the stream is exhausted or closed. The complete
    provenance is available from :func:`unistore.provenance_of` afterwards.
    ``checks`` are data tests (:mod:`unistore.checks`) run on the batches as they
    pass; a failed ``error`` test raises :class:`~unistore.DataTestError` at the end.
    """
    if (named := _named(uri)) is not None:
        return named[0](named[1], "scan", table, dict(query=query, columns=columns, filter=filter, limit=limit,
                                                       params=params, **_given(checks=checks), **options))
    src, spec, prepared = _open_for_read(uri, table, dict(query=query, columns=columns, filter=filter,
                                                          limit=limit, params=params), options, checks)
    return start_read(src.connection, spec, owned=True, checks=prepared)


def read(
    uri: str | os.PathLike[str],
    table: str | tuple[str, ...] | None = None,
    *,
    query: str | None = None,
    columns: list[str] | None = None,
    filter: FilterLike = None,
    limit: int | None = None,
    params: dict[str, Any] | list[Any] | None = None,
    checks: "list[Check | dict[str, Any]] | None" = None,
    **options: Any,
) -> pa.Table:
    """Read ``table`` (or run ``query``) at ``uri`` into a ``pyarrow.Table``.

    The table's schema metadata ``unistore.provenance`` holds the record of
    the read (source, snapshot, query, result); each field's metadata
    ``unistore.read`` holds the read id. ``"catalog:NAME"`` reads the dataset
    ``NAME`` of the default catalog (see :func:`unistore.catalog`). ``checks`` are data tests
    (:mod:`unistore.checks`, docs/data-tests.md) evaluated while the data streams;
    their results go into the record (``checks``) and to lineage, and a failed
    ``error`` test raises :class:`~unistore.DataTestError` carrying the table.
    """
    if (named := _named(uri)) is not None:
        return named[0](named[1], "read", table, dict(query=query, columns=columns, filter=filter, limit=limit,
                                                       params=params, **_given(checks=checks), **options))
    src, spec, prepared = _open_for_read(uri, table, dict(query=query, columns=columns, filter=filter,
                                                          limit=limit, params=params), options, checks)
    return read_table(src.connection, spec, owned=True, checks=prepared)
