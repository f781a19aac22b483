"""Running a cross-silo query: read every input through unistore, join them in DuckDB, record it all.

``unistore.sql(query, sources)`` plans the query (:mod:`.plan`), reads each
input with its pushed-down columns, filter and limit through the ordinary read
engine — so every input read has its own complete record, span and events —
on one thread per input, all at once, and registers them in an in-process
DuckDB connection. DuckDB runs with external access disabled and its
configuration locked, so the query reaches nothing but the declared inputs.
Tables of one PostgreSQL source are read under one exported snapshot.

DuckDB orders the joins of a query by the sizes of its inputs: an Arrow table
tells it its row count, an Arrow stream does not (it is taken for one row, and
the largest input became the build side of a hash join: TPC-H Q3 at scale 1
built a 3.2 M-row table instead of a 30 k-row one). So the inputs of a query
that joins several are read whole, concurrently, and registered as tables, as a
hand-written DuckDB join over pre-read tables would be; the keys of an input that
has ended drop the rows of the others that no key can match (:mod:`.semijoin`),
so what is held is closer to what the join needs. A query over one input, or
one that only puts inputs one after the other (UNION), has no join to order and
streams them (as does the ``sql_scan`` of such a query); an input it references
more than once, or inside a CTE, is read whole, since a stream can be scanned once.

Every input is read to its end even when DuckDB needed less (a LIMIT, an empty
join side): its record then describes what the store returned, and a replay
compares like with like.

The result's record is of kind ``query`` (docs/provenance.md): the query text,
DuckDB's version, every input's full record, the result's rows and digests, and
the column lineage (:mod:`.columns`). It is reported as one read: one span
(the inputs' spans are its children), one OpenLineage run with every input and,
when the result has a name (``output=``), the ``columnLineage`` facet on it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import contextvars
import dataclasses
import hashlib
import os
import queue
import re
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pyarrow as pa

from .._version import __version__
from ..api import source as open_source
from ..engine import stream_read
from ..errors import BadSpecError, QueryError, SourceNotFoundError, UnistoreError
from ..filters import short
from ..fingerprint import Fingerprinter, schema_fingerprint
from ..fingerprint_worker import FingerprintWorker
from ..inputs import NamedInput, named_input, scrub_error
from ..lineage.events import ReadContext, ReadEvent, current_run
from ..lineage.openlineage import output_dataset
from ..lineage.span import ReadSpan
from ..location import Location
from ..named import NAMED_INPUTS
from ..provenance import (QUERY_KIND, Dataset, Provenance, Query, QueryInput, catalog_entry, now_rfc3339, remember,
                          remember_returned, tag_schema, uuid7)
from ..snapshot import Snapshot
from ..source import Source
from ..spec import ReadSpec, encode_value
from .columns import Traced, resolve, trace
from .plan import DIALECT, InputPlan, Plan, Table, plan, references
from .semijoin import KeySet, restrict

#: where the query runs, as the record and the span name it
ENGINE = "duckdb"
QUERY_URI = "unistore:sql"
#: batches a streamed input may read ahead of DuckDB (the store's client reads ahead as well)
PREFETCH = 2
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_END = object()

SourceLike = str | os.PathLike[str] | Source | NamedInput


def sql(query: str, sources: Mapping[str, SourceLike] | None = None, *, params: Mapping[str, Any] | None = None,
        output: Any = None, **options: Any) -> pa.Table:
    """Run one read-only SQL query over several sources; return a table carrying a ``query`` record.

    ``sources`` maps a name to a URI, an open :class:`~unistore.Source`, or a
    catalog dataset (``"catalog:orders"``, or ``Catalog.input("orders")``); the
    query names ``name.table``, ``name.schema.table`` or, for a file data set
    or a catalog dataset, ``name``. ``params`` binds ``$name`` placeholders. ``output`` names the
    result for lineage (a URI, path or ``(namespace, name)``). Any other keyword
    is a source name mapped to read options for that source's reads (a
    time-series source's ``start``/``end``/``step``).
    """
    return run_whole(_Execution(query, sources, params, output, options))


def run_whole(execution: "_Execution") -> pa.Table:
    """Run a planned query to its end: the result table, tagged with its complete record."""
    with execution as run:
        reader = run.execute()
        fingerprint = FingerprintWorker(reader.schema, ordered=run.plan.ordered)  # hashed while DuckDB runs
        batches = []
        for batch in reader:
            fingerprint.update(batch)
            batches.append(batch)
        record = run.conclude(reader.schema, fingerprint, True)
    tagged = pa.Table.from_batches(batches, schema=tag_schema(reader.schema, record))
    remember_returned(record, tagged)
    return tagged


def sql_scan(query: str, sources: Mapping[str, SourceLike] | None = None, *,
             params: Mapping[str, Any] | None = None, output: Any = None, **options: Any) -> pa.RecordBatchReader:
    """:func:`sql` as a stream (a ``RecordBatchReader``); :func:`unistore.provenance_of` gives the complete
    record once it has been consumed."""
    run = _Execution(query, sources, params, output, options)
    try:
        reader = run.execute()
    except BaseException:
        run.close()
        raise
    schema = tag_schema(reader.schema, run.announce(reader.schema))

    def batches() -> Iterator[pa.RecordBatch]:
        # on the consumer's thread: this generator's finally may run in a collector pass on any thread, where
        # waiting for a worker could wait for itself
        fingerprint = Fingerprinter(reader.schema, ordered=run.plan.ordered)
        complete = False
        try:
            for batch in reader:
                fingerprint.update(batch)
                yield pa.RecordBatch.from_arrays(batch.columns, schema=schema)
            complete = True
        finally:
            try:
                run.conclude(reader.schema, fingerprint, complete)
            finally:
                run.close()

    return pa.RecordBatchReader.from_batches(schema, batches())


class _Inputs:
    """Collects the input reads' events (it stands in for a run while they start, so their lineage
    events become part of the query's, not runs of their own)."""

    def __init__(self, run_id: str):
        self.run_id, self.name = run_id, "unistore.sql"
        self.events: list[ReadEvent] = []
        self._lock = threading.Lock()

    def _add_read(self, event: ReadEvent) -> None:
        with self._lock:
            self.events.append(event)


