"""The public names are a contract: adding or removing one is a deliberate change here."""

import unistore

PUBLIC = {
    "Adapter", "AuthenticationError", "BadSpecError", "Capabilities", "DriftError", "Filter",
    "MissingExtraError", "Provenance", "QueryError", "ReadOnlyError", "ReadSpec", "Scan", "SinkError",
    "Snapshot", "SnapshotUnavailableError", "Source", "SourceNotFoundError", "SourceUnavailableError",
    "UnistoreError", "UnknownSchemeError", "__version__", "col", "fingerprint", "known_schemes",
    "provenance_of", "read", "redact", "register", "replay", "scan", "source",
}
#: names added by the lineage work (runs, lineage configuration) are allowed on top
OPTIONAL = {"run", "replay_manifest", "configure_lineage", "lineage", "Run"}


def test_all_is_exactly_the_public_names():
    names = set(unistore.__all__)
    assert PUBLIC <= names
    assert names - PUBLIC <= OPTIONAL, f"unexpected public names: {names - PUBLIC - OPTIONAL}"
    for name in names:
        assert hasattr(unistore, name), name


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
