"""SQLite reads reuse a kept read-only connection, and a record still describes exactly the data it sits on."""

import os
import subprocess
import sys
import sqlite3
import threading

import pytest

import unistore
from unistore.adapters.sql import sqlitelink

DRIVERS = ["adbc", "sqlite3"]


def _make(path, rows=((1, "a", 1.5),)):
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE t (id INTEGER NOT NULL, kind TEXT, amount REAL)")
        con.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)
    con.close()
    return str(path)


def _write(path, sql, *params):
    con = sqlite3.connect(path)
    with con:
        con.execute(sql, params)
    con.close()


@pytest.fixture
def opened(monkeypatch):
    """Counts the connections SQLite reads open (a kept one is not opened again)."""
    sqlitelink.KEPT.close_all()
    count = [0]
    real = sqlitelink.Link.__init__

    def counting(self, *args, **kwargs):
        count[0] += 1
        real(self, *args, **kwargs)

    monkeypatch.setattr(sqlitelink.Link, "__init__", counting)
    yield count
    sqlitelink.KEPT.close_all()


@pytest.mark.parametrize("driver", DRIVERS)
def test_reads_through_a_source_share_one_connection(tmp_path, opened, driver):
    path = _make(tmp_path / "one.db")
    with unistore.source(f"sqlite:///{path}", driver=driver) as src:
        for _ in range(3):
            assert src.read("t").num_rows == 1
    assert unistore.read(f"sqlite:///{path}", "t", driver=driver).num_rows == 1
    assert opened[0] == 1


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_write_between_two_reads_on_a_kept_connection_changes_data_snapshot_and_fingerprint(tmp_path, opened, driver):
    path = _make(tmp_path / "one.db")
    with unistore.source(f"sqlite:///{path}", driver=driver) as src:
        first = src.read("t")
        _write(path, "INSERT INTO t VALUES (2, 'b', 2.5)")
        second = src.read("t")
    assert opened[0] == 2, "a written file is read on a fresh connection"
    assert first.num_rows == 1 and second.num_rows == 2
    one, two = unistore.provenance_of(first), unistore.provenance_of(second)
    assert one.snapshot.value != two.snapshot.value
    assert one.result.fingerprint != two.result.fingerprint
    # an update that keeps the row count and the file size still shows in the snapshot and the fingerprint
    with unistore.source(f"sqlite:///{path}", driver=driver) as src:
        _write(path, "UPDATE t SET amount = 9.5 WHERE id = 2")
        third = src.read("t")
    assert third.column("amount").to_pylist() == [1.5, 9.5]
    assert unistore.provenance_of(third).snapshot.value != two.snapshot.value
    assert unistore.provenance_of(third).result.fingerprint != two.result.fingerprint


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_schema_change_between_two_reads_on_a_kept_connection_is_seen(tmp_path, opened, driver):
    path = _make(tmp_path / "one.db")
    with unistore.source(f"sqlite:///{path}", driver=driver) as src:
        first = src.read("t")
        _write(path, "ALTER TABLE t ADD COLUMN note TEXT")
        second = src.read("t")
        _write(path, "DROP TABLE t")
        _write(path, "CREATE TABLE t (id TEXT, flag BOOLEAN)")
        _write(path, "INSERT INTO t VALUES ('x', 1)")
        third = src.read("t")
    assert opened[0] == 3  # each written state on a fresh connection
    assert first.column_names == ["id", "kind", "amount"]
    assert second.column_names == ["id", "kind", "amount", "note"]
    assert third.column_names == ["id", "flag"] and third.column("flag").to_pylist() == [True]
    schemas = {unistore.provenance_of(t).result.schema_fingerprint for t in (first, second, third)}
    assert len(schemas) == 3


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_file_replaced_at_its_path_is_read_on_a_new_connection(tmp_path, opened, driver):
    path = _make(tmp_path / "one.db")
    other = _make(tmp_path / "other.db", rows=[(7, "z", 0.5), (8, "y", 0.25)])
    uri = f"sqlite:///{path}"
    first = unistore.read(uri, "t", driver=driver)
    os.replace(other, path)
    second = unistore.read(uri, "t", driver=driver)
    assert opened[0] == 2
    assert first.column("id").to_pylist() == [1]
    assert second.column("id").to_pylist() == [7, 8]
    assert unistore.provenance_of(second).snapshot.pins["inode"] == os.stat(path).st_ino


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("other_type", ["INTEGER", "TEXT"])
def test_a_file_overwritten_in_place_is_never_read_from_a_kept_connection(tmp_path, opened, driver, other_type):
    # cp / shutil.copyfile keep the inode; files built the same way share SQLite's header counters, so a
    # kept connection would serve its cached pages (and schemas) of the old file
    import shutil

    def build(path, value):
        con = sqlite3.connect(path)
        with con:
            con.execute(f"CREATE TABLE t (x {other_type if value == 2 else 'INTEGER'})")
            con.execute("INSERT INTO t VALUES (?)", (value if other_type == "INTEGER" or value == 1 else "two",))
        con.close()

    live, new = str(tmp_path / "live.db"), str(tmp_path / "new.db")
    build(live, 1)
    build(new, 2)
    inode = os.stat(live).st_ino
    with unistore.source(f"sqlite:///{live}", driver=driver) as src:
        first = src.read("t")
        shutil.copyfile(new, live)
        assert os.stat(live).st_ino == inode
        second = src.read("t")
    assert first.column("x").to_pylist() == [1]
    assert second.column("x").to_pylist() == ([2] if other_type == "INTEGER" else ["two"])
    assert unistore.provenance_of(second).result.fingerprint != unistore.provenance_of(first).result.fingerprint


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_file_replaced_while_a_new_connection_opens_is_not_kept_as_current(tmp_path, opened, driver, monkeypatch):
    path = _make(tmp_path / "one.db")
    other = _make(tmp_path / "other.db", rows=[(7, "z", 0.5)])
    real_begin = sqlitelink.Link.begin
    replaced = []

    def begin_then_replace(self):
        version = real_begin(self)
        if not replaced:  # the path is replaced after this connection opened the old file
            replaced.append(True)
            os.replace(other, path)
        return version

    monkeypatch.setattr(sqlitelink.Link, "begin", begin_then_replace)
    uri = f"sqlite:///{path}"
    reads = [unistore.read(uri, "t", driver=driver) for _ in range(3)]
    assert [t.column("id").to_pylist() for t in reads] == [[7]] * 3
    assert {unistore.provenance_of(t).snapshot.pins["inode"] for t in reads} == {os.stat(path).st_ino}