class _Feed:
    """One input read on its own thread: its batches kept whole (``whole``), or handed to DuckDB through a
    bounded queue. A whole input drops, as they arrive, the rows another input's keys rule out (:meth:`restrict`)."""

    def __init__(self, item: InputPlan, src: Source, spec: Any, context: contextvars.Context, whole: bool,
                 named: NamedInput | None = None, check: bool = True, ended: "queue.Queue[_Feed] | None" = None):
        self.item, self.src, self.spec, self.named, self.whole = item, src, spec, named, whole
        self.finish = named.finish if named is not None and check else None
        self.queue: queue.Queue[Any] = queue.Queue(PREFETCH)
        self.kept: list[pa.RecordBatch] = []  # a whole input's batches, reduced
        self.reductions: list[tuple[str, KeySet]] = []
        self._lock = threading.Lock()
        self.ended = ended
        self.opened = threading.Event()
        self.schema: pa.Schema | None = None
        self.record: Provenance | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=context.run, args=(self._work,), name=f"unistore-sql-{item.name}",
                                       daemon=True)
        self.thread.start()

    def _work(self) -> None:
        try:
            if self.named is not None and self.named.part is not None:
                catalog_entry.set(self.named.part)  # this thread's context: the input's record names its entry
            # e.g. the lock check of a catalog dataset read as defined: judged before the input read is reported
            stream = stream_read(self.src.connection, self.spec, finish=self.finish)
            self.schema = stream.schema
            self.opened.set()
            try:
                for batch in stream:
                    if self.whole:
                        self._keep(batch)
                    else:
                        self.queue.put(batch)
            finally:
                if not stream.done:
                    stream.abort()
            self.record = stream.record
        except BaseException as exc:  # handed to the caller's thread
            self.error = scrub_error(exc, self.named.secrets) if self.named is not None and isinstance(
                exc, UnistoreError) else exc
        finally:
            self.opened.set()
            if not self.whole:
                self.queue.put(_END)
            if self.ended is not None:
                self.ended.put(self)

    def _keep(self, batch: pa.RecordBatch) -> None:
        """Keep a batch of a whole input, without the rows the reductions known so far rule out."""
        with self._lock:
            known = list(self.reductions)
        for column, keys in known:  # outside the lock: the caller's thread may add a reduction meanwhile
            batch = restrict(batch, column, keys)
        with self._lock:
            for column, keys in self.reductions[len(known):]:
                batch = restrict(batch, column, keys)
            if batch.num_rows:
                self.kept.append(batch)

    def restrict(self, column: str, keys: KeySet) -> None:
        """From now on keep only the rows whose ``column`` is in ``keys`` (those kept so far included)."""
        with self._lock:
            self.reductions.append((column, keys))
            self.kept = [b for b in (restrict(b, column, keys) for b in self.kept) if b.num_rows]

    def table(self, schema: pa.Schema) -> pa.Table:
        """A whole input once it has ended, as a table of ``schema`` (its own, without metadata)."""
        return pa.Table.from_batches(list(_plain(iter(self.kept), schema)), schema=schema)

    def batches(self) -> Iterator[pa.RecordBatch]:
        while True:
            item = self.queue.get()
            if item is _END:
                self.queue.put(_END)  # for drain()
                if self.error is not None:
                    raise self.error
                return
            yield item

    def drain(self) -> None:
        """Read the rest (DuckDB may have needed less), so the input's record is complete."""
        if not self.whole:
            while self.queue.get() is not _END:
                pass
            self.queue.put(_END)
        self.thread.join()


