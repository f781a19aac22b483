"""The public names are a contract: adding or removing one is a deliberate change here.

Users import from ``unistore``; adapter authors from ``unistore.adapter``. The
two surfaces are pinned separately, so the plugin interface never leaks into
the user namespace (as httpx keeps its transports apart from its client).
"""

import pickle

import pytest

import unistore
import unistore.adapter

PUBLIC = {
    "AdapterError", "AuthenticationError", "BadSpecError", "Catalog", "CatalogError", "DriftError", "Filter",
    "MissingExtraError", "Provenance",
    "QueryError", "ReadOnlyError", "ReadSpec", "Run", "SinkError", "Snapshot", "SnapshotUnavailableError",
    "Source", "SourceNotFoundError", "SourceUnavailableError", "UnistoreError", "UnknownSchemeError",
    "__version__", "catalog", "col", "configure_lineage", "fingerprint", "known_schemes", "lineage", "provenance_of",
    "read", "redact", "register", "replay", "replay_manifest", "run", "scan", "source", "sql", "sql_scan",
    "DataTestError", "DataTestWarning", "checks",
    "to_pandas", "to_polars",
}
ADAPTER_API = {
    "Adapter", "Capabilities", "Connection", "Dataset", "Location", "Query", "ReadPlan", "ReadSpec", "Scan",
    "Snapshot", "Split", "check_max_splits",
}


def test_all_is_exactly_the_public_names():
    assert set(unistore.__all__) == PUBLIC
    assert len(unistore.__all__) == len(PUBLIC), "no name listed twice"
    for name in PUBLIC:
        assert hasattr(unistore, name), name


def test_the_adapter_api_is_exactly_its_own_names_and_apart_from_the_user_api():
    assert set(unistore.adapter.__all__) == ADAPTER_API
    for name in ADAPTER_API:
        assert hasattr(unistore.adapter, name), name
    for name in ("Adapter", "Capabilities", "Connection", "Scan", "Split", "ReadPlan"):
        assert name not in unistore.__all__, name


def test_the_user_handle_wraps_a_connection_and_is_not_the_adapters_base_class():
    assert not issubclass(unistore.adapter.Connection, unistore.Source)
    assert not issubclass(unistore.Source, unistore.adapter.Connection)


def test_the_default_plan_is_one_picklable_split_of_the_whole_read():
    from unistore_example_adapter import CounterAdapter

    connection = CounterAdapter().open(unistore.adapter.Location.parse("counter://3"))
    spec = unistore.ReadSpec.build("numbers", filter=[("n", ">", 0)])
    plan = connection.plan(spec, max_splits=4)
    assert plan.consistent and plan.snapshot is None and plan.release is None
    (split,) = plan.splits
    assert split.index == 0 and split.payload is None and split.rows is None
    assert pickle.loads(pickle.dumps(plan)) == plan
    scan = connection.scan_split(spec, pickle.loads(pickle.dumps(split)))  # the default split is the whole read
    assert sum(b.num_rows for b in scan.batches) == 3
    with pytest.raises(unistore.BadSpecError, match="max_splits"):
        connection.plan(spec, max_splits=0)


def test_the_handle_reaches_a_stores_public_extras_but_not_its_internals():
    with unistore.source("counter://3") as src:
        assert src.n == 3 and src.connection.n == 3       # a store's own public attribute
        assert src.tables() == ["numbers"] and src.uri == "counter://3"
        with pytest.raises(AttributeError):
            src._private_thing


def test_errors_also_inherit_the_matching_builtins():
    assert issubclass(unistore.UnknownSchemeError, LookupError)
    assert issubclass(unistore.SourceNotFoundError, LookupError)
    assert issubclass(unistore.BadSpecError, ValueError)
    assert issubclass(unistore.ReadOnlyError, unistore.BadSpecError)
    assert issubclass(unistore.MissingExtraError, ImportError)
    assert issubclass(unistore.SourceUnavailableError, ConnectionError)
    assert issubclass(unistore.AuthenticationError, unistore.SourceUnavailableError)
    for name in unistore.__all__:
        obj = getattr(unistore, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, unistore.UnistoreError), name
