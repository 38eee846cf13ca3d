"""Usage metering: a scripted call with known durations and tracks, buckets, restart, purge."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from relayroom.auth.usersig import gen_usersig
from relayroom.clock import FrozenClock
from relayroom.config import Settings
from relayroom.control.rooms.entry import AppEntryInfo
from relayroom.control.rooms.manager import EnterParams, RoomManager
from relayroom.control.usage.meter import UsageMeter
from relayroom.control.usage.privacy import CustomerDataProvider
from relayroom.control.usage.tiers import Tier, tier_for_pixels
from tests.control.helpers import Running, running
from tests.control.rooms.fakes import FakeDirectory, FakeMedia, RecordingSink, make_manager

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
TICK = 5.0


def _settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", media={"enabled": False})


def _manager(rt: Running, media: FakeMedia | None = None) -> RoomManager:
    directory = FakeDirectory(AppEntryInfo(rt.first.sdkappid, "enabled", "local", (rt.first.secret_key,)))
    manager, _m, _c = make_manager(media=media, directory=directory)
    return manager


def _enter(rt: Running, user: str, **kw: Any) -> EnterParams:
    sig = gen_usersig(rt.first.sdkappid, rt.first.secret_key, user, 86400)  # the manager checks wall time
    return EnterParams(sdkappid=rt.first.sdkappid, user_id=user, user_sig=sig, room_id=1234, **kw)


async def _run(meter: UsageMeter, clock: FrozenClock, minutes: float) -> None:
    for _ in range(int(minutes * 60 / TICK)):
        clock.advance(timedelta(seconds=TICK))
        await meter.tick(TICK)


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_tiers_follow_trtc_resolution_bounds() -> None:
    assert tier_for_pixels(640 * 480) is Tier.SD
    assert tier_for_pixels(640 * 480 + 1) is Tier.HD
    assert tier_for_pixels(1280 * 720) is Tier.HD
    assert tier_for_pixels(1920 * 1080) is Tier.FHD
    assert tier_for_pixels(2560 * 1440) is Tier.K2
    assert tier_for_pixels(3840 * 2160) is Tier.K4


async def test_scripted_call_minutes_match_and_survive_a_restart_and_purge(settings: Settings) -> None:
    # SQLite and PostgreSQL (the `settings` fixture's backends)
    clock = FrozenClock(T0)
    async with running(settings, clock=clock) as rt:
        admin = await rt.admin()
        manager = _manager(rt)
        meter = UsageMeter(rt.services.ctx, rooms=lambda: manager, media=lambda: None)
        alice = await manager.enter(_enter(rt, "alice"), RecordingSink())
        bob = await manager.enter(_enter(rt, "bob", auto_receive_video=True), RecordingSink())
        await manager.publish(alice, "audio video", [])
        await manager.publish(bob, "audio", [])
        await _settle()
        # 10 min: bob receives alice's audio + video (video: billed as video, default tier SD),
        # alice receives bob's audio (audio)
        await _run(meter, clock, 10)
        # 5 min: alice's video is muted, bob receives audio only
        await manager.mute(alice, "video", True)
        await _run(meter, clock, 5)
        # 5 min: bob has left; alice receives nothing and is not counted
        await manager.exit(bob)
        await _settle()
        await _run(meter, clock, 5)
        await manager.close()
        await meter.flush()
        sdkappid = rt.first.sdkappid

        r = await rt.client.get(
            f"/api/v1/applications/{sdkappid}/usage",
            headers=admin,
            params={
                "granularity": "5min",
                "start": T0.isoformat(),
                "end": (T0 + timedelta(minutes=30)).isoformat(),
            },
        )
        assert r.status_code == 200, r.text
        points = [(p["minutes"]["Audio"], p["minutes"]["SD"]) for p in r.json()["points"]]
        # buckets 12:00, 12:05 (both members), 12:10 (alice + bob audio), 12:15 (nobody), 12:20, 12:25
        assert points == [(5.0, 5.0), (5.0, 5.0), (10.0, 0.0), (0.0, 0.0), (0.0, 0.0), (0.0, 0.0)]
        assert r.json()["totals"]["Audio"] == 20.0 and r.json()["totals"]["SD"] == 10.0

        r = await rt.client.get(
            f"/api/v1/applications/{sdkappid}/usage",
            headers=admin,
            params={"granularity": "day", "start": "2026-11-01T00:00:00Z", "end": "2026-11-02T00:00:00Z"},
        )
        assert [p["minutes"] for p in r.json()["points"]] == [
            {"Audio": 20.0, "SD": 10.0, "HD": 0.0, "FHD": 0.0, "2K": 0.0, "4K": 0.0}
        ]

        r = await rt.client.get(
            f"/api/v1/applications/{sdkappid}/usage/export",
            headers=admin,
            params={"granularity": "day", "start": "2026-11-01T00:00:00Z", "end": "2026-11-02T00:00:00Z"},
        )
        assert r.headers["content-type"].startswith("text/csv")
        rows = {row["user_id"]: row for row in csv.DictReader(io.StringIO(r.text))}
        assert rows["alice"]["Audio_minutes"] == "15.000" and rows["alice"]["SD_minutes"] == "0.000"
        assert rows["bob"]["Audio_minutes"] == "5.000" and rows["bob"]["SD_minutes"] == "10.000"
        assert rows["bob"]["room_id"] == "1234"

        bad = await rt.client.get(
            f"/api/v1/applications/{sdkappid}/usage",
            headers=admin,
            params={"granularity": "5min", "start": "2026-11-01T00:00:00Z", "end": "2026-11-03T00:00:00Z"},
        )
        assert bad.status_code == 422
        first = rt.first

    # restart against the same data dir: the usage is still there
    async with running(settings, clock=clock, first=first) as rt2:
        token = await rt2.admin()
        r = await rt2.client.get(
            f"/api/v1/applications/{sdkappid}/usage",
            headers=token,
            params={"granularity": "day", "start": "2026-11-01T00:00:00Z", "end": "2026-11-02T00:00:00Z"},
        )
        assert r.json()["totals"]["Audio"] == 20.0 and r.json()["totals"]["SD"] == 10.0

        # data-subject request and purge reach usage records
        provider = CustomerDataProvider()
        async with rt2.services.ctx.db.write() as s:
            exported = await provider.export_subject(s, sdkappid, "bob")
            assert sum(u["seconds"]["sd"] for u in exported["usage"]) == 600.0
            # bob: three 5-minute rows and one daily row
            assert (await provider.delete_subject(s, sdkappid, "bob"))["usage_buckets"] == 4
        async with rt2.services.ctx.db.write() as s:
            assert (await provider.export_subject(s, sdkappid, "bob"))["usage"] == []
            assert (await provider.purge_apps(s, [sdkappid]))["usage_buckets"] > 0
            assert (await provider.export_subject(s, sdkappid, "alice"))["usage"] == []


class CountingMedia(FakeMedia):
    """A FakeMedia with the workers' dump(): consumers' packet counters the test moves, and producer
    fields (width/height) the media layer may report."""

    def __init__(self) -> None:
        super().__init__()
        self.packets: dict[str, int] = {}
        self.producer_fields: dict[str, dict[str, Any]] = {}

    async def dump(self) -> dict[str, Any]:
        consumers = [{"producerId": pid, "packets": n} for pid, n in self.packets.items()]
        producers = [{"id": pid, "octets": 0, **f} for pid, f in self.producer_fields.items()]
        return {
            "workers": [{"routers": [{"transports": [{"consumers": consumers, "producers": producers}]}]}]
        }


async def test_only_what_the_workers_actually_forward_is_counted(tmp_path: Path) -> None:
    clock = FrozenClock(T0)
    async with running(_settings(tmp_path), clock=clock) as rt:
        media = CountingMedia()
        manager = _manager(rt, media)
        meter = UsageMeter(rt.services.ctx, rooms=lambda: manager, media=lambda: media)
        alice = await manager.enter(_enter(rt, "alice"), RecordingSink())
        await manager.enter(_enter(rt, "bob", auto_receive_video=True), RecordingSink())
        result = await manager.publish(alice, "audio video", [])
        await _settle()
        audio_id, video_id = (p.producer_id for p in result.producers)
        await meter.tick(TICK)  # first look at the counters: nothing is known to move yet
        for _ in range(12):  # 1 minute: only audio packets are forwarded (video stalled)
            media.packets[audio_id] = media.packets.get(audio_id, 0) + 250
            media.packets.setdefault(video_id, 0)
            clock.advance(timedelta(seconds=TICK))
            await meter.tick(TICK)
        for _ in range(12):  # 1 minute: nothing moves at all (e.g. the publisher lost its network)
            clock.advance(timedelta(seconds=TICK))
            await meter.tick(TICK)
        await manager.close()
        await meter.flush()
        async with rt.services.ctx.db.read() as s:
            from relayroom.control.usage import queries

            pts = await queries.series(s, [rt.first.sdkappid], T0, T0 + timedelta(days=1), "day")
        audio, sd = pts[0].seconds[0], pts[0].seconds[1]
        assert (audio, sd) == (60.0, 0.0)


async def test_video_tier_follows_the_aggregate_received_resolution_when_known(tmp_path: Path) -> None:
    clock = FrozenClock(T0)
    async with running(_settings(tmp_path), clock=clock) as rt:
        media = CountingMedia()
        manager = _manager(rt, media)
        meter = UsageMeter(rt.services.ctx, rooms=lambda: manager, media=lambda: media)
        carol = await manager.enter(_enter(rt, "carol", auto_receive_video=True), RecordingSink())
        alice = await manager.enter(_enter(rt, "alice"), RecordingSink())
        bob = await manager.enter(_enter(rt, "bob"), RecordingSink())
        (va,) = (await manager.publish(alice, "video", [])).producers
        (vb,) = (await manager.publish(bob, "video", [])).producers
        await _settle()
        media.producer_fields[va.producer_id] = {"width": 1280, "height": 720}
        await meter.tick(TICK)
        for n in range(1, 13):  # 1 minute: carol receives one 720p video (HD) ...
            media.packets[va.producer_id] = n
            clock.advance(timedelta(seconds=TICK))
            await meter.tick(TICK)
        media.producer_fields[vb.producer_id] = {"width": 1280, "height": 720}
        for n in range(13, 25):  # ... then two (aggregate 2 x 720p: FHD)
            media.packets[va.producer_id] = n
            media.packets[vb.producer_id] = n
            clock.advance(timedelta(seconds=TICK))
            await meter.tick(TICK)
        await manager.close()
        await meter.flush()
        async with rt.services.ctx.db.read() as s:
            from relayroom.control.usage import queries

            rows = await queries.details(s, rt.first.sdkappid, T0, T0 + timedelta(days=1), "day")
        carol_row = next(r for r in rows if r.user_id == "carol")
        assert carol_row.seconds == (0.0, 0.0, 60.0, 60.0, 0.0, 0.0)  # audio, SD, HD, FHD, 2K, 4K
        assert carol is not None


async def test_usage_can_be_read_per_room_numeric_and_string_rooms_apart(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", media={"enabled": False})
    clock = FrozenClock(T0)
    async with running(settings, clock=clock) as rt:
        admin = await rt.admin()
        sdk = rt.first.sdkappid
        meter = UsageMeter(rt.services.ctx, rooms=lambda: None, media=lambda: None)
        at = T0.timestamp()
        meter.add(sdk, 7, "alice", Tier.AUDIO, 120, at)
        meter.add(sdk, "7", "bob", Tier.AUDIO, 60, at)  # a string room "7" is another room
        meter.add(sdk, 8, "carol", Tier.AUDIO, 30, at)
        await meter.flush()
        span = {"granularity": "day", "start": T0.isoformat(), "end": (T0 + timedelta(days=1)).isoformat()}

        async def audio(**room: str | int) -> float:
            r = await rt.client.get(
                f"/api/v1/applications/{sdk}/usage", headers=admin, params={**span, **room}
            )
            assert r.status_code == 200, r.text
            return float(r.json()["totals"]["Audio"])

        assert await audio() == 3.5
        assert await audio(room_id=7) == 2.0
        assert await audio(str_room_id="7") == 1.0
        assert await audio(room_id=8) == 0.5
        r = await rt.client.get(
            f"/api/v1/applications/{sdk}/usage",
            headers=admin,
            params={**span, "room_id": 7, "str_room_id": "7"},
        )
        assert r.status_code == 422 and "not both" in r.json()["error"]["message"]
        csv_text = (
            await rt.client.get(
                f"/api/v1/applications/{sdk}/usage/export", headers=admin, params={**span, "room_id": 7}
            )
        ).text
        assert "alice" in csv_text and "bob" not in csv_text and "carol" not in csv_text


class StatsMedia(CountingMedia):
    """CountingMedia plus ``stats(router_id)``: per participant the consumers' RR-derived numbers."""

    def __init__(self) -> None:
        super().__init__()
        self.octets: dict[str, int] = {}
        self.participant_stats: dict[str, dict[str, Any]] = {}

    async def dump(self) -> dict[str, Any]:
        d = await super().dump()
        for p in d["workers"][0]["routers"][0]["transports"][0]["producers"]:
            p["octets"] = self.octets.get(p["id"], 0)
        return d

    async def stats(self, router_id: str) -> dict[str, dict[str, Any]]:
        return self.participant_stats


