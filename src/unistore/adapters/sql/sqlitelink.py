"""Read-only SQLite connections kept between reads, so a tiny read does not pay for connecting.

Opening a connection costs about as much as the whole read of a small table.
A :class:`Link` is one connection (``mode=ro``, ``query_only``) that reads
use one at a time; between reads it waits, outside any transaction, in the
process-wide :data:`KEPT` (a few per file, a few files: the oldest is closed).
Sources and module-level ``unistore.read`` calls on the same file share it.

A kept link is reused only while the file is untouched: each read records,
under its read lock, the state of the file and of its ``-wal`` file (device,
inode, size, modification and change times), and the next read on that link
must find the same state, else the link is closed and a fresh one opened.
Any write changes that state: a commit by SQLite (then a fresh connection
costs what it always did) and a file overwritten in place (``cp``,
``shutil.copyfile``), whose new bytes a kept connection could otherwise serve
from its page cache, with its cached schemas. A new link checks that the path
named the same file (device and inode) before it connected and once its lock
is held, so a file replaced while connecting is never read through a link
that then looks current. The read's snapshot is captured under the lock as
before, so a record describes exactly what was read: from the state just
recorded and the file's header and WAL index, read through descriptors the
link keeps (:data:`FILES`). Closing any descriptor of a file drops every POSIX
lock the process holds on it, SQLite's included (sqlite.org/howtocorrupt.html,
2.2): a header read that opened and closed the file let a writer in another
process commit in the middle of a read, and the plan of a split read stop
pinning anything. A child process never
uses (nor closes) a link inherited over ``fork``: SQLite forbids it, and
closing could drop the parent's file locks.
"""

from __future__ import annotations

import atexit
import collections
import os
import sqlite3
import threading
from typing import Any
from urllib.parse import quote

import pyarrow as pa

#: per-link cache of table schemas, bounded so a process reading thousands of tables does not grow it forever
MAX_SCHEMAS = 256


def _stat_key(path: str) -> tuple[int, int, int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def file_state(path: str) -> tuple:
    """What any write to a SQLite database changes: the main file's and the ``-wal`` file's device, inode,
    size, modification and change (ctime, which no user can set) times; ``None`` for a missing file."""
    return (_stat_key(path), _stat_key(path + "-wal"))


_O_READ = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


class _Held:
    """One database file's descriptors in :class:`Files`: the one links read through, each ``-shm`` file's."""

    __slots__ = ("users", "fd", "shm", "spare")

    def __init__(self, fd: int):
        self.users = 0  #: links holding the file
        self.fd = fd
        self.shm: dict[tuple[int, int], int] = {}  #: (st_dev, st_ino) of a -shm file -> its descriptor
        self.spare: list[int] = []  #: descriptors opened by two threads at once: one is used, none may be closed


class Files:
    """Read-only descriptors of files SQLite locks, closed only once no link uses the file any more.

    The links of one database file (device, inode) share one descriptor of it
    and one of each ``-shm`` file read beside it, so a file read again and
    again while some link of it stays kept does not gather descriptors. They
    are closed together when the last link holding the database file is
    closed, so no close drops the locks of another link's read in progress
    (SQLite defers its own closes the same way). A link holds the database
    file from before it connects; its read locks the ``-shm`` file from its
    first statement, before its snapshot reads that file, which is why the
    ``-shm`` descriptors are the database file's. A connection this module
    did not open, reading the same file at that moment, can still lose its
    locks: that is SQLite's rule for any code sharing a process.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: (st_dev, st_ino) of a database file -> its descriptors
        self._open: dict[tuple[int, int], _Held] = {}

    def open(self, path: str) -> tuple[int, tuple[int, int]] | None:
        """A descriptor of the file ``path`` names and its (st_dev, st_ino), counted as one user of the file
        (the descriptor is shared: read it with :func:`_read_at`); None if it cannot be opened."""
        try:
            st = os.stat(path)
        except OSError:
            return None
        key = (st.st_dev, st.st_ino)
        with self._lock:  # a file held is alive: its (st_dev, st_ino) names no other file
            held = self._open.get(key)
            if held is not None:
                held.users += 1
                return held.fd, key
        opened = _open_read(path)
        if opened is None:
            return None
        fd, key = opened
        with self._lock:
            held = self._open.get(key)
            if held is None:
                held = self._open[key] = _Held(fd)
            else:  # opened by another thread (or the path replaced by a file held) meanwhile
                held.spare.append(fd)
            held.users += 1
            return held.fd, key

    def shm(self, key: tuple[int, int], path: str) -> tuple[int, tuple[int, int]] | None:
        """A descriptor of ``path``, the ``-shm`` file of the database file ``key`` (which the caller holds),
        closed with the database file's, and the (st_dev, st_ino) it reads; None if there is none."""
        try:
            st = os.stat(path)
        except OSError:
            return None
        with self._lock:
            fd = self._open[key].shm.get((st.st_dev, st.st_ino))
        if fd is not None:
            return fd, (st.st_dev, st.st_ino)
        opened = _open_read(path)
        if opened is None:
            return None
        fd, shm_key = opened
        with self._lock:
            held = self._open[key]
            first = held.shm.setdefault(shm_key, fd)
            if first != fd:
                held.spare.append(fd)
        return first, shm_key

    def release(self, key: tuple[int, int]) -> None:
        """One user of the file ``key`` is gone; the last one closes every descriptor of it."""
        with self._lock:
            held = self._open.get(key)
            if held is None:
                return
            held.users -= 1
            if held.users > 0:
                return
            del self._open[key]
            # under the lock: a link of the file opened meanwhile would begin its read before these closes
            for fd in (held.fd, *held.shm.values(), *held.spare):
                try:
                    os.close(fd)
                except OSError:
                    pass

    def forget_all(self) -> None:
        """In a forked child: the parent's descriptors are the parent's links' (left open, never used)."""
        self._lock = threading.Lock()
        self._open = {}


def _open_read(path: str) -> tuple[int, tuple[int, int]] | None:
    """A new read-only descriptor of ``path`` and the (st_dev, st_ino) it reads; None if it cannot be opened."""
    try:
        fd = os.open(path, _O_READ)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
    except OSError:  # pragma: no cover - fstat of a descriptor just opened
        os.close(fd)  # nothing can hold a lock through a descriptor this young
        return None
    return fd, (st.st_dev, st.st_ino)


_seek_lock = threading.Lock()


def _read_at(fd: int, size: int) -> bytes:
    """The first ``size`` bytes through ``fd``, which links share (no descriptor opened or closed)."""
    if hasattr(os, "pread"):
        return os.pread(fd, size, 0)
    with _seek_lock:  # pragma: no cover - Windows: the offset is the descriptor's, shared by links
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, size)


