"""SQL databases named by SQLAlchemy URLs.

The adapter picks a source per dialect; each dialect module is imported only
when its scheme is used, so a missing driver fails with the extra to install.
"""

from __future__ import annotations

import importlib
import functools
import inspect
from collections.abc import Mapping
from typing import Any, ClassVar

from ...errors import BadSpecError, MissingExtraError
from ...location import Location
from ...registry import BUILTIN
from ...adapter import Adapter
from .base import Session, SQLSource

#: base scheme -> "module:Class" of its source
DIALECTS: dict[str, str] = {
    "sqlite": "unistore.adapters.sql.sqlite:SQLiteSource",
    "duckdb": "unistore.adapters.sql.duckdb:DuckDBSource",
    "postgresql": "unistore.adapters.sql.postgresql:PostgreSQLSource",
    "postgres": "unistore.adapters.sql.postgresql:PostgreSQLSource",
    "mysql": "unistore.adapters.sql.mysql:MySQLSource",
    "mariadb": "unistore.adapters.sql.mysql:MySQLSource",
}
#: any other SQLAlchemy dialect with a DB-API driver
GENERIC = "unistore.adapters.sql.dbapi:DBAPISource"


class SQLAdapter(Adapter):
    open_options: ClassVar[frozenset[str]] = frozenset({"driver", "threads", "connect_timeout", "connect_args", "transport"})

    def open(self, location: Location, **options: Any) -> SQLSource:
        cls = self.connection_class(location, **options)
        if _generic_on_request(location, options):
            options = {k: v for k, v in options.items() if k != "driver"}
        _check_options(cls, location, options)
        return cls(location, **options)

    def connection_class(self, location: Location, **options: Any) -> type[SQLSource]:
        """The dialect's source class (importing its module, so a missing driver names its extra)."""
        target = GENERIC if _generic_on_request(location, options) else DIALECTS.get(location.base_scheme, GENERIC)
        module, _, name = target.partition(":")
        try:
            return getattr(importlib.import_module(module), name)
        except ImportError as exc:
            extra = BUILTIN.get(location.base_scheme, (None, None))[1]
            raise MissingExtraError(f"reading {location.base_scheme} databases", extra, exc.name or module) from exc


def _generic_on_request(location: Location, options: Mapping[str, Any]) -> bool:
    """``driver="dbapi"``: the generic path through SQLAlchemy's own driver, for a server dialect."""
    return options.get("driver") == "dbapi" and location.base_scheme not in ("sqlite", "duckdb")


@functools.lru_cache(maxsize=64)
def _init_parameters(cls: type) -> Mapping[str, inspect.Parameter]:
    """The parameters of a source class's constructor (read once: a signature costs as much as a tiny read)."""
    return inspect.signature(cls.__init__).parameters


def _check_options(cls: type, location: Location, options: dict[str, Any]) -> None:
    """Reject, before connecting, options this dialect's source does not take (``threads`` on PostgreSQL,
    ``connect_timeout`` on SQLite) and a ``connect_args`` that is not a mapping."""
    params = _init_parameters(cls)
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unsupported = sorted(set(options) - set(params))
        if unsupported:
            takes = sorted(n for n, p in params.items() if p.kind is p.KEYWORD_ONLY)
            raise BadSpecError(f"option(s) {', '.join(unsupported)} do not apply to {location.base_scheme} "
                               f"databases; they take: {', '.join(takes) or 'none'}")
    connect_args = options.get("connect_args")
    if connect_args is not None and not isinstance(connect_args, Mapping):
        raise BadSpecError(f"connect_args must be a dict of driver options, got {type(connect_args).__name__}")


__all__ = ["DIALECTS", "SQLAdapter", "SQLSource", "Session"]
