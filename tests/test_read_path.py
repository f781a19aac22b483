"""The core read path ends every read exactly once and reports it, however the stream ends."""

import gc
import sqlite3

import pyarrow as pa
import pytest

import unistore
from reference import TABLE
from stores.embedded_sql import SQLiteLoader


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


def test_a_stream_dropped_before_its_first_batch_ends_its_read(shop, lineage_events):
    path = shop.uri.removeprefix("sqlite:///")
    reader = unistore.scan(shop.uri, "events", driver="sqlite3")
    read_id = unistore.provenance_of(reader).read_id
    assert not _writer_can_commit(path), "an open read holds its snapshot"
    del reader
    gc.collect()
    assert _writer_can_commit(path), "the dropped stream released its transaction"
    (event,) = [e for e in lineage_events if e.record is not None and e.record.read_id == read_id]
    assert event.record.result.complete is False and event.error is None


def test_every_batch_respects_batch_size_and_the_limit(shop):
    with unistore.scan(shop.uri, "events", batch_size=8, limit=30, driver="sqlite3") as reader:
        sizes = [b.num_rows for b in reader]
    assert sizes == [8, 8, 8, 6]
    assert unistore.provenance_of(reader).result.complete is True


def test_a_source_that_cannot_be_opened_is_reported_as_a_failed_read(tmp_path, lineage_events):
    with pytest.raises(unistore.SourceNotFoundError):
        unistore.read(f"sqlite:///{tmp_path}/missing.db", "t")
    (event,) = lineage_events
    assert event.record is None and isinstance(event.error, unistore.SourceNotFoundError)


def test_an_error_in_the_middle_of_a_stream_is_recorded(lineage_events):
    from unistore_example_adapter import CounterAdapter, CounterSource

    class Broken(CounterSource):
        def scan(self, spec):
            scan = super().scan(spec)

            def fail():
                yield pa.record_batch({"n": pa.array([1], pa.int64())})
                raise RuntimeError("disk on fire")
            scan.batches = fail()
            return scan

    class BrokenAdapter(CounterAdapter):
        def open(self, location, **options):
            return Broken(location)

    unistore.register("broken-counter", BrokenAdapter, clobber=True)
    with pytest.raises(unistore.AdapterError, match="RuntimeError.*disk on fire") as info:
        unistore.read("broken-counter://5")
    assert not isinstance(info.value, unistore.QueryError)  # an adapter bug is not the store rejecting a query
    (event,) = lineage_events
    assert isinstance(event.error, unistore.AdapterError)
    assert event.record.result.complete is False and event.record.result.rows == 1


# -- capabilities are enforced by the engine, before the adapter is called ----------------------

class _Recorder:
    """A counter connection that declares ``caps`` and records whether it was asked to scan."""

    @staticmethod
    def register(scheme, caps, read_options=frozenset()):
        from unistore.adapter import Adapter
        from unistore_example_adapter import CounterSource

        scans = []

        class Declared(CounterSource):
            capabilities = caps

            def scan(self, spec):
                scans.append(spec)
                return super().scan(spec)

        Declared.read_options = read_options

        class DeclaredAdapter(Adapter):
            def open(self, location, **options):
                return Declared(location)

        unistore.register(scheme, DeclaredAdapter, clobber=True)
        return scans


def test_what_a_connection_declares_it_cannot_do_never_reaches_it(lineage_events):
    from unistore.adapter import Capabilities

    scans = _Recorder.register("declared-counter", Capabilities(queries=False, listing=False))
    with pytest.raises(unistore.BadSpecError, match="no query language"):
        unistore.read("declared-counter://3", query="count")
    with pytest.raises(unistore.SnapshotUnavailableError, match="cannot pin reads with as_of="):
        unistore.read("declared-counter://3", as_of=1)
    with unistore.source("declared-counter://3") as src, \
            pytest.raises(unistore.BadSpecError, match="cannot list its contents"):
        src.tables()
    assert scans == [], "the adapter was never asked"
    assert [type(e.error) for e in lineage_events] == [unistore.BadSpecError, unistore.SnapshotUnavailableError], \
        "a refused read is still reported as a failed read"


def test_params_and_as_of_are_refused_with_the_same_message_for_every_store():
    from unistore.adapter import Capabilities

    scans = _Recorder.register("promql-like", Capabilities(queries=True, params=False),
                               read_options=frozenset({"start", "end", "step", "shape"}))
    with pytest.raises(unistore.BadSpecError, match="takes no bound parameters"):
        unistore.read("promql-like://3", query="up", params={"x": 1})
    # a time-series store pins with end=: there as_of= is a malformed request, not a missing snapshot
    with pytest.raises(unistore.BadSpecError, match="end="):
        unistore.read("promql-like://3", "numbers", as_of=1)
    assert scans == []


def test_the_engine_fills_the_request_columns_and_filter_of_the_record():
    table = unistore.read("counter://5", columns=["n"], filter=[("n", ">=", 3)])
    query = unistore.provenance_of(table).query
    assert table.column("n").to_pylist() == [3, 4]
    assert query.columns == ["n"] and "n" in query.filter and ">=" in query.filter
    assert query.request["filter"] == [[["n", ">=", 3]]]
    assert query.text == "count to 5", "what the adapter said it sent"


def test_read_ids_are_rfc_9562_version_7_uuids_in_time_order():
    import time
    import uuid

    from unistore.provenance import uuid7

    ids = []
    for _ in range(3):
        ids += [uuid7() for _ in range(200)]
        time.sleep(0.002)
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 7 and parsed.variant == uuid.RFC_4122
    assert len(set(ids)) == len(ids)
    millis = [uuid.UUID(t).int >> 80 for t in ids]
    assert millis == sorted(millis) and abs(millis[-1] - time.time_ns() // 1_000_000) < 5_000
