"""Scheme -> adapter, resolved lazily.

Where an adapter comes from, first match wins: adapters registered at run time
with :func:`register`, then the built-in table below, then third-party adapters
advertised through the entry-point group ``unistore.adapters`` (name = scheme,
value = ``"module:Class"``). Built-ins come before plugins so that installing a
package can never silently change what ``postgresql://`` reads: a plugin that
means to replace a built-in says so by advertising it in the separate group
``unistore.adapters.override``, and every replacement is reported once (a
warning log record naming the package). A plugin claiming a built-in scheme in
the ordinary group is ignored, and that is reported too.

Nothing is imported until a scheme is used, so an adapter whose driver is
missing costs nothing until someone asks for it, and then fails with the extra
to install.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import threading
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from .errors import MissingExtraError, UnknownSchemeError

if TYPE_CHECKING:
    from .adapter import Adapter

ENTRY_POINT_GROUP = "unistore.adapters"
#: plugins listed here replace the built-in adapter of the same scheme, on purpose
OVERRIDE_GROUP = "unistore.adapters.override"

logger = logging.getLogger(__name__)

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
#: (scheme, package, message) already logged: a claim is reported once per process
_reported: set[tuple[str, str, str]] = set()


def register(scheme: str, adapter: str | type, *, clobber: bool = False, override: bool = False) -> None:
    """Register an adapter class (or ``"module:Class"``) for ``scheme`` at run time.

    ``clobber`` replaces an earlier run-time registration; replacing a built-in
    scheme needs ``override=True`` and is reported, so no import can quietly
    redirect a built-in.
    """
    scheme = scheme.lower()
    if _is_builtin(scheme) and not override:
        raise ValueError(f"scheme {scheme!r} is built in; pass override=True to replace its adapter")
    with _lock:
        if scheme in _runtime and not clobber:
            raise ValueError(f"scheme {scheme!r} is already registered; pass clobber=True to replace it")
        _runtime[scheme] = adapter
        _loaded.pop(scheme, None)
    if _is_builtin(scheme):
        _report(scheme, _origin(adapter), f"the built-in {scheme!r} adapter is replaced by {_describe(adapter)} "
                "(registered at run time with override=True)")


def _entry_points(group: str = ENTRY_POINT_GROUP) -> dict[str, object]:
    if entry_points is not _installed_entry_points:  # a test's stand-in: ask it every time
        return {ep.name.lower(): ep for ep in entry_points(group=group)}
    # each call scans every installed distribution (~40 ms); the answer changes only when a package is
    # installed or removed, which changes the mtime of a folder on sys.path
    key = (group, tuple((p, _mtime(p)) for p in sys.path))
    with _lock:
        found = _scanned.get(group)
        if found is not None and found[0] == key:
            return found[1]
    value = {ep.name.lower(): ep for ep in entry_points(group=group)}
    with _lock:
        _scanned[group] = (key, value)
    return value


_installed_entry_points = entry_points
_scanned: dict[str, tuple[object, dict[str, object]]] = {}


def _mtime(path: str) -> int:
    try:
        return os.stat(path or ".").st_mtime_ns
    except OSError:
        return 0


def known_schemes() -> list[str]:
    """Every scheme unistore can resolve right now (whether or not its extra is installed)."""
    return sorted(set(BUILTIN) | set(_entry_points()) | set(_entry_points(OVERRIDE_GROUP)) | set(_runtime))



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
    if _is_builtin(name):
        override = _entry_points(OVERRIDE_GROUP).get(name)
        if override is not None:
            _report(name, _package(override), f"the built-in {name!r} adapter is replaced by {override.value} "  # type: ignore[attr-defined]
                    f"from {_package(override)}, which advertises it in {OVERRIDE_GROUP!r}")
            return _load(override, name)
        ignored = _entry_points().get(name)
        if ignored is not None:
            _report(name, _package(ignored), f"{_package(ignored)} advertises an adapter for the built-in scheme "
                    f"{name!r} in {ENTRY_POINT_GROUP!r}; it is ignored and the built-in is used (a plugin that "
                    f"means to replace a built-in advertises it in {OVERRIDE_GROUP!r})")
        if name not in BUILTIN:
            return None  # postgresql+psycopg: the base scheme's built-in answers
        target, extra = BUILTIN[name]
        return _import(target, name, extra)
    ep = _entry_points().get(name)
    if ep is not None:
        return _load(ep, name)
    return None


def _is_builtin(scheme: str) -> bool:
    """A built-in scheme, or a driver variant of one (``postgresql+psycopg``), which resolves to it."""
    return scheme in BUILTIN or scheme.partition("+")[0] in BUILTIN


def _load(ep: object, name: str) -> type:
    try:
        return ep.load()  # type: ignore[attr-defined]
    except ImportError as exc:
        dist = _package(ep)
        raise MissingExtraError(f"the {name!r} adapter from {dist}", None, exc.name or dist) from exc


def _package(ep: object) -> str:
    """The distribution advertising an entry point, or its module when that is unknown."""
    return getattr(getattr(ep, "dist", None), "name", None) or str(ep.value).partition(":")[0]  # type: ignore[attr-defined]


def _origin(adapter: str | type) -> str:
    return adapter.partition(":")[0] if isinstance(adapter, str) else adapter.__module__


def _describe(adapter: str | type) -> str:
    return adapter if isinstance(adapter, str) else f"{adapter.__module__}.{adapter.__qualname__}"


def _report(scheme: str, package: str, message: str) -> None:
    """Log, once per process, that someone else claimed a built-in scheme (and what came of it)."""
    with _lock:
        if (scheme, package, message) in _reported:
            return
        _reported.add((scheme, package, message))
    logger.warning("%s", message)


def require(module: str, *, extra: str | None, what: str):
    """Import a driver module or raise :class:`MissingExtraError` naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(what, extra, module.split(".")[0]) from exc
