"""Connection failures, the same on every store reached over the network or through a secret.

A store's loader describes a read of a server that is down, one of a server
that accepts connections and never answers, and (``secret`` trait) a URI
carrying a secret; the assertions below are the same for all of them.
"""

from __future__ import annotations

import pytest

import unistore
from stores import free_port


@pytest.mark.needs("server")
def test_a_server_that_is_down_is_unavailable(loader):
    attempt = loader.unreachable(free_port())
    with pytest.raises(unistore.SourceUnavailableError) as info:
        attempt.read()
    assert not isinstance(info.value, unistore.AuthenticationError)
    if attempt.secret:
        assert attempt.secret not in str(info.value)


@pytest.mark.needs("timeout")
def test_a_server_that_never_answers_times_out(loader, silent_server):
    attempt = loader.silent(silent_server)
    with pytest.raises(unistore.SourceUnavailableError, match=attempt.match) as info:
        attempt.read()
    if attempt.secret:
        assert attempt.secret not in str(info.value)


@pytest.mark.needs("secret")
def test_a_wrong_secret_is_an_authentication_error_that_shows_neither_secret(case):
    wrong = case.secret_uri.replace(case.secret, "wrong-" + case.secret)
    with pytest.raises(unistore.AuthenticationError) as info:
        unistore.read(wrong, case.table, **case.options)
    assert case.secret not in str(info.value) and "wrong-" not in str(info.value)
