"""``as_of=`` for table formats: a version / snapshot id, or a point in time."""

from __future__ import annotations

import datetime as dt

from ...errors import BadSpecError
from ...provenance import Query
from ...spec import ReadSpec


def parse_as_of(value: object) -> int | dt.datetime | None:
    """An ``int`` (version, snapshot id) or an aware UTC ``datetime``.

    Strings are either digits (a version) or ISO 8601 times; naive times and
    dates are taken as UTC, a date as its midnight.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise BadSpecError("as_of must be a version number, a snapshot id or a datetime, not a bool")
    if isinstance(value, int):
        if value < 0:
            raise BadSpecError(f"as_of version must be >= 0, got {value}")
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text)
        try:
            value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise BadSpecError(f"as_of {value!r} is neither a version number nor an ISO 8601 time") from None
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.timezone.utc)
    raise BadSpecError("as_of must be a version number, a snapshot id or a datetime")


def epoch_ms(when: dt.datetime) -> int:
    return int(when.timestamp() * 1000)


def table_scan_query(language: str, what: str, spec: ReadSpec, where: object, *, limit: bool = False) -> Query:
    """The record's query of a table-format scan: ``"scan <what> columns ... where ..."`` and what was pushed."""
    text = f"scan {what}"
    if spec.columns:
        text += f" columns {', '.join(spec.columns)}"
    if where is not None:
        text += f" where {where}"
    return Query(language=language, text=text,
                 pushed_down={"columns": True, "filter": where is not None, "limit": limit,
                              "as_of": spec.as_of is not None})
