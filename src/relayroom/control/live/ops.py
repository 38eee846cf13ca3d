"""Operations on live rooms from any node: the cloud API's room actions and the console's live rooms.

:class:`LocalRoomOps` acts on this node's rooms (RoomManager, recorded by ModerationService) and builds
the console's view of them (members, tracks and their live quality, node and worker). :class:`RoomOps`
is what the endpoints use: on a single node it is the local one; in a cluster (``routing`` given) an
operation on a room this node does not hold goes to the room's owner over the command bus
(cluster/commands.py), and the questions about every room of an application (the live-rooms page) or
about what is still queued for the shared database (call history, usage) go to every live node.

The owner records a moderation action in the operation log itself (the same database), with the
caller's actor, account, reason and path; the caller checked the caller's rights before sending.
A room whose owner cannot be reached fails with :class:`~relayroom.cluster.redis.ClusterUnavailable`
(retryable), which the cloud API answers with ``ResourceUnavailable`` and the console with 503.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from relayroom.cluster.bus import CommandBus, CommandFailed
from relayroom.cluster.commands import ClusterRouting, nodes_from_registry, owner_from_leases
from relayroom.cluster.leases import RoomLeases
from relayroom.cluster.redis import ClusterUnavailable
from relayroom.cluster.registry import NodeRegistry
from relayroom.control.cloudapi.history import CallHistory
from relayroom.control.principal import Principal
from relayroom.control.rooms.errors import RoomError
from relayroom.control.rooms.manager import RoomManager
from relayroom.control.rooms.moderation import ModerationService, Via
from relayroom.control.usage.meter import UsageMeter
from relayroom.media.service import MediaService

log = logging.getLogger(__name__)

# Command names on the bus (cluster/bus.py); arguments and answers are JSON.
DISMISS = "rooms.dismiss"
REMOVE_USERS = "rooms.remove_users"
MEDIA_BLOCK = "rooms.media_block"
LIVE_ROOMS = "rooms.live"
KICK_BLOCKED = "users.kick_blocked"
FLUSH = "history.flush"

NO_ROOM = "no_room"
NO_USER = "no_user"
OK = "ok"


class RoomOpRefused(Exception):
    """The room refused the change (e.g. a member's media cannot be changed now)."""


@dataclass(frozen=True)
class Acting:
    """Who acts, for whom and why: what the operation log records, on whichever node acts."""

    account_id: str
    actor: str  # Principal.actor: "user:<id>", "credential:<SecretId>"
    reason: str | None
    via: Via

    @property
    def principal(self) -> Principal:
        return Principal(actor=self.actor)

    @classmethod
    def from_args(cls, args: dict[str, Any]) -> Acting:
        via = args.get("via")
        reason = args.get("reason")
        return cls(
            account_id=str(args.get("account_id") or ""),
            actor=str(args.get("actor") or "system"),
            reason=reason if isinstance(reason, str) else None,
            via=via if via in ("console", "cloud-api", "cli") else "console",
        )


def sdkappid_of(room_key: str) -> int | None:
    head = room_key.split(":", 1)[0]
    return int(head) if head.isdigit() else None


class LocalRoomOps:
    """This node's rooms."""

    def __init__(
        self,
        rooms: RoomManager | None,
        moderation: ModerationService,
        media: MediaService | None = None,
        history: CallHistory | None = None,
        meter: UsageMeter | None = None,
        node: str | None = None,
    ) -> None:
        self.rooms = rooms
        self.moderation = moderation
        self.media = media
        self.history = history
        self.meter = meter
        self._node = node

    @property
    def node(self) -> str:
        """This node's name in the live-rooms API: its node id, as in call history (docs/cluster.md)."""
        if self._node is None:
            self._node = self.history.node_id if self.history is not None else socket.gethostname()
        return self._node

    def has(self, room_key: str) -> bool:
        return self.rooms is not None and self.rooms.get_room(room_key) is not None

    async def dismiss(self, room_key: str, acting: Acting) -> bool:
        sdkappid = sdkappid_of(room_key) or 0
        return await self.moderation.dismiss_room(
            acting.principal,
            acting.account_id,
            sdkappid,
            room_key,
            reason=acting.reason,
            via=acting.via,
        )

    async def remove_users(self, room_key: str, user_ids: list[str], acting: Acting) -> list[str] | None:
        """The UserIds that were present and are removed; None when the room is not live here."""
        if not self.has(room_key):
            return None
        return await self.moderation.remove_users(
            acting.principal,
            acting.account_id,
            sdkappid_of(room_key) or 0,
            room_key,
            user_ids,
            reason=acting.reason,
            via=acting.via,
        )

    async def set_media_blocked(
        self, room_key: str, user_id: str, *, audio: bool, video: bool, acting: Acting
    ) -> str:
        """``ok``, ``no_room`` or ``no_user``; raises RoomOpRefused when the room refuses."""
        room = self.rooms.get_room(room_key) if self.rooms is not None else None
        if room is None:
            return NO_ROOM
        if room.participants.get(user_id) is None:
            return NO_USER
        try:
            await self.moderation.set_media_blocked(
                acting.principal,
                acting.account_id,
                sdkappid_of(room_key) or 0,
                room_key,
                user_id,
                audio=audio,
                video=video,
                reason=acting.reason,
                via=acting.via,
            )
        except RoomError as exc:
            raise RoomOpRefused(exc.message) from None
        return OK

    async def kick_blocked(self, sdkappid: int, user_id: str) -> None:
        """A UserId was blocked application-wide (the block is in the database): remove it here."""
        if self.rooms is not None:
            await self.rooms.set_user_blocked(sdkappid, user_id, True)

    async def flush(self) -> None:
        """Make what happened here up to now visible in the database (call history queue, usage)."""
        if self.history is not None:
            await self.history.drain()
        if self.meter is not None:
            await self.meter.flush()

    async def live_rooms(self, sdkappid: int) -> list[dict[str, Any]]:
        """The application's rooms on this node, as the console's live-rooms API shows them."""
        rooms = self.rooms
        if rooms is None:
            return []
        out = []
        for r in rooms.list_rooms(sdkappid):
            info = rooms.room_info(r["roomKey"])
            if info is None:
                continue
            stats = await _media_stats(self.media, info.get("routerId"))
            placement = _placement(self.media, info.get("routerId"))
            members = [
                {
                    **_with_quality(m, stats),
                    "node": self.node,
                    "worker": placement.get(str(m["participantId"])),
                }
                for m in info["members"]
            ]
            out.append({**r, "e2ee": bool(info.get("e2ee")), "members": members})
        return out


class RoomOps:
    """Rooms as any node sees them: here when held here, else at their owner (``routing``)."""

    def __init__(self, local: LocalRoomOps, routing: ClusterRouting | None = None) -> None:
        self.local = local
        self.routing = routing
        if routing is not None:
            routing.handle(DISMISS, self._on_dismiss)
            routing.handle(REMOVE_USERS, self._on_remove_users)
            routing.handle(MEDIA_BLOCK, self._on_media_block)
            routing.handle(LIVE_ROOMS, self._on_live_rooms)
            routing.handle(KICK_BLOCKED, self._on_kick_blocked)
            routing.handle(FLUSH, self._on_flush)

    @property
    def clustered(self) -> bool:
        return self.routing is not None

    # ------------------------------------------------------------------ the caller's side

    async def _remote(self, room_key: str, name: str, args: dict[str, Any]) -> tuple[bool, Any]:
        """(True, the owner's answer) when another node owns the room; (False, None) to act here."""
        if self.routing is None or self.local.has(room_key):
            return False, None
        there = await self.routing.at_owner(room_key, name, {"room_key": room_key, **args})
        return (True, there.result) if there is not None else (False, None)

    async def dismiss(self, room_key: str, acting: Acting) -> bool:
        """End the room for everyone; False when no such room is live anywhere."""
        remote, result = await self._remote(room_key, DISMISS, asdict(acting))
        if remote:
            return bool(result)
        return await self.local.dismiss(room_key, acting)

    async def remove_users(self, room_key: str, user_ids: list[str], acting: Acting) -> list[str] | None:
        """The UserIds removed; None when no such room is live anywhere."""
        remote, result = await self._remote(room_key, REMOVE_USERS, {"user_ids": user_ids, **asdict(acting)})
        if remote:
            return [str(u) for u in result] if isinstance(result, list) else None
        return await self.local.remove_users(room_key, user_ids, acting)

    async def set_media_blocked(
        self, room_key: str, user_id: str, *, audio: bool, video: bool, acting: Acting
    ) -> str:
        args = {"user_id": user_id, "audio": audio, "video": video, **asdict(acting)}
        try:
            remote, result = await self._remote(room_key, MEDIA_BLOCK, args)
        except CommandFailed as exc:
            if exc.code == "refused":
                raise RoomOpRefused(str(exc)) from None
            raise
        if remote:
            return str(result)
        return await self.local.set_media_blocked(room_key, user_id, audio=audio, video=video, acting=acting)

    async def kick_blocked_elsewhere(self, sdkappid: int, user_id: str) -> None:
        """After an application-wide block (committed, and applied here by the moderation service):
        remove the user from rooms on every other node."""
        if self.routing is not None:
            await self.routing.ask_others(KICK_BLOCKED, {"sdkappid": sdkappid, "user_id": user_id})

    async def flush(self) -> None:
        """Before reading call history or usage: every node writes out what it has queued. Best effort
        across nodes: with Redis (or a node) unreachable the read still answers, from what the database
        has (other nodes' history is written continuously; their usage at most ``usage.flush_s`` late)."""
        await self.local.flush()
        if self.routing is not None:
            try:
                await self.routing.ask_others(FLUSH, {})
            except ClusterUnavailable as exc:
                log.warning("history read without the other nodes' flush: %s", exc)

    async def live_rooms(self, sdkappid: int) -> list[dict[str, Any]]:
        """The application's live rooms on every node (each room once: its owner's view)."""
        out = await self.local.live_rooms(sdkappid)
        if self.routing is not None:
            seen = {r["roomKey"] for r in out}
            answers = await self.routing.ask_others(LIVE_ROOMS, {"sdkappid": sdkappid})
            for node in sorted(answers):
                rooms = answers[node]
                for r in rooms if isinstance(rooms, list) else []:
                    if isinstance(r, dict) and r.get("roomKey") not in seen:
                        seen.add(r.get("roomKey"))
                        out.append(r)
        return out

    # ------------------------------------------------------------------ the owner's side

    async def _on_dismiss(self, args: dict[str, Any]) -> bool:
        return await self.local.dismiss(str(args["room_key"]), Acting.from_args(args))

    async def _on_remove_users(self, args: dict[str, Any]) -> list[str] | None:
        users = [str(u) for u in args.get("user_ids") or []]
        return await self.local.remove_users(str(args["room_key"]), users, Acting.from_args(args))

    async def _on_media_block(self, args: dict[str, Any]) -> str:
        try:
            return await self.local.set_media_blocked(
                str(args["room_key"]),
                str(args["user_id"]),
                audio=bool(args.get("audio")),
                video=bool(args.get("video")),
                acting=Acting.from_args(args),
            )
        except RoomOpRefused as exc:
            raise CommandFailed(str(exc), "refused") from None

    async def _on_live_rooms(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        return await self.local.live_rooms(int(args["sdkappid"]))

    async def _on_kick_blocked(self, args: dict[str, Any]) -> None:
        await self.local.kick_blocked(int(args["sdkappid"]), str(args["user_id"]))

    async def _on_flush(self, args: dict[str, Any]) -> None:
        await self.local.flush()


# ---------------------------------------------------------------------- the console's room view


async def _media_stats(media: MediaService | None, router_id: Any) -> dict[str, Any]:
    """``MediaService.stats`` of one room; {} when the media layer has none (or fails)."""
    if media is None or not isinstance(router_id, str):
        return {}
    try:
        result = await media.stats(router_id)
    except Exception:
        log.debug("media statistics unavailable for a live room", exc_info=True)
        return {}
    return result if isinstance(result, dict) else {}


def _placement(media: MediaService | None, router_id: Any) -> dict[str, int]:
    """Worker index serving each participant of a room (``MediaService.placement``); {} without media."""
    if media is None or not isinstance(router_id, str):
        return {}
    try:
        result = media.placement(router_id)
    except Exception:
        return {}
    return result if isinstance(result, dict) else {}


def _with_quality(member: dict[str, Any], stats: dict[str, Any]) -> dict[str, Any]:
    """Add live quality to a member: per published track (uplink as the SFU receives it) and the
    member's downlink (what its subscriber's receiver reports say about the tracks we send it)."""
    mine = stats.get(str(member.get("participantId"))) or {}
    producers = mine.get("producers") or {}
    tracks = []
    for t in member.get("tracks", []):
        ps = producers.get(t.get("producerId")) or {}
        q: dict[str, Any] = {"bitrate": ps.get("bitrate"), "fractionLost": ps.get("fractionLost")}
        if t.get("kind") == "video":
            q.update(width=ps.get("width"), height=ps.get("height"), frameRate=ps.get("frameRate"))
        tracks.append({**t, **q})
    consumers = [c for c in (mine.get("consumers") or {}).values() if isinstance(c, dict)]
    downlink: dict[str, Any] | None = None
    if consumers:
        losses = [c["fractionLost"] for c in consumers if isinstance(c.get("fractionLost"), int | float)]
        rtts = [c["rttMs"] for c in consumers if isinstance(c.get("rttMs"), int | float)]
        downlink = {
            "bitrate": sum(int(c.get("bitrate") or 0) for c in consumers),
            "fractionLost": max(losses) if losses else None,  # the worst received track
            "rttMs": round(sum(rtts) / len(rtts), 1) if rtts else None,
        }
    return {**member, "tracks": tracks, "downlink": downlink}


class ClusterParts(Protocol):
    """What RoomOps needs of a cluster node's runtime (cluster/runtime.py)."""

    bus: CommandBus
    leases: RoomLeases
    registry: NodeRegistry


def build_room_ops(
    rooms: RoomManager | None,
    moderation: ModerationService,
    media: MediaService | None,
    history: CallHistory,
    meter: UsageMeter,
    cluster: ClusterParts | None,
) -> RoomOps:
    """The container's RoomOps: routed to owners over the cluster's command bus when there is one (its
    handlers registered on the bus, so other nodes' commands are answered from the start)."""
    routing = None
    if cluster is not None:
        routing = ClusterRouting(
            cluster.bus, owner_from_leases(cluster.leases), nodes_from_registry(cluster.registry)
        )
    node = cluster.bus.node_id if cluster is not None else None
    return RoomOps(LocalRoomOps(rooms, moderation, media, history, meter, node), routing)


def room_ops(c: Any) -> RoomOps:
    """The container's RoomOps (``Container.room_ops``); a local one for a graph built without."""
    ops: RoomOps | None = c.room_ops
    if ops is not None:
        return ops
    return build_room_ops(c.rooms, c.moderation, c.media, c.history, c.meter, None)
