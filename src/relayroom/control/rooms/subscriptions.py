"""Subscriber renegotiation: each participant's receive transport converges to the streams it wants.

One task per subscriber, one offer at a time: removals first, then additions, each offer waiting for
its answer before the next (docs/decisions/0003 §3). The wanted set is recomputed from the room state on
every round, so any change anywhere (publish, leave, subscribe, role) only has to call `renegotiate`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from relayroom.control.rooms.backend import MediaBackend
from relayroom.control.rooms.entry import RECV_PRIVILEGE
from relayroom.control.rooms.errors import ErrorCode
from relayroom.control.rooms.participant import Participant
from relayroom.control.rooms.room import Room

Spawn = Callable[[Coroutine[Any, Any, None], str], "asyncio.Task[None]"]


class SubscriptionNegotiator:
    def __init__(
        self, media: MediaBackend, answer_timeout_s: float, spawn: Spawn, logger: logging.Logger
    ) -> None:
        self._media = media
        self._answer_timeout_s = answer_timeout_s
        self._spawn = spawn
        self._log = logger

    def desired(self, room: Room, p: Participant) -> set[str]:
        want: set[str] = set()
        for other in room.others(p):
            for pub in other.publications.values():
                if pub.producer_id in p.subscribe_failed:
                    continue
                key = (other.user_id, pub.source, pub.kind)
                auto = p.auto_receive_audio if pub.kind == "audio" else p.auto_receive_video
                if not p.overrides.get(key, auto):
                    continue
                if p.permission_key_enforced and not p.privileges & RECV_PRIVILEGE[(pub.kind, pub.source)][0]:
                    continue
                want.add(pub.producer_id)
        return want

    def renegotiate(self, room: Room, participants: Iterable[Participant]) -> None:
        for p in participants:
            if p.closed:
                continue
            if p.negotiator is None or p.negotiator.done():
                p.negotiator = self._spawn(self._negotiate(room, p), f"negotiate-{p.participant_id}")

    def stop(self, p: Participant) -> None:
        if p.pending_answer is not None and not p.pending_answer[1].done():
            p.pending_answer[1].cancel()
        p.pending_answer = None
        p.pending_offer = None
        if p.negotiator is not None and p.negotiator is not asyncio.current_task():
            p.negotiator.cancel()
        p.negotiator = None

    def stream_table(self, room: Room, producer_ids: Iterable[str], offer_sdp: str) -> list[dict[str, Any]]:
        """Which remote stream each active m-line of a subscriber offer carries, so that the client can
        label its tracks. The media layer writes ``a=msid:<publisher participant id> <producer id>``
        (the track id stays the first producer's id when a republished producer continues it)."""
        owners = {
            pub.producer_id: (o, pub) for o in room.participants.values() for pub in o.publications.values()
        }
        wanted = {pid for pid in producer_ids if pid in owners}
        sections = offer_sections(offer_sdp)
        mids: dict[str, str] = {}
        for mid, _kind, _stream_id, track_id in sections:
            if track_id in wanted:
                mids[track_id] = mid
        for mid, kind, stream_id, _track_id in sections:  # continued tracks: match publisher + kind
            if mid in mids.values():
                continue
            for pid in sorted(wanted - mids.keys()):
                o, pub = owners[pid]
                if o.participant_id == stream_id and pub.kind == kind:
                    mids[pid] = mid
                    break
        out = []
        for producer_id in sorted(wanted):
            o, pub = owners[producer_id]
            out.append(
                {
                    "producerId": producer_id,
                    "userId": o.user_id,
                    "kind": pub.kind,
                    "streamType": pub.source,
                    "mid": mids.get(producer_id),
                }
            )
        return out

    async def _negotiate(self, room: Room, p: Participant) -> None:
        """One offer/answer at a time per subscriber: the recv transport is renegotiated until it
        carries exactly the producers ``p`` wants (removals first, then additions)."""
        loop = asyncio.get_running_loop()
        while not p.closed and not room.closed:
            desired = self.desired(room, p)
            remove = p.subscribed - desired
            add = desired - p.subscribed
            if not add and not remove:
                return
            try:
                if remove:
                    offer = await self._media.unsubscribe(room.router_id, p.participant_id, sorted(remove))
                    p.subscribed -= remove
                else:
                    offer = await self._media.subscribe(room.router_id, p.participant_id, sorted(add))
                    p.subscribed |= add
            except Exception:
                if remove:
                    # The producer is gone already (publisher left); its consumer went with it.
                    p.subscribed -= remove
                    continue
                published = {
                    pub.producer_id for o in room.participants.values() for pub in o.publications.values()
                }
                if add - published:
                    continue  # raced with an unpublish: recompute without the producer that went away
                self._log.warning("subscribe failed", extra={"participant": p.participant_id})
                p.subscribe_failed |= add  # not retried until republished, so a bad producer cannot spin
                continue
            if p.closed:
                return
            p.negotiation_seq += 1
            nid = p.negotiation_seq
            fut: asyncio.Future[str] = loop.create_future()
            p.pending_answer = (nid, fut)
            p.pending_offer = {
                "negotiationId": nid,
                "sdp": offer,
                "streams": self.stream_table(room, p.subscribed, offer),
            }
            p.send("offer", p.pending_offer)
            try:
                answer = await asyncio.wait_for(fut, self._answer_timeout_s)
            except TimeoutError:
                # Give up this round rather than spin: the next room change renegotiates again, and a
                # client that went silent is removed by the sweeper.
                self._log.warning("no answer to subscriber offer", extra={"participant": p.participant_id})
                return
            finally:
                if p.pending_answer is not None and p.pending_answer[0] == nid:
                    p.pending_answer = None
                    p.pending_offer = None
            try:
                await self._media.set_subscriber_answer(room.router_id, p.participant_id, answer)
            except Exception:
                self._log.warning("subscriber answer refused", extra={"participant": p.participant_id})
                p.send("error", {"code": int(ErrorCode.INVALID_PARAMETER), "message": "answer refused"})
                return
            await self.request_keyframes(room, add)

    async def request_keyframes(self, room: Room, producer_ids: Iterable[str]) -> None:
        video = {
            pub.producer_id
            for o in room.participants.values()
            for pub in o.publications.values()
            if pub.kind == "video"
        }
        for producer_id in sorted(set(producer_ids) & video):
            try:
                await self._media.request_keyframe(room.router_id, producer_id)
            except Exception:
                self._log.debug("keyframe request failed", extra={"producer": producer_id})


def offer_sections(sdp: str) -> list[tuple[str, str, str, str]]:
    """(mid, kind, msid stream, msid track) of each active m-section of an SDP."""
    out = []
    for section in sdp.replace("\r\n", "\n").split("\nm=")[1:]:
        lines = section.split("\n")
        kind = lines[0].split(" ", 1)[0]
        mid = stream = track = ""
        for line in lines[1:]:
            if line.startswith("a=mid:"):
                mid = line[6:].strip()
            elif line.startswith("a=msid:"):
                parts = line[7:].split()
                if len(parts) == 2:
                    stream, track = parts
        if mid and track:
            out.append((mid, kind, stream, track))
    return out
