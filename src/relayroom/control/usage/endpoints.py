"""Console API: an application's usage (minutes of audio and of video by tier), as JSON or CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel

from relayroom.control.deps import PrincipalDep, ReadSession, SdkAppIdPath, ServicesDep
from relayroom.control.errors import InvalidInput
from relayroom.control.usage import queries
from relayroom.control.usage.tiers import TIERS, USAGE_KEY

router = APIRouter(prefix="/api/v1", tags=["usage"])

Granularity = Literal["5min", "day"]
MAX_SPAN = {"5min": timedelta(days=1), "day": timedelta(days=31)}


class UsagePoint(BaseModel):
    start: datetime
    minutes: dict[str, float]


class UsageOut(BaseModel):
    sdkappid: int
    granularity: Granularity
    start: datetime
    end: datetime
    keys: list[str]
    points: list[UsagePoint]
    totals: dict[str, float]


_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _range(
    granularity: str, start: datetime | None, end: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    if end is None:
        end = now
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    # bucket arithmetic near year 1 or 9999 overflows datetime; no usage exists outside these anyway
    if not _EARLIEST < end < _LATEST or (start is not None and not _EARLIEST <= start.replace(tzinfo=UTC)):
        raise InvalidInput("start and end must lie between 1970 and 9000")
    if start is None:
        start = end - (timedelta(days=1) if granularity == "5min" else timedelta(days=7))
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    if end <= start:
        raise InvalidInput("end must be after start")
    if end - start > MAX_SPAN[granularity]:
        raise InvalidInput(f"at most {MAX_SPAN[granularity].days} day(s) per request at {granularity}")
    return start, end


def _room(room_id: int | None, str_room_id: str | None) -> queries.RoomFilter | None:
    if room_id is not None and str_room_id is not None:
        raise InvalidInput("give room_id or str_room_id, not both")
    if room_id is not None:
        return queries.RoomFilter(str(room_id), False)
    if str_room_id is not None:
        return queries.RoomFilter(str_room_id, True)
    return None


@router.get("/applications/{sdkappid}/usage", response_model=UsageOut)
async def get_usage(
    sdkappid: SdkAppIdPath,
    principal: PrincipalDep,
    services: ServicesDep,
    session: ReadSession,
    granularity: Granularity = "day",
    start: Annotated[
        datetime | None, Query(description="UTC, ISO 8601; default: 1 day (5min) or 7 days back")
    ] = None,
    end: Annotated[datetime | None, Query(description="UTC, ISO 8601, exclusive; default: now")] = None,
    room_id: Annotated[int | None, Query(ge=1, le=4294967294, description="only this numeric room")] = None,
    str_room_id: Annotated[
        str | None, Query(min_length=1, max_length=64, description="only this string room")
    ] = None,
) -> UsageOut:
    """Minutes per bucket (UTC) of audio and of video by subscribed-resolution tier."""
    await services.apps.get(session, principal, sdkappid)
    s, e = _range(granularity, start, end, services.ctx.clock.now())
    points = await queries.series(session, [sdkappid], s, e, granularity, _room(room_id, str_room_id))
    keys = [USAGE_KEY[t] for t in TIERS]
    totals = [sum(p.seconds[i] for p in points) / 60 for i in range(len(TIERS))]
    return UsageOut(
        sdkappid=sdkappid,
        granularity=granularity,
        start=s,
        end=e,
        keys=keys,
        points=[
            UsagePoint(
                start=p.start, minutes={k: round(v / 60, 3) for k, v in zip(keys, p.seconds, strict=True)}
            )
            for p in points
        ],
        totals={k: round(v, 3) for k, v in zip(keys, totals, strict=True)},
    )


@router.get("/applications/{sdkappid}/usage/export", response_class=Response)
async def export_usage(
    sdkappid: SdkAppIdPath,
    principal: PrincipalDep,
    services: ServicesDep,
    session: ReadSession,
    granularity: Granularity = "day",
    start: datetime | None = None,
    end: datetime | None = None,
    room_id: Annotated[int | None, Query(ge=1, le=4294967294, description="only this numeric room")] = None,
    str_room_id: Annotated[
        str | None, Query(min_length=1, max_length=64, description="only this string room")
    ] = None,
) -> Response:
    """CSV, one line per bucket, room and user, with the minutes of each tier."""
    await services.apps.get(session, principal, sdkappid)
    s, e = _range(granularity, start, end, services.ctx.clock.now())
    rows = await queries.details(session, sdkappid, s, e, granularity, _room(room_id, str_room_id))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        [
            "bucket_start",
            "sdkappid",
            "room_id",
            "str_room",
            "user_id",
            *(f"{USAGE_KEY[t]}_minutes" for t in TIERS),
        ]
    )
    for r in rows:
        w.writerow(
            [
                r.start.isoformat(),
                sdkappid,
                r.room_id,
                int(r.str_room),
                r.user_id,
                *(f"{x / 60:.3f}" for x in r.seconds),
            ]
        )
    return Response(
        buf.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="usage-{sdkappid}-{granularity}.csv"'},
    )
