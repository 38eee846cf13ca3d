"""Live rooms: merging the media layer's per-participant stats into members (no server needed)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from relayroom.control.live.ops import _media_stats, _with_quality
from relayroom.media.service import MediaService

MEMBER = {
    "participantId": "p-alice",
    "userId": "alice",
    "tracks": [
        {"producerId": "a1", "kind": "audio", "streamType": "main", "muted": False},
        {"producerId": "v1", "kind": "video", "streamType": "main", "muted": False},
    ],
    "subscribed": [],
}


def test_member_without_stats_keeps_its_shape_with_nulls() -> None:
    m = _with_quality(MEMBER, {})
    assert m["userId"] == "alice" and m["downlink"] is None
    audio, video = m["tracks"]
    assert audio == {**MEMBER["tracks"][0], "bitrate": None, "fractionLost": None}  # type: ignore[dict-item]
    assert video["width"] is None and video["frameRate"] is None and video["muted"] is False


def test_member_gets_uplink_per_track_and_worst_downlink() -> None:
    stats = {
        "p-alice": {
            "producers": {
                "v1": {
                    "kind": "video",
                    "bitrate": 500_000,
                    "fractionLost": 0.02,
                    "width": 640,
                    "height": 360,
                    "frameRate": 24.0,
                },
                "a1": {"kind": "audio", "bitrate": 40_000, "fractionLost": 0.0},
            },
            "consumers": {
                "c1": {"bitrate": 300_000, "fractionLost": 0.1, "rttMs": 40.0},
                "c2": {"bitrate": 30_000, "fractionLost": 0.0, "rttMs": 60.0},
                "c3": {"bitrate": 0, "fractionLost": None, "rttMs": None},
            },
        }
    }
    m = _with_quality(MEMBER, stats)
    audio, video = m["tracks"]
    assert audio["bitrate"] == 40_000 and "width" not in audio
    assert (video["width"], video["height"], video["frameRate"], video["fractionLost"]) == (
        640,
        360,
        24.0,
        0.02,
    )
    assert m["downlink"] == {"bitrate": 330_000, "fractionLost": 0.1, "rttMs": 50.0}


async def test_media_stats_tolerates_no_media_and_failures() -> None:
    assert await _media_stats(None, "r1") == {}

    async def boom(router_id: str) -> dict[str, Any]:
        raise RuntimeError("worker gone")

    assert await _media_stats(cast(MediaService, SimpleNamespace(stats=boom)), "r1") == {}

    async def ok(router_id: str) -> dict[str, Any]:
        return {"p": {"producers": {}, "consumers": {}}}

    found = await _media_stats(cast(MediaService, SimpleNamespace(stats=ok)), "r1")
    assert found == {"p": {"producers": {}, "consumers": {}}}
    assert await _media_stats(cast(MediaService, SimpleNamespace(stats=ok)), None) == {}
