"""MediaService: spreading a room over workers. A member's recv transport is placed on the least-loaded
worker when needed; there the room gets an edge router joined to the origin by a pipe transport pair,
and each producer a subscriber there needs is piped once (shared, closed with its last consumer)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from relayroom.media import sdp
from relayroom.media.pipe_transport import new_pipe_keys
from relayroom.media.service_core import ServiceCore, _quiet
from relayroom.media.service_state import EdgeState, PipeRecord, ProducerRecord, RouterState
from relayroom.media.types import CloseReason, InvalidStateError, MediaEvent, MediaEventType


class PipesMixin(ServiceCore):
    """Placement of recv transports, edges and pipes."""

    pipe_srtp: bool = False  # key every pipe pair with SRTP (across machines; tests on one machine)

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

    def _forget_pipes(self, edge: EdgeState) -> None:
        for pipe in edge.pipes.values():
            self._pipe_consumers.pop(pipe.pipe_consumer_id, None)
            self._edge_producers.discard(pipe.edge_producer_id)
        edge.pipes.clear()

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
            # SRTP keys (one per direction) only when asked: the two ends are on this machine
            keys = new_pipe_keys() if self.pipe_srtp else None
            for handle, pipe, peer, srtp in (
                (origin, origin_pipe, edge_pipe, keys[0] if keys else None),
                (worker, edge_pipe, origin_pipe, keys[1] if keys else None),
            ):
                connect = {"ip": peer["ip"], "port": peer["port"], **({"srtp": srtp} if srtp else {})}
                await handle.request("pipeTransport.connect", pipe["id"], connect)
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
        # a simulcast producer travels whole: one pipe ssrc (and rtx ssrc) per layer, lowest first
        layers = [
            (sdp.new_ssrc(edge.ssrcs), sdp.new_ssrc(edge.ssrcs) if with_rtx else None)
            for _ in range(rec.layers if rec.kind == "video" else 1)
        ]
        ssrc, rtx_ssrc = layers[-1]
        encodings = [{"ssrc": s, "rtxSsrc": r} for s, r in layers] if len(layers) > 1 else []
        rtx_pt = rec.codec.rtx_payload_type if with_rtx else None
        pipe = PipeRecord(
            rec.producer_id,
            uuid.uuid4().hex,
            uuid.uuid4().hex,
            ssrc,
            rtx_ssrc,
            layer_ssrcs=tuple(s for layer in layers[:-1] for s in layer),
        )
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
                "encodings": encodings,
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
                    "encodings": encodings,
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
        edge.ssrcs.difference_update((pipe.ssrc, pipe.rtx_ssrc, *pipe.layer_ssrcs))
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