class _Execution:
    """One query from the plan to the record: opens what it was given URIs for, closes them at the end."""

    def __init__(self, query: str, sources: Mapping[str, SourceLike] | None, params: Mapping[str, Any] | None,
                 output: Any, options: dict[str, Any], pins: Mapping[str, Provenance] | None = None):
        self.started = time.perf_counter()
        self.stack = contextlib.ExitStack()
        self.query, self.params, self.output = query, _check_params(params), output
        self.read_options = _check_options(sources or {}, options)
        self.sources: dict[str, Source] = {}
        self.named: dict[str, NamedInput] = {}
        self.uris: dict[str, str] = {}
        self.feeds: list[_Feed] = []
        self.span: ReadSpan | None = None
        self.pins = dict(pins or {})
        self.shared: set[str] = set()  # sources whose inputs were all read in one snapshot
        self._schemas: dict[tuple[str, Table], Any] = {}
        try:
            for given in (sources or {}).values():  # handed over: closed with the query, whatever happens
                if isinstance(given, NamedInput):
                    self.stack.callback(given.source.close)
            self._open(sources or {}, references(query))
            self.plan: Plan = plan(query, dict.fromkeys(sources or {}), self._schema_of, self.params)
            self.specs = {i.name: self._spec(i, self.pins.get(i.name)) for i in self.plan.inputs}
        except UnistoreError as exc:
            self.stack.close()
            raise self._scrubbed(exc) from None
        except BaseException:
            self.stack.close()
            raise
        # column lineage needs only the plan: traced while the inputs are read
        self._traced: concurrent.futures.Future[Traced] = concurrent.futures.Future()
        threading.Thread(target=_settle, args=(self._traced, trace, self.plan.qualified), daemon=True,
                         name="unistore-sql-lineage").start()
        self.read_id, self.read_at = uuid7(), now_rfc3339()
        self.engine_version = _engine_version()

    def __enter__(self) -> "_Execution":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for feed in self.feeds:
            with contextlib.suppress(BaseException):
                feed.drain()
        self.stack.close()

    # -- planning ----------------------------------------------------------------------
    def _open(self, sources: Mapping[str, SourceLike], refs: list[tuple[str, Table]]) -> None:
        """Open the sources the query names and look up the schemas the planner will ask for, one thread
        per source (connecting and listing are round trips; the planner then finds every answer ready).

        A declared source the query does not name is not opened (nothing of it is read; connecting
        costs a round trip or two and, for MariaDB, a TLS context): the record still lists it.
        """
        used = {source for source, _ in refs}

        def work(name: str, given: SourceLike) -> Source:
            named = given if isinstance(given, NamedInput) else named_input(given, self.read_options.get(name, {}))
            if named is not None:  # a catalog dataset: resolved (and its lock consulted) before anything is read
                self.named[name] = named
            src = named.source if named is not None else given if isinstance(given, Source) else open_source(given)
            self.sources[name] = src
            for source, table in refs:
                if source == name:
                    future: concurrent.futures.Future[pa.Schema] = concurrent.futures.Future()
                    _settle(future, self._lookup, name, table)
                    self._schemas[(name, table)] = future
            return src

        opened: dict[str, concurrent.futures.Future[Source]] = {}
        for name, given in sources.items():
            if name not in used:
                continue
            opened[name] = concurrent.futures.Future()
            if len(used) == 1:
                _settle(opened[name], work, name, given)
            else:
                threading.Thread(target=contextvars.copy_context().run, args=(_settle, opened[name], work, name, given),
                                 daemon=True, name=f"unistore-sql-open-{name}").start()
        failed: BaseException | None = None
        for name, given in sources.items():
            if name not in used:
                self.uris[name] = _declared_uri(given)
                continue
            try:
                src = opened[name].result()
            except BaseException as exc:  # the first failure in declaration order, once all are settled
                failed = failed or exc
                continue
            named = self.named.get(name)
            if named is not None:
                if not isinstance(given, NamedInput):  # resolved here: closed with the query
                    self.stack.callback(named.source.close)
                self.uris[name] = named.name
                continue
            if not isinstance(given, Source):
                self.stack.enter_context(src)
            self.uris[name] = src.uri
        if failed is not None:
            raise failed
        self.sources = {name: self.sources[name] for name in sources if name in used}
        self.named = {name: self.named[name] for name in sources if name in self.named}

    def _schema_of(self, name: str, table: Table) -> pa.Schema:
        found = self._schemas.get((name, table))
        return found.result() if found is not None else self._lookup(name, table)

    def _lookup(self, name: str, table: Table) -> pa.Schema:
        named = self.named.get(name)
        if named is not None:
            if table is not None:
                raise BadSpecError(f"source {name!r} is one data set ({named.name}): refer to it as {name}, "
                                   f"not {name}.{'.'.join(table) if isinstance(table, tuple) else table}")
            return named.schema()
        src = self.sources[name]
        if table is None and src.connection.capabilities.listing and src.location.scheme not in _FILE_SCHEMES:
            raise BadSpecError(f"name a table of source {name!r}: {name}.<table> ({src.uri})")
        try:
            return src.schema(table) if table is not None else src.schema(None)
        except SourceNotFoundError as exc:
            hint = ""
            if table is not None and src.connection.capabilities.listing:
                with contextlib.suppress(Exception):
                    import difflib

                    wanted = ".".join(table) if isinstance(table, tuple) else table
                    close = difflib.get_close_matches(wanted, src.tables(), n=1)
                    hint = f" (did you mean {name}.{close[0]}?)" if close else ""
            raise SourceNotFoundError(f"{exc}{hint}") from None

    def _spec(self, item: InputPlan, pinned: Provenance | None) -> ReadSpec:
        """The input's read, validated (nothing is sent yet); a replay issues the recorded one at its snapshot."""
        src = self.sources[item.source]
        if pinned is not None and pinned.query.request:
            return dataclasses.replace(ReadSpec.from_record(pinned.query.request), pin=pinned.snapshot)
        named = self.named.get(item.source)
        if named is not None:
            if named.whole:  # read as defined, so that it can be checked: nothing of the query is pushed
                item.columns, item.filter, item.limit = list(item.schema.names), None, None
            return named.spec(item.columns, item.filter, item.limit)
        return src.spec(item.table, columns=item.columns, filter=item.filter, limit=item.limit,
                        **self.read_options.get(item.source, {}))

    # -- running -------------------------------------------------------------------------
    def execute(self) -> pa.RecordBatchReader:
        """Start every input read, register them in DuckDB, start the query; DuckDB's result stream."""
        import duckdb

        self.span = ReadSpan(ReadContext(uri=QUERY_URI, location=Location.parse(QUERY_URI), query=self.query,
                                         system=ENGINE))
        self.inputs = _Inputs(self.read_id)
        try:
            for name, count in _count(i.source for i in self.plan.inputs).items():
                shared = getattr(self.sources[name].connection, "shared_snapshot", None)
                if count > 1 and shared is not None:  # several tables of one server: one state for all
                    self.stack.enter_context(shared())
                    self.shared.add(name)
            with self.span.activate():
                token = current_run.set(self.inputs)
                try:
                    context = contextvars.copy_context()
                finally:
                    current_run.reset(token)
            text = self.plan.sql.lower()
            joined = self.plan.joins  # DuckDB orders the joins by the tables' sizes
            ended: queue.Queue[_Feed] = queue.Queue()
            for item in self.plan.inputs:
                named = self.named.get(item.source)
                whole = joined or item.references > 1 or self.plan.has_ctes or text.count(item.view.lower()) > 1 or (
                    named is not None and named.whole)  # checked before the query runs on it
                self.feeds.append(_Feed(item, self.sources[item.source], self.specs[item.name], context.copy(), whole,
                                        named, check=item.name not in self.pins, ended=ended))
            self._await_whole(ended)
            con = self.stack.enter_context(duckdb.connect())
            con.execute("SET TimeZone = 'UTC'")
            for feed in self.feeds:
                feed.opened.wait()
                if feed.error is not None:
                    raise feed.error
                assert feed.schema is not None
                clean = pa.schema([f.remove_metadata() for f in feed.schema])
                if feed.whole:
                    con.register(feed.item.view, feed.table(clean))
                else:
                    con.register(feed.item.view, pa.RecordBatchReader.from_batches(clean, _plain(feed.batches(), clean)))
            con.execute("SET enable_external_access = false")
            con.execute("SET autoinstall_known_extensions = false")
            con.execute("SET autoload_known_extensions = false")
            con.execute("SET lock_configuration = true")
            try:
                return con.sql(self.plan.sql, params=dict(self.params) if self.params else None).to_arrow_reader()
            except duckdb.Error as exc:
                failed = next((f.error for f in self.feeds if f.error is not None), None)
                if failed is not None:
                    raise failed from None
                raise QueryError(f"DuckDB rejected the query: {str(exc).splitlines()[0][:500]}") from None
        except BaseException as exc:
            self._fail(exc)
            raise

    def _await_whole(self, ended: "queue.Queue[_Feed]") -> None:
        """Wait for the whole inputs to end, in the order they end; the keys of each one that ends reduce
        the inputs joined with it that are still being read (:mod:`.semijoin`)."""
        reading = {feed.item.view: feed for feed in self.feeds if feed.whole}
        while reading:
            feed = ended.get()
            if not feed.whole:
                continue
            del reading[feed.item.view]
            if feed.error is not None:
                raise feed.error
            keys: dict[str, KeySet | None] = {}
            for link in self.plan.links:
                target = reading.get(link.target)
                if link.source != feed.item.view or target is None:
                    continue
                if link.source_column not in keys:
                    keys[link.source_column] = KeySet.of(pa.chunked_array(
                        [b.column(link.source_column) for b in feed.kept], feed.schema.field(link.source_column).type))
                found = keys[link.source_column]
                if found is not None:
                    target.restrict(link.target_column, found)

    def _scrubbed(self, exc: UnistoreError) -> UnistoreError:
        """``exc`` without the values of the named inputs' ``${VAR}`` secrets."""
        secrets = tuple(s for n in self.named.values() for s in n.secrets)
        return scrub_error(exc, secrets)

    def _fail(self, exc: BaseException) -> None:
        if self.span is not None:
            error = exc if isinstance(exc, UnistoreError) else QueryError(f"{type(exc).__name__}: {exc}")
            self.span.finish(None, error, time.perf_counter() - self.started,
                             tuple(self.inputs.events) if hasattr(self, "inputs") else ())

    def announce(self, schema: pa.Schema) -> Provenance:
        """The record a stream announces before its result is read: no inputs yet (they are still being read)."""
        record = self._record(schema, [])
        remember(record)
        return record

    def conclude(self, schema: pa.Schema, fingerprint: Fingerprinter | FingerprintWorker, complete: bool) -> Provenance:
        """Read every input to its end, then complete the record and report the query (one span, one event)."""
        try:
            for feed in self.feeds:
                feed.drain()
                if feed.error is not None:
                    raise feed.error
        except BaseException as exc:
            self._fail(exc)
            raise
        record = self._record(schema, [QueryInput(f.item.name, f.item.source, f.record)
                                       for f in self.feeds if f.record is not None])
        result = record.result
        result.rows, result.bytes = fingerprint.rows, fingerprint.nbytes
        result.set_digest(fingerprint.digest())
        result.complete = complete
        remember(record, finished=True)
        assert self.span is not None
        self.span.finish(record, None, time.perf_counter() - self.started, tuple(self.inputs.events))
        return record

    def _record(self, schema: pa.Schema, inputs: list[QueryInput]) -> Provenance:
        views = {i.name: i.view for i in self.plan.inputs}
        datasets = {views[i.name]: (i.record.source.namespace, i.record.source.name) for i in inputs}
        named = output_dataset(self.output) if self.output is not None else None
        digest = hashlib.sha256(self.query.encode()).hexdigest()[:12]
        params = encode_value(dict(self.params)) if self.params else None
        record = Provenance(
            read_id=self.read_id, read_at=self.read_at, unistore=__version__,
            source=Dataset(system=ENGINE, uri=QUERY_URI, namespace=named["namespace"] if named else "unistore",
                           name=named["name"] if named else f"sql.{digest}"),
            snapshot=_snapshot(inputs, self.shared),
            query=Query(language="sql", text=self.query, params=params,
                        pushed_down={i.name: {"columns": i.columns, "filter": str(i.filter) if i.filter is not None else None,
                                              "limit": i.limit} for i in self.plan.inputs},
                        request={"query": self.query, "sources": dict(self.uris), "params": params,
                                 "options": encode_value(self.read_options), "output": _output_text(self.output),
                                 "dialect": DIALECT}),
            parents=[i.record.read_id for i in inputs],
            kind=QUERY_KIND, engine={"name": ENGINE, "version": self.engine_version},
            inputs=inputs, column_lineage=resolve(self._traced.result(), list(schema.names), datasets),
        )
        record.result.schema_fingerprint = schema_fingerprint(schema)
        return record


