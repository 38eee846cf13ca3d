"""The TRTC server API actions, one function each: (ActionContext, Params) -> response fields.

Field names and types follow the official SDK's ``trtc/v20190722/models.py`` (spec §2.5).
Room management acts on live rooms through RoomOps (control/live/ops.py): this node's, or in a cluster
the owner node's over the command bus; monitoring and usage actions read the call history,
quality samples and usage buckets written by cloudapi/history.py and usage/meter.py.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select

from relayroom.cluster.bus import CommandFailed
from relayroom.cluster.redis import ClusterUnavailable
from relayroom.control.cloudapi import errors as E
from relayroom.control.cloudapi.errors import CloudApiError
from relayroom.control.cloudapi.params import Params
from relayroom.control.live.ops import NO_ROOM, NO_USER, Acting, RoomOpRefused, RoomOps
from relayroom.control.principal import Principal
from relayroom.control.rooms.errors import RoomError
from relayroom.control.rooms.ids import ROOM_ID_MAX, ROOM_ID_MIN, validate_room
from relayroom.control.services import Services
from relayroom.control.usage import queries
from relayroom.control.usage.tiers import TIERS, USAGE_KEY
from relayroom.storage.models import (
    Application,
    AppStatus,
    CallQualitySample,
    CallRoom,
    CallUser,
    CallUserEvent,
)

DAY = 86400
_NUMBER = re.compile(r"[0-9]{1,18}")
MAX_USER_IDS_REMOVE = 10
# Uplink series from the workers' counters; loss and frame size once the media layer reports them.
# TRTC names, plus RelayRoom's rtt / aJitter / bigvJitter (docs/cloud-api.md "quality metrics")
QUALITY_METRICS = (
    "aBit",
    "bigvBit",
    "subvBit",
    "aLoss",
    "bigvLoss",
    "bigvWidth",
    "bigvHeight",
    "bigvEncFps",
    "rtt",
    "aJitter",
    "bigvJitter",
)


@dataclass
class ActionContext:
    services: Services
    ops: RoomOps | None  # live rooms (here, or at their owner in a cluster), history and usage flushes
    account_id: str
    now: float  # unix seconds
    actor: Principal | None = None  # the credential, as the operation log names it


Action = Callable[[ActionContext, Params], Awaitable[dict[str, Any]]]


# ------------------------------------------------------------------------------ helpers


async def _app(ctx: ActionContext, sdkappid: int) -> Application:
    async with ctx.services.ctx.db.read() as s:
        app = await s.get(Application, sdkappid)
    if app is None or app.account_id != ctx.account_id or app.status is AppStatus.TERMINATED:
        raise CloudApiError(E.UNAUTHORIZED_SDKAPPID, f"No permission for SdkAppId {sdkappid}.")
    return app


async def _sdkappid(ctx: ActionContext, p: Params, name: str = "SdkAppId") -> int:
    sdkappid = p.int_(name, lo=1, hi=0xFFFFFFFF)
    await _app(ctx, sdkappid)
    return sdkappid


def _room_key(sdkappid: int, room: int | str) -> str:
    try:
        if isinstance(room, int):
            return validate_room(sdkappid, room, None).key
        return validate_room(sdkappid, None, room).key
    except RoomError as exc:
        raise E.invalid("RoomId", exc.message) from None


def _num_room(p: Params) -> int:
    return p.int_("RoomId", lo=ROOM_ID_MIN, hi=ROOM_ID_MAX)


def _time_range(
    ctx: ActionContext, p: Params, max_span_s: int, *, max_age_days: int = 14, strict: bool = False
) -> tuple[int, int]:
    start = p.int_("StartTime", lo=0)
    end = p.int_("EndTime", lo=0)
    if start < ctx.now - max_age_days * DAY:
        raise CloudApiError(E.START_TIME_EXPIRE, f"StartTime must be within the last {max_age_days} days.")
    if start > ctx.now + 60:
        raise CloudApiError(E.START_TIME_OVERSIZE, "StartTime is in the future.")
    if end < start:
        raise CloudApiError(E.OUT_OF_RANGE, "EndTime must not be before StartTime.")
    if end - start > max_span_s or (strict and end - start >= max_span_s):
        raise CloudApiError(
            E.QUERY_SCALE_OVERSIZE,
            f"The query range must be {'under' if strict else 'at most'} {max_span_s} s.",
        )
    return start, end


def _page(p: Params, default_size: int, max_size: int = 100) -> tuple[int, int]:
    number = p.opt_int("PageNumber", 0, lo=0)
    if p.has("PageSize"):
        size = p.int_("PageSize")
        if not 1 <= size <= max_size:
            raise CloudApiError(E.PAGE_SIZE_OVERSIZE, f"PageSize must be 1..{max_size}.")
    else:
        size = default_size
    return number, size


async def _fresh(ctx: ActionContext) -> None:
    """Make what happened up to now visible (history queue, unflushed usage/quality samples), on every
    node of a cluster: a room's history and usage are written by the node that hosts it."""
    if ctx.ops is not None:
        with _cluster_errors():
            await ctx.ops.flush()


