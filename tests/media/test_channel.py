"""The control channel: request/response, errors by class name, notifications, close semantics."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from relayroom.media.channel import Channel, ChannelError, encode
from relayroom.media.types import InvalidStateError, UnsupportedError

pytestmark = pytest.mark.timeout(10)


async def _pair(handler: Any) -> tuple[Channel, Channel, list[tuple[str, str, dict[str, Any]]]]:
    a, b = socket.socketpair()
    notes: list[tuple[str, str, dict[str, Any]]] = []
    ra, wa = await asyncio.open_unix_connection(sock=a)
    rb, wb = await asyncio.open_unix_connection(sock=b)
    control = Channel(ra, wa, on_notification=lambda t, e, d: notes.append((t, e, d)))
    worker = Channel(rb, wb, on_request=handler)
    return control, worker, notes


@pytest.fixture
async def channels() -> AsyncIterator[
    tuple[Channel, Channel, list[tuple[str, str, dict[str, Any]]], asyncio.Event]
]:
    release = asyncio.Event()

    async def handler(method: str, handler_id: str | None, data: dict[str, Any]) -> dict[str, Any]:
        if method == "echo":
            return {"handlerId": handler_id, **data}
        if method == "bad":
            raise TypeError("bad argument")
        if method == "closed":
            raise InvalidStateError("router closed")
        if method == "unsupported":
            raise UnsupportedError("codec")
        if method == "boom":
            raise KeyError("x")
        if method == "hang":
            await release.wait()
        return {}

    control, worker, notes = await _pair(handler)
    yield control, worker, notes, release
    await control.close()
    await worker.close()


async def test_request_response_and_notification(channels: Any) -> None:
    control, worker, notes, _ = channels
    assert await control.request("echo", "r1", {"x": 1}) == {"handlerId": "r1", "x": 1}
    worker.notify("p1", "producerclose", {"reason": "closed"})
    async with asyncio.timeout(2):
        while not notes:
            await asyncio.sleep(0.01)
    assert notes == [("p1", "producerclose", {"reason": "closed"})]


@pytest.mark.parametrize(
    ("method", "exc"),
    [
        ("bad", TypeError),
        ("closed", InvalidStateError),
        ("unsupported", UnsupportedError),
        ("boom", ChannelError),
    ],
)
async def test_errors_are_re_raised_as_the_same_class(
    channels: Any, method: str, exc: type[Exception]
) -> None:
    control, _, _, _ = channels
    with pytest.raises(exc):
        await control.request(method)


async def test_pending_requests_fail_with_invalid_state_when_the_channel_closes(channels: Any) -> None:
    control, worker, _, _ = channels
    pending = asyncio.ensure_future(control.request("hang"))
    await asyncio.sleep(0.05)
    await worker.close()
    with pytest.raises(InvalidStateError):
        await pending
    with pytest.raises(InvalidStateError):
        await control.request("echo")
    await control.close()
    await control.close()


async def test_framing_is_length_prefixed_json() -> None:
    frame = encode({"id": 1, "accepted": True, "data": {}})
    assert int.from_bytes(frame[:4], "big") == len(frame) - 4
    assert frame[4:].startswith(b"{")


async def test_garbage_on_the_channel_closes_it_and_fails_pending() -> None:
    a, b = socket.socketpair()
    ra, wa = await asyncio.open_unix_connection(sock=a)
    control = Channel(ra, wa)
    pending = asyncio.ensure_future(control.request("never"))
    b.sendall(b"\x00\x00\x00\x05nope!")
    with pytest.raises(InvalidStateError):
        await pending
    assert control.closed
    await control.close()
    b.close()