class Link:
    """One read-only connection to one SQLite file, with what reads learnt about the file through it."""

    def __init__(self, path: str, driver: str):
        self.path = path
        self.driver = driver
        self.pid = os.getpid()
        #: the file's state (see :func:`file_state`) seen under the last read's lock: a later read reuses this
        #: connection only if the file is still in exactly that state
        self.state: tuple | None = None
        #: table schemas keyed by (schema_version, name parts): valid while the schema cookie stays put
        self.schemas: dict[tuple[int, tuple[str, ...]], pa.Schema] = {}
        self._control: Any = None
        self.conn: Any = None
        #: the -shm file's descriptor and key, once read
        self._shm: tuple[int, tuple[int, int]] | None = None
        #: the file the path named just before connecting, held in :data:`FILES` until close: read through this
        #: descriptor, its (st_dev, st_ino) the file this connection opened, if the path still names it once
        #: the first read lock is held
        self._fd: int | None = None
        self.opened: tuple[int, int] | None = None
        held = FILES.open(path)
        if held is not None:
            self._fd, self.opened = held
        uri = f"file:{quote(path)}?mode=ro"
        try:
            if driver == "adbc":
                import adbc_driver_sqlite.dbapi as adbc

                self.conn = adbc.connect(uri, autocommit=True)
            else:
                self.conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            if driver == "adbc":
                # one statement for the control statements: the DB-API cursor costs several times more per call
                self._control = self.conn.cursor()
            self.run("PRAGMA query_only = ON")  # a second lock beside mode=ro
        except BaseException:
            self.close()
            raise

    def run(self, sql: str) -> None:
        """A statement without a result (BEGIN, ROLLBACK, a pragma that sets)."""
        if self._control is not None:
            statement = self._control.adbc_statement
            statement.set_sql_query(sql)
            statement.execute_update()
        else:
            self.conn.execute(sql)

    def begin(self) -> int:
        """Start a read transaction and take its read lock; the main schema's version (the schema cookie).

        ``PRAGMA schema_version`` reads the database header, so it takes the
        shared lock (or WAL snapshot) the whole read will see.
        """
        self.run("BEGIN")
        if self._control is not None:
            statement = self._control.adbc_statement
            statement.set_sql_query("PRAGMA schema_version")
            handle, _ = statement.execute_query()
            return int(pa.RecordBatchReader._import_from_c(handle.address).read_all().column(0)[0].as_py())
        return int(self.conn.execute("PRAGMA schema_version").fetchone()[0])

    def unchanged(self) -> bool:
        """Call with the read lock held: whether the file is as this link last saw it (a new link: whether
        the path still names the file it connected to). Records the state for the next read."""
        state = file_state(self.path)
        if state[0] is None:  # removed since: this connection reads a file no path names
            ok = False
        elif self.state is None:
            ok = self.opened == state[0][:2]
        else:
            ok = state == self.state
        self.state = state
        return ok

    def header(self) -> bytes:
        """The database header (100 bytes) of the file this link reads: call with the read lock held, after
        :meth:`unchanged` said the path still names that file."""
        assert self._fd is not None, "a link whose file could not be opened is never unchanged"
        return _read_at(self._fd, 100)

    def wal_index(self) -> str | None:
        """The WAL index header of the ``-shm`` file at the path (iChange, mxFrame, frame checksum, salts:
        sqlite.org/walformat.html) as hex; None when there is none. Call with the read lock held.

        Every commit in WAL mode changes it, unlike the database header. SQLite
        writes it twice; a commit in progress shows two different copies, so the
        read is repeated until they agree.
        """
        shm = self.path + "-shm"
        key = _stat_key(shm)
        if key is None:
            return None
        if self._shm is None or self._shm[1] != key[:2]:
            assert self.opened is not None, "a link whose file could not be opened is never unchanged"
            self._shm = FILES.shm(self.opened, shm)  # an earlier one stays open: SQLite may still lock it
            if self._shm is None:
                return None
        for _ in range(100):
            head = _read_at(self._shm[0], 96)
            if head[:48] == head[48:96]:
                break
        return head[8:48].hex() if len(head) >= 48 else None

    def remember_schema(self, key: tuple[int, tuple[str, ...]], schema: pa.Schema) -> None:
        if len(self.schemas) >= MAX_SCHEMAS:
            self.schemas.clear()
        self.schemas[key] = schema

    def close(self) -> None:
        if self.pid != os.getpid():
            KEPT.orphan(self)  # inherited over fork: never touch it here
            return
        for thing in (self._control, self.conn):
            if thing is not None:
                try:
                    thing.close()
                except Exception:
                    pass
        self._control = self.conn = None
        held, self._fd, self._shm = self._fd is not None, None, None
        if held:  # after the connection: its own locks are gone, and no other link's is dropped
            FILES.release(self.opened)


