"""The in-memory DuckDB databases that Parquet reads run in, opened ahead and closed behind the reading thread.

Every DuckDB read gets a database of its own, which it configures for its files alone
and then locks (see duckdb_parquet). Opening one costs about 12 ms and closing one
about as much (DuckDB 2.0 here): a fifth of a selective read of a few hundred MB. So a
fresh, never-configured database is kept ready for the next read (made on a
background thread after a read takes the last one), and a finished read's database is
closed on a background thread; its batches are Arrow memory of their own by then.
The spare costs about 10 MB and the idle threads DuckDB starts with any database.

A spare belongs to the process that made it: after a fork its worker threads do not
exist in the child, so the child neither uses nor destroys it (doing either would
hang or crash, even at the child's interpreter exit) and opens its own. The threads
are never daemons, even when a read runs on a daemon thread (a thread inherits that
flag from the one that starts it): interpreter exit waits for an open or close under
way rather than cutting DuckDB off in the middle of one, which aborts the process.
"""

from __future__ import annotations

import os
import threading
from typing import Any

#: nothing is installed or loaded behind the read's back
CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}

_lock = threading.Lock()
_spare: Any = None  # a DuckDB connection to a fresh in-memory database, made in this process
_making = False


def _open() -> Any:
    import duckdb

    return duckdb.connect(":memory:", config=CONFIG)


def take() -> Any:
    """A fresh database for one read (the spare if one is ready), and the next spare on its way."""
    global _spare
    with _lock:
        con, _spare = _spare, None
    if con is None:
        con = _open()
    _make_spare_soon()
    return con


def release(con: Any) -> None:
    """Close a read's database off the reading thread (only once its query's results are all taken)."""
    try:
        threading.Thread(target=con.close, name="unistore-duckdb-close", daemon=False).start()
    except RuntimeError:  # interpreter shutting down: no new threads, so here and now
        con.close()


def _make_spare_soon() -> None:
    global _making
    with _lock:
        if _making or _spare is not None:
            return
        _making = True
    try:
        threading.Thread(target=_make_spare, name="unistore-duckdb-spare", daemon=False).start()
    except RuntimeError:  # interpreter shutting down: no more threads, and no need for a spare
        with _lock:
            _making = False


def _make_spare() -> None:
    global _spare, _making
    try:
        con = _open()
    except Exception:  # the next read opens its own and reports what is wrong
        con = None
    with _lock:
        _making = False
        if con is not None and _spare is None:
            _spare, con = con, None
    if con is not None:
        con.close()


def _forget_after_fork() -> None:
    global _spare, _making, _lock
    _lock = threading.Lock()  # a lock held by a parent's thread at the fork would never be released here
    if _spare is not None:
        _leak(_spare)
    _spare, _making = None, False


def _leak(con: Any) -> None:
    """Keep ``con`` alive until the process ends: a reference held by a module would be dropped when the
    interpreter finalises, and destroying a database whose threads stayed in the parent crashes the child."""
    import ctypes

    ctypes.pythonapi.Py_IncRef(ctypes.py_object(con))


if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
    os.register_at_fork(after_in_child=_forget_after_fork)
