"""The service graph (control/container.py): built once, the same way for the server, CLI and tests,
with the cluster seams replaceable through ContainerParams."""

from __future__ import annotations

from pathlib import Path

from relayroom.config import Settings
from relayroom.control.cloudapi.ratelimit import InMemoryRateLimiter
from relayroom.control.cloudapi.replay import InMemoryReplayCache
from relayroom.control.container import ContainerParams, build_container
from relayroom.control.privacy.live import NoLiveRooms
from relayroom.control.rooms.live_control import RoomsLiveControl
from relayroom.control.rooms.registry import LocalPresence, LocalRoomRegistry


def _settings(tmp_path: Path, media: bool) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        media=({"workers": 1, "ports": [0], "loopback_only": True} if media else {"enabled": False}),
    )


async def test_each_service_is_built_once_and_shared(tmp_path: Path) -> None:
    c = build_container(_settings(tmp_path, media=True))
    try:
        s = c.services
        assert s.apps.oplog is s.oplog and s.consent.oplog is s.oplog and c.webhooks.oplog is s.oplog
        assert s.requests.consent is s.consent and s.requests.retention is s.retention
        assert c.rooms is not None and c.media is not None
        assert isinstance(s.consent.live, RoomsLiveControl)  # given at build, not set afterwards
        assert c.rooms._entry._consent is s.consent.gate  # the gate room entry asks is the service's
    finally:
        await c.close()


async def test_the_cli_graph_has_no_rooms_and_params_replace_the_seams(tmp_path: Path) -> None:
    cache, limiter = InMemoryReplayCache(), InMemoryRateLimiter()
    registry, presence = LocalRoomRegistry(), LocalPresence()
    c = build_container(
        _settings(tmp_path, media=True),
        ContainerParams(
            serve=False, replay_cache=cache, rate_limiter=limiter, room_registry=registry, presence=presence
        ),
    )
    try:
        await c.open_database()
        assert c.rooms is None and c.media is None and isinstance(c.services.consent.live, NoLiveRooms)
        assert c.replay_cache is cache and c.rate_limiter is limiter
    finally:
        await c.close()
    served = build_container(
        _settings(tmp_path, media=True), ContainerParams(room_registry=registry, presence=presence)
    )
    try:
        assert served.rooms is not None
        assert served.rooms._registry is registry and served.rooms._presence is presence
    finally:
        await served.close()
