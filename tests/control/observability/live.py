"""A live control plane (one media worker) with a call going on, for the /metrics and /readyz tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from relayroom.auth.usersig import gen_usersig
from relayroom.client import RelayRoomClient, RelayRoomError, SineAudioTrack, TestPatternVideoTrack
from relayroom.config import Settings
from relayroom.control.app import create_app
from relayroom.control.bootstrap import FirstStart
from tests.serving import served


@dataclass
class Live:
    app: FastAPI
    http: httpx.AsyncClient
    url: str
    first: FirstStart

    async def scrape(self) -> dict[str, list[tuple[dict[str, str], float]]]:
        """Sample name -> [(labels, value)] of every sample on /metrics."""
        r = await self.http.get("/metrics")
        assert r.status_code == 200
        out: dict[str, list[tuple[dict[str, str], float]]] = {}
        for family in text_string_to_metric_families(r.text):
            for s in family.samples:
                out.setdefault(s.name, []).append((dict(s.labels), s.value))
        return out


@contextlib.asynccontextmanager
async def live_call(tmp_path: Path) -> AsyncIterator[Live]:
    """A server with a two-member call (anchor publishing audio + video, a subscriber receiving both)
    and one refused entry (a UserSig signed with another key)."""
    first: list[FirstStart] = []
    settings = Settings(data_dir=tmp_path / "data", media={"workers": 1, "ports": [0], "loopback_only": True})
    app = create_app(settings, on_first_start=first.append)
    async with served(app) as port:
        fs = first[-1]
        url = f"ws://127.0.0.1:{port}/signal"
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http,
            RelayRoomClient(url) as anchor,
            RelayRoomClient(url) as viewer,
        ):
            await anchor.enter_room(
                sdk_app_id=fs.sdkappid,
                user_id="anchor",
                user_sig=gen_usersig(fs.sdkappid, fs.secret_key, "anchor"),
                room_id=77,
                scene="live",
                role="anchor",
            )
            await anchor.publish(audio_track=SineAudioTrack(440), video_track=TestPatternVideoTrack())
            await viewer.enter_room(
                sdk_app_id=fs.sdkappid,
                user_id="viewer",
                user_sig=gen_usersig(fs.sdkappid, fs.secret_key, "viewer"),
                room_id=77,
                scene="live",
                role="audience",
                auto_receive_video=True,
            )
            track = await viewer.wait_remote_track("anchor", "video", within=20)
            await track.wait_frames(5, within=20)
            async with RelayRoomClient(url) as mallory:
                with pytest.raises(RelayRoomError):
                    await mallory.enter_room(
                        sdk_app_id=fs.sdkappid,
                        user_id="mallory",
                        user_sig=gen_usersig(fs.sdkappid, "0" * 64, "m"),
                        room_id=77,
                    )
            yield Live(app, http, url, fs)
