"""``unistore.configure_lineage``: switch the OpenLineage and local-log sinks on or off.

Nothing but OpenTelemetry (API only, a no-op without an SDK) is on by
default. Each call replaces the sinks a previous call set up (closing them,
which delivers what it can); sinks added with :func:`~unistore.lineage.add_sink`
are left alone.
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
from .log import LineageLog
from .log import reads_in_run as _reads_in_run
from .openlineage import OpenLineageSink, make_client, make_spool
from .sinks import add_sink, remove_sink

_lock = threading.Lock()


@dataclass(frozen=True)
class LineageConfig:
    """What :func:`configure` set up (``None`` parts are off)."""

    openlineage: Any = None        # the OpenLineageSink
    log: Any = None                # the LineageLog
    namespace: str = "unistore"
    manifest_dir: Path | None = None


_config = LineageConfig()


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
    global _config
    if openlineage is not None and openlineage is not False and openlineage is not True \
            and not hasattr(openlineage, "emit"):
        raise BadSpecError("openlineage= takes True, False/None or an OpenLineageClient")
    ns = namespace or os.environ.get("OPENLINEAGE_NAMESPACE") or "unistore"
    with _lock:
        old = _config
        ol_sink = log_sink = None
        if openlineage:
            client = make_client(None if openlineage is True else openlineage)
            spool = make_spool(spool_dir, client, fsync=spool_fsync)
            ol_sink = OpenLineageSink(spool, namespace=ns)
        if log is not None:
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
                                manifest_dir=Path(manifest_dir) if manifest_dir is not None else None)
    for sink in (old.openlineage, old.log):
        if sink is not None:
            sink.close()
    return _config


def configured() -> LineageConfig:
    """The current configuration."""
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
    if path is None:
        raise BadSpecError("no lineage log configured; pass log= or call unistore.configure_lineage(log=...)")
    if _config.log is not None and Path(path) == _config.log.path:
        _config.log.flush()
    return _reads_in_run(run_id, path)
