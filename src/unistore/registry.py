"""Scheme -> adapter, resolved lazily.

Three layers, most specific first: adapters registered at run time with
:func:`register`, third-party adapters advertised through the entry-point
group ``unistore.adapters`` (name = scheme, value = ``"module:Class"``), and
the built-in table below. Nothing is imported until a scheme is used, so an
adapter whose driver is missing costs nothing until someone asks for it, and
then fails with the extra to install.
"""

from __future__ import annotations

import importlib
import threading
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from .errors import MissingExtraError, UnknownSchemeError

if TYPE_CHECKING:
    from .source import Adapter

ENTRY_POINT_GROUP = "unistore.adapters"

_FILES = "unistore.adapters.files:FilesAdapter"
_SQL = "unistore.adapters.sql:SQLAdapter"

#: scheme -> (target, extra that provides its drivers)
BUILTIN: dict[str, tuple[str, str | None]] = {
    "file": (_FILES, None),
    "local": (_FILES, None),
    "memory": (_FILES, None),
    "s3": (_FILES, "s3"),
    "s3a": (_FILES, "s3"),
    "gs": (_FILES, "gcs"),
    "gcs": (_FILES, "gcs"),
    "az": (_FILES, "azure"),
    "abfs": (_FILES, "azure"),
    "abfss": (_FILES, "azure"),
    "http": (_FILES, "http"),
    "https": (_FILES, "http"),
    "delta": ("unistore.adapters.files.delta:DeltaAdapter", "delta"),
    "iceberg": ("unistore.adapters.files.iceberg:IcebergAdapter", "iceberg"),
    "sqlite": (_SQL, None),
    "duckdb": (_SQL, None),
    "postgresql": (_SQL, "postgresql"),
    "postgres": (_SQL, "postgresql"),
    "mysql": (_SQL, "mysql"),
    "mariadb": (_SQL, "mysql"),
    # other SQLAlchemy dialects: the generic DB-API path (their driver is the user's to install)
    "mssql": (_SQL, None),
    "oracle": (_SQL, None),
    "prometheus": ("unistore.adapters.prometheus:PrometheusAdapter", "prometheus"),
    "prometheus+https": ("unistore.adapters.prometheus:PrometheusAdapter", "prometheus"),
    "influxdb": ("unistore.adapters.influxdb:InfluxDBAdapter", "influxdb"),
    "influxdb+https": ("unistore.adapters.influxdb:InfluxDBAdapter", "influxdb"),
    "arcticdb+lmdb": ("unistore.adapters.arcticdb:ArcticDBAdapter", "arcticdb"),
}

_lock = threading.Lock()
_runtime: dict[str, str | type] = {}
_loaded: dict[str, "Adapter"] = {}


def register(scheme: str, adapter: str | type, *, clobber: bool = False) -> None:
    """Register an adapter class (or ``"module:Class"``) for ``scheme`` at run time."""
    scheme = scheme.lower()
    with _lock:
        if scheme in _runtime and not clobber:
            raise ValueError(f"scheme {scheme!r} is already registered; pass clobber=True to replace it")
        _runtime[scheme] = adapter
        _loaded.pop(scheme, None)


def _entry_points() -> dict[str, object]:
    return {ep.name.lower(): ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def known_schemes() -> list[str]:
    """Every scheme unistore can resolve right now (whether or not its extra is installed)."""
    return sorted(set(BUILTIN) | set(_entry_points()) | set(_runtime))


def _import(target: str, scheme: str, extra: str | None) -> type:
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise MissingExtraError(f"the {scheme!r} adapter", extra, exc.name or module_name) from exc
    return getattr(module, attr)


def get_adapter(scheme: str) -> "Adapter":
    """The adapter instance for ``scheme`` (``postgresql+psycopg`` falls back to ``postgresql``)."""
    scheme = scheme.lower()
    candidates = [scheme] + ([scheme.split("+", 1)[0]] if "+" in scheme else [])
    with _lock:
        for name in candidates:
            if name in _loaded:
                return _loaded[name]
    for name in candidates:
        adapter_cls = _resolve(name)
        if adapter_cls is not None:
            adapter = adapter_cls()
            with _lock:
                _loaded[name] = adapter
            return adapter
    raise UnknownSchemeError(scheme, known_schemes())


def _resolve(name: str) -> type | None:
    target = _runtime.get(name)
    if isinstance(target, type):
        return target
    if isinstance(target, str):
        return _import(target, name, None)
    ep = _entry_points().get(name)
    if ep is not None:
        try:
            return ep.load()  # type: ignore[attr-defined]
        except ImportError as exc:
            dist = getattr(getattr(ep, "dist", None), "name", None) or ep.value  # type: ignore[attr-defined]
            raise MissingExtraError(f"the {name!r} adapter from {dist}", None, exc.name or str(dist)) from exc
    if name in BUILTIN:
        target, extra = BUILTIN[name]
        return _import(target, name, extra)
    return None


def require(module: str, *, extra: str | None, what: str):
    """Import a driver module or raise :class:`MissingExtraError` naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(what, extra, module.split(".")[0]) from exc
