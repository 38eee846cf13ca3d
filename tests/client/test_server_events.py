"""audio-volume and network-quality events from the server (the SFU's RFC 6464 levels and its own
measurements), received by the Python SDK."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from relayroom.client import ClientEvent, RelayRoomClient, SineAudioTrack
from tests.control.rooms.fakes import SDKAPPID, usersig
from tests.control.signaling.server import RunningServer

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]


@contextlib.asynccontextmanager
async def member(
    server: RunningServer, user: str, sink: dict[str, list[dict[str, Any]]]
) -> AsyncIterator[RelayRoomClient]:
    c = RelayRoomClient(server.url)
    events = sink.setdefault(user, [])

    def keep(ev: ClientEvent) -> None:
        events.append({"name": ev.name, **ev.data})

    c.on("audio-volume", keep)
    c.on("network-quality", keep)
    try:
        await c.enter_room(sdk_app_id=SDKAPPID, user_id=user, user_sig=usersig(user), room_id=91)
        yield c
    finally:
        await c.close()


async def test_every_member_hears_who_is_loudest_and_gets_its_network_quality(server: RunningServer) -> None:
    seen: dict[str, list[dict[str, Any]]] = {}
    async with (
        member(server, "loud", seen) as loud,
        member(server, "mid", seen) as mid,
        member(server, "soft", seen) as soft,
        member(server, "ear", seen),
    ):
        await loud.publish(audio_track=SineAudioTrack(440, amplitude=16000))
        await mid.publish(audio_track=SineAudioTrack(550, amplitude=2000))
        await soft.publish(audio_track=SineAudioTrack(660, amplitude=250))

        def settled(user: str) -> bool:
            volumes = [e for e in seen[user] if e["name"] == "audio-volume" and len(e["result"]) == 3]
            return len(volumes) >= 5

        for _ in range(200):
            if all(settled(u) for u in ("loud", "mid", "soft", "ear")):
                break
            await asyncio.sleep(0.1)
        for user in ("loud", "mid", "soft", "ear"):
            volumes = [e for e in seen[user] if e["name"] == "audio-volume" and len(e["result"]) == 3]
            assert len(volumes) >= 5, (user, seen[user][-3:])
            for ev in volumes[-3:]:
                order = [r["userId"] for r in ev["result"]]
                assert order == ["loud", "mid", "soft"], ev
                assert ev["result"][0]["volume"] > ev["result"][1]["volume"] > ev["result"][2]["volume"], ev
                assert ev["dominantSpeaker"] == "loud"

        def graded(user: str, field: str) -> bool:
            events = [e for e in seen[user] if e["name"] == "network-quality"]
            return bool(events) and events[-1][field] > 0

        for _ in range(150):  # a grade needs the first receiver reports: 0 (unknown) until then
            if graded("loud", "uplinkNetworkQuality") and graded("ear", "downlinkNetworkQuality"):
                break
            await asyncio.sleep(0.1)
        quality = [e for e in seen["loud"] if e["name"] == "network-quality"]
        assert quality and quality[-1]["uplinkNetworkQuality"] in (1, 2), quality[-3:]
        heard = [e for e in seen["ear"] if e["name"] == "network-quality"]
        assert heard and heard[-1]["downlinkNetworkQuality"] in (1, 2, 3), heard[-3:]
