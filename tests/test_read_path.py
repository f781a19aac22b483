"""The core read path ends every read exactly once and reports it, however the stream ends."""

import gc
import sqlite3

import pyarrow as pa
import pytest

import unistore
from unistore import lineage
from reference import TABLE
from stores.embedded_sql import SQLiteLoader


class Collect:
    def __init__(self):
        self.events = []

    def emit(self, event):
        self.events.append(event)


@pytest.fixture
def events():
    sink = lineage.add_sink(Collect())
    yield sink.events
    lineage.remove_sink(sink)


@pytest.fixture
def shop(tmp_path):
    return SQLiteLoader("sqlite", str(tmp_path / "shop.db"), "sqlite3").load("events", TABLE)


def _writer_can_commit(path: str) -> bool:
    con = sqlite3.connect(path, timeout=0)
    try:
        con.execute("UPDATE events SET amount = amount WHERE id = 1")
        con.commit()
        return True
    except sqlite3.OperationalError:  # "database is locked": a reader still holds its transaction
        return False
    finally:
        con.close()


def test_a_stream_dropped_before_its_first_batch_ends_its_read(shop, events):
    path = shop.uri.removeprefix("sqlite:///")
    reader = unistore.scan(shop.uri, "events", driver="sqlite3")
    read_id = unistore.provenance_of(reader).read_id
    assert not _writer_can_commit(path), "an open read holds its snapshot"
    del reader
    gc.collect()
    assert _writer_can_commit(path), "the dropped stream released its transaction"
    (event,) = [e for e in events if e.record is not None and e.record.read_id == read_id]
    assert event.record.result.complete is False and event.error is None


def test_every_batch_respects_batch_size_and_the_limit(shop):
    with unistore.scan(shop.uri, "events", batch_size=8, limit=30, driver="sqlite3") as reader:
        sizes = [b.num_rows for b in reader]
    assert sizes == [8, 8, 8, 6]
    assert unistore.provenance_of(reader).result.complete is True


def test_a_source_that_cannot_be_opened_is_reported_as_a_failed_read(tmp_path, events):
    with pytest.raises(unistore.SourceNotFoundError):
        unistore.read(f"sqlite:///{tmp_path}/missing.db", "t")
    (event,) = events
    assert event.record is None and isinstance(event.error, unistore.SourceNotFoundError)


def test_an_error_in_the_middle_of_a_stream_is_recorded(events):
    from unistore_example_adapter import CounterAdapter, CounterSource

    class Broken(CounterSource):
        def _scan(self, spec):
            scan = super()._scan(spec)

            def fail():
                yield pa.record_batch({"n": pa.array([1], pa.int64())})
                raise RuntimeError("disk on fire")
            scan.batches = fail()
            return scan

    class BrokenAdapter(CounterAdapter):
        def open(self, location, **options):
            return Broken(location)

    unistore.register("broken-counter", BrokenAdapter, clobber=True)
    with pytest.raises(unistore.QueryError, match="disk on fire"):
        unistore.read("broken-counter://5")
    (event,) = events
    assert isinstance(event.error, unistore.QueryError)
    assert event.record.result.complete is False and event.record.result.rows == 1
