"""What the Mastodon bot's requests may do when an instance is hostile or broken: Mastodon.py
through client.py against the local test server, which sends too much, redirects, trickles
its answer, announces a rate-limit reset far ahead, or sits on a private address."""
import time

import pytest

from bots import TryLater
import guarded
from bots.mastodon import client
from mastodon_server import MastodonServer


@pytest.fixture
def server():
    with MastodonServer() as server:
        yield server


def api(server, timeout=2.0):
    return client.api(server.url, timeout, server.add_account("tf_city").token, private=True)


def test_an_answer_larger_than_a_mebibyte_is_not_read(server):
    calls = api(server)
    server.huge_next(1)
    with pytest.raises(ConnectionError):
        client.call(calls, "notifications", types=["mention"])
    assert client.call(calls, "notifications", types=["mention"]) == []  # and then it works


def test_a_redirect_is_not_followed(server):
    with MastodonServer() as elsewhere:
        server.redirect_next(1, location=f"{elsewhere.url}/api/v1/notifications")
        with pytest.raises((client.Refused, TryLater, ConnectionError)):
            client.call(api(server), "notifications", types=["mention"])
        assert elsewhere.requests_log == []


def test_an_answer_trickled_a_byte_at_a_time_is_cut_at_twice_the_timeout(server):
    server.trickle_next(1, seconds=30)
    began = time.monotonic()
    with pytest.raises(ConnectionError, match="did not answer"):
        client.call(api(server, timeout=1.0), "notifications", types=["mention"])
    # not the 30 s the server would take: about 2 × 1 s (generous: a shared machine)
    assert time.monotonic() - began < 10


def test_a_rate_limit_reset_a_day_ahead_is_not_believed(server):
    server.rate_limit_next(1, reset_in=86400)
    with pytest.raises(TryLater) as caught:
        client.call(api(server), "notifications", types=["mention"])
    assert caught.value.delay == client.MAX_WAIT


def test_a_rate_limit_reset_soon_is_waited_for(server):
    server.rate_limit_next(1, reset_in=30)
    with pytest.raises(TryLater) as caught:
        client.call(api(server), "notifications", types=["mention"])
    assert 20 < caught.value.delay <= 31


def test_an_instance_on_a_private_address_is_refused_on_the_connection_itself(server):
    """A name checked as public for the form may resolve elsewhere later (DNS rebinding): the
    address the connection reached is what counts."""
    session = guarded.CappedSession(server.url, public_only=True, what="the instance")
    with pytest.raises(OSError, match="not public"):
        session.get(f"{server.url}/api/v1/instance", timeout=2)
    assert server.requests_log == []
    allowed = guarded.CappedSession(server.url, public_only=False, what="the instance")
    assert allowed.get(f"{server.url}/api/v1/instance", timeout=2).status_code == 200
