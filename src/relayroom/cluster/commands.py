"""Room operations routed to the node that owns the room, and questions asked of every live node.

The command bus (bus.py) sends one request to one node; this module decides *which* node: the owner of
a room (its lease, leases.py, or whatever ``owner_of`` the node is given) for an operation on one room,
every live node (registry.py) for a question about an application's rooms anywhere (the live-rooms
page) or for "write out what you queued" before a read of the shared database (call history).

Nothing here knows what a room is: callers pass the room key (``<sdkappid>:n:<id>`` / ``:s:<id>``), the
command name and JSON arguments, and a local function for the case where this node is the owner. A
command that cannot reach its node fails at once (or after ``timeout_s``) with
:class:`~relayroom.cluster.redis.ClusterUnavailable` (retryable): never a hang.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from relayroom.cluster.bus import CommandBus, NodeUnreachable
from relayroom.cluster.leases import RoomLeases
from relayroom.cluster.redis import ClusterUnavailable
from relayroom.cluster.registry import NodeRegistry

log = logging.getLogger(__name__)

OwnerOf = Callable[[str], Awaitable[str | None]]  # room key -> owner node id (None: no owner)
LiveNodes = Callable[[], Awaitable[Sequence[str]]]  # node ids whose heartbeat has not expired

DEFAULT_TIMEOUT_S = 3.0


class OwnerGone(ClusterUnavailable):
    """The room's lease names a node that does not answer (it died; the lease expires in seconds and
    the room is recreated elsewhere). Retryable."""


@dataclass(frozen=True)
class Elsewhere:
    """The room is owned by another node: ``node``'s answer to the command."""

    node: str
    result: Any


class ClusterRouting:
    """Where a command goes: ``owner(room_key)`` and ``ask``/``ask_others`` over the command bus."""

    def __init__(
        self,
        bus: CommandBus,
        owner_of: OwnerOf,
        live_nodes: LiveNodes,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.bus = bus
        self.node_id = bus.node_id
        self._owner_of = owner_of
        self._live_nodes = live_nodes
        self.timeout_s = timeout_s

    def handle(self, name: str, fn: Callable[[dict[str, Any]], Awaitable[Any]]) -> None:
        self.bus.handle(name, fn)

    async def owner(self, room_key: str) -> str | None:
        """The room's owner (raises ClusterUnavailable when the lookup cannot be made)."""
        return await self._owner_of(room_key)

    async def at_owner(self, room_key: str, name: str, args: dict[str, Any]) -> Elsewhere | None:
        """Run ``name`` on the room's owner when that is another node (its answer in :class:`Elsewhere`);
        None when no node owns the room or this node does (the caller acts locally)."""
        owner = await self.owner(room_key)
        if owner is None or owner == self.node_id:
            return None
        try:
            result = await self.bus.request(owner, name, args, timeout_s=self.timeout_s)
        except NodeUnreachable:
            raise OwnerGone(
                f"the node that owns the room ({owner}) does not answer; retry in a few seconds"
            ) from None
        return Elsewhere(owner, result)

    async def ask_others(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        """Ask every other live node at once; their answers by node id. A node that is listed but no
        longer listens (it just died) is left out: it has nothing live to answer with. A node that
        listens but does not answer in time fails the whole question (retryable)."""
        others = [n for n in await self._live_nodes() if n != self.node_id]
        if not others:
            return {}
        results = await asyncio.gather(
            *(self.bus.request(n, name, args, timeout_s=self.timeout_s) for n in others),
            return_exceptions=True,
        )
        out: dict[str, Any] = {}
        for node, result in zip(others, results, strict=True):
            if isinstance(result, NodeUnreachable):
                log.info("a listed node did not listen; left out", extra={"node": node, "command": name})
                continue
            if isinstance(result, BaseException):
                raise result
            out[node] = result
        return out


def parse_room_key(room_key: str) -> tuple[int, int | str]:
    """``<sdkappid>:n:<id>`` -> (sdkappid, int id); ``<sdkappid>:s:<id>`` -> (sdkappid, str id)."""
    head, kind, rest = room_key.split(":", 2)
    if not head.isdigit() or kind not in ("n", "s") or not rest:
        raise ValueError("not a room key")
    return int(head), (int(rest) if kind == "n" else rest)


def owner_from_leases(leases: RoomLeases) -> OwnerOf:
    """``owner_of`` for :class:`ClusterRouting`: the holder of the room's lease."""

    async def owner_of(room_key: str) -> str | None:
        sdkappid, room_id = parse_room_key(room_key)
        return await leases.owner(sdkappid, room_id)

    return owner_of


def nodes_from_registry(registry: NodeRegistry) -> LiveNodes:
    """``live_nodes`` for :class:`ClusterRouting`: every node whose heartbeat has not expired."""

    async def live_nodes() -> list[str]:
        return [n.node_id for n in await registry.live_nodes()]

    return live_nodes
