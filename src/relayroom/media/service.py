"""MediaService: the facade the control plane uses to drive media workers.

It spawns N worker processes and talks to them only through :mod:`relayroom.media.channel`.
Everything here is async and runs on the control plane's event loop. SDP is produced here (pure
functions in :mod:`relayroom.media.sdp`); workers only know transports, producers and consumers.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from relayroom.media import sdp
from relayroom.media.rtp.twcc import TWCC_URI
from relayroom.media.service_state import (
    EdgeState,
    ParticipantState,
    PipeRecord,
    ProducerRecord,
    RouterState,
)
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
]

logger = logging.getLogger(__name__)


class MediaService:
    """Facade over the media workers. One instance per control-plane process."""

    def __init__(self, params: MediaParams) -> None:
        if params.workers < 1:
            raise ValueError("workers must be >= 1")
        if params.host in ("0.0.0.0", "::") and not params.announced_ip:
            raise ValueError("announced_ip is required when binding all interfaces")
        self._params = params
        self._workers: list[WorkerHandle | None] = [None] * params.workers
        self._routers: dict[str, RouterState] = {}
        self._transport_owner: dict[str, tuple[str, str]] = {}  # transport id -> (router id, participant id)
        self._consumer_owner: dict[str, tuple[str, str]] = {}  # consumer id -> (router id, participant id)
        self._pipe_consumers: dict[str, tuple[str, int, str]] = {}  # -> (router, edge worker, producer)
        self._edge_producers: set[str] = set()  # pipe producer ids on edge workers
        self._listeners: list[Callable[[MediaEvent], None]] = []
        self._grades: dict[str, int] = {}  # transport id -> last network quality grade (0..6)
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = False
        self.closed = False

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

    def on_event(self, cb: Callable[[MediaEvent], None]) -> None:
        """Register a listener. Exceptions in listeners are caught and logged."""
        self._listeners.append(cb)

    def _emit(self, event: MediaEvent) -> None:
        for cb in list(self._listeners):
            try:
                cb(event)
            except Exception:
                logger.exception("media event listener failed (%s)", event.type)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _check(self) -> None:
        if self.closed or not self._started:
            raise InvalidStateError("media service not running")

    # -- workers -------------------------------------------------------------------------------------
    def worker_pids(self) -> list[int | None]:
        return [w.pid if w else None for w in self._workers]

    def tcp_stats(self) -> dict[int, dict[str, Any]]:
        """The ICE-TCP counts each running worker last pushed (``tcpstats``), by worker index."""
        return {w.index: w.tcp_stats for w in self._workers if w is not None and w.tcp_stats}

    def pipe_stats(self) -> dict[int, list[dict[str, Any]]]:
        """The pipe transports' counters each running worker last pushed (``pipestats``), by index."""
        return {w.index: w.pipe_stats for w in self._workers if w is not None and not w.closed}

    def worker_for_router(self, router_id: str) -> WorkerHandle:
        state = self._router(router_id)
        w = self._workers[state.worker_index]
        if w is None or w.closed:
            raise InvalidStateError("worker not running")
        return w

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

    def _lose_edges(self, index: int) -> list[MediaEvent]:
        """Worker ``index`` died while it served edges of rooms whose origin lives on: only the members
        whose recv transport was there lose media (TRANSPORT_CLOSED, reason worker_died); the origin
        side of each pipe is closed."""
        events: list[MediaEvent] = []
        for router_id, state in self._routers.items():
            edge = state.edges.pop(index, None)
            if edge is None:
                continue
            self._forget_pipes(edge)
            origin = self._workers[state.worker_index]
            if origin is not None and not origin.closed:
                self._spawn(_quiet(origin.request("pipeTransport.close", edge.origin_pipe_id)))
            for p in state.participants.values():
                if p.recv_worker != index or p.recv_transport_id is None:
                    continue
                tid = p.recv_transport_id
                self._transport_owner.pop(tid, None)
                self._clear_recv(p)
                events.append(
                    MediaEvent(
                        MediaEventType.TRANSPORT_CLOSED,
                        router_id,
                        p.participant_id,
                        reason=CloseReason.WORKER_DIED,
                        data={"transportId": tid},
                    )
                )
        return events

    def _clear_recv(self, p: ParticipantState) -> None:
        p.recv_transport_id = None
        p.recv_local = None
        p.recv_connected = False
        p.recv_worker = None
        for ml in p.mlines:
            if ml.consumer_id is not None:
                self._consumer_owner.pop(ml.consumer_id, None)
        p.mlines.clear()

    def _forget_pipes(self, edge: EdgeState) -> None:
        for pipe in edge.pipes.values():
            self._pipe_consumers.pop(pipe.pipe_consumer_id, None)
            self._edge_producers.discard(pipe.edge_producer_id)
        edge.pipes.clear()

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

    # -- routers -------------------------------------------------------------------------------------
    def _router(self, router_id: str) -> RouterState:
        state = self._routers.get(router_id)
        if state is None:
            raise InvalidStateError("unknown router")
        return state

    async def create_router(self, room_key: str) -> str:
        """Create a router (one per room) on the least-loaded worker; returns its id."""
        self._check()
        live = [w for w in self._workers if w is not None and not w.closed]
        if not live:
            raise InvalidStateError("no media worker running")
        worker = min(live, key=lambda w: w.load)
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

    # -- spreading a room over workers (pipes) -------------------------------------------------------
    def _handle(self, index: int) -> WorkerHandle:
        w = self._workers[index] if 0 <= index < len(self._workers) else None
        if w is None or w.closed:
            raise InvalidStateError("worker not running")
        return w

    def _recv_handle(self, state: RouterState, p: ParticipantState) -> WorkerHandle:
        return self._handle(state.worker_index if p.recv_worker is None else p.recv_worker)

    def consumer_loads(self) -> dict[int, int]:
        """Consumers (outgoing tracks) per running worker: the load placement compares."""
        loads = {w.index: 0 for w in self._workers if w is not None and not w.closed}
        for state in self._routers.values():
            for p in state.participants.values():
                w = state.worker_index if p.recv_worker is None else p.recv_worker
                if w in loads:
                    loads[w] += sum(1 for ml in p.mlines if ml.active and ml.consumer_id is not None)
        return loads

    def _place_recv(self, state: RouterState, audience: bool) -> int:
        """The worker for a new recv transport: the origin, unless the member is audience or the origin
        carries ``pipe_threshold`` x ``worker_capacity`` consumers or more; then the least-loaded
        running worker (the origin on a tie: no pipe when none is needed)."""
        origin = state.worker_index
        loads = self.consumer_loads()
        if origin not in loads:
            raise InvalidStateError("worker not running")
        params = self._params
        if not audience and loads[origin] < params.pipe_threshold * params.worker_capacity:
            return origin
        return min(loads, key=lambda i: (loads[i], i != origin, i))

    async def _ensure_edge(self, state: RouterState, index: int) -> EdgeState:
        """The room's router on worker ``index`` and the pipe transport pair joining it to the origin."""
        edge = state.edges.get(index)
        if edge is not None:
            return edge
        origin = self._handle(state.worker_index)
        worker = self._handle(index)
        router_id = uuid.uuid4().hex
        await worker.request("worker.createRouter", None, {"routerId": router_id})
        worker.router_ids.add(router_id)
        origin_pipe = edge_pipe = None
        try:
            origin_pipe = await origin.request(
                "router.createPipeTransport", state.router_id, {"transportId": uuid.uuid4().hex}
            )
            edge_pipe = await worker.request(
                "router.createPipeTransport", router_id, {"transportId": uuid.uuid4().hex}
            )
            await origin.request(
                "pipeTransport.connect", origin_pipe["id"], {"ip": edge_pipe["ip"], "port": edge_pipe["port"]}
            )
            await worker.request(
                "pipeTransport.connect",
                edge_pipe["id"],
                {"ip": origin_pipe["ip"], "port": origin_pipe["port"]},
            )
        except BaseException:
            worker.router_ids.discard(router_id)
            await _quiet(worker.request("router.close", router_id))
            if origin_pipe is not None:
                await _quiet(origin.request("pipeTransport.close", origin_pipe["id"]))
            raise
        edge = EdgeState(index, router_id, str(origin_pipe["id"]), str(edge_pipe["id"]))
        state.edges[index] = edge
        return edge

    async def _ensure_pipe(self, state: RouterState, rec: ProducerRecord, index: int) -> PipeRecord:
        """Producer ``rec`` piped to worker ``index`` (created once, shared by the edge's consumers)."""
        edge = await self._ensure_edge(state, index)
        pipe = edge.pipes.get(rec.producer_id)
        if pipe is not None:
            return pipe
        origin = self._handle(state.worker_index)
        worker = self._handle(index)
        with_rtx = rec.has_rtx and rec.kind == "video" and rec.codec.rtx_payload_type is not None
        ssrc = sdp.new_ssrc(edge.ssrcs)
        rtx_ssrc = sdp.new_ssrc(edge.ssrcs) if with_rtx else None
        rtx_pt = rec.codec.rtx_payload_type if with_rtx else None
        pipe = PipeRecord(rec.producer_id, uuid.uuid4().hex, uuid.uuid4().hex, ssrc, rtx_ssrc)
        # the edge side first, so the key frame the pipe consumer asks for finds its producer
        await worker.request(
            "pipeTransport.produce",
            edge.edge_pipe_id,
            {
                "producerId": pipe.edge_producer_id,
                "kind": rec.kind,
                "mimeType": rec.codec.mime_type,
                "clockRate": rec.codec.clock_rate,
                "payloadType": rec.codec.payload_type,
                "ssrc": ssrc,
                "rtxSsrc": rtx_ssrc,
                "rtxPayloadType": rtx_pt,
            },
        )
        self._edge_producers.add(pipe.edge_producer_id)
        try:
            await origin.request(
                "pipeTransport.consume",
                edge.origin_pipe_id,
                {
                    "consumerId": pipe.pipe_consumer_id,
                    "producerId": rec.producer_id,
                    "ssrc": ssrc,
                    "payloadType": rec.codec.payload_type,
                    "rtxSsrc": rtx_ssrc,
                    "rtxPayloadType": rtx_pt,
                },
            )
        except BaseException:
            self._edge_producers.discard(pipe.edge_producer_id)
            await _quiet(worker.request("producer.close", pipe.edge_producer_id))
            raise
        self._pipe_consumers[pipe.pipe_consumer_id] = (state.router_id, index, rec.producer_id)
        edge.pipes[rec.producer_id] = pipe
        return pipe

    async def _close_pipe(self, state: RouterState, edge: EdgeState, pipe: PipeRecord) -> None:
        """Both ends of one pipe: the pipe consumer on the origin, the pipe producer on the edge (whose
        remaining consumers, if any, become orphans a replacement producer may continue)."""
        if edge.pipes.get(pipe.producer_id) is pipe:
            del edge.pipes[pipe.producer_id]
        edge.ssrcs.difference_update((pipe.ssrc, pipe.rtx_ssrc))
        self._pipe_consumers.pop(pipe.pipe_consumer_id, None)
        self._edge_producers.discard(pipe.edge_producer_id)
        origin = self._workers[state.worker_index]
        worker = self._workers[edge.worker_index]
        if origin is not None and not origin.closed:
            await _quiet(origin.request("consumer.close", pipe.pipe_consumer_id))
        if worker is not None and not worker.closed:
            await _quiet(worker.request("producer.close", pipe.edge_producer_id))

    async def _drop_pipes(self, state: RouterState, producer_id: str) -> None:
        """The origin producer closed: its pipes to every edge close."""
        for edge in list(state.edges.values()):
            pipe = edge.pipes.get(producer_id)
            if pipe is not None:
                await self._close_pipe(state, edge, pipe)
            await self._maybe_close_edge(state, edge)

    async def _release(
        self, state: RouterState, index: int, consumers: Sequence[tuple[str | None, str | None]]
    ) -> None:
        """Edge consumers (origin producer id, consumer id) went away: a pipe left without consumers
        closes, and an edge left without pipes or members closes too."""
        edge = state.edges.get(index)
        if edge is None:
            return
        for producer_id, consumer_id in consumers:
            pipe = edge.pipes.get(producer_id or "")
            if pipe is None:
                continue
            pipe.consumers.discard(consumer_id or "")
            if not pipe.consumers:
                await self._close_pipe(state, edge, pipe)
        await self._maybe_close_edge(state, edge)

    async def _maybe_close_edge(self, state: RouterState, edge: EdgeState) -> None:
        if edge.pipes or any(
            p.recv_worker == edge.worker_index and p.recv_transport_id is not None
            for p in state.participants.values()
        ):
            return
        if state.edges.get(edge.worker_index) is edge:
            del state.edges[edge.worker_index]
        origin = self._workers[state.worker_index]
        worker = self._workers[edge.worker_index]
        if origin is not None and not origin.closed:
            await _quiet(origin.request("pipeTransport.close", edge.origin_pipe_id))
        if worker is not None and not worker.closed:
            worker.router_ids.discard(edge.router_id)
            await _quiet(worker.request("router.close", edge.router_id))

    async def _release_later(
        self, router_id: str, index: int, consumers: Sequence[tuple[str | None, str | None]]
    ) -> None:
        state = self._routers.get(router_id)
        if state is None:
            return
        async with state.lock:
            await self._release(state, index, consumers)

    async def _drop_pipe_later(self, router_id: str, index: int, producer_id: str) -> None:
        state = self._routers.get(router_id)
        if state is None:
            return
        async with state.lock:
            edge = state.edges.get(index)
            pipe = edge.pipes.get(producer_id) if edge is not None else None
            if edge is not None and pipe is not None:
                await self._close_pipe(state, edge, pipe)

    def placement(self, router_id: str) -> dict[str, int]:
        """Worker index serving each participant of a router: its recv transport's worker when it has
        one (subscribers may be spread), else the room's origin worker."""
        state = self._routers.get(router_id)
        if state is None:
            return {}
        return {
            pid: state.worker_index if p.recv_worker is None else p.recv_worker
            for pid, p in state.participants.items()
        }

    # -- publishing ----------------------------------------------------------------------------------
    async def _create_transport(
        self, router_id: str, participant_id: str, edge: EdgeState | None = None
    ) -> tuple[str, sdp.LocalTransport]:
        """A WebRTC transport on the room's origin router, or on ``edge``'s router."""
        if edge is None:
            worker = self.worker_for_router(router_id)
            on_router = router_id
        else:
            worker = self._handle(edge.worker_index)
            on_router = edge.router_id
        transport_id = uuid.uuid4().hex
        params = await worker.request(
            "router.createWebRtcTransport", on_router, {"transportId": transport_id}
        )
        worker.transport_count += 1
        self._transport_owner[transport_id] = (router_id, participant_id)
        return transport_id, sdp.LocalTransport.from_worker(params)

    async def publish(
        self,
        router_id: str,
        participant_id: str,
        offer_sdp: str,
        small_mids: Mapping[str, str] | None = None,
    ) -> PublishResult:
        """Apply a publisher's offer to its send transport (created on first call); returns the answer.

        Call again with a renegotiated offer: new sending m-lines become producers, m-lines set inactive
        close theirs. A new producer of the same kind and source as one this participant closed before
        continues that producer's consumers (subscribers see one continuous stream).

        ``small_mids`` (small m-line mid -> big m-line mid) pairs a client's small stream sent as a track
        of its own (no simulcast in its RTP stack) with its camera: both become the two encodings of
        one producer, exactly as a simulcast offer's (layer 0 = small).
        """
        self._check()
        offer = sdp.parse_offer(offer_sdp)
        async with self._router(router_id).lock:  # one room at a time; rooms run in parallel
            state = self._router(router_id)
            worker = self.worker_for_router(router_id)
            p = state.participant(participant_id)
            replaced: list[str] = []
            remote_ice = (offer.ice_ufrag, offer.ice_pwd)
            if p.send_transport_id is not None and p.send_remote_ice not in (None, remote_ice):
                if p.send_fingerprints == _fp_set(offer.fingerprints):
                    # Same peer connection (same DTLS certificate), new ICE credentials: an ICE restart.
                    # DTLS and SRTP carry on; we rotate our ICE credentials and learn the new ufrag.
                    params = await worker.request(
                        "transport.restartIce", p.send_transport_id, {"usernameFragment": offer.ice_ufrag}
                    )
                    assert p.send_local is not None
                    p.send_local = dataclasses.replace(
                        p.send_local,
                        ice_ufrag=params["usernameFragment"],
                        ice_pwd=params["password"],
                    )
                    p.send_remote_ice = remote_ice
                else:
                    # A new peer connection: replace the send transport. Its producers close now;
                    # producers created below continue their consumers (same kind and source).
                    replaced = await self._close_send_transport(worker, state, p)
            if p.send_transport_id is None or p.send_local is None:
                p.send_transport_id, p.send_local = await self._create_transport(router_id, participant_id)
                p.send_connected = False
                p.send_remote_ice = remote_ice
                p.send_fingerprints = _fp_set(offer.fingerprints)
            if not p.send_connected:
                # We answer setup:passive (the client is the DTLS client) unless the offer says passive.
                remote_role = "server" if offer.setup_role == "server" else "client"
                await worker.request(
                    "transport.connect",
                    p.send_transport_id,
                    {
                        "dtlsParameters": {"role": remote_role, "fingerprints": _fps(offer.fingerprints)},
                        "iceParameters": {"usernameFragment": offer.ice_ufrag},
                    },
                )
                p.send_connected = True
            created: list[ProducerInfo] = []
            closed: list[str] = list(replaced)
            accepted: set[str] = set()
            smalls = {s: b for s, b in (small_mids or {}).items() if s != b}
            by_mid = {m.mid: m for m in offer.media}
            for m in offer.media:
                if m.mid in smalls and by_mid.get(smalls[m.mid]) is not None:
                    if m.sending and m.codec is not None and m.ssrc is not None and m.kind == "video":
                        accepted.add(m.mid)  # an encoding of the big m-line's producer
                    continue
                existing = p.published.get(m.mid)
                if existing is not None and not m.sending:
                    await self._close_producer(worker, state, existing)
                    closed.append(existing)
                    continue
                if existing is not None:
                    accepted.add(m.mid)
                    continue
                if not m.sending or m.codec is None or m.kind not in ("audio", "video"):
                    continue
                if m.ssrc is None and not m.encodings:
                    raise UnsupportedError("m-line without a=ssrc or a=rid")
                small = next((by_mid[s] for s, b in smalls.items() if b == m.mid and s in by_mid), None)
                info = await self._produce(worker, state, p, m, small)
                created.append(info)
                accepted.add(m.mid)
            p.send_version += 1
            answer = sdp.build_answer(offer, p.send_local, accepted, p.send_session_id, p.send_version)
        for info in created:
            self._emit(
                MediaEvent(
                    MediaEventType.PRODUCER_ADDED,
                    router_id,
                    participant_id,
                    producer_id=info.producer_id,
                    data={"kind": info.kind, "source": info.source, "mid": info.mid},
                )
            )
        for pid in closed:
            self._emit(
                MediaEvent(
                    MediaEventType.PRODUCER_CLOSED,
                    router_id,
                    participant_id,
                    producer_id=pid,
                    reason=CloseReason.CLOSED,
                )
            )
        return PublishResult(answer, created, closed)

    async def _produce(
        self,
        worker: WorkerHandle,
        state: RouterState,
        p: ParticipantState,
        m: sdp.OfferedMedia,
        small: sdp.OfferedMedia | None = None,
    ) -> ProducerInfo:
        assert m.codec is not None and p.send_transport_id is not None
        sdp.consumer_payload_types(m.codec)  # raises UnsupportedError for codecs we cannot forward
        producer_id = uuid.uuid4().hex
        kind: MediaKind = "audio" if m.kind == "audio" else "video"
        params = produce_params(producer_id, m, small)
        await worker.request("transport.produce", p.send_transport_id, params)
        has_rtx = m.codec.rtx_payload_type is not None if m.encodings else m.rtx_ssrc is not None
        rec = ProducerRecord(
            producer_id,
            p.participant_id,
            kind,
            m.source,
            m.mid,
            m.ssrc or 0,
            m.codec,
            has_rtx,
            layers=max(1, len(params["encodings"])),
        )
        state.producers[producer_id] = rec
        p.published[m.mid] = producer_id
        await self._continue_orphans(worker, state, rec)
        return ProducerInfo(producer_id, p.participant_id, kind, m.source, m.mid, m.ssrc or 0)

    async def _continue_orphans(self, worker: WorkerHandle, state: RouterState, rec: ProducerRecord) -> None:
        """Attach consumers whose producer (same publisher, kind, source, codec) is gone to ``rec``."""
        for sub in state.participants.values():
            for ml in sub.mlines:
                if (
                    ml.active
                    and ml.consumer_id is not None
                    and ml.stream_id == rec.participant_id
                    and ml.kind == rec.kind
                    and ml.source == rec.source
                    and ml.producer_id not in state.producers
                    and ml.codec.mime_type.lower() == rec.codec.mime_type.lower()
                ):
                    with contextlib.suppress(InvalidStateError, TypeError, ValueError):
                        source_id = rec.producer_id
                        handle = worker
                        pipe: PipeRecord | None = None
                        w = sub.recv_worker
                        if w is not None and w != state.worker_index:  # an edge consumer: pipe it there
                            pipe = await self._ensure_pipe(state, rec, w)
                            source_id = pipe.edge_producer_id
                            handle = self._handle(w)
                        await handle.request(
                            "consumer.setProducer", ml.consumer_id, {"producerId": source_id}
                        )
                        if pipe is not None:
                            pipe.consumers.add(ml.consumer_id)
                        ml.producer_id = rec.producer_id

    async def _close_send_transport(
        self, worker: WorkerHandle, state: RouterState, p: ParticipantState
    ) -> list[str]:
        closed = [pid for pid, rec in state.producers.items() if rec.participant_id == p.participant_id]
        for pid in closed:
            del state.producers[pid]
            await self._drop_pipes(state, pid)
        p.published.clear()
        tid, p.send_transport_id, p.send_local = p.send_transport_id, None, None
        p.send_connected = False
        p.send_remote_ice = None
        if tid is not None:
            self._transport_owner.pop(tid, None)
            worker.transport_count = max(0, worker.transport_count - 1)
            with contextlib.suppress(InvalidStateError):
                await worker.request("transport.close", tid)
        return closed

    async def _close_producer(self, worker: WorkerHandle, state: RouterState, producer_id: str) -> None:
        await self._drop_pipes(state, producer_id)
        rec = state.producers.pop(producer_id, None)
        if rec is not None:
            p = state.participants.get(rec.participant_id)
            if p is not None and p.published.get(rec.mid) == producer_id:
                del p.published[rec.mid]
        with contextlib.suppress(InvalidStateError):
            await worker.request("producer.close", producer_id)

    async def unpublish(self, router_id: str, participant_id: str, producer_id: str) -> None:
        self._check()
        async with self._router(router_id).lock:  # one room at a time; rooms run in parallel
            state = self._router(router_id)
            rec = state.producers.get(producer_id)
            if rec is None or rec.participant_id != participant_id:
                raise ValueError("unknown producer for participant")
            await self._close_producer(self.worker_for_router(router_id), state, producer_id)
        self._emit(
            MediaEvent(
                MediaEventType.PRODUCER_CLOSED,
                router_id,
                participant_id,
                producer_id=producer_id,
                reason=CloseReason.CLOSED,
            )
        )

    async def pause_producer(self, router_id: str, producer_id: str) -> None:
        await self._producer_request(router_id, producer_id, "producer.pause", True)

    async def resume_producer(self, router_id: str, producer_id: str) -> None:
        await self._producer_request(router_id, producer_id, "producer.resume", False)

    async def request_keyframe(self, router_id: str, producer_id: str) -> None:
        await self._producer_request(router_id, producer_id, "producer.requestKeyFrame", None)

    async def _producer_request(
        self, router_id: str, producer_id: str, method: str, paused: bool | None
    ) -> None:
        self._check()
        state = self._router(router_id)
        rec = state.producers.get(producer_id)
        if rec is None:
            raise ValueError("unknown producer")
        await self.worker_for_router(router_id).request(method, producer_id)
        if paused is not None and rec.paused != paused:
            rec.paused = paused
            etype = MediaEventType.PRODUCER_PAUSED if paused else MediaEventType.PRODUCER_RESUMED
            self._emit(MediaEvent(etype, router_id, rec.participant_id, producer_id=producer_id))

    # -- subscribing ---------------------------------------------------------------------------------
    async def subscribe(
        self, router_id: str, participant_id: str, producer_ids: Sequence[str], *, audience: bool = False
    ) -> SubscribeResult:
        """Add a consumer per producer, each in isolation: a producer that cannot be consumed is reported
        in ``failed`` and affects no other. The offer covers ALL consumers of the recv transport.

        The recv transport is created on the first call, on the worker ``_place_recv`` picks (``audience``
        members are always spread); on another worker than the room's origin, the producers reach it
        through pipes (one per producer and worker, shared, closed with their last consumer)."""
        self._check()
        async with self._router(router_id).lock:  # one room at a time; rooms run in parallel
            state = self._router(router_id)
            p = state.participant(participant_id)
            if p.recv_transport_id is None or p.recv_local is None:
                w = self._place_recv(state, audience)
                edge = None if w == state.worker_index else await self._ensure_edge(state, w)
                p.recv_transport_id, p.recv_local = await self._create_transport(
                    router_id, participant_id, edge
                )
                p.recv_worker = w
                p.recv_connected = False
            worker = self._recv_handle(state, p)
            added: list[str] = []
            failed: dict[str, str] = {}
            for producer_id in producer_ids:
                if p.active_mline_for(producer_id) is not None:
                    continue
                try:
                    await self._consume(worker, state, p, producer_id)
                except InvalidStateError:
                    raise  # the worker or the transport is gone: nothing to isolate
                except Exception as exc:
                    failed[producer_id] = f"{exc.__class__.__name__}: {exc}"
                    logger.warning(
                        "consumer not created",
                        extra={"producer": producer_id, "participant": participant_id, "reason": str(exc)},
                    )
                    continue
                added.append(producer_id)
            return SubscribeResult(self._subscriber_offer(p), added, failed)

    async def _consume(
        self,
        worker: WorkerHandle,
        state: RouterState,
        p: ParticipantState,
        producer_id: str,
        viewer: tuple[str, sdp.CodecInfo] | None = None,
    ) -> None:
        """A consumer of ``producer_id`` on p's recv transport. ``viewer``: (mid, the viewer's codec
        entry) when answering a viewer's offer: its mid and payload types are used instead of ours."""
        rec = state.producers.get(producer_id)
        if rec is None:
            raise ValueError("unknown producer")
        pipe: PipeRecord | None = None
        source_id = producer_id
        if p.recv_worker is not None and p.recv_worker != state.worker_index:
            pipe = await self._ensure_pipe(state, rec, p.recv_worker)
            source_id = pipe.edge_producer_id
        with_rtx = rec.has_rtx and rec.kind == "video"
        if viewer is None:
            pt, rtx_pt = sdp.allocate_payload_types(p.mlines, rec.codec, with_rtx)
        else:
            with_rtx = with_rtx and viewer[1].rtx_payload_type is not None
            pt, rtx_pt = viewer[1].payload_type, (viewer[1].rtx_payload_type if with_rtx else None)
        ssrc = sdp.new_ssrc(state.ssrcs)
        rtx_ssrc = sdp.new_ssrc(state.ssrcs) if with_rtx else None
        consumer_id = uuid.uuid4().hex
        try:
            await worker.request(
                "transport.consume",
                p.recv_transport_id,
                {
                    "consumerId": consumer_id,
                    "producerId": source_id,
                    "ssrc": ssrc,
                    "payloadType": pt,
                    "rtxSsrc": rtx_ssrc,
                    "rtxPayloadType": rtx_pt,
                    "spatialLayer": 0 if _wants_small(p, rec) else None,
                },
            )
        except BaseException:
            state.ssrcs.difference_update((ssrc, rtx_ssrc))
            if pipe is not None and p.recv_worker is not None:
                await self._release(state, p.recv_worker, [(producer_id, None)])
            raise
        if pipe is not None:
            pipe.consumers.add(consumer_id)
        self._consumer_owner[consumer_id] = (state.router_id, p.participant_id)
        p.mlines.append(
            sdp.SubscriberMLine(
                mid=viewer[0] if viewer is not None else str(len(p.mlines)),
                kind=rec.kind,
                codec=rec.codec,
                payload_type=pt,
                rtx_payload_type=rtx_pt,
                ssrc=ssrc,
                rtx_ssrc=rtx_ssrc,
                stream_id=rec.participant_id,
                track_id=producer_id,
                source=rec.source,
                consumer_id=consumer_id,
                producer_id=producer_id,
            )
        )

    async def set_small_stream(
        self, router_id: str, participant_id: str, publisher_id: str, small: bool
    ) -> None:
        """Whether ``participant_id`` wants ``publisher_id``'s camera as the small stream (the lowest
        simulcast layer) or the big one (the highest); kept for later consumers of that publisher too.
        A publisher without a small stream keeps sending its one encoding (TRTC's fallback)."""
        self._check()
        async with self._router(router_id).lock:
            state = self._router(router_id)
            p = state.participant(participant_id)
            if small:
                p.small_from.add(publisher_id)
            else:
                p.small_from.discard(publisher_id)
            if p.recv_transport_id is None:
                return
            # Through a pipe (an edge worker) only the highest encoding travels: the choice is kept and
            # the consumer there ignores it (one encoding).
            worker = self._recv_handle(state, p)
            for ml in p.mlines:
                if ml.active and ml.consumer_id and ml.kind == "video" and ml.source == "main":
                    if ml.stream_id == publisher_id:
                        with contextlib.suppress(InvalidStateError):
                            layer = {"spatialLayer": 0 if small else 2}
                            await worker.request("consumer.setPreferredLayers", ml.consumer_id, layer)

    async def play(
        self,
        router_id: str,
        participant_id: str,
        producer_ids: Sequence[str],
        offer_sdp: str,
        *,
        audience: bool = False,
    ) -> PlayResult:
        """Answer a receive-only client's offer (WHEP) with consumers of ``producer_ids`` on a recv
        transport: each producer takes the first free receiving m-line of its kind that offers its
        codec, with the client's mid and payload types. Other m-lines are rejected. Raises ValueError
        for a malformed offer, UnsupportedError when no producer fits any m-line. The transport is
        placed as ``subscribe`` places one (``audience``: spread)."""
        self._check()
        offer = sdp.parse_viewer_offer(offer_sdp)
        async with self._router(router_id).lock:
            state = self._router(router_id)
            p = state.participant(participant_id)
            if p.recv_transport_id is not None:
                raise InvalidStateError("participant already has a recv transport")
            plan: list[tuple[str, str, sdp.CodecInfo]] = []  # (producer id, mid, viewer codec)
            used: set[str] = set()
            missing: list[str] = []
            for producer_id in producer_ids:
                rec = state.producers.get(producer_id)
                if rec is None:
                    continue
                for m in offer.media:
                    if m.mid in used or m.kind != rec.kind or not m.receiving:
                        continue
                    codec = sdp.match_codec(m.codecs, rec.codec)
                    if codec is not None:
                        used.add(m.mid)
                        plan.append((producer_id, m.mid, codec))
                        break
                else:
                    missing.append(f"{rec.kind} {rec.codec.mime_type}")
            if not plan:
                raise UnsupportedError(
                    "no receiving m-line of the offer takes what is published"
                    + (f" ({', '.join(missing)})" if missing else "")
                )
            w = self._place_recv(state, audience)
            edge = None if w == state.worker_index else await self._ensure_edge(state, w)
            p.recv_transport_id, p.recv_local = await self._create_transport(router_id, participant_id, edge)
            p.recv_worker = w
            worker = self._recv_handle(state, p)
            remote_role = "server" if offer.setup_role == "server" else "client"
            await worker.request(
                "transport.connect",
                p.recv_transport_id,
                {
                    "dtlsParameters": {"role": remote_role, "fingerprints": _fps(offer.fingerprints)},
                    "iceParameters": {"usernameFragment": offer.ice_ufrag},
                },
            )
            p.recv_connected = True
            for producer_id, mid, codec in plan:
                await self._consume(worker, state, p, producer_id, (mid, codec))
            lines = {ml.mid: ml for ml in p.mlines if ml.active}
            answer = sdp.build_viewer_answer(offer, p.recv_local, lines, p.session_id)
            return PlayResult(answer, [producer_id for producer_id, _, _ in plan], missing)

    async def subscriber_offer(self, router_id: str, participant_id: str) -> str:
        """A fresh offer (next version) of the recv transport as it is, e.g. after an answer was refused."""
        self._check()
        async with self._router(router_id).lock:
            p = self._router(router_id).participants.get(participant_id)
            if p is None or p.recv_local is None:
                raise InvalidStateError("participant has no recv transport")
            return self._subscriber_offer(p)

    def _subscriber_offer(self, p: ParticipantState) -> str:
        assert p.recv_local is not None
        p.recv_version += 1
        return sdp.build_subscriber_offer(p.mlines, p.recv_local, p.session_id, p.recv_version)

    async def unsubscribe(self, router_id: str, participant_id: str, producer_ids: Sequence[str]) -> str:
        """Close consumers; returns a re-offer (their m-lines become inactive, never removed)."""
        self._check()
        async with self._router(router_id).lock:  # one room at a time; rooms run in parallel
            state = self._router(router_id)
            p = state.participants.get(participant_id)
            if p is None or p.recv_local is None:
                raise InvalidStateError("participant has no recv transport")
            worker = self._recv_handle(state, p)
            wanted = set(producer_ids)
            released: list[tuple[str | None, str | None]] = []
            for ml in p.mlines:
                if ml.active and ml.producer_id in wanted:
                    ml.active = False
                    if ml.consumer_id is not None:
                        self._consumer_owner.pop(ml.consumer_id, None)
                        with contextlib.suppress(InvalidStateError):
                            await worker.request("consumer.close", ml.consumer_id)
                        released.append((ml.producer_id, ml.consumer_id))
                        ml.consumer_id = None
            if p.recv_worker is not None and p.recv_worker != state.worker_index:
                await self._release(state, p.recv_worker, released)
            return self._subscriber_offer(p)

    async def set_subscriber_answer(self, router_id: str, participant_id: str, answer_sdp: str) -> None:
        self._check()
        answer = sdp.parse_answer(answer_sdp)
        async with self._router(router_id).lock:  # one room at a time; rooms run in parallel
            state = self._router(router_id)
            p = state.participants.get(participant_id)
            if p is None or p.recv_transport_id is None:
                raise InvalidStateError("participant has no recv transport")
            worker = self._recv_handle(state, p)
            for ml in p.mlines:
                # RTX is offered on every video m-line; a client that drops it gets plain retransmissions
                kept = answer.payload_types.get(ml.mid)
                if ml.active and ml.consumer_id and ml.rtx_payload_type is not None and kept is not None:
                    if ml.rtx_payload_type not in kept and ml.rtx_accepted:
                        ml.rtx_accepted = False
                        with contextlib.suppress(InvalidStateError):
                            await worker.request("consumer.disableRtx", ml.consumer_id)
            if p.recv_connected:
                return
            role = answer.setup_role or "client"
            if role not in ("client", "server"):
                raise ValueError("answer must use setup active or passive")
            await worker.request(
                "transport.connect",
                p.recv_transport_id,
                {
                    "dtlsParameters": {"role": role, "fingerprints": _fps(answer.fingerprints)},
                    "iceParameters": {"usernameFragment": answer.ice_ufrag},
                    "transportCc": answer.transport_cc_ext,  # 0: no send-side estimate (REMB instead)
                },
            )
            p.recv_connected = True

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


