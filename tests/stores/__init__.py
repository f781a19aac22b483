"""The store cases of the conformance suite.

Each module here maps the stores it provides to their capabilities in
``STORES`` and defines a session fixture ``loader_<name>`` returning a
:class:`Loader`. The suite loads the reference data through the loader and
runs the same assertions on every store; a test marked
``@pytest.mark.needs("cap")`` is generated only for stores declaring ``cap``.

Capabilities:
- ``ordered``: rows come back in insertion (id) order
- ``exact_types``: full reads return the reference Arrow types exactly
- ``queries``: ``query=`` is supported (the case gives one returning every row)
- ``mutable``: the case can change a row in place (drift tests)
- ``replay_exact``: after a change, replay still returns the recorded data
- ``secret``: the case can be reached through a URI carrying a secret
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import pyarrow as pa
import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


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


class Loader:
    """Loads a table into a store under a fresh name and describes how to read it back."""

    name: str = ""

    def load(self, name: str, table: pa.Table) -> StoreCase:
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