@contextlib.contextmanager
def _cluster_errors() -> Iterator[None]:
    """A node (or the shared state) that cannot be reached now: a retryable error, never a hang."""
    try:
        yield
    except ClusterUnavailable as exc:
        raise CloudApiError(E.RESOURCE_UNAVAILABLE, f"{exc} (retry in a few seconds)") from None
    except CommandFailed as exc:
        raise CloudApiError(E.INTERNAL_ERROR, "The node that hosts the room could not do this.") from exc


async def _call(ctx: ActionContext, sdkappid: int, comm_id: str) -> CallRoom | None:
    head, _, rest = comm_id.partition("_")
    room_id, _, created = rest.rpartition("_")
    # ASCII digits only (str.isdigit admits "²", which int() refuses), and small enough for the database
    if not _NUMBER.fullmatch(head) or not _NUMBER.fullmatch(created) or not room_id:
        raise E.invalid("CommId", "must be <SdkAppId>_<RoomId>_<CreateTime>")
    if int(head) != sdkappid:
        raise E.invalid("CommId", "belongs to another SdkAppId")
    async with ctx.services.ctx.db.read() as s:
        row = await s.execute(
            select(CallRoom).where(
                CallRoom.sdkappid == sdkappid, CallRoom.room_id == room_id, CallRoom.create_ts == int(created)
            )
        )
        return row.scalars().first()


def _user_info(call: CallRoom, u: CallUser, now: float) -> dict[str, Any]:
    return {
        "RoomStr": call.room_id,
        "UserId": u.user_id,
        "JoinTs": u.join_ts,
        "LeaveTs": u.leave_ts if u.leave_ts is not None else int(now),
        # reported by the client at entry; the address as privacy.store_full_client_ip allows (/24, /48)
        "DeviceType": u.device_type,
        "SdkVersion": u.sdk_version,
        "ClientIp": u.client_ip,
        "Finished": u.leave_ts is not None,
    }


async def _stays(
    ctx: ActionContext, call: CallRoom, start: int, end: int, user_ids: list[str]
) -> list[CallUser]:
    q = select(CallUser).where(
        CallUser.call_id == call.id,
        CallUser.join_ts <= end,
        or_(CallUser.leave_ts.is_(None), CallUser.leave_ts >= start),
    )
    if user_ids:
        q = q.where(CallUser.user_id.in_(user_ids))
    async with ctx.services.ctx.db.read() as s:
        return list((await s.execute(q.order_by(CallUser.join_ts, CallUser.id))).scalars())


# ------------------------------------------------------------------------------ room management


def _acting(ctx: ActionContext, action: str, detail: str = "") -> Acting:
    actor = ctx.actor.actor if ctx.actor is not None else "system"
    return Acting(ctx.account_id, actor, f"cloud API {action}{detail}", "cloud-api")


def _require_rooms(ctx: ActionContext) -> RoomOps:
    """The rooms this node can reach: its own, and in a cluster every node's (through their owners)."""
    if ctx.ops is None or (ctx.ops.local.rooms is None and not ctx.ops.clustered):
        raise CloudApiError(E.ROOM_NOT_EXIST, "The room does not exist (media is disabled on this node).")
    return ctx.ops


async def _dismiss(ctx: ActionContext, key: str, action: str) -> dict[str, Any]:
    ops = _require_rooms(ctx)
    with _cluster_errors():
        done = await ops.dismiss(key, _acting(ctx, action))
    if not done:
        raise CloudApiError(E.ROOM_NOT_EXIST, "The room does not exist.")
    return {}


async def dismiss_room(ctx: ActionContext, p: Params) -> dict[str, Any]:
    sdkappid = await _sdkappid(ctx, p)
    return await _dismiss(ctx, _room_key(sdkappid, _num_room(p)), "DismissRoom")


