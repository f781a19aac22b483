"""Scheme resolution: built-ins, third-party entry points, run-time registration, overrides, clear failures."""

import pytest

import unistore
from unistore import registry


def test_unknown_scheme_lists_the_known_ones():
    with pytest.raises(unistore.UnknownSchemeError) as info:
        unistore.read("nosuchstore://host/x")
    message = str(info.value)
    assert "'nosuchstore'" in message
    for scheme in ("file", "s3", "sqlite", "duckdb", "postgresql"):
        assert scheme in message
    assert isinstance(info.value, LookupError)


def test_a_missing_driver_names_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(registry.BUILTIN, "fakestore", ("unistore_no_such_driver_pkg.adapter:Adapter", "fakestore"))
    monkeypatch.setattr(registry, "_loaded", {})
    with pytest.raises(unistore.MissingExtraError) as info:
        unistore.read("fakestore://host/table")
    assert "pip install 'unistore[fakestore]'" in str(info.value)


def test_a_third_party_adapter_is_found_through_its_entry_point():
    # tests/plugin_pkg is pip-installed by scripts/install.sh; unistore knows nothing of it
    assert "counter" in unistore.known_schemes()
    table = unistore.read("counter://25", filter=[("n", ">=", 20)])
    assert table.column("n").to_pylist() == [20, 21, 22, 23, 24]
    record = unistore.provenance_of(table)
    assert record.source.system == "counter" and record.result.rows == 5
    assert record.query.pushed_down == {}  # the plugin pushed nothing: the core applied the filter


def test_scheme_with_a_driver_suffix_falls_back_to_the_base_scheme():
    assert registry.get_adapter("sqlite+pysqlite") is registry.get_adapter("sqlite")


def test_runtime_registration():
    from unistore_example_adapter import CounterAdapter

    unistore.register("count-again", CounterAdapter, clobber=True)
    assert unistore.read("count-again://3").num_rows == 3
    with pytest.raises(ValueError):
        unistore.register("count-again", CounterAdapter)


def test_importing_unistore_imports_no_adapter():
    import subprocess
    import sys

    code = ("import sys, unistore; bad = [m for m in sys.modules if m.startswith('unistore.adapters.')]; "
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


# -- a plugin claiming a built-in scheme: ignored unless it overrides on purpose, reported either way --

class _FakeEntryPoint:
    """What importlib.metadata hands the registry for an installed plugin's entry point."""

    def __init__(self, name, target, package="shadowing-plugin"):
        self.name, self.value, self._target = name, f"{target.__module__}:{target.__qualname__}", target
        self.dist = type("Dist", (), {"name": package})()

    def load(self):
        return self._target


@pytest.fixture
def installed_plugins(monkeypatch):
    """Pretend entry points are installed: {group: [entry points]}; the registry forgets what it loaded."""
    plugins: dict[str, list] = {}
    monkeypatch.setattr(registry, "entry_points", lambda group: plugins.get(group, []))
    monkeypatch.setattr(registry, "_loaded", {})
    monkeypatch.setattr(registry, "_reported", set())
    return plugins


def _counter_class():
    from unistore_example_adapter import CounterAdapter

    return CounterAdapter


def test_a_plugin_cannot_shadow_a_built_in_scheme_silently(installed_plugins, caplog):
    installed_plugins[registry.ENTRY_POINT_GROUP] = [_FakeEntryPoint("sqlite", _counter_class())]
    with caplog.at_level("WARNING", logger="unistore.registry"):
        adapter = registry.get_adapter("sqlite")
        registry._loaded.clear()
        registry.get_adapter("sqlite")
    assert type(adapter).__name__ == "SQLAdapter"
    [record] = [r for r in caplog.records if r.name == "unistore.registry"]  # reported once, not per lookup
    message = record.getMessage()
    assert "shadowing-plugin" in message and "'sqlite'" in message and "ignored" in message
    assert registry.OVERRIDE_GROUP in message  # says how to override on purpose


def test_a_driver_variant_of_a_built_in_is_not_shadowed_either(installed_plugins, caplog):
    installed_plugins[registry.ENTRY_POINT_GROUP] = [_FakeEntryPoint("sqlite+pysqlite", _counter_class())]
    with caplog.at_level("WARNING", logger="unistore.registry"):
        assert type(registry.get_adapter("sqlite+pysqlite")).__name__ == "SQLAdapter"
    assert any("'sqlite+pysqlite'" in r.getMessage() for r in caplog.records)


def test_a_plugin_overriding_a_built_in_on_purpose_wins_and_is_reported(installed_plugins, caplog):
    installed_plugins[registry.OVERRIDE_GROUP] = [_FakeEntryPoint("sqlite", _counter_class())]
    with caplog.at_level("WARNING", logger="unistore.registry"):
        assert unistore.read("sqlite://4").num_rows == 4  # the counter adapter answered
    [record] = [r for r in caplog.records if r.name == "unistore.registry"]
    assert "shadowing-plugin" in record.getMessage() and "replaced" in record.getMessage()


def test_a_new_scheme_from_a_plugin_needs_no_override(installed_plugins, caplog):
    installed_plugins[registry.ENTRY_POINT_GROUP] = [_FakeEntryPoint("tally", _counter_class())]
    with caplog.at_level("WARNING", logger="unistore.registry"):
        assert unistore.read("tally://2").num_rows == 2
    assert not [r for r in caplog.records if r.name == "unistore.registry"]


def test_registering_a_built_in_scheme_at_run_time_needs_override(monkeypatch, caplog):
    monkeypatch.setattr(registry, "_runtime", {})
    monkeypatch.setattr(registry, "_loaded", {})
    monkeypatch.setattr(registry, "_reported", set())
    with pytest.raises(ValueError, match="override=True"):
        unistore.register("duckdb", _counter_class())
    assert type(registry.get_adapter("duckdb")).__name__ == "SQLAdapter"
    with caplog.at_level("WARNING", logger="unistore.registry"):
        unistore.register("duckdb", _counter_class(), override=True)
    assert unistore.read("duckdb://3").num_rows == 3
    assert "CounterAdapter" in caplog.records[-1].getMessage()


def test_a_mistyped_scheme_gets_suggestions():
    with pytest.raises(unistore.UnknownSchemeError, match="did you mean 'postgresql'"):
        unistore.read("postgressql://127.0.0.1/db", "t")
    with pytest.raises(unistore.UnknownSchemeError, match="did you mean .*'mysql'"):
        unistore.read("MySQ://127.0.0.1/db", "t")
    with pytest.raises(unistore.UnknownSchemeError) as info:
        unistore.read("nosuchstore://x/y")
    assert "did you mean" not in str(info.value)
