"""UsageMeter: seconds of audio and of video by tier per application, room and user.

What is counted (docs/decisions/0004-cloud-api-webhooks-usage.md): every ``tick_s`` the meter looks at
what each member is being sent — the producers in its subscription that are not paused and whose
consumers' packet counters moved since the last tick (the workers' own counters, from
``MediaService.dump()``). A member receiving any video is counted at the tier of the aggregate
resolution of the videos it receives (TRTC bills video by subscribed resolution, and only video when
both are received); a member receiving only audio is counted as audio; a member receiving nothing is
not counted. The size of a video is the producer's last key frame (``width``/``height`` in its dump);
video of unknown size (no key frame seen yet, or a codec whose size is not parsed) counts at
``default_video_tier``.

Seconds accumulate in memory per 5-minute bucket and are flushed (added) into the 5-minute and daily
rows every ``flush_s`` and on close; a crash loses at most ``flush_s`` of usage. The same tick records
quality samples for DescribeCallDetailInfo (docs/cloud-api.md): per publisher the uplink bitrate, loss,
jitter, frame rate and size of each track from the dump; per member (``MediaService.stats``) the RTT
and, per publisher it receives (PeerId), the downlink loss its receiver reports give.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from relayroom.control.cloudapi.history import CallHistory
from relayroom.control.context import ControlContext
from relayroom.control.usage.tiers import COLUMN, TIERS, Tier, tier_for_pixels, video_rank
from relayroom.storage.db import lock_id
from relayroom.storage.models import CallQualitySample, UsageBucket

log = logging.getLogger(__name__)

FIVE_MIN = 300
DAY = 86400


@dataclass(frozen=True)
class MeterParams:
    tick_s: float = 5.0
    flush_s: float = 30.0
    default_video_tier: Tier = Tier.SD
    quality_samples: bool = True


BucketKey = tuple[int, str, bool, str, int]  # sdkappid, room_id, str_room, user_id, 5-min bucket start
_BUCKET_COLUMNS = ("sdkappid", "granularity", "bucket_start", "room_id", "str_room", "user_id")  # unique
_FLUSH_LOCK = lock_id("usage.flush")


def _bucket_rows(acc: dict[BucketKey, list[float]]) -> list[dict[str, Any]]:
    """The 5-minute and daily rows to add, one per unique key (several 5-minute buckets fold into one
    day), in key order (every flush touches rows in the same order)."""
    rows: dict[tuple[Any, ...], list[float]] = {}
    for (sdkappid, room_id, str_room, user_id, b5), secs in acc.items():
        for gran, start in (("5min", b5), ("day", b5 // DAY * DAY)):
            cur = rows.setdefault((sdkappid, gran, start, room_id, str_room, user_id), [0.0] * len(TIERS))
            for i, x in enumerate(secs):
                cur[i] += x
    out = []
    for key in sorted(rows):
        sdkappid, gran, start, room_id, str_room, user_id = key
        row: dict[str, Any] = dict(
            sdkappid=sdkappid,
            granularity=gran,
            bucket_start=datetime.fromtimestamp(start, UTC),
            room_id=room_id,
            str_room=str_room,
            user_id=user_id,
        )
        row.update({COLUMN[t]: rows[key][i] for i, t in enumerate(TIERS)})
        out.append(row)
    return out


@dataclass(frozen=True)
class _Forwarded:
    packets: dict[str, int]  # producer id -> packets sent to all its consumers
    octets_in: dict[str, int]  # producer id -> octets received from the publisher
    producers: dict[str, dict[str, Any]]  # producer id -> its dump (width/height/fractionLost/... if known)


def _walk_dump(dump: dict[str, Any]) -> _Forwarded:
    packets: dict[str, int] = {}
    octets: dict[str, int] = {}
    producers: dict[str, dict[str, Any]] = {}
    for w in dump.get("workers", []):
        for r in w.get("routers", []) or []:
            for t in r.get("transports", []) or []:
                for c in t.get("consumers", []) or []:
                    pid = c.get("producerId")
                    if pid:
                        packets[pid] = packets.get(pid, 0) + int(c.get("packets", 0))
                for p in t.get("producers", []) or []:
                    if p.get("id"):
                        octets[p["id"]] = int(p.get("octets", 0))
                        producers[p["id"]] = p
    return _Forwarded(packets, octets, producers)


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


class UsageMeter:
    def __init__(
        self,
        ctx: ControlContext,
        rooms: Callable[[], Any],
        media: Callable[[], Any],
        history: CallHistory | None = None,
        params: MeterParams | None = None,
    ) -> None:
        self.ctx = ctx
        self._rooms = rooms
        self._media = media
        self._history = history
        self.params = params or MeterParams()
        self._acc: dict[BucketKey, list[float]] = {}
        self._samples: list[CallQualitySample] = []
        self._last: _Forwarded | None = None
        self._pixels = 0  # aggregate resolution of the member being looked at (tick scratch)
        self._task: asyncio.Task[None] | None = None
        self._flush_lock = asyncio.Lock()
        self.closed = False

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="usage-meter")

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        with contextlib.suppress(Exception):
            await self.flush()

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        last_flush = last
        while True:
            await asyncio.sleep(self.params.tick_s)
            now = loop.time()
            dt = min(now - last, 3 * self.params.tick_s)  # a stalled loop does not bill the stall
            last = now
            try:
                await self.tick(dt)
                if now - last_flush >= self.params.flush_s:
                    last_flush = now
                    await self.flush()
            except Exception:
                log.exception("usage meter tick failed")

    async def _forwarded(self) -> _Forwarded | None:
        media = self._media()
        dump = getattr(media, "dump", None)
        if dump is None:
            return None
        try:
            return _walk_dump(await dump())
        except Exception:
            log.warning("media statistics unavailable for metering")
            return None

    async def tick(self, dt: float) -> None:
        """Add ``dt`` seconds for what is being forwarded now."""
        rooms = self._rooms()
        if rooms is None or dt <= 0:
            return
        fwd = await self._forwarded()
        prev, self._last = self._last, fwd
        moved: Callable[[str], bool]
        if fwd is None:
            moved = lambda _pid: True  # noqa: E731 - no counters: trust the room state
        else:
            before = prev.packets if prev is not None else {}
            moved = lambda pid: fwd.packets.get(pid, 0) > before.get(pid, 0)  # noqa: E731
        wall = self.ctx.clock.time()
        bucket = int((wall - dt) // FIVE_MIN) * FIVE_MIN  # the bucket the interval started in
        for info in rooms.list_rooms():
            room = rooms.get_room(info["roomKey"])
            if room is None or room.closed:
                continue
            owners = {
                pid: (o, pub) for o in room.participants.values() for pid, pub in o.publications.items()
            }
            room_id = room.ref.public_id()
            for p in list(room.participants.values()):
                if p.closed:
                    continue
                audio = False
                video: Tier | None = None
                self._pixels = 0
                for pid in p.subscribed:
                    owner = owners.get(pid)
                    if owner is None or owner[1].muted or not moved(pid):
                        continue
                    if owner[1].kind == "video":
                        video = self._video_tier(video, pid, fwd)
                    else:
                        audio = True
                tier = video if video is not None else (Tier.AUDIO if audio else None)
                if tier is None:
                    continue
                key = (room.ref.sdkappid, str(room_id), isinstance(room_id, str), p.user_id, bucket)
                self._acc.setdefault(key, [0.0] * len(TIERS))[TIERS.index(tier)] += dt
            if self.params.quality_samples and fwd is not None and prev is not None:
                self._quality(room, owners, fwd, prev, dt, int(wall))
                await self._downlink_quality(room, owners, int(wall))

    def _video_tier(self, current: Tier | None, producer_id: str, fwd: _Forwarded | None) -> Tier:
        """TRTC bills the aggregate resolution of the videos a member receives. Frame sizes come from
        the producer's dump (``width``/``height``) when the media layer reports them; a video of
        unknown size counts at ``default_video_tier``."""
        pd = fwd.producers.get(producer_id, {}) if fwd is not None else {}
        width, height = pd.get("width"), pd.get("height")
        if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
            pixels = width * height
            self._pixels += pixels
            tier = tier_for_pixels(self._pixels)
        else:
            tier = self.params.default_video_tier
        if current is None:
            return tier
        return max(current, tier, key=video_rank)

    def _quality(
        self, room: Any, owners: dict[str, Any], fwd: _Forwarded, prev: _Forwarded, dt: float, ts: int
    ) -> None:
        call_id = self._history.call_id_for(room.key) if self._history else None
        if call_id is None:
            return
        for pid, (owner, pub) in owners.items():
            if pid not in fwd.octets_in or pid not in prev.octets_in:
                continue
            kbps = max(0, fwd.octets_in[pid] - prev.octets_in[pid]) * 8 / dt / 1000
            points = [
                ("aBit" if pub.kind == "audio" else ("bigvBit" if pub.source == "main" else "subvBit"), kbps)
            ]
            # The producer's receive statistics (docs/channel.md): loss 0..1 of the last RTCP interval,
            # jitter in ms; for main video also frame rate and the size of the last key frame.
            pd = fwd.producers.get(pid, {})
            if pub.kind == "audio" or pub.source == "main":
                prefix = "a" if pub.kind == "audio" else "bigv"
                if _number(pd.get("fractionLost")):
                    points.append((f"{prefix}Loss", pd["fractionLost"] * 100))
                if _number(pd.get("jitterMs")):
                    points.append((f"{prefix}Jitter", float(pd["jitterMs"])))
            if pub.kind == "video" and pub.source == "main":
                for key, name in (
                    ("width", "bigvWidth"),
                    ("height", "bigvHeight"),
                    ("frameRate", "bigvEncFps"),
                ):
                    if _number(pd.get(key)):
                        points.append((name, float(pd[key])))
            for name, value in points:
                self._sample(call_id, room, owner.user_id, "", name, ts, value)

    def _sample(
        self, call_id: int, room: Any, user_id: str, peer_id: str, name: str, ts: int, value: float
    ) -> None:
        self._samples.append(
            CallQualitySample(
                call_id=call_id,
                sdkappid=room.ref.sdkappid,
                user_id=user_id,
                peer_id=peer_id,
                data_type=name,
                ts=ts,
                value=round(value, 1),
            )
        )

    async def _downlink_quality(self, room: Any, owners: dict[str, Any], ts: int) -> None:
        """Per member: ``rtt`` (mean over the tracks it receives, PeerId "") and the loss its receiver
        reports give per publisher (``aLoss``/``bigvLoss`` with PeerId = that publisher)."""
        call_id = self._history.call_id_for(room.key) if self._history else None
        stats_fn = getattr(self._media(), "stats", None)
        router_id = getattr(room, "router_id", None)
        if call_id is None or stats_fn is None or not isinstance(router_id, str):
            return
        try:
            stats = await stats_fn(router_id)
        except Exception:
            log.debug("media quality statistics unavailable", exc_info=True)
            return
        for p in list(room.participants.values()):
            mine = stats.get(p.participant_id) if isinstance(stats, dict) else None
            if not isinstance(mine, dict):
                continue
            rtts: list[float] = []
            for c in (mine.get("consumers") or {}).values():
                if _number(c.get("rttMs")):
                    rtts.append(float(c["rttMs"]))
                owner = owners.get(c.get("producerId"))
                if owner is None or not _number(c.get("fractionLost")):
                    continue
                publisher, pub = owner
                if pub.kind == "audio" or pub.source == "main":
                    name = "aLoss" if pub.kind == "audio" else "bigvLoss"
                    self._sample(
                        call_id, room, p.user_id, publisher.user_id, name, ts, c["fractionLost"] * 100
                    )
            if rtts:
                self._sample(call_id, room, p.user_id, "", "rtt", ts, sum(rtts) / len(rtts))

    def _upsert(self) -> Any:
        """INSERT ... ON CONFLICT DO UPDATE adding the seconds: atomic on the row, whichever node (or
        flush) wrote it first; no read-then-write."""
        table = UsageBucket.__table__
        stmt = self.ctx.db.insert(table)
        return stmt.on_conflict_do_update(
            index_elements=list(_BUCKET_COLUMNS),
            set_={COLUMN[t]: table.c[COLUMN[t]] + stmt.excluded[COLUMN[t]] for t in TIERS},
        )

    def add(
        self, sdkappid: int, room_id: int | str, user_id: str, tier: Tier, seconds: float, at: float
    ) -> None:
        """Add usage directly (tests, imports)."""
        bucket = int(at // FIVE_MIN) * FIVE_MIN
        key = (sdkappid, str(room_id), isinstance(room_id, str), user_id, bucket)
        self._acc.setdefault(key, [0.0] * len(TIERS))[TIERS.index(tier)] += seconds

    async def flush(self) -> None:
        async with self._flush_lock:
            acc, self._acc = self._acc, {}
            samples, self._samples = self._samples, []
            if not acc and not samples:
                return
            try:
                async with self.ctx.db.write() as s:
                    rows = _bucket_rows(acc)
                    if rows:
                        if self.ctx.db.dialect == "postgresql":
                            # Nodes flush one at a time (upserts of shared daily rows never deadlock).
                            await s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _FLUSH_LOCK})
                        await s.execute(self._upsert(), rows)
                    s.add_all(samples)
            except Exception:
                # Keep the seconds for the next flush rather than losing them.
                for k, v in acc.items():
                    cur = self._acc.setdefault(k, [0.0] * len(TIERS))
                    for i, x in enumerate(v):
                        cur[i] += x
                raise