async def dismiss_room_by_str_room_id(ctx: ActionContext, p: Params) -> dict[str, Any]:
    sdkappid = await _sdkappid(ctx, p)
    key = _room_key(sdkappid, p.str_("RoomId", max_len=64))
    return await _dismiss(ctx, key, "DismissRoomByStrRoomId")


async def _remove(ctx: ActionContext, key: str, user_ids: list[str], action: str) -> dict[str, Any]:
    ops = _require_rooms(ctx)
    with _cluster_errors():
        removed = await ops.remove_users(key, user_ids, _acting(ctx, action))
    if removed is None:
        raise CloudApiError(E.ROOM_NOT_EXIST, "The room does not exist.")
    return {}


async def remove_user(ctx: ActionContext, p: Params) -> dict[str, Any]:
    sdkappid = await _sdkappid(ctx, p)
    key = _room_key(sdkappid, _num_room(p))
    users = p.str_list("UserIds", max_items=MAX_USER_IDS_REMOVE)
    return await _remove(ctx, key, users, "RemoveUser")


async def remove_user_by_str_room_id(ctx: ActionContext, p: Params) -> dict[str, Any]:
    sdkappid = await _sdkappid(ctx, p)
    key = _room_key(sdkappid, p.str_("RoomId", max_len=64))
    users = p.str_list("UserIds", max_items=MAX_USER_IDS_REMOVE)
    return await _remove(ctx, key, users, "RemoveUserByStrRoomId")


async def _set_blocked(
    ctx: ActionContext, key: str, user_id: str, is_mute: int, action: str
) -> dict[str, Any]:
    """IsMute: 0 enable audio and video, 1 disable both, 2 disable audio, 3 disable video."""
    ops = _require_rooms(ctx)
    try:
        # the room manager also refuses the user's own unmute while blocked
        with _cluster_errors():
            result = await ops.set_media_blocked(
                key,
                user_id,
                audio=is_mute in (1, 2),
                video=is_mute in (1, 3),
                acting=_acting(ctx, action, f" IsMute={is_mute}"),
            )
    except RoomOpRefused as exc:
        raise CloudApiError(E.INTERNAL_ERROR, f"could not change the user's media: {exc}") from None
    if result == NO_ROOM:
        raise CloudApiError(E.ROOM_NOT_EXIST, "The room does not exist.")
    if result == NO_USER:
        raise E.invalid("UserId", "the user is not in the room")
    return {}


async def set_user_blocked(ctx: ActionContext, p: Params) -> dict[str, Any]:
    sdkappid = await _sdkappid(ctx, p)
    key = _room_key(sdkappid, _num_room(p))
    user_id = p.str_("UserId", max_len=32)
    return await _set_blocked(ctx, key, user_id, p.int_("IsMute", lo=0, hi=3), "SetUserBlocked")


async def set_user_blocked_by_str_room_id(ctx: ActionContext, p: Params) -> dict[str, Any]:
    sdkappid = await _sdkappid(ctx, p)
    key = _room_key(sdkappid, p.str_("StrRoomId", max_len=64))
    user_id = p.str_("UserId", max_len=32)
    is_mute = p.int_("IsMute", lo=0, hi=3)
    return await _set_blocked(ctx, key, user_id, is_mute, "SetUserBlockedByStrRoomId")


# ------------------------------------------------------------------------------ call quality


async def describe_room_info(ctx: ActionContext, p: Params) -> dict[str, Any]:
    sdkappid = await _sdkappid(ctx, p)
    start, end = _time_range(ctx, p, DAY)
    number, size = _page(p, 10)
    room = p.opt_str("RoomId")
    await _fresh(ctx)
    where = [
        CallRoom.sdkappid == sdkappid,
        CallRoom.create_ts <= end,
        or_(CallRoom.destroy_ts.is_(None), CallRoom.destroy_ts >= start),
    ]
    if room is not None:
        where.append(CallRoom.room_id == room)
    async with ctx.services.ctx.db.read() as s:
        total = (await s.execute(select(func.count()).select_from(CallRoom).where(*where))).scalar_one()
        rows = (
            await s.execute(
                select(CallRoom)
                .where(*where)
                .order_by(CallRoom.create_ts, CallRoom.id)
                .offset(number * size)
                .limit(size)
            )
        ).scalars()
        out = [
            {
                "CommId": r.comm_id,
                "RoomString": r.room_id,
                "CreateTime": r.create_ts,
                "DestroyTime": r.destroy_ts or 0,
                "IsFinished": r.destroy_ts is not None,
                "UserId": r.creator,
            }
            for r in rows
        ]
    return {"Total": int(total), "RoomList": out}


