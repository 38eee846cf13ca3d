"""MediaService: subscribing (recv transports, consumers, the small/big stream choice) and WHEP play."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Sequence

from relayroom.media import sdp
from relayroom.media.service_core import _connect
from relayroom.media.service_pipes import PipesMixin
from relayroom.media.service_state import ParticipantState, PipeRecord, ProducerRecord, RouterState
from relayroom.media.types import InvalidStateError, PlayResult, SubscribeResult, UnsupportedError
from relayroom.media.worker_handle import WorkerHandle

logger = logging.getLogger("relayroom.media.service")


class SubscribeMixin(PipesMixin):
    """Recv transports and consumers."""

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
            # on an edge worker too: a pipe carries every encoding of a simulcast producer
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
            await _connect(worker, p.recv_transport_id, remote_role, offer.fingerprints, offer.ice_ufrag)
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
            await _connect(worker, p.recv_transport_id, role, answer.fingerprints, answer.ice_ufrag)
            p.recv_connected = True


def _wants_small(p: ParticipantState, rec: ProducerRecord) -> bool:
    return rec.participant_id in p.small_from and rec.source == "main"
