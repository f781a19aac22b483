"""The store cases of the conformance suite (SQLAlchemy's requirements pattern).

Each module here maps the stores it provides to a :class:`Store` in ``STORES``
and defines a session fixture ``loader_<name>`` returning a :class:`Loader`.
The suite loads its data through the loader and runs the same assertions on
every store. A test marked ``@pytest.mark.needs("cap", ...)`` is generated for
the stores that have every one of those abilities; with
``otherwise=SomeError`` it is generated for the others too, as a test that the
read raises exactly that error (ibis' ``notimpl(raises=...)``).

A store's abilities are the union of two things, never declared twice:

- the capabilities its adapter declares (``queries``, ``params``, ``listing``,
  ``as_of``, ``replay_exact``, ``write_protection``), read from the class of
  connection the adapter opens for the store's scheme — looked up at
  collection time, without connecting to anything;
- the traits of the test fixture, which no adapter can know:

``reference``
    the loader holds the reference table (``Loader.load``)
``timeseries``
    the loader holds the series set (``Loader.load_series``)
``ordered``
    rows come back in insertion (id) order
``exact_types``
    full reads return the reference Arrow types exactly
``mutable``
    the case can change a row in place (drift tests)
``versioned``
    the store keeps every version of an object, so even a plain file read replays exactly
``secret``
    the case can be reached through a URI carrying a secret
``server``
    the store is a server reached over the network: the loader describes a read of
    one that is down (``Loader.unreachable``)
``timeout``
    a read of a server that accepts connections and never answers times out
    (``Loader.silent``); MariaDB's reads do not yet (they hang), so it lacks the trait
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable

import pyarrow as pa
import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

#: what only the fixture knows (see the module docstring)
FIXTURE_TRAITS = frozenset({"reference", "timeseries", "ordered", "exact_types", "mutable", "versioned", "secret",
                            "server", "timeout"})


@dataclass(frozen=True)
class Store:
    """One store of the suite: a location naming its adapter (never connected to) and its fixture's traits."""

    example_uri: str                        # any URI of the store's scheme: picks the adapter and connection class
    traits: frozenset[str]
    options: Mapping[str, Any] = field(default_factory=dict)  # open options that pick the class (driver=...)

    def __post_init__(self) -> None:
        unknown = self.traits - FIXTURE_TRAITS
        assert not unknown, f"unknown fixture traits {sorted(unknown)}; capabilities come from the adapter"


def connection_class(store: Store) -> type:
    """The class of connection the store's adapter opens, asked of the adapter without opening one."""
    from unistore import registry
    from unistore.location import Location

    location = Location.parse(store.example_uri)
    return registry.get_adapter(location.scheme).connection_class(location, **store.options)


def declared_capabilities(store: Store) -> frozenset[str]:
    """The capabilities the adapter's connection class declares (the ones that are true)."""
    declared = connection_class(store).capabilities
    return frozenset(f.name for f in dataclasses.fields(declared) if getattr(declared, f.name) is True)


def abilities(store: Store) -> frozenset[str]:
    """What the suite may assume of a store: its adapter's declared capabilities plus its fixture's traits.

    A store whose adapter cannot even be imported (an optional extra not
    installed) keeps only its traits; its loader then reports the store missing.
    """
    from unistore.errors import MissingExtraError

    try:
        return declared_capabilities(store) | store.traits
    except MissingExtraError:
        return store.traits


@dataclass
class StoreCase:
    """One loaded copy of a table in one store."""

    uri: str
    table: Any
    expected: pa.Table                      # what a full read must return, types exactly
    options: dict[str, Any] = field(default_factory=dict)
    query: str | None = None                # a raw query returning every row (stores with queries)
    mutate: Callable[[], None] | None = None  # change one row's content in place
    secret_uri: str | None = None           # the same store through a URI carrying a secret
    secret: str | None = None               # the secret in secret_uri


@dataclass
class Attempt:
    """A read that must fail (a server down, one that never answers), and what its error must not show."""

    uri: str
    table: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    secret: str | None = None               # carried by the URI; never in the error
    match: str | None = None                # what the error message must say

    def read(self) -> Any:
        import unistore

        return unistore.read(self.uri, self.table, **self.options)


@dataclass
class SeriesCase:
    """How to read the common series set (tests/stores/timeseries.py) from one store."""

    name: str
    uri: str
    table: str | None
    options: dict[str, Any] = field(default_factory=dict)
    #: the store evaluates series at a step (PromQL) rather than returning stored samples
    evaluates: bool = False
    wide_prefix: str = ""
    secret_uri: str | None = None           # the same store through a URI carrying a secret (``secret`` trait)
    secret: str | None = None
    failing_with_secret: Attempt | None = None  # a read through secret_uri the store refuses

    def read(self, start: Any, end: Any, *, shape: str = "long", **kwargs: Any) -> pa.Table:
        import unistore
        from stores.timeseries import INTERVAL

        opts = {**self.options, **kwargs}
        if self.evaluates:
            opts.setdefault("step", INTERVAL)
        return unistore.read(self.uri, self.table, start=start, end=end, shape=shape, **opts)


class Loader:
    """Loads data into a store under a fresh name and describes how to read it back."""

    name: str = ""

    def load(self, name: str, table: pa.Table) -> StoreCase:
        """The reference table (stores with the ``reference`` trait)."""
        raise NotImplementedError

    def load_series(self) -> SeriesCase:
        """The series set, once per session (stores with the ``timeseries`` trait)."""
        raise NotImplementedError

    def unreachable(self, port: int) -> Attempt:
        """A read of this store at a loopback ``port`` where nothing listens (stores with the ``server`` trait)."""
        raise NotImplementedError

    def silent(self, address: str) -> Attempt:
        """A read at ``address`` (host:port), which accepts connections and never answers, with a short timeout."""
        raise NotImplementedError


def missing_store(what: str) -> None:
    """A store that cannot be reached: a failure in CI, a skip on a developer's machine."""
    message = f"{what} is not reachable; run scripts/stores.sh to install and start the test stores"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def wait_for_port(host: str, port: int, timeout: float = 30.0) -> bool:
    """True once something accepts TCP connections on host:port (loopback only)."""
    assert host in ("127.0.0.1", "localhost", "::1"), "tests talk to loopback only"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