async def describe_user_info(ctx: ActionContext, p: Params) -> dict[str, Any]:
    sdkappid = await _sdkappid(ctx, p)
    comm_id = p.str_("CommId")
    start, end = _time_range(ctx, p, 4 * 3600)
    user_ids = p.str_list("UserIds", max_items=100, required=False)
    number, size = _page(p, 6)
    await _fresh(ctx)
    call = await _call(ctx, sdkappid, comm_id)
    if call is None:
        return {"Total": 0, "UserList": []}
    stays = await _stays(ctx, call, start, end, user_ids)
    page = stays[number * size : (number + 1) * size]
    return {"Total": len(stays), "UserList": [_user_info(call, u, ctx.now) for u in page]}


async def describe_call_detail_info(ctx: ActionContext, p: Params) -> dict[str, Any]:
    sdkappid = await _sdkappid(ctx, p)
    comm_id = p.str_("CommId")
    start, end = _time_range(ctx, p, 3600, strict=True)
    data_types = p.str_list("DataType", required=False)
    limit = 6 if data_types else 100
    user_ids = p.str_list("UserIds", required=False)
    if len(user_ids) > limit:
        raise CloudApiError(E.USER_IDS_MORE_THAN_SIX, f"At most {limit} UserIds with this DataType.")
    number, size = _page(p, 6 if data_types else 100, limit)
    await _fresh(ctx)
    call = await _call(ctx, sdkappid, comm_id)
    if call is None:
        return {"Total": 0, "UserList": [], "Data": []}
    stays = await _stays(ctx, call, start, end, user_ids)
    page = stays[number * size : (number + 1) * size]
    metrics: list[str] = []
    if data_types:
        metrics = (
            list(QUALITY_METRICS) if "all" in data_types else [d for d in data_types if d in QUALITY_METRICS]
        )
    data: list[dict[str, Any]] = []
    users = sorted({u.user_id for u in page})
    if metrics and users:
        async with ctx.services.ctx.db.read() as s:
            rows = (
                await s.execute(
                    select(CallQualitySample)
                    .where(
                        CallQualitySample.call_id == call.id,
                        CallQualitySample.user_id.in_(users),
                        CallQualitySample.data_type.in_(metrics),
                        CallQualitySample.ts >= start,
                        CallQualitySample.ts <= end,
                    )
                    .order_by(CallQualitySample.ts, CallQualitySample.id)
                )
            ).scalars()
            series: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
            for r in rows:
                series.setdefault((r.user_id, r.peer_id, r.data_type), []).append(
                    {"Time": r.ts, "Value": r.value}
                )
        # every metric's uplink series (PeerId ""), then downlink series per remote user where recorded
        for user in users:
            for metric in metrics:
                peers = sorted(peer for (u, peer, m) in series if u == user and m == metric and peer)
                for peer in ["", *peers]:
                    data.append(
                        {
                            "Content": series.get((user, peer, metric), []),
                            "UserId": user,
                            "PeerId": peer,
                            "DataType": metric,
                        }
                    )
    return {"Total": len(stays), "UserList": [_user_info(call, u, ctx.now) for u in page], "Data": data}


async def describe_user_event(ctx: ActionContext, p: Params) -> dict[str, Any]:
    sdkappid = await _sdkappid(ctx, p)
    comm_id = p.str_("CommId")
    start, end = _time_range(ctx, p, 4 * 3600)
    user_id = p.str_("UserId", max_len=32)
    p.str_("RoomId")
    await _fresh(ctx)
    call = await _call(ctx, sdkappid, comm_id)
    if call is None:
        return {"Data": []}
    async with ctx.services.ctx.db.read() as s:
        rows = (
            await s.execute(
                select(CallUserEvent)
                .where(
                    CallUserEvent.call_id == call.id,
                    CallUserEvent.user_id == user_id,
                    CallUserEvent.ts_ms >= start * 1000,
                    CallUserEvent.ts_ms <= end * 1000 + 999,
                )
                .order_by(CallUserEvent.ts_ms, CallUserEvent.id)
            )
        ).scalars()
        content = [
            {
                "Type": e.type,
                "Time": e.ts_ms,
                "EventId": e.event_id,
                "ParamOne": e.param_one,
                "ParamTwo": e.param_two,
            }
            for e in rows
        ]
    return {"Data": [{"Content": content, "PeerId": user_id}] if content else []}


