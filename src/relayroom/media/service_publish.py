"""MediaService: publishing (send transports and producers, their renegotiation and ICE restarts)."""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import Mapping
from typing import Any

from relayroom.media import sdp
from relayroom.media.rtp.twcc import TWCC_URI
from relayroom.media.service_core import _connect, _fp_set
from relayroom.media.service_pipes import PipesMixin
from relayroom.media.service_state import ParticipantState, PipeRecord, ProducerRecord, RouterState
from relayroom.media.types import (
    CloseReason,
    InvalidStateError,
    MediaEvent,
    MediaEventType,
    MediaKind,
    ProducerInfo,
    PublishResult,
    UnsupportedError,
)
from relayroom.media.worker_handle import WorkerHandle


class PublishMixin(PipesMixin):
    """Send transports and producers."""

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
                await _connect(worker, p.send_transport_id, remote_role, offer.fingerprints, offer.ice_ufrag)
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
