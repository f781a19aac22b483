"""Data tests on the read path: checked before the read is sent, judged after it ends.

:func:`prepare` turns ``checks=`` into :mod:`unistore.checks` values before
anything is sent: shapes validated, columns held against the projection when
the read names one, and the other side of each ``relationships`` check read
(through unistore when it is named by a URI, so that read has its own record).
The engine feeds the prepared checks every batch through one
:class:`~unistore.checkeval.CheckRun` and stores their results in the record
before lineage is reported; :func:`unistore.checkeval.verdict` then warns for
failed ``warn`` tests and raises :class:`~unistore.errors.DataTestError` for
failed ``error`` tests, with the table attached when there is one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa

from .checks import Check, Relationships, as_checks
from .engine import read_table
from .errors import BadSpecError
from .location import Location
from .registry import get_adapter
from .spec import ReadSpec


def prepare(checks: Iterable[Check | Mapping[str, Any]] | Check | None, spec: ReadSpec) -> tuple[Check, ...]:
    """The checks of one read, validated and ready to run; :class:`BadSpecError` before anything is sent."""
    prepared = as_checks(checks)
    if spec.columns is not None:
        missing = sorted({c for check in prepared for c in check.columns() if c not in spec.columns})
        if missing:
            raise BadSpecError(f"data tests need column(s) {', '.join(missing)}, which columns= leaves out")
    return tuple(c.resolve(_read_other) if isinstance(c, Relationships) else c for c in prepared)


def _read_other(uri: str, table: str | None, field: str) -> pa.Table:
    """The other side of a ``relationships`` check named by a URI: one column, read with its own record."""
    location = Location.parse(uri)
    connection = get_adapter(location.scheme).open(location)
    try:
        spec = ReadSpec.build(table, columns=[field])
        connection.check(spec)
    except BaseException:
        connection.close()
        raise
    return read_table(connection, spec, owned=True)