class OneCall:
    def call_id_for(self, room_key: str) -> int | None:
        return 77


async def test_quality_samples_take_the_media_statistics(tmp_path: Path) -> None:
    clock = FrozenClock(T0)
    async with running(_settings(tmp_path), clock=clock) as rt:
        media = StatsMedia()
        manager = _manager(rt, media)
        meter = UsageMeter(
            rt.services.ctx,
            rooms=lambda: manager,
            media=lambda: media,
            history=OneCall(),  # type: ignore[arg-type]  # the one method the meter calls
        )
        alice = await manager.enter(_enter(rt, "alice"), RecordingSink())
        bob = await manager.enter(_enter(rt, "bob", auto_receive_video=True), RecordingSink())
        audio, video = (await manager.publish(alice, "audio video", [])).producers
        await _settle()
        media.producer_fields[audio.producer_id] = {"fractionLost": 0.0, "jitterMs": 2.5}
        media.producer_fields[video.producer_id] = {
            "fractionLost": 0.125,
            "jitterMs": 4.0,
            "width": 640,
            "height": 360,
            "frameRate": 15.0,
        }
        media.participant_stats = {
            bob.participant_id: {
                "producers": {},
                "consumers": {
                    "c1": {"producerId": video.producer_id, "fractionLost": 0.25, "rttMs": 30.0},
                    "c2": {"producerId": audio.producer_id, "fractionLost": None, "rttMs": 50.0},
                },
            }
        }
        await meter.tick(TICK)
        media.octets = {audio.producer_id: 25_000, video.producer_id: 250_000}
        clock.advance(timedelta(seconds=TICK))
        await meter.tick(TICK)
        got = {
            (s.user_id, s.peer_id, s.data_type): s.value for s in meter._samples if s.ts == int(clock.time())
        }
        assert got[("alice", "", "aBit")] == 40.0 and got[("alice", "", "bigvBit")] == 400.0
        assert got[("alice", "", "aLoss")] == 0.0 and got[("alice", "", "bigvLoss")] == 12.5
        assert got[("alice", "", "aJitter")] == 2.5 and got[("alice", "", "bigvJitter")] == 4.0
        assert got[("alice", "", "bigvWidth")] == 640.0 and got[("alice", "", "bigvHeight")] == 360.0
        assert got[("alice", "", "bigvEncFps")] == 15.0
        assert got[("bob", "", "rtt")] == 40.0  # mean over the tracks bob receives
        assert got[("bob", "alice", "bigvLoss")] == 25.0  # downlink: PeerId is the publisher
        assert ("bob", "alice", "aLoss") not in got  # no receiver report yet
        assert all(s.call_id == 77 for s in meter._samples)
        await manager.close()