def produce_params(
    producer_id: str, m: sdp.OfferedMedia, small: sdp.OfferedMedia | None = None
) -> dict[str, Any]:
    """The ``transport.produce`` request for an offered m-line (every value range-checked by the parser),
    with ``small``, another m-line's track, as its lower encoding when it fits (same codec, one SSRC)."""
    assert m.codec is not None and (m.ssrc is not None or m.encodings)
    encodings = [e.to_dict() for e in m.encodings]
    if (
        small is not None
        and not m.encodings
        and not small.encodings
        and small.ssrc is not None
        and small.codec is not None
        and small.codec.mime_type.lower() == m.codec.mime_type.lower()
        and m.kind == small.kind == "video"
    ):
        encodings = [
            {
                "ssrc": small.ssrc,
                "rtxSsrc": small.rtx_ssrc,
                "payloadType": small.codec.payload_type,
                "rtxPayloadType": small.codec.rtx_payload_type if small.rtx_ssrc is not None else None,
                "mid": small.mid,
            },
            {"ssrc": m.ssrc, "rtxSsrc": m.rtx_ssrc},
        ]
    return {
        "producerId": producer_id,
        "kind": "audio" if m.kind == "audio" else "video",
        "mimeType": m.codec.mime_type,
        "clockRate": m.codec.clock_rate,
        "payloadType": m.codec.payload_type,
        "ssrc": m.ssrc,
        "rtxSsrc": m.rtx_ssrc,
        "rtxPayloadType": m.codec.rtx_payload_type if m.rtx_ssrc is not None else None,
        "mid": m.mid,
        "useFir": "nack pli" not in m.codec.rtcp_feedback and "ccm fir" in m.codec.rtcp_feedback,
        "headerExtensions": [
            [i, uri] for i, uri in m.extensions if uri != TWCC_URI or "transport-cc" in m.codec.rtcp_feedback
        ],
        "encodings": encodings,
    }


def _wants_small(p: ParticipantState, rec: ProducerRecord) -> bool:
    return rec.participant_id in p.small_from and rec.source == "main"


async def _quiet(request: Awaitable[dict[str, Any]]) -> None:
    """A best-effort clean-up request: the object or its worker may be gone already."""
    with contextlib.suppress(InvalidStateError, TypeError, ValueError):
        await request


def _fp_set(fingerprints: list[tuple[str, str]]) -> frozenset[tuple[str, str]]:
    return frozenset((a.lower(), v.upper()) for a, v in fingerprints)


def _fps(fingerprints: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"algorithm": a, "value": v} for a, v in fingerprints]