@pytest.mark.parametrize("driver", DRIVERS)
def test_the_compiled_select_is_kept_per_columns_and_limit(tmp_path, driver):
    path = _make(tmp_path / "one.db", rows=[(i, "k", float(i)) for i in range(5)])
    uri = f"sqlite:///{path}"
    assert unistore.read(uri, "t", limit=2, driver=driver).num_rows == 2
    assert unistore.read(uri, "t", limit=3, driver=driver).num_rows == 3
    assert unistore.read(uri, "t", columns=["amount"], limit=3, driver=driver).column_names == ["amount"]
    record = unistore.provenance_of(unistore.read(uri, "t", limit=4, driver=driver))
    assert record.query.params == [4, 0]  # LIMIT ? OFFSET ?


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_kept_connection_stays_read_only(tmp_path, opened, driver):
    path = _make(tmp_path / "one.db")
    unistore.read(f"sqlite:///{path}", "t", driver=driver)
    link = sqlitelink.KEPT.take(path, driver)
    assert link is not None
    with pytest.raises(Exception, match="readonly|read-only|query_only|attempt to write"):
        link.run("CREATE TABLE written (a)")
    link.close()


@pytest.mark.parametrize("driver", DRIVERS)
def test_concurrent_reads_never_share_a_connection(tmp_path, opened, driver):
    path = _make(tmp_path / "one.db", rows=[(i, "k", float(i)) for i in range(100)])
    in_use: set[int] = set()
    shared = []
    real_begin = sqlitelink.Link.begin

    def begin(self):
        if id(self) in in_use:
            shared.append(id(self))
        in_use.add(id(self))
        return real_begin(self)

    real_give = sqlitelink.Kept.give

    def give(self, link):
        in_use.discard(id(link))
        real_give(self, link)

    errors = []

    def reads():
        try:
            with unistore.source(f"sqlite:///{path}", driver=driver) as src:
                for _ in range(20):
                    assert src.read("t").num_rows == 100
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sqlitelink.Link, "begin", begin)
        mp.setattr(sqlitelink.Kept, "give", give)
        threads = [threading.Thread(target=reads) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors and not shared


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
@pytest.mark.parametrize("driver", DRIVERS)
def test_a_forked_child_opens_its_own_connection(tmp_path, driver):
    path = _make(tmp_path / "one.db")
    uri = f"sqlite:///{path}"
    unistore.read(uri, "t", driver=driver)
    assert sqlitelink.KEPT._idle, "the parent keeps its connection"
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            inherited = not sqlitelink.KEPT._idle and sqlitelink.KEPT.take(path, driver) is None
            code = 0 if inherited and unistore.read(uri, "t", driver=driver).num_rows == 1 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert unistore.read(uri, "t", driver=driver).num_rows == 1, "the parent's kept connection still works"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_a_read_inherited_over_fork_leaves_the_parents_connection_alone(tmp_path, monkeypatch):
    path = _make(tmp_path / "one.db", rows=[(i, "k", float(i)) for i in range(50)])
    uri = f"sqlite:///{path}"
    statements: list[tuple[int, str]] = []
    real = sqlitelink.Link.run
    monkeypatch.setattr(
        sqlitelink.Link, "run", lambda self, sql: (statements.append((os.getpid(), sql)), real(self, sql))[1]
    )
    reader = unistore.scan(uri, "t", batch_size=10, driver="sqlite3")
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            reader.close()
            code = 0 if not [s for p, s in statements if p == os.getpid()] else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the child ran no statement on the parent's connection"
    assert sum(b.num_rows for b in reader) == 50
    assert unistore.read(uri, "t", driver="sqlite3").num_rows == 50


def _write_from_another_process(path):
    """A write committed by another process, without waiting for a lock: 'written' or SQLite's error."""
    code = ("import sqlite3, sys\n"
            "con = sqlite3.connect(sys.argv[1], timeout=0)\n"
            "try:\n"
            "    with con:\n"
            "        con.execute('INSERT INTO t VALUES (9, \"w\", 0.0)')\n"
            "    print('written')\n"
            "except sqlite3.OperationalError as exc:\n"
            "    print(exc)\n")
    return subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("kept", [False, True])
def test_a_read_in_progress_keeps_writers_of_other_processes_out(tmp_path, opened, driver, kept):
    """Rollback-journal mode: the shared lock stays held until the read ends. Taking the snapshot (header,
    stats) must not open and close the file: closing any descriptor drops the process's POSIX locks."""
    path = _make(tmp_path / "one.db", rows=[(i, "k", float(i)) for i in range(50)])
    uri = f"sqlite:///{path}"
    if kept:
        unistore.read(uri, "t", driver=driver)
    with unistore.scan(uri, "t", batch_size=10, driver=driver) as reader:
        assert reader.read_next_batch().num_rows == 10
        assert "locked" in _write_from_another_process(path)
        assert sum(b.num_rows for b in reader) == 40
    assert _write_from_another_process(path) == "written"
    assert unistore.read(uri, "t", driver=driver).num_rows == 51


@pytest.mark.parametrize("driver", DRIVERS)
def test_an_open_plan_keeps_writers_of_other_processes_out_while_its_splits_read(tmp_path, opened, driver):
    path = _make(tmp_path / "one.db", rows=[(i, "k", float(i)) for i in range(50)])
    with unistore.source(f"sqlite:///{path}", driver=driver) as src:
        spec = unistore.ReadSpec.build("t", partitions=2)
        plan = src.connection.plan(spec, 2)
        try:
            assert "locked" in _write_from_another_process(path)
            for split in plan.splits:  # each on a connection of its own, whose snapshot is checked
                scan = src.connection.scan_split(spec, split)
                scan.close()
            assert "locked" in _write_from_another_process(path)
        finally:
            plan.close()
    assert _write_from_another_process(path) == "written"


def test_descriptors_of_a_file_close_only_when_no_link_uses_it(tmp_path, opened):
    path = _make(tmp_path / "one.db")
    first, second = sqlitelink.Link(path, "sqlite3"), sqlitelink.Link(path, "sqlite3")
    key = first.opened
    assert key == second.opened and sqlitelink.FILES._open[key].users == 2
    fds = [sqlitelink.FILES._open[key].fd]
    assert first._fd == second._fd == fds[0], "links of one file share its descriptor"
    first.close()
    assert sqlitelink.FILES._open[key].fd == fds[0], "the other link's read keeps its locks"
    os.fstat(fds[0])
    second.close()
    assert key not in sqlitelink.FILES._open
    for fd in fds:
        with pytest.raises(OSError):
            os.fstat(fd)


#: the lock tests read Linux's lock table; elsewhere they are skipped, but never in CI (a Linux machine),
#: where a missing table fails them rather than hide them
_reads_proc_locks = pytest.mark.skipif(not os.path.exists("/proc/locks") and os.environ.get("CI") != "true",
                                       reason="reads the kernel's lock table (Linux)")


def _locks_held(path):
    """The POSIX locks this process holds on ``path`` (from /proc/locks)."""
    st = os.stat(path)
    dev = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    with open("/proc/locks") as f:
        return [line for line in f if f" {os.getpid()} {dev} " in line]


@_reads_proc_locks
@pytest.mark.parametrize("driver", DRIVERS)
def test_closing_a_link_keeps_the_wal_index_locks_of_another_links_read(tmp_path, opened, driver):
    """WAL mode: a reader's locks are on the -shm file. A link that has not yet read the WAL index holds no
    descriptor of it, but its read does hold SQLite's locks there: another link's close must not drop them."""
    path = str(tmp_path / "wal.db")
    with sqlite3.connect(path) as con:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("CREATE TABLE t (id INTEGER)")
        con.execute("INSERT INTO t VALUES (1)")
    con.close()
    first = sqlitelink.Link(path, driver)
    first.begin()
    assert first.unchanged() and first.wal_index() is not None
    first.run("ROLLBACK")
    second = sqlitelink.Link(path, driver)
    try:
        second.begin()
        assert second.unchanged()
        assert _locks_held(path + "-shm"), "the read in progress holds its WAL index locks"
        first.close()
        assert _locks_held(path + "-shm"), "closing the other link dropped the locks of this read"
        assert second.wal_index() is not None
        second.run("ROLLBACK")
    finally:
        first.close()
        second.close()


@_reads_proc_locks
def test_a_link_opened_while_the_last_one_closes_keeps_its_locks(tmp_path, opened, monkeypatch):
    """The last link of a file closes its descriptors; a link of the same file opened meanwhile (another
    thread) must not have begun its read by then, or that close drops the new read's locks."""
    path = _make(tmp_path / "one.db")
    first = sqlitelink.Link(path, "sqlite3")
    doomed = {sqlitelink.FILES._open[first.opened].fd}
    second: list = []
    real_close = os.close

    def begin_second():
        link = sqlitelink.Link(path, "sqlite3")
        second.append(link)
        link.begin()

    def close(fd):
        if fd in doomed:  # the closing thread is paused here; another starts a read of the same file
            doomed.discard(fd)
            other = threading.Thread(target=begin_second)
            other.start()
            other.join(0.5)
            close.threads.append(other)
        real_close(fd)

    close.threads = []
    monkeypatch.setattr(os, "close", close)
    first.close()
    monkeypatch.setattr(os, "close", real_close)
    for thread in close.threads:
        thread.join()
    try:
        assert _locks_held(path), "the read begun while the other link closed lost its shared lock"
    finally:
        second[0].run("ROLLBACK")
        second[0].close()


@pytest.mark.parametrize("wal", [False, True])
def test_descriptors_do_not_pile_up_while_a_link_of_the_file_stays_kept(tmp_path, opened, wal):
    """Two links kept (a split read leaves as many), then reads that each follow a write: the kept link
    on top is closed and replaced every time, the one below stays. The file's descriptors must not grow."""
    path = _make(tmp_path / "one.db")
    if wal:
        _write(path, "PRAGMA journal_mode=WAL")
    uri = f"sqlite:///{path}"
    with unistore.scan(uri, "t", driver="sqlite3") as one, unistore.scan(uri, "t", driver="sqlite3") as two:
        one.read_all(), two.read_all()
    assert opened[0] == 2

    def descriptors():
        return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else \
            sum(1 + len(held.shm) + len(held.spare) for held in sqlitelink.FILES._open.values())

    unistore.read(uri, "t", driver="sqlite3")
    before = descriptors()
    for i in range(20):
        _write(path, "INSERT INTO t VALUES (?, 'w', 0.0)", 100 + i)
        assert unistore.read(uri, "t", driver="sqlite3").num_rows == 2 + i
    assert opened[0] == 22
    assert descriptors() <= before + 1
