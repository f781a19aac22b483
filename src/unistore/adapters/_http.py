"""One HTTP client for the adapters that speak to a server's HTTP API (Prometheus, InfluxDB).

What they share lives here once: kept-alive ``requests`` sessions (one per
concurrent request, reused afterwards), the user's headers, credentials and
TLS verification set on each session and never put in a URL or a message, a
timeout on every request, and the mapping of transport failures and HTTP
statuses through the adapter's :class:`~unistore.errormap.ErrorTable`. Nothing
is retried: a read either gets the server's answer or a typed error at once.

An adapter builds its table from :data:`TRANSPORT_RULES` plus its own rules
for a failed status (what a 5xx or a rejected query means for that server)
and calls :meth:`HttpClient.fail` for a response it judges failed.

Both servers also cut a range read into the same kind of plan,
:func:`time_slice_plan`: disjoint time slices of one pinned window.
"""

from __future__ import annotations

import queue
from collections.abc import Collection
from types import ModuleType
from typing import Any

from .. import timeseries as ts
from ..adapter import ReadPlan, Split
from ..errormap import ErrorTable, Rule, mapped_errors
from ..errors import AuthenticationError, SourceUnavailableError, UnistoreError
from ..location import Location
from ..provenance import Query
from ..snapshot import Snapshot

#: statuses that mean the credentials were refused (checked before the body is read)
AUTH_STATUSES = (401, 403)


class HTTPStatusError(Exception):
    """A response the server (or the adapter reading it) marked as failed, for the adapter's table to name."""

    def __init__(self, status: int, message: str):
        self.status = status
        super().__init__(message)


def status_of(exc: BaseException) -> int | None:
    """The HTTP status an error carries (the ``code`` of an HTTP adapter's table)."""
    return getattr(exc, "status", None)


def status_rule(error: type[UnistoreError], message: str, codes: Collection[int] = ()) -> Rule:
    """A rule for a failed response (of the given statuses; of any when none are given)."""
    return Rule(error, message, classes=(f"{__name__}.HTTPStatusError",), codes=codes)


#: the rules every HTTP adapter starts its table with
TRANSPORT_RULES = (
    Rule(SourceUnavailableError, "{where} did not answer within {timeout:g} s", classes=("requests.Timeout",)),
    Rule(SourceUnavailableError, "cannot reach {where}: {type}: {text}", classes=("requests.RequestException",)),
    status_rule(AuthenticationError, "{where} refused the credentials (HTTP {code})", AUTH_STATUSES),
)


def server_address(location: Location, default_port: int) -> tuple[str, str, int]:
    """(scheme, host as written in a URL, port) of a server named ``name://host:port`` or ``name+https://...``."""
    scheme = "https" if location.scheme.endswith("+https") else "http"
    host = f"[{location.netloc_host}]" if ":" in location.netloc_host else location.netloc_host
    return scheme, host, location.port or default_port


class HttpClient:
    """Requests to one server, each bounded by ``timeout`` seconds, failures raised as unistore errors."""

    def __init__(self, requests: ModuleType, base: str, *, where: str, errors: ErrorTable, timeout: float,
                 secrets: Collection[str] = (), auth: tuple[str, str] | None = None,
                 headers: dict[str, str] | None = None, verify: bool | str = True):
        self._requests = requests
        self.base, self.where, self.errors, self.timeout = base, where, errors, timeout
        self.secrets = tuple(secrets)
        self._auth, self._headers, self._verify = auth, dict(headers or {}), verify
        self._idle: queue.SimpleQueue = queue.SimpleQueue()
        self._sessions: list[Any] = []

    def _acquire(self) -> Any:
        """An idle session (its connections kept alive), or a new one for a concurrent request."""
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            session = self._requests.Session()
            session.headers.update(self._headers)
            session.auth = self._auth
            session.verify = self._verify
            self._sessions.append(session)
            return session

    def mapped(self, table: ErrorTable | None = None) -> mapped_errors:
        """The context in which this server's errors are mapped (``table`` for another phase of a read)."""
        return mapped_errors(table or self.errors, self.where, self.secrets, timeout=self.timeout)

    def request(self, path: str, *, data: dict[str, Any] | None = None, params: list | None = None,
                stream: bool = False) -> Any:
        """POST ``data`` (or GET with ``params``); refused credentials raise, any other status is returned."""
        session = self._acquire()
        try:
            with self.mapped():
                if data is not None:
                    resp = session.post(self.base + path, data=data, timeout=self.timeout, stream=stream)
                else:
                    resp = session.get(self.base + path, params=params, timeout=self.timeout, stream=stream)
        finally:
            self._idle.put(session)
        if resp.status_code in AUTH_STATUSES:
            self.fail(resp, "")
        return resp

    def fail(self, resp: Any, message: str) -> None:
        """Raise the error the table gives a failed response with the server's ``message``."""
        resp.close()
        with self.mapped():
            raise HTTPStatusError(resp.status_code, message)

    def close(self) -> None:
        for session in self._sessions:
            session.close()
        self._sessions.clear()


def time_slice_plan(parts: list[ts.TimeSlice], *, snapshot: Snapshot, query: Query) -> ReadPlan:
    """One split per time slice of one pinned window: one state for the samples already ingested.

    The window's end was pinned when the plan was made, so every slice reads
    up to the same as-of bound and records the same ``snapshot``.
    """
    end = parts[0].window.end
    assert end is not None
    return ReadPlan(
        splits=tuple(Split(index=i, payload=part, covers=part.covers()) for i, part in enumerate(parts)),
        snapshot=snapshot, consistent=True, method="time slices", query=query,
        consistency=f"one state for the samples ingested when the read was planned: every slice reads up to the "
                    f"end pinned then ({ts.rfc3339(end)}); a sample arriving late inside the window (out of "
                    f"order or backfilled) while the splits run is read only if its slice runs after it arrives, "
                    f"and replay reports it as drift")