async def describe_scale_info(ctx: ActionContext, p: Params) -> dict[str, Any]:
    sdkappid = await _sdkappid(ctx, p)
    start, end = _time_range(ctx, p, 30 * DAY)
    await _fresh(ctx)
    out = []
    day = start // DAY * DAY
    async with ctx.services.ctx.db.read() as s:
        while day <= end:
            nxt = day + DAY
            joins = and_(CallUser.sdkappid == sdkappid, CallUser.join_ts >= day, CallUser.join_ts < nxt)
            count, distinct = (
                await s.execute(
                    select(func.count(), func.count(func.distinct(CallUser.user_id))).where(joins)
                )
            ).one()
            rooms = (
                await s.execute(
                    select(func.count())
                    .select_from(CallRoom)
                    .where(
                        CallRoom.sdkappid == sdkappid,
                        CallRoom.create_ts < nxt,
                        or_(CallRoom.destroy_ts.is_(None), CallRoom.destroy_ts >= day),
                    )
                )
            ).scalar_one()
            out.append(
                {"Time": day, "UserNumber": int(distinct), "UserCount": int(count), "RoomNumbers": int(rooms)}
            )
            day = nxt
    return {"Total": len(out), "ScaleList": out}


# Abnormal experiences RelayRoom can see today: a member dropped after the idle timeout.
EXPERIENCE_ABNORMAL_EXIT = 1


async def describe_unusual_event(ctx: ActionContext, p: Params) -> dict[str, Any]:
    sdkappid = await _sdkappid(ctx, p)
    start, end = _time_range(ctx, p, 3600)
    room = p.opt_str("RoomId")
    await _fresh(ctx)
    q = (
        select(CallUserEvent, CallRoom)
        .join(CallRoom, CallRoom.id == CallUserEvent.call_id)
        .where(
            CallUserEvent.sdkappid == sdkappid,
            CallUserEvent.event_id == 104,
            CallUserEvent.param_one == 2,
            CallUserEvent.ts_ms >= start * 1000,
            CallUserEvent.ts_ms <= end * 1000 + 999,
        )
    )
    if room is not None:
        q = q.where(CallRoom.room_id == room)
    async with ctx.services.ctx.db.read() as s:
        rows = (await s.execute(q.order_by(CallUserEvent.ts_ms).limit(20))).all()
    items = [
        {
            "UserId": e.user_id,
            "ExperienceId": EXPERIENCE_ABNORMAL_EXIT,
            "RoomId": r.room_id,
            "AbnormalEventList": [{"AbnormalEventId": EXPERIENCE_ABNORMAL_EXIT, "PeerId": ""}],
            "EventTime": e.ts_ms,
        }
        for e, r in rows
    ]
    return {"Total": len(items), "AbnormalExperienceList": items}


# ------------------------------------------------------------------------------ usage


_FORMATS = {"%Y-%m-%d": "YYYY-MM-DD", "%Y-%m-%d %H:%M": "YYYY-MM-DD HH:MM"}


def _date(p: Params, name: str, fmt: str) -> datetime:
    raw = p.str_(name)
    try:
        return datetime.strptime(raw, fmt).replace(tzinfo=UTC)
    except ValueError:
        raise E.invalid(name, f"must be formatted as {_FORMATS[fmt]}") from None


async def describe_trtc_usage(ctx: ActionContext, p: Params) -> dict[str, Any]:
    start = _date(p, "StartTime", "%Y-%m-%d")
    end = _date(p, "EndTime", "%Y-%m-%d")
    if end < start:
        raise CloudApiError(E.OUT_OF_RANGE, "EndTime must not be before StartTime.")
    if end - start > timedelta(days=30):
        raise CloudApiError(E.QUERY_SCALE_OVERSIZE, "At most 31 days per query.")
    if p.has("SdkAppId"):
        apps = [await _sdkappid(ctx, p)]
    else:
        async with ctx.services.ctx.db.read() as s:
            apps = list(
                (
                    await s.execute(
                        select(Application.sdkappid).where(
                            Application.account_id == ctx.account_id,
                            Application.status != AppStatus.TERMINATED,
                        )
                    )
                ).scalars()
            )
    granularity = "5min" if end == start else "day"
    await _fresh(ctx)
    async with ctx.services.ctx.db.read() as s:
        points = await queries.series(s, apps, start, end + timedelta(days=1), granularity)
    return {
        "UsageKey": [USAGE_KEY[t] for t in TIERS],
        "UsageList": [
            {
                "TimeKey": pt.start.strftime("%Y-%m-%d %H:%M:%S"),
                "TimeStampKey": int(pt.start.timestamp()),
                "UsageValue": [round(x / 60, 3) for x in pt.seconds],
            }
            for pt in points
        ],
    }


