"""Scheme resolution: built-ins, third-party entry points, run-time registration, clear failures."""

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
