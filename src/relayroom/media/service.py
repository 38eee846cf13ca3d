"""MediaService: the facade the control plane uses to drive media workers.

It spawns N worker processes and talks to them only through :mod:`relayroom.media.channel`.
Everything here is async and runs on the control plane's event loop. SDP is produced here (pure
functions in :mod:`relayroom.media.sdp`); workers only know transports, producers and consumers.
Split by concern into a core (:mod:`service_core`), pipes and placement (:mod:`service_pipes`),
publishing (:mod:`service_publish`) and subscribing with WHEP play (:mod:`service_subscribe`); this
module holds the lifecycle, worker events, routers and stats.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

from relayroom.media import sched
from relayroom.media.service_core import _quiet
from relayroom.media.service_publish import PublishMixin, produce_params
from relayroom.media.service_state import RouterState
from relayroom.media.service_subscribe import SubscribeMixin
from relayroom.media.types import (
    CloseReason,
    InvalidStateError,
    MediaEvent,
    MediaEventType,
    MediaKind,
    MediaParams,
    PlayResult,
    ProducerInfo,
    PublishResult,
    SubscribeResult,
    TrackSource,
    UnsupportedError,
)
from relayroom.media.worker_handle import WorkerHandle

__all__ = [
    "CloseReason",
    "InvalidStateError",
    "MediaEvent",
    "MediaEventType",
    "MediaKind",
    "MediaParams",
    "MediaService",
    "PlayResult",
    "ProducerInfo",
    "PublishResult",
    "SubscribeResult",
    "TrackSource",
    "UnsupportedError",
    "produce_params",
]

logger = logging.getLogger(__name__)


class MediaService(PublishMixin, SubscribeMixin):
    """Facade over the media workers. One instance per control-plane process."""

    worker_slice_ns: int = sched.WORKER_SLICE_NS  # the workers' scheduler slice (0: the kernel's)

    # -- lifecycle -----------------------------------------------------------------------------------
    async def start(self) -> None:
        """Spawn the workers and wait until each one has bound its UDP port."""
        if self._started:
            return
        self._started = True
        await asyncio.gather(*(self._start_worker(i) for i in range(self._params.workers)))
        if self._params.stats_interval_s > 0:
            self._spawn(self._stats_loop())

    async def _start_worker(self, index: int) -> WorkerHandle:
        handle = WorkerHandle(index, self._params, self._on_worker_notification, self._on_worker_died)
        try:
            await handle.start()
            if self.worker_slice_ns and handle.pid is not None:
                sched.set_slice(handle.pid, self.worker_slice_ns)  # a latency hint (media/sched.py)
            if self.closed:
                raise InvalidStateError("media service closed while a worker started")
        except BaseException:
            await asyncio.shield(handle.close())  # no process outlives a failed or cancelled start
            raise
        self._workers[index] = handle
        return handle

    async def close(self) -> None:
        """Close every router and stop the workers. Idempotent."""
        if self.closed:
            return
        self.closed = True
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        workers = [w for w in self._workers if w is not None]
        await asyncio.gather(*(w.close() for w in workers), return_exceptions=True)
        self._routers.clear()
        self._listeners.clear()

    # -- workers -------------------------------------------------------------------------------------
    def worker_pids(self) -> list[int | None]:
        return [w.pid if w else None for w in self._workers]

    def tcp_stats(self) -> dict[int, dict[str, Any]]:
        """The ICE-TCP counts each running worker last pushed (``tcpstats``), by worker index."""
        return {w.index: w.tcp_stats for w in self._workers if w is not None and w.tcp_stats}

    def pipe_stats(self) -> dict[int, list[dict[str, Any]]]:
        """The pipe transports' counters each running worker last pushed (``pipestats``), by index."""
        return {w.index: w.pipe_stats for w in self._workers if w is not None and not w.closed}

    def _on_worker_died(self, handle: WorkerHandle) -> None:
        if self.closed:
            return  # shutting down: workers are not respawned
        lost = tuple(sorted(r for r, s in self._routers.items() if s.worker_index == handle.index))
        for r in lost:
            self._forget_router(r)
        logger.warning("media worker %d died; lost %d routers", handle.index, len(lost))
        self._workers[handle.index] = None
        cut = self._lose_edges(handle.index)
        self._emit(
            MediaEvent(
                MediaEventType.WORKER_DIED,
                router_ids=lost,
                reason=CloseReason.WORKER_DIED,
                data={"worker": handle.index},
            )
        )
        for event in cut:
            self._emit(event)
        if self._params.restart_dead_workers:
            self._spawn(self._restart_worker(handle.index))

    async def _restart_worker(self, index: int) -> None:
        delay = 0.1
        while not self.closed:
            try:
                handle = await self._start_worker(index)
            except Exception:
                if self.closed:
                    return
                logger.exception("restarting media worker %d failed", index)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self._emit(
                MediaEvent(MediaEventType.WORKER_RESTARTED, data={"worker": index, "port": handle.port})
            )
            return

    def _forget_router(self, router_id: str) -> None:
        state = self._routers.pop(router_id, None)
        if state is None:
            return
        recv_on: dict[str, int] = {
            p.recv_transport_id: p.recv_worker
            for p in state.participants.values()
            if p.recv_transport_id is not None and p.recv_worker is not None
        }
        removed = 0
        removed_on: dict[int, int] = {}
        for tid, (rid, _) in list(self._transport_owner.items()):
            if rid == router_id:
                del self._transport_owner[tid]
                on = recv_on.get(tid, state.worker_index)
                if on == state.worker_index:
                    removed += 1
                else:
                    removed_on[on] = removed_on.get(on, 0) + 1
        for cid, (rid, _) in list(self._consumer_owner.items()):
            if rid == router_id:
                del self._consumer_owner[cid]
        w = self._workers[state.worker_index]
        if w is not None:
            w.router_ids.discard(router_id)
            w.transport_count = max(0, w.transport_count - removed)
        for edge in state.edges.values():
            self._forget_pipes(edge)
            ew = self._workers[edge.worker_index]
            if ew is not None and not ew.closed:
                ew.router_ids.discard(edge.router_id)
                ew.transport_count = max(0, ew.transport_count - removed_on.get(edge.worker_index, 0))
                self._spawn(_quiet(ew.request("router.close", edge.router_id)))
        state.edges.clear()

    def _on_worker_notification(
        self, handle: WorkerHandle, target_id: str, event: str, data: dict[str, Any]
    ) -> None:
        if event == "statechange" and target_id in self._transport_owner:
            router_id, pid = self._transport_owner[target_id]
            if data.get("state") == "connected":
                self._emit(MediaEvent(MediaEventType.TRANSPORT_CONNECTED, router_id, pid, data=dict(data)))
        elif event == "transportclose" and target_id in self._transport_owner:
            router_id, pid = self._transport_owner.pop(target_id)
            self._grades.pop(target_id, None)
            handle.transport_count = max(0, handle.transport_count - 1)
            state = self._routers.get(router_id)
            participant = state.participants.get(pid) if state else None
            if participant is not None:
                if participant.send_transport_id == target_id:
                    participant.send_transport_id = None
                    participant.send_local = None
                    participant.send_connected = False
                    participant.send_remote_ice = None
                    participant.published.clear()
                if participant.recv_transport_id == target_id and state is not None:
                    w = participant.recv_worker
                    used = [(ml.producer_id, ml.consumer_id) for ml in participant.mlines if ml.consumer_id]
                    self._clear_recv(participant)
                    if w is not None and w != state.worker_index:
                        self._spawn(self._release_later(router_id, w, used))
            self._emit(
                MediaEvent(
                    MediaEventType.TRANSPORT_CLOSED,
                    router_id,
                    pid,
                    reason=data.get("reason"),
                    data={"transportId": target_id},
                )
            )
        elif event == "speakers" and target_id in self._routers:
            state = self._routers[target_id]
            volumes = []
            for pid, volume in data.get("volumes") or []:
                rec = state.producers.get(str(pid))
                if rec is not None:
                    volumes.append([rec.participant_id, int(volume)])
            dominant = state.producers.get(str(data.get("dominant")))
            self._emit(
                MediaEvent(
                    MediaEventType.SPEAKERS,
                    target_id,
                    data={"volumes": volumes, "dominant": dominant.participant_id if dominant else None},
                )
            )
        elif event == "quality":
            # by transport, from the origin worker and from edge workers (a member's recv transport may
            # be on an edge): the last grade of each transport, reported per room
            rooms: set[str] = set()
            for tid, grade in data.items():
                owner = self._transport_owner.get(str(tid))
                if owner is not None and isinstance(grade, int):
                    self._grades[str(tid)] = grade
                    rooms.add(owner[0])
            for router_id in rooms:
                state = self._routers.get(router_id)
                if state is None:
                    continue
                out: dict[str, dict[str, int]] = {}
                for pid, member in state.participants.items():
                    up = self._grades.get(member.send_transport_id or "")
                    down = self._grades.get(member.recv_transport_id or "")
                    if up is not None or down is not None:
                        out[pid] = {"uplink": up or 0, "downlink": down or 0}
                if out:
                    self._emit(MediaEvent(MediaEventType.NETWORK_QUALITY, router_id, data=out))
        elif event == "producerclose":
            if target_id in self._pipe_consumers:
                # an origin producer went away: its pipes go too (the edge consumers stay, as orphans)
                router_id, w, producer_id = self._pipe_consumers[target_id]
                self._spawn(self._drop_pipe_later(router_id, w, producer_id))
                return
            if target_id in self._edge_producers or target_id in self._consumer_owner:
                # a consumer lost its producer: keep the m-line (a replacement producer may continue it)
                return
            for router_id, state in self._routers.items():
                rec = state.producers.pop(target_id, None)
                if rec is not None:
                    p = state.participants.get(rec.participant_id)
                    if p is not None and p.published.get(rec.mid) == target_id:
                        del p.published[rec.mid]
                    self._emit(
                        MediaEvent(
                            MediaEventType.PRODUCER_CLOSED,
                            router_id,
                            rec.participant_id,
                            producer_id=target_id,
                            reason=data.get("reason"),
                        )
                    )
                    return

    async def _stats_loop(self) -> None:
        while True:
            await asyncio.sleep(self._params.stats_interval_s)
            with contextlib.suppress(Exception):
                self._emit(MediaEvent(MediaEventType.STATS, data=await self.dump()))

    async def create_router(self, room_key: str, worker_index: int | None = None) -> str:
        """Create a router (one per room) on the least-loaded worker, or on worker ``worker_index``
        (tests and benchmarks place a room's origin); returns its id."""
        self._check()
        live = [w for w in self._workers if w is not None and not w.closed]
        if not live:
            raise InvalidStateError("no media worker running")
        worker = min(live, key=lambda w: w.load) if worker_index is None else self._handle(worker_index)
        router_id = uuid.uuid4().hex
        await worker.request("worker.createRouter", None, {"routerId": router_id})
        worker.router_ids.add(router_id)
        self._routers[router_id] = RouterState(router_id, room_key, worker.index)
        return router_id

    async def close_router(self, router_id: str) -> None:
        """Close the room's router and its edges on other workers (their pipes go with them)."""
        state = self._routers.get(router_id)
        if state is None:
            return
        worker = self._workers[state.worker_index]
        self._forget_router(router_id)
        if worker is not None and not worker.closed:
            with contextlib.suppress(InvalidStateError):
                await worker.request("router.close", router_id)

    async def close_participant(self, router_id: str, participant_id: str) -> None:
        """Close both transports of a participant and everything on them."""
        self._check()
        state = self._routers.get(router_id)
        if state is None:
            return
        async with state.lock:
            p = state.participants.pop(participant_id, None)
            if p is None:
                return
            closed = [pid for pid, rec in state.producers.items() if rec.participant_id == participant_id]
            for pid in closed:
                state.producers.pop(pid, None)
                await self._drop_pipes(state, pid)
            released: list[tuple[str | None, str | None]] = []
            for ml in p.mlines:
                if ml.consumer_id:
                    self._consumer_owner.pop(ml.consumer_id, None)
                    released.append((ml.producer_id, ml.consumer_id))
            recv_on = p.recv_worker if p.recv_worker is not None else state.worker_index
            for tid, on in ((p.send_transport_id, state.worker_index), (p.recv_transport_id, recv_on)):
                worker = self._workers[on]
                if tid is not None and worker is not None and not worker.closed:
                    with contextlib.suppress(InvalidStateError):
                        await worker.request("transport.close", tid)
            if recv_on != state.worker_index:
                await self._release(state, recv_on, released)
        for pid in closed:
            self._emit(
                MediaEvent(
                    MediaEventType.PRODUCER_CLOSED,
                    router_id,
                    participant_id,
                    producer_id=pid,
                    reason=CloseReason.TRANSPORT_CLOSED,
                )
            )

    async def stats(self, router_id: str) -> dict[str, dict[str, Any]]:
        """Quality statistics of one router by participant:
        ``{participant_id: {"producers": {producer_id: {...}}, "consumers": {consumer_id: {...}}}}``
        (fields in docs/channel.md, ``router.stats``). Participants without a transport are absent."""
        self._check()
        state = self._router(router_id)
        by_transport = dict(await self.worker_for_router(router_id).request("router.stats", router_id))
        for edge in list(state.edges.values()):
            with contextlib.suppress(InvalidStateError):
                by_transport.update(
                    await self._handle(edge.worker_index).request("router.stats", edge.router_id)
                )
        out: dict[str, dict[str, Any]] = {}
        for tid, t in by_transport.items():
            owner = self._transport_owner.get(tid)
            if owner is None or owner[0] != router_id or not isinstance(t, dict):
                continue
            entry = out.setdefault(owner[1], {"producers": {}, "consumers": {}})
            entry["producers"].update(t.get("producers") or {})
            entry["consumers"].update(t.get("consumers") or {})
        return out

    async def worker_metrics(self, timeout_s: float = 2.0) -> dict[int, dict[str, Any]]:
        """``worker.metrics`` of each running worker by index (lifetime totals and current sizes);
        a worker that does not answer within ``timeout_s`` is left out of this round."""
        out: dict[int, dict[str, Any]] = {}
        for w in self._workers:
            if w is None or w.closed:
                continue
            with contextlib.suppress(Exception):
                async with asyncio.timeout(timeout_s):
                    out[w.index] = await w.request("worker.metrics")
        return out

    def workers_running(self) -> tuple[int, int]:
        """(running, configured) media workers."""
        return sum(1 for w in self._workers if w is not None and not w.closed), self._params.workers

    async def counts(self) -> dict[str, Any]:
        """Object counts per running worker (``worker.counts``) and the service's own bookkeeping."""
        workers: list[dict[str, Any]] = []
        for w in self._workers:
            if w is None or w.closed:
                continue
            try:
                c = await w.request("worker.counts")
            except Exception as exc:
                c = {"error": exc.__class__.__name__}
            workers.append({"index": w.index, "pid": w.pid, **c})
        return {
            "workers": workers,
            "routers": len(self._routers),
            "participants": sum(len(s.participants) for s in self._routers.values()),
            "producers": sum(len(s.producers) for s in self._routers.values()),
        }

    async def dump(self) -> dict[str, Any]:
        workers: list[dict[str, Any]] = []
        for w in self._workers:
            if w is None or w.closed:
                workers.append({"running": False})
                continue
            try:
                d = await w.request("worker.dump")
            except Exception as exc:
                d = {"error": exc.__class__.__name__}
            workers.append({"running": True, "pid": w.pid, "index": w.index, **d})
        return {
            "workers": workers,
            "routers": {
                rid: {
                    "roomKey": s.room_key,
                    "worker": s.worker_index,
                    "participants": sorted(s.participants),
                    "producers": sorted(s.producers),
                    "placement": self.placement(rid),
                    "edges": {
                        str(e.worker_index): {"routerId": e.router_id, "pipedProducers": sorted(e.pipes)}
                        for e in s.edges.values()
                    },
                }
                for rid, s in self._routers.items()
            },
        }
