"""The user's handle on an opened location: :func:`unistore.source` returns one.

A :class:`Source` wraps the adapter's :class:`~unistore.adapter.Connection`
(``source.connection``) and gives every store the same methods — ``read``,
``scan``, ``spec``, ``tables``, ``schema``, ``close`` — each validated the
same way before the connection is asked anything. Adapters never subclass
it; they implement :mod:`unistore.adapter`.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from .adapter import Connection
from .engine import read_table, start_read
from .errors import BadSpecError
from .location import Location
from .spec import ReadSpec, check_read_options
from .timecolumn import bind_time_column


def prepared_checks(checks: Any, spec: ReadSpec) -> tuple:
    """A read's data tests validated and ready (:func:`unistore.checkrun.prepare`); the data-test modules
    are imported only by a read that has some."""
    if checks is None:
        return ()
    from .checkrun import prepare

    return prepare(checks, spec)


class Source:
    """An opened location: reusable for many reads, closed with :meth:`close` or ``with``.

    Public attributes the handle does not define are looked up on the
    connection, so a store's own extras (a SQL server's ``schemas()``, a file
    source's ``fs``) stay reachable as ``source.schemas()``.
    """

    def __init__(self, connection: Connection):
        self.connection = connection
        self._closed = False

    @property
    def location(self) -> Location:
        return self.connection.location

    @property
    def uri(self) -> str:
        """The location with credentials removed."""
        return self.connection.uri

    def read(self, table: str | tuple[str, ...] | None = None, *, checks: Any = None, **kwargs: Any) -> pa.Table:
        """Read into a ``pyarrow.Table`` whose schema carries the complete provenance (``checks``: data tests)."""
        self._check_open()
        spec = self.spec(table, **kwargs)
        return read_table(self.connection, spec, checks=prepared_checks(checks, spec))

    def scan(self, table: str | tuple[str, ...] | None = None, *, checks: Any = None,
             **kwargs: Any) -> pa.RecordBatchReader:
        """Stream the read as a ``pyarrow.RecordBatchReader``.

        Its schema carries the provenance known at the start (source, snapshot,
        query); :func:`unistore.provenance_of` gives the complete record (rows,
        fingerprint) once the stream has been consumed.
        """
        self._check_open()
        spec = self.spec(table, **kwargs)
        return start_read(self.connection, spec, checks=prepared_checks(checks, spec))

    def spec(self, table: str | tuple[str, ...] | ReadSpec | None = None, **kwargs: Any) -> ReadSpec:
        """Validate a read request for this source without sending anything.

        ``table`` may be a :class:`ReadSpec` built already (by ``unistore.read``):
        building twice would drain a generator passed as filter values or columns.
        """
        spec = table if isinstance(table, ReadSpec) and not kwargs else ReadSpec.build(table, **kwargs)
        check_read_options(spec.options, self.connection.read_options, self.uri)
        spec = bind_time_column(self.connection, spec)
        self.connection.check(spec)
        return spec

    def tables(self) -> list[str]:
        """Tables, views or files this source can read."""
        if not self.connection.capabilities.listing:
            raise BadSpecError(f"{self.uri} cannot list its contents; name a table to read")
        return self.connection.tables()

    def schema(self, table: str | tuple[str, ...]) -> pa.Schema:
        """The Arrow schema a read of ``table`` returns."""
        return self.connection.schema(table)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.connection.close()

    def _check_open(self) -> None:
        if self._closed:
            raise BadSpecError(f"source {self.uri} is closed")

    def __getattr__(self, name: str) -> Any:
        # only reached for names the handle lacks; private names stay private
        if name.startswith("_") or name == "connection":
            raise AttributeError(name)
        return getattr(self.connection, name)

    def __enter__(self) -> "Source":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self.connection).__name__} {self.uri}>"