_FILE_SCHEMES = frozenset({"file", "s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "memory", "http", "https"})


def _plain(batches: Iterator[pa.RecordBatch], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """The batches without the inputs' metadata (DuckDB needs none, the result gets its own record)."""
    for batch in batches:
        yield pa.RecordBatch.from_arrays(batch.columns, schema=schema)


def _settle(future: "concurrent.futures.Future[Any]", fn: Any, *args: Any) -> None:
    """Run ``fn`` and put its result or its exception in ``future`` (for the caller's thread to raise)."""
    try:
        future.set_result(fn(*args))
    except BaseException as exc:
        future.set_exception(exc)


def _engine_version() -> str:
    import duckdb

    return duckdb.__version__


def _snapshot(inputs: list[QueryInput], shared: set[str]) -> Snapshot:
    """The query's state: each input's pin.

    Consistent only when every input saw one state: one input, or several of one source read in a snapshot
    they shared (PostgreSQL's exported snapshot). Tables of one MariaDB server are each read in a snapshot
    of their own (InnoDB cannot share one between connections): consistent each, not together.
    """
    value = {i.name: {"kind": i.record.snapshot.kind, "value": i.record.snapshot.value} for i in inputs}
    sources = {i.source for i in inputs}
    together = len(inputs) == 1 or (len(sources) == 1 and sources <= shared)
    return Snapshot(kind="unistore.query_inputs", value=value,
                    consistent=together and all(i.record.snapshot.consistent for i in inputs),
                    replayable=all(i.record.snapshot.replayable for i in inputs))


def _declared_uri(given: SourceLike) -> str:
    """How the record names a declared source the query did not open (as an opened one would be named)."""
    if isinstance(given, NamedInput):
        return given.name
    if isinstance(given, Source):
        return given.uri
    text = os.fspath(given)
    if ":" in text and "://" not in text and text.split(":", 1)[0].lower() in NAMED_INPUTS:
        return text  # a catalog dataset, named as its record names it
    return Location.parse(text).redacted()


def _output_text(output: Any) -> Any:
    if output is None or isinstance(output, (str, dict)):
        return output
    if isinstance(output, tuple):
        return list(output)
    return os.fspath(output)


def _count(names: Iterator[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for n in names:
        out[n] = out.get(n, 0) + 1
    return out


def _check_params(params: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if params is not None and not isinstance(params, Mapping):
        raise BadSpecError("params must be a mapping: write $name in the query and pass params={'name': ...}")
    return params


def _check_options(sources: Mapping[str, Any], options: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per-source read options: each keyword is a declared source name mapped to a dict."""
    if not isinstance(sources, Mapping):
        raise BadSpecError("sources must map names to URIs or open sources, e.g. {'pg': 'postgresql://...'}")
    for name, given in sources.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise BadSpecError(f"source name {short(name)} must be an identifier (letters, digits, _)")
        if not isinstance(given, (str, os.PathLike, Source, NamedInput)):
            raise BadSpecError(f"source {name!r} must be a URI, an open unistore.Source or a catalog dataset "
                               f"('catalog:NAME'), not {type(given).__name__}")
        if isinstance(given, NamedInput) and name in options:
            raise BadSpecError(f"source {name!r} is {given.name}, resolved already: give its read options "
                               "to Catalog.input()")
    out = {}
    for key, value in options.items():
        if key not in sources:
            import difflib

            close = difflib.get_close_matches(key, list(sources), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise BadSpecError(f"unknown option {short(key, 40)}{hint}: other keywords name a source and map it "
                               "to read options, e.g. metrics={'start': ..., 'end': ...}")
        if not isinstance(value, Mapping):
            raise BadSpecError(f"options for source {key!r} must be a dict of read options")
        out[key] = dict(value)
    return out
