"""``unistore.configure_lineage``: switch the OpenLineage and local-log sinks on or off.

Nothing but OpenTelemetry (API only, a no-op without an SDK) is on by
default — unless the environment says otherwise, as for OpenLineage's own
integrations: the user's OpenLineage configuration alone (``OPENLINEAGE_URL``,
any ``OPENLINEAGE__TRANSPORT__*`` variable, ``OPENLINEAGE_CONFIG``, or an
``openlineage.yml`` where the client looks: the working directory, then
``~/.openlineage/``) turns OpenLineage on for every read, and
``OPENLINEAGE_DISABLED=true`` keeps it off; ``UNISTORE_LINEAGE_LOG`` names the
local log. The environment is read once, just before the first read, and
only if :func:`configure` was not called first: an explicit call always wins.

Each call replaces the sinks a previous call (or the environment) set up
(closing them, which delivers what it can); sinks added with
:func:`~unistore.lineage.add_sink` are left alone.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..errors import BadSpecError
from . import otel
from .sinks import add_sink, on_first_use, remove_sink, start_once

_lock = threading.Lock()


@dataclass(frozen=True)
class LineageConfig:
    """What :func:`configure` set up (``None`` parts are off)."""

    openlineage: Any = None        # the OpenLineageSink
    log: Any = None                # the LineageLog
    namespace: str = "unistore"
    manifest_dir: Path | None = None
    #: where this configuration came from: "default", "configure" or "environment: <what was found>"
    origin: str = "default"


_config = LineageConfig()
_explicit = False  # configure() was called: the environment no longer counts

#: the variable naming the local lineage log (a .jsonl file or a Parquet folder)
LOG_VARIABLE = "UNISTORE_LINEAGE_LOG"
#: the variable naming the OpenLineage spool folder
SPOOL_VARIABLE = "UNISTORE_LINEAGE_SPOOL"
_TRUE = ("1", "true", "yes", "on")


def configure(*, openlineage: Any = None, log: str | os.PathLike[str] | None = None,
              spool_dir: str | os.PathLike[str] | None = None, spool_fsync: bool = False, namespace: str | None = None,
              manifest_dir: str | os.PathLike[str] | None = None,
              tracer_provider: Any = None, meter_provider: Any = None) -> LineageConfig:
    """Set up lineage reporting for this process.

    - ``openlineage``: ``True`` builds an ``OpenLineageClient()`` from your own
      configuration (``openlineage.yml``, ``OPENLINEAGE_*`` variables); pass
      an ``OpenLineageClient`` to use that one; ``None``/``False`` is off.
      Each read's events are journalled in ``spool_dir`` (default
      ``~/.cache/unistore/lineage-spool``) before the read returns, so
      ``kill -9`` loses nothing and a slow or down collector never slows a
      read; ``spool_fsync=True`` also flushes each journal entry to the disk
      (survives power loss, costs a disk flush per read).
    - ``log``: a ``.jsonl`` file, or a directory for Parquet parts: every
      read's provenance record, readable with :func:`unistore.read`.
    - ``namespace``: OpenLineage job namespace (default
      ``$OPENLINEAGE_NAMESPACE`` or ``"unistore"``).
    - ``manifest_dir``: where :func:`unistore.run` writes manifests when not
      given a path (default ``./unistore-runs``).
    - ``tracer_provider``/``meter_provider``: OpenTelemetry providers to use
      instead of the global ones.
    """
    global _explicit
    _explicit = True
    return _apply(openlineage=openlineage, log=log, spool_dir=spool_dir, spool_fsync=spool_fsync,
                  namespace=namespace, manifest_dir=manifest_dir, tracer_provider=tracer_provider,
                  meter_provider=meter_provider, origin="configure")


def _apply(*, openlineage: Any = None, log: str | os.PathLike[str] | None = None,
           spool_dir: str | os.PathLike[str] | None = None, spool_fsync: bool = False, namespace: str | None = None,
           manifest_dir: str | os.PathLike[str] | None = None, tracer_provider: Any = None,
           meter_provider: Any = None, origin: str) -> LineageConfig:
    global _config
    if openlineage is not None and openlineage is not False and openlineage is not True \
            and not hasattr(openlineage, "emit"):
        raise BadSpecError("openlineage= takes True, False/None or an OpenLineageClient")
    ns = namespace or os.environ.get("OPENLINEAGE_NAMESPACE") or "unistore"
    with _lock:
        old = _config
        ol_sink = log_sink = None
        # each sink's module (the OpenLineage one with its disk spool) is imported when that sink is switched
        # on, not with this module: every process's first read imports it, to look at the environment
        if openlineage:
            from .openlineage import OpenLineageSink, make_client, make_spool

            client = make_client(None if openlineage is True else openlineage)
            spool = make_spool(spool_dir, client, fsync=spool_fsync)
            ol_sink = OpenLineageSink(spool, namespace=ns)
        if log is not None:
            from .log import LineageLog

            log_sink = LineageLog(log)
        if tracer_provider is not None or meter_provider is not None:
            otel.use_providers(tracer_provider, meter_provider)
        for sink in (old.openlineage, old.log):
            if sink is not None:
                remove_sink(sink)
        for sink in (ol_sink, log_sink):
            if sink is not None:
                add_sink(sink)
        _config = LineageConfig(openlineage=ol_sink, log=log_sink, namespace=ns,
                                manifest_dir=Path(manifest_dir) if manifest_dir is not None else None,
                                origin=origin)
    for sink in (old.openlineage, old.log):
        if sink is not None:
            sink.close()
    return _config


def openlineage_configuration(env: Any = None, cwd: Path | None = None, home: Path | None = None) -> str | None:
    """What in the environment configures OpenLineage (a variable or a file), or None.

    The same places the OpenLineage client reads, in its order; ``OPENLINEAGE_DISABLED=true``
    answers None whatever else is set.
    """
    env = os.environ if env is None else env
    if str(env.get("OPENLINEAGE_DISABLED", "")).strip().lower() in _TRUE:
        return None
    if env.get("OPENLINEAGE_CONFIG"):
        return "OPENLINEAGE_CONFIG"
    for place in ((cwd or Path.cwd()) / "openlineage.yml", (home or Path.home()) / ".openlineage" / "openlineage.yml"):
        if place.is_file():
            return str(place)
    if env.get("OPENLINEAGE_URL"):
        return "OPENLINEAGE_URL"
    transport = sorted(k for k in env if k.startswith("OPENLINEAGE__TRANSPORT"))
    return transport[0] if transport else None


def from_environment(env: Any = None) -> LineageConfig | None:
    """Set lineage up from the environment (see the module's docstring), unless :func:`configure` was called.

    Returns the configuration it made, or None when it left things as they were.
    """
    env = os.environ if env is None else env
    if _explicit:
        return None
    found = openlineage_configuration(env)
    log = env.get(LOG_VARIABLE) or None
    if found is None and log is None:
        return None
    what = ", ".join(x for x in (found, log and LOG_VARIABLE) if x)
    return _apply(openlineage=found is not None, log=log, spool_dir=env.get(SPOOL_VARIABLE) or None,
                  origin=f"environment: {what}")


on_first_use(from_environment)


def configured() -> LineageConfig:
    """The current configuration (the environment's, if it has one and configure() was not called)."""
    start_once()
    return _config


def flush(timeout: float = 5.0) -> bool:
    """Deliver queued OpenLineage events and write buffered log rows; False if ``timeout`` ran out."""
    cfg = _config
    if cfg.log is not None:
        cfg.log.flush()
    if cfg.openlineage is not None:
        return cfg.openlineage.spool.flush(timeout)
    return True


def shutdown(timeout: float = 5.0) -> None:
    """Turn the configured sinks off (delivering what can be delivered within ``timeout``)."""
    configure()


def reads_in_run(run_id: str, log: str | os.PathLike[str] | None = None) -> pa.Table:
    """Which reads, of which snapshots, went into a run (by run id or run name), from the local log."""
    path = log if log is not None else (_config.log.path if _config.log is not None else None)
    path = path if path is not None else os.environ.get(LOG_VARIABLE) or None
    if path is None:
        raise BadSpecError(f"no lineage log configured; pass log=, set {LOG_VARIABLE} or call "
                           "unistore.configure_lineage(log=...)")
    if _config.log is not None and Path(path) == _config.log.path:
        _config.log.flush()
    from .log import reads_in_run as in_log  # as in _apply

    return in_log(run_id, path)
