"""Draining a node: stop taking rooms, move every member elsewhere, wait for them to go, then stop.

Started by SIGTERM (``relayroom serve`` under uvicorn: control/server.py) or ``relayroom node drain``
(which sends that SIGTERM). Steps:

1. New signalling sockets are refused (close 1001; /readyz says "draining"), so this node takes no new
   member and no new room. In a cluster, the node's heartbeat carries ``draining`` (placement skips it)
   and its room leases are released, so the first member to arrive elsewhere recreates the room there.
2. Every member in a room gets ``{"type": "redirect", "url": <public_url of the least-loaded live node>,
   "reason": "drain"}``; both SDKs leave and enter again there (without a URL, or on a single node:
   where they entered first — they come back once the node is up again, as after a restart).
3. The node waits until no member is left or ``drain_timeout_s`` has passed, then the ordinary shutdown
   runs (members still there get ``server-shutdown`` and close 1001).

The cluster side is a small protocol (:class:`ClusterDrain`), so a single node drains with none.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from relayroom.cluster.runtime import ClusterRuntime

log = logging.getLogger(__name__)

DRAIN_REASON = "drain"
_POLL_S = 0.1


class Member(Protocol):
    """An open signalling connection, as the drain sees it."""

    @property
    def in_room(self) -> bool: ...

    def send_redirect(self, url: str | None, reason: str) -> None: ...


class Members(Protocol):
    """The node's open signalling connections (SignalConnections)."""

    closing: bool

    def in_room(self) -> Sequence[Member]: ...


class ClusterDrain(Protocol):
    """The cluster's part of a drain (none on a single node)."""

    async def start_draining(self) -> None:
        """Heartbeat with ``draining``: placement sends no new room here."""
        ...

    async def target_url(self) -> str | None:
        """The public URL members should move to (the least-loaded other live node), or None."""
        ...

    async def release_rooms(self) -> None:
        """Give up this node's room leases, so the rooms can be recreated on another node."""
        ...


@dataclass(frozen=True)
class DrainReport:
    told: int  # members sent the redirect
    left: int  # of those, gone before the timeout
    remaining: int
    seconds: float
    target: str | None


class Drainer:
    def __init__(self, members: Members, timeout_s: float, cluster: ClusterDrain | None = None) -> None:
        self._members = members
        self.timeout_s = timeout_s
        self._cluster = cluster
        self.report: DrainReport | None = None
        self._running: asyncio.Task[DrainReport] | None = None

    @property
    def draining(self) -> bool:
        return self._running is not None

    async def drain(self) -> DrainReport:
        """Drain once; a second call waits for the first."""
        if self._running is None:
            self._running = asyncio.get_running_loop().create_task(self._drain(), name="drain")
        return await asyncio.shield(self._running)

    async def _drain(self) -> DrainReport:
        started = time.monotonic()
        self._members.closing = True  # no new sockets: no new members, no new rooms
        target: str | None = None
        if self._cluster is not None:
            target = await self._cluster_steps(self._cluster)
        members = self._members.in_room()
        for member in members:
            member.send_redirect(target, DRAIN_REASON)
        log.info("draining: members told to move", extra={"members": len(members), "to_node": bool(target)})
        deadline = started + self.timeout_s
        # polled: a member leaves in the room manager (exit, socket closed), which tells no one here
        while self._members.in_room() and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(_POLL_S)
        remaining = len(self._members.in_room())
        report = DrainReport(
            told=len(members),
            left=max(0, len(members) - remaining),
            remaining=remaining,
            seconds=round(time.monotonic() - started, 3),
            target=target,
        )
        self.report = report
        log.info(
            "drained" if not remaining else "drain timed out; stopping with members left",
            extra={"members_left": report.left, "members_remaining": remaining, "seconds": report.seconds},
        )
        return report

    async def _cluster_steps(self, cluster: ClusterDrain) -> str | None:
        """Best effort: Redis may be away; members then go back where they came from."""
        target: str | None = None
        for step in ("start_draining", "target_url", "release_rooms"):
            try:
                async with asyncio.timeout(5):
                    result = await getattr(cluster, step)()
                if step == "target_url":
                    target = result
            except Exception as exc:  # ClusterUnavailable, a timeout: drain on without that step
                log.warning("drain step failed", extra={"step": step, "error": type(exc).__name__})
        return target


class RuntimeDrain:
    """:class:`ClusterDrain` over this node's :class:`~relayroom.cluster.runtime.ClusterRuntime`."""

    def __init__(self, runtime: ClusterRuntime) -> None:
        self._rt = runtime

    async def start_draining(self) -> None:
        await self._rt.set_draining(True)

    async def target_url(self) -> str | None:
        rt = self._rt
        nodes = [
            n
            for n in await rt.registry.live_nodes()
            if n.node_id != rt.node_id and n.region == rt.region and not n.draining
        ]
        if not nodes:
            return None
        return min(nodes, key=lambda n: (n.load, n.rooms, n.node_id)).public_url

    async def release_rooms(self) -> None:
        for key in sorted(self._rt.leases.held):
            await self._rt.leases.release_key(key)
