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
from collections.abc import Callable, Sequence
from typing import Any

from relayroom.media import sdp
from relayroom.media.rtp.twcc import TWCC_URI
from relayroom.media.service_state import ParticipantState, ProducerRecord, RouterState
from relayroom.media.types import (
    CloseReason,
    InvalidStateError,
    MediaEvent,
    MediaEventType,
    MediaKind,
    MediaParams,
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
        self._listeners: list[Callable[[MediaEvent], None]] = []
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
        self._emit(
            MediaEvent(
                MediaEventType.WORKER_DIED,
                router_ids=lost,
                reason=CloseReason.WORKER_DIED,
                data={"worker": handle.index},
            )
        )
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
        removed = 0
        for tid, (rid, _) in list(self._transport_owner.items()):
            if rid == router_id:
                del self._transport_owner[tid]
                removed += 1
        for cid, (rid, _) in list(self._consumer_owner.items()):
            if rid == router_id:
                del self._consumer_owner[cid]
        w = self._workers[state.worker_index]
        if w is not None:
            w.router_ids.discard(router_id)
            w.transport_count = max(0, w.transport_count - removed)

    def _on_worker_notification(
        self, handle: WorkerHandle, target_id: str, event: str, data: dict[str, Any]
    ) -> None:
        if event == "statechange" and target_id in self._transport_owner:
            router_id, pid = self._transport_owner[target_id]
            if data.get("state") == "connected":
                self._emit(MediaEvent(MediaEventType.TRANSPORT_CONNECTED, router_id, pid, data=dict(data)))
        elif event == "transportclose" and target_id in self._transport_owner:
            router_id, pid = self._transport_owner.pop(target_id)
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
                if participant.recv_transport_id == target_id:
                    participant.recv_transport_id = None
                    participant.recv_local = None
                    participant.recv_connected = False
                    for ml in participant.mlines:
                        if ml.consumer_id is not None:
                            self._consumer_owner.pop(ml.consumer_id, None)
                    participant.mlines.clear()
            self._emit(
                MediaEvent(
                    MediaEventType.TRANSPORT_CLOSED,
                    router_id,
                    pid,
                    reason=data.get("reason"),
                    data={"transportId": target_id},
                )
            )
        elif event == "producerclose":
            if target_id in self._consumer_owner:
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
        state = self._routers.get(router_id)
        if state is None:
            return
        worker = self._workers[state.worker_index]
        self._forget_router(router_id)
        if worker is not None and not worker.closed:
            with contextlib.suppress(InvalidStateError):
                await worker.request("router.close", router_id)

    # -- publishing ----------------------------------------------------------------------------------
    async def _create_transport(self, router_id: str, participant_id: str) -> tuple[str, sdp.LocalTransport]:
        worker = self.worker_for_router(router_id)
        transport_id = uuid.uuid4().hex
        params = await worker.request(
            "router.createWebRtcTransport", router_id, {"transportId": transport_id}
        )
        worker.transport_count += 1
        self._transport_owner[transport_id] = (router_id, participant_id)
        return transport_id, sdp.LocalTransport.from_worker(params)

    async def publish(self, router_id: str, participant_id: str, offer_sdp: str) -> PublishResult:
        """Apply a publisher's offer to its send transport (created on first call); returns the answer.

        Call again with a renegotiated offer: new sending m-lines become producers, m-lines set inactive
        close theirs. A new producer of the same kind and source as one this participant closed before
        continues that producer's consumers (subscribers see one continuous stream).
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
            for m in offer.media:
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
                if m.ssrc is None:
                    raise UnsupportedError("m-line without a=ssrc (simulcast/rid) is not supported")
                info = await self._produce(worker, state, p, m)
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
        self, worker: WorkerHandle, state: RouterState, p: ParticipantState, m: sdp.OfferedMedia
    ) -> ProducerInfo:
        assert m.codec is not None and m.ssrc is not None and p.send_transport_id is not None
        sdp.consumer_payload_types(m.codec)  # raises UnsupportedError for codecs we cannot forward
        producer_id = uuid.uuid4().hex
        kind: MediaKind = "audio" if m.kind == "audio" else "video"
        await worker.request("transport.produce", p.send_transport_id, produce_params(producer_id, m))
        rec = ProducerRecord(
            producer_id, p.participant_id, kind, m.source, m.mid, m.ssrc, m.codec, m.rtx_ssrc is not None
        )
        state.producers[producer_id] = rec
        p.published[m.mid] = producer_id
        await self._continue_orphans(worker, state, rec)
        return ProducerInfo(producer_id, p.participant_id, kind, m.source, m.mid, m.ssrc)

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
                    with contextlib.suppress(InvalidStateError, TypeError):
                        await worker.request(
                            "consumer.setProducer", ml.consumer_id, {"producerId": rec.producer_id}
                        )
                        ml.producer_id = rec.producer_id

    async def _close_send_transport(
        self, worker: WorkerHandle, state: RouterState, p: ParticipantState
    ) -> list[str]:
        closed = [pid for pid, rec in state.producers.items() if rec.participant_id == p.participant_id]
        for pid in closed:
            del state.producers[pid]
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
        self, router_id: str, participant_id: str, producer_ids: Sequence[str]
    ) -> SubscribeResult:
        """Add a consumer per producer, each in isolation: a producer that cannot be consumed is reported
        in ``failed`` and affects no other. The offer covers ALL consumers of the recv transport."""
        self._check()
        async with self._router(router_id).lock:  # one room at a time; rooms run in parallel
            state = self._router(router_id)
            worker = self.worker_for_router(router_id)
            p = state.participant(participant_id)
            if p.recv_transport_id is None or p.recv_local is None:
                p.recv_transport_id, p.recv_local = await self._create_transport(router_id, participant_id)
                p.recv_connected = False
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
        self, worker: WorkerHandle, state: RouterState, p: ParticipantState, producer_id: str
    ) -> None:
        rec = state.producers.get(producer_id)
        if rec is None:
            raise ValueError("unknown producer")
        with_rtx = rec.has_rtx and rec.kind == "video"
        pt, rtx_pt = sdp.allocate_payload_types(p.mlines, rec.codec, with_rtx)
        ssrc = sdp.new_ssrc(state.ssrcs)
        rtx_ssrc = sdp.new_ssrc(state.ssrcs) if with_rtx else None
        consumer_id = uuid.uuid4().hex
        try:
            await worker.request(
                "transport.consume",
                p.recv_transport_id,
                {
                    "consumerId": consumer_id,
                    "producerId": producer_id,
                    "ssrc": ssrc,
                    "payloadType": pt,
                    "rtxSsrc": rtx_ssrc,
                    "rtxPayloadType": rtx_pt,
                },
            )
        except BaseException:
            state.ssrcs.difference_update((ssrc, rtx_ssrc))
            raise
        self._consumer_owner[consumer_id] = (state.router_id, p.participant_id)
        p.mlines.append(
            sdp.SubscriberMLine(
                mid=str(len(p.mlines)),
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
            worker = self.worker_for_router(router_id)
            p = state.participants.get(participant_id)
            if p is None or p.recv_local is None:
                raise InvalidStateError("participant has no recv transport")
            wanted = set(producer_ids)
            for ml in p.mlines:
                if ml.active and ml.producer_id in wanted:
                    ml.active = False
                    if ml.consumer_id is not None:
                        self._consumer_owner.pop(ml.consumer_id, None)
                        with contextlib.suppress(InvalidStateError):
                            await worker.request("consumer.close", ml.consumer_id)
                        ml.consumer_id = None
            return self._subscriber_offer(p)

    async def set_subscriber_answer(self, router_id: str, participant_id: str, answer_sdp: str) -> None:
        self._check()
        answer = sdp.parse_answer(answer_sdp)
        async with self._router(router_id).lock:  # one room at a time; rooms run in parallel
            state = self._router(router_id)
            p = state.participants.get(participant_id)
            if p is None or p.recv_transport_id is None:
                raise InvalidStateError("participant has no recv transport")
            worker = self.worker_for_router(router_id)
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
            worker = self.worker_for_router(router_id)
            closed = [pid for pid, rec in state.producers.items() if rec.participant_id == participant_id]
            for pid in closed:
                state.producers.pop(pid, None)
            for ml in p.mlines:
                if ml.consumer_id:
                    self._consumer_owner.pop(ml.consumer_id, None)
            for tid in (p.send_transport_id, p.recv_transport_id):
                if tid is not None:
                    with contextlib.suppress(InvalidStateError):
                        await worker.request("transport.close", tid)
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
        by_transport = await self.worker_for_router(router_id).request("router.stats", router_id)
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
                }
                for rid, s in self._routers.items()
            },
        }


def produce_params(producer_id: str, m: sdp.OfferedMedia) -> dict[str, Any]:
    """The ``transport.produce`` request for an offered m-line (every value range-checked by the parser)."""
    assert m.codec is not None and m.ssrc is not None
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
    }


def _fp_set(fingerprints: list[tuple[str, str]]) -> frozenset[tuple[str, str]]:
    return frozenset((a.lower(), v.upper()) for a, v in fingerprints)


def _fps(fingerprints: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"algorithm": a, "value": v} for a, v in fingerprints]