class Kept:
    """Idle links by (path, driver): at most ``per_file`` per file and ``files`` files, oldest closed first."""

    def __init__(self, files: int = 8, per_file: int = 2):
        self.files, self.per_file = files, per_file
        self._idle: collections.OrderedDict[tuple[str, str], list[Link]] = collections.OrderedDict()
        self._lock = threading.Lock()
        #: links inherited over fork, kept referenced so the garbage collector does not close them
        self._orphans: list[Link] = []

    def take(self, path: str, driver: str) -> Link | None:
        """An idle link to ``path`` opened by this process, if one is waiting."""
        with self._lock:
            links = self._idle.get((path, driver))
            if not links:
                return None
            link = links.pop()
            if not links:
                del self._idle[(path, driver)]
        if link.pid != os.getpid():  # pragma: no cover - forget_all runs in a forked child first
            self.orphan(link)
            return None
        return link

    def give(self, link: Link) -> None:
        """A link whose read has ended (no transaction open) waits for the next read of its file."""
        if link.pid != os.getpid():
            self.orphan(link)
            return
        extra: list[Link] = []
        key = (link.path, link.driver)
        with self._lock:
            links = self._idle.get(key, [])
            if len(links) < self.per_file:
                links.append(link)
                self._idle[key] = links
                self._idle.move_to_end(key)
            else:
                extra.append(link)
            while len(self._idle) > self.files:
                extra.extend(self._idle.popitem(last=False)[1])
        for old in extra:
            old.close()

    def orphan(self, link: Link) -> None:
        with self._lock:
            self._orphans.append(link)

    def close_all(self) -> None:
        """Close every idle link (they reopen on the next read)."""
        with self._lock:
            idle = [link for links in self._idle.values() for link in links]
            self._idle.clear()
        for link in idle:
            link.close()

    def forget_all(self) -> None:
        """In a forked child: drop the parent's links without closing them."""
        self._lock = threading.Lock()  # the parent's may have been held by another thread at fork
        self._orphans.extend(link for links in self._idle.values() for link in links)
        self._idle.clear()


#: descriptors of the files links read (header, WAL index), closed when no link uses the file
FILES = Files()
#: the process's idle SQLite connections (none on Windows, where a file that is open cannot be removed)
KEPT = Kept(per_file=0 if os.name == "nt" else 2)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=KEPT.forget_all)
    os.register_at_fork(after_in_child=FILES.forget_all)
atexit.register(KEPT.close_all)  # closed in order (statement, then connection) rather than by the collector
