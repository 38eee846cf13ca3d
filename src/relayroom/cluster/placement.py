"""Where an entry belongs: on this node, or on another one the client is redirected to (decision 0028).

* The room runs on a node (its lease in Redis names it): that node, with reason ``owner``.
* The room runs nowhere: the least-loaded live, not draining node of this node's region (the entry
  check has already refused applications of other regions), with reason ``placement``. This node's
  own figures are taken fresh, the others' from their last heartbeat. A client that was redirected
  once already (``settled``) is not sent on for load again: at most one placement hop, so stale
  heartbeats cannot make a client bounce between nodes. An owner redirect is always given (the room
  can only run where its lease is).

Answers come from Redis; when it cannot be reached the caller gets
:class:`~relayroom.cluster.redis.ClusterUnavailable` (a retryable refusal), except for rooms this node
holds, which never need Redis.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from relayroom.cluster.bus import CommandFailed
from relayroom.cluster.redis import ClusterUnavailable
from relayroom.cluster.registry import NodeInfo
from relayroom.cluster.runtime import ClusterRuntime
from relayroom.control.rooms.errors import ErrorCode, RoomError, RoomRedirect

log = logging.getLogger(__name__)

EVICT_SESSION = "rooms.evict-session"  # command bus: kick a user's session in a room of the target


class SessionEvictor(Protocol):
    """The room manager, as the target of :data:`EVICT_SESSION`."""

    async def evict_session(self, sdkappid: int, user_id: str, room_key: str) -> bool: ...


RedirectReason = Literal["owner", "placement", "drain"]


@dataclass(frozen=True)
class Redirect:
    """Enter at ``url`` instead (the node's ``public_url``); ``node_id`` names the node, for logs."""

    url: str
    reason: RedirectReason
    node_id: str


class RoomPlacement:
    def __init__(self, runtime: ClusterRuntime) -> None:
        self._rt = runtime

    async def locate(self, room_key: str, *, settled: bool = False) -> Redirect | None:
        """None: enter here. Otherwise where the client must go."""
        rt = self._rt
        if rt.leases.holds_key(room_key):
            return None
        owner = await rt.leases.owner_key(room_key)
        if owner == rt.node_id:
            return None
        if owner is not None:
            return await self.to_owner(owner)
        if settled and not rt.draining:
            return None
        best = await self._least_loaded()
        if best is None or best.node_id == rt.node_id:
            if rt.draining:
                raise ClusterUnavailable("this node is draining and no other node takes rooms; retry shortly")
            return None
        return Redirect(best.public_url, "drain" if rt.draining else "placement", best.node_id)

    # --- the room manager's EntryPlacement (control/rooms/registry.py) ------------------------------
    async def check(self, room_key: str, *, settled: bool) -> None:
        """Go on entering here, or raise :class:`RoomRedirect` (the room belongs elsewhere) or a
        retryable CLUSTER_UNAVAILABLE refusal (Redis, or the room's node, cannot be reached now)."""
        try:
            to = await self.locate(room_key, settled=settled)
        except ClusterUnavailable as exc:
            raise RoomError(ErrorCode.CLUSTER_UNAVAILABLE, str(exc)) from None
        if to is not None:
            raise RoomRedirect(to.url, to.reason)

    async def hosted_elsewhere(self, owner: str) -> RoomError:
        """The refusal for an entry whose room another node claimed first: a redirect to it."""
        try:
            to = await self.to_owner(owner)
        except ClusterUnavailable as exc:
            return RoomError(ErrorCode.CLUSTER_UNAVAILABLE, str(exc))
        return RoomRedirect(to.url, to.reason)

    async def evict(self, sdkappid: int, user_id: str, room_key: str) -> None:
        """TRTC's one room per user across nodes: the node running ``room_key`` kicks the user's
        session there. Best effort: when it cannot be asked, the entry goes on (the old session then
        ends by its own exit or idle timeout, and cannot take the presence record back)."""
        rt = self._rt
        try:
            owner = await rt.leases.owner_key(room_key)
            if owner is None or owner == rt.node_id:
                return
            await rt.bus.request(
                owner, EVICT_SESSION, {"sdkappid": sdkappid, "userId": user_id, "roomKey": room_key}
            )
        except (ClusterUnavailable, CommandFailed) as exc:
            log.warning("the user's session on another node was not kicked", extra={"error": str(exc)})

    def serve_evictions(self, rooms: SessionEvictor) -> None:
        """Answer :data:`EVICT_SESSION` from other nodes with ``rooms``."""

        async def evict(args: dict[str, Any]) -> bool:
            sdkappid, user_id, room_key = args.get("sdkappid"), args.get("userId"), args.get("roomKey")
            if not isinstance(sdkappid, int) or not isinstance(user_id, str) or not isinstance(room_key, str):
                raise CommandFailed("sdkappid, userId and roomKey are required", "invalid_parameter")
            return await rooms.evict_session(sdkappid, user_id, room_key)

        self._rt.bus.handle(EVICT_SESSION, evict)

    async def to_owner(self, owner: str) -> Redirect:
        """The redirect to the node holding a room's lease; ClusterUnavailable when that node has no
        heartbeat (it died: its lease runs out within its TTL, then the room can start elsewhere)."""
        url = await self._rt.public_url_of(owner)
        if url is None:
            raise ClusterUnavailable("the node running this room does not answer; retry in a few seconds")
        return Redirect(url, "owner", owner)

    async def _least_loaded(self) -> NodeInfo | None:
        rt = self._rt
        mine = rt.info()
        nodes = [n for n in await rt.registry.live_nodes() if n.node_id != rt.node_id]
        nodes.append(mine)
        candidates = [n for n in nodes if n.region == rt.region and not n.draining]
        if not candidates:
            return None
        return min(candidates, key=lambda n: (round(n.load, 2), n.rooms, n.node_id != rt.node_id, n.node_id))