async def describe_trtc_room_usage(ctx: ActionContext, p: Params) -> dict[str, Any]:
    sdkappid = await _sdkappid(ctx, p, "SdkAppid")  # sic: the SDK spells it with a lower-case "id"
    start = _date(p, "StartTime", "%Y-%m-%d %H:%M")
    end = _date(p, "EndTime", "%Y-%m-%d %H:%M")
    if end <= start:
        raise CloudApiError(E.OUT_OF_RANGE, "EndTime must be after StartTime.")
    if end - start > timedelta(days=1):
        raise CloudApiError(E.QUERY_SCALE_OVERSIZE, "At most 24 hours per query.")
    await _fresh(ctx)
    async with ctx.services.ctx.db.read() as s:
        rows = await queries.details(s, sdkappid, start, end, "5min")
    totals: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        acc = totals.setdefault((r.room_id, r.user_id), [0.0] * len(TIERS))
        for i, x in enumerate(r.seconds):
            acc[i] += x
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["SdkAppId", "RoomId", "UserId", *(f"{USAGE_KEY[t]}Duration" for t in TIERS)])
    for (room_id, user_id), secs in sorted(totals.items()):
        w.writerow([sdkappid, room_id, user_id, *(round(x) for x in secs)])
    return {"Data": buf.getvalue()}


@dataclass(frozen=True)
class ActionSpec:
    fn: Action
    rate_class: str  # key of RATE_LIMITS
    # The parameters the action defines (the SDK's <Action>Request model): any other is refused with
    # UnknownParameter, as Tencent's API does, so one action's signed body is no valid body of another.
    params: frozenset[str]
    # Changes state (rooms, members): a signed request is taken once (replay.py); reads may repeat.
    changes_state: bool


def _spec(fn: Action, rate_class: str, params: str, *, changes_state: bool = False) -> ActionSpec:
    return ActionSpec(fn, rate_class, frozenset(params.split()), changes_state)


_TIME_RANGE = "SdkAppId StartTime EndTime"
ACTIONS: dict[str, ActionSpec] = {
    "DismissRoom": _spec(dismiss_room, "room", "SdkAppId RoomId", changes_state=True),
    "DismissRoomByStrRoomId": _spec(
        dismiss_room_by_str_room_id, "room", "SdkAppId RoomId", changes_state=True
    ),
    "RemoveUser": _spec(remove_user, "room", "SdkAppId RoomId UserIds", changes_state=True),
    "RemoveUserByStrRoomId": _spec(
        remove_user_by_str_room_id, "room", "SdkAppId RoomId UserIds", changes_state=True
    ),
    "SetUserBlocked": _spec(set_user_blocked, "room", "SdkAppId RoomId UserId IsMute", changes_state=True),
    "SetUserBlockedByStrRoomId": _spec(
        set_user_blocked_by_str_room_id, "room", "SdkAppId StrRoomId UserId IsMute", changes_state=True
    ),
    "DescribeRoomInfo": _spec(describe_room_info, "quality", f"{_TIME_RANGE} RoomId PageNumber PageSize"),
    "DescribeUserInfo": _spec(
        describe_user_info, "quality", f"{_TIME_RANGE} CommId UserIds PageNumber PageSize"
    ),
    "DescribeUserEvent": _spec(describe_user_event, "quality", f"{_TIME_RANGE} CommId RoomId UserId"),
    "DescribeCallDetailInfo": _spec(
        describe_call_detail_info, "quality", f"{_TIME_RANGE} CommId UserIds DataType PageNumber PageSize"
    ),
    "DescribeScaleInfo": _spec(describe_scale_info, "quality", _TIME_RANGE),
    "DescribeUnusualEvent": _spec(describe_unusual_event, "quality", f"{_TIME_RANGE} RoomId"),
    "DescribeTrtcUsage": _spec(describe_trtc_usage, "usage", _TIME_RANGE),
    "DescribeTrtcRoomUsage": _spec(describe_trtc_room_usage, "usage", "SdkAppid StartTime EndTime"),
}
RATE_LIMITS = {"room": 20, "quality": 20, "usage": 5}
