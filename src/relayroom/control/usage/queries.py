"""Reading usage buckets: time series for the console and DescribeTrtcUsage, per room/user for CSV."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from relayroom.control.usage.tiers import COLUMN, TIERS
from relayroom.storage.models import UsageBucket

STEP = {"5min": timedelta(minutes=5), "day": timedelta(days=1)}


@dataclass(frozen=True)
class Point:
    start: datetime
    seconds: tuple[float, ...]  # in TIERS order


@dataclass(frozen=True)
class Detail:
    start: datetime
    room_id: str
    str_room: bool
    user_id: str
    seconds: tuple[float, ...]


def _cols() -> list[Any]:
    return [func.coalesce(func.sum(getattr(UsageBucket, COLUMN[t])), 0.0) for t in TIERS]


def align(when: datetime, granularity: str) -> datetime:
    if granularity == "day":
        return when.replace(hour=0, minute=0, second=0, microsecond=0)
    return when.replace(minute=when.minute - when.minute % 5, second=0, microsecond=0)


@dataclass(frozen=True)
class RoomFilter:
    """A numeric RoomId and a StrRoomId are different rooms, even with the same characters."""

    room_id: str
    str_room: bool


def _room_clause(room: RoomFilter | None) -> list[Any]:
    if room is None:
        return []
    return [UsageBucket.room_id == room.room_id, UsageBucket.str_room == room.str_room]


async def series(
    session: AsyncSession,
    sdkappids: Sequence[int],
    start: datetime,
    end: datetime,
    granularity: str,
    room: RoomFilter | None = None,
) -> list[Point]:
    """Every bucket in [start, end) (zeros included), summed over the given applications (one room's
    buckets only when ``room`` is given)."""
    step = STEP[granularity]
    start = align(start, granularity)
    sums: dict[datetime, tuple[float, ...]] = {}
    if sdkappids:
        rows = await session.execute(
            select(UsageBucket.bucket_start, *_cols())
            .where(
                UsageBucket.sdkappid.in_(list(sdkappids)),
                UsageBucket.granularity == granularity,
                UsageBucket.bucket_start >= start,
                UsageBucket.bucket_start < end,
                *_room_clause(room),
            )
            .group_by(UsageBucket.bucket_start)
        )
        for r in rows:
            sums[r[0]] = tuple(float(x) for x in r[1:])
    out: list[Point] = []
    t = start
    zero = tuple(0.0 for _ in TIERS)
    while t < end:
        out.append(Point(t, sums.get(t, zero)))
        t += step
    return out


async def details(
    session: AsyncSession,
    sdkappid: int,
    start: datetime,
    end: datetime,
    granularity: str,
    room: RoomFilter | None = None,
) -> list[Detail]:
    rows = await session.execute(
        select(UsageBucket)
        .where(
            UsageBucket.sdkappid == sdkappid,
            UsageBucket.granularity == granularity,
            UsageBucket.bucket_start >= align(start, granularity),
            UsageBucket.bucket_start < end,
            *_room_clause(room),
        )
        .order_by(UsageBucket.bucket_start, UsageBucket.room_id, UsageBucket.user_id)
    )
    return [
        Detail(
            r.bucket_start,
            r.room_id,
            r.str_room,
            r.user_id,
            tuple(float(getattr(r, COLUMN[t]) or 0.0) for t in TIERS),
        )
        for r in rows.scalars()
    ]
