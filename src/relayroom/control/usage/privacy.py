"""SubjectDataProvider for the data this issue adds: usage buckets, call history, callback outbox.

All of it is per application and end user (UserId): a purge of an application removes it, and a
data-subject request exports or deletes one UserId's rows. Register with
``services.retention.subject_data_providers.append(CustomerDataProvider())``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from relayroom.storage.models import (
    CallQualitySample,
    CallRoom,
    CallUser,
    CallUserEvent,
    UsageBucket,
    WebhookDelivery,
)

_PER_USER: tuple[tuple[str, Any], ...] = (
    ("usage_buckets", UsageBucket),
    ("call_users", CallUser),
    ("call_user_events", CallUserEvent),
    ("call_quality_samples", CallQualitySample),
    ("webhook_deliveries", WebhookDelivery),
)


class CustomerDataProvider:
    async def purge_apps(self, session: AsyncSession, sdkappids: list[int]) -> dict[str, int]:
        out: dict[str, int] = {}
        if not sdkappids:
            return out
        for name, model in (*_PER_USER, ("call_rooms", CallRoom)):
            n = (
                await session.execute(
                    select(func.count()).select_from(model).where(model.sdkappid.in_(sdkappids))
                )
            ).scalar_one()
            await session.execute(delete(model).where(model.sdkappid.in_(sdkappids)))
            out[name] = int(n)
        return out

    async def export_subject(self, session: AsyncSession, sdkappid: int, userid: str) -> dict[str, Any]:
        usage = await session.execute(
            select(UsageBucket).where(
                UsageBucket.sdkappid == sdkappid,
                UsageBucket.user_id == userid,
                UsageBucket.granularity == "5min",
            )
        )
        stays = await session.execute(
            select(CallUser, CallRoom)
            .join(CallRoom, CallRoom.id == CallUser.call_id)
            .where(CallUser.sdkappid == sdkappid, CallUser.user_id == userid)
        )
        events = await session.execute(
            select(CallUserEvent).where(CallUserEvent.sdkappid == sdkappid, CallUserEvent.user_id == userid)
        )
        return {
            "usage": [
                {
                    "bucket_start": u.bucket_start.isoformat(),
                    "room_id": u.room_id,
                    "seconds": {
                        "audio": u.audio_s,
                        "sd": u.sd_s,
                        "hd": u.hd_s,
                        "fhd": u.fhd_s,
                        "2k": u.k2_s,
                        "4k": u.k4_s,
                    },
                }
                for u in usage.scalars()
            ],
            "room_stays": [
                {
                    "room_id": r.room_id,
                    "join_ts": u.join_ts,
                    "leave_ts": u.leave_ts,
                    "role": u.role,
                    "device_type": u.device_type,
                    "sdk_version": u.sdk_version,
                    "client_ip": u.client_ip,
                }
                for u, r in stays.all()
            ],
            "events": [
                {"ts_ms": e.ts_ms, "event_id": e.event_id, "param_one": e.param_one} for e in events.scalars()
            ],
        }

    async def delete_subject(self, session: AsyncSession, sdkappid: int, userid: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for name, model in _PER_USER:
            where = (model.sdkappid == sdkappid, model.user_id == userid)
            n = (await session.execute(select(func.count()).select_from(model).where(*where))).scalar_one()
            await session.execute(delete(model).where(*where))
            out[name] = int(n)
        await session.execute(
            update(CallRoom)
            .where(CallRoom.sdkappid == sdkappid, CallRoom.creator == userid)
            .values(creator="")
        )
        return out
