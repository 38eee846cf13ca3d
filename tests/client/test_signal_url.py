"""The signalling URL the Python client derives from a cluster redirect's public URL."""

from __future__ import annotations

import pytest

from relayroom.client import RelayRoomError
from relayroom.client.client import signal_url


def test_a_public_url_becomes_its_signalling_socket() -> None:
    assert signal_url("http://127.0.0.1:8082") == "ws://127.0.0.1:8082/signal"
    assert signal_url("https://rtc.example.com/eu/") == "wss://rtc.example.com/eu/signal"
    assert signal_url("wss://n2.example.com/signal") == "wss://n2.example.com/signal"


@pytest.mark.parametrize("bad", ["ftp://h", "127.0.0.1:8082", "http://", ""])
def test_a_redirect_to_anything_else_is_refused(bad: str) -> None:
    with pytest.raises(RelayRoomError) as err:
        signal_url(bad)
    assert err.value.code == 5000
