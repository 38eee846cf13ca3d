"""Subscriber renegotiation: each participant's receive transport converges to the streams it wants.

One task per subscriber, one offer at a time: removals first, then additions, each offer waiting for
its answer before the next (docs/decisions/0003 §3). The wanted set is recomputed from the room state on
every round, so any change anywhere (publish, leave, subscribe, role) only has to call `renegotiate`.

Nothing is given up while the member stays (docs/signalling.md §2, "Offers and retries"):
- an unanswered offer is sent again, same ``negotiationId``, with backoff, until it is answered; after
  ``answer_timeout_s`` the client also gets an ``error`` event saying so;
- a refused answer gets an ``error`` event and a fresh offer of the transport's state, with backoff;
- a producer whose consumer cannot be created fails alone (the others are offered), the client gets an
  ``error`` event naming the stream, and it is tried again with backoff while it is published.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any

from relayroom.control.rooms.backend import MediaBackend
from relayroom.control.rooms.entry import RECV_PRIVILEGE
from relayroom.control.rooms.errors import ErrorCode
from relayroom.control.rooms.participant import FailedSubscription, Participant, Role
from relayroom.control.rooms.room import Room

Spawn = Callable[[Coroutine[Any, Any, None], str], "asyncio.Task[None]"]


@dataclass(frozen=True)
class NegotiationTiming:
    offer_resend_s: float = 2.0  # first re-send of an unanswered offer; doubles each time
    offer_resend_max_s: float = 30.0
    answer_timeout_s: float = 10.0  # unanswered this long: the client is told (offers keep coming)
    retry_s: float = 1.0  # first retry of a failed consumer or after a refused answer; doubles
    retry_max_s: float = 60.0


def backoff(first: float, cap: float, attempts: int) -> float:
    """first, 2*first, 4*first... never above cap (attempts counts from 1)."""
    return float(min(cap, first * 2 ** min(attempts - 1, 30)))


class SubscriptionNegotiator:
    def __init__(
        self, media: MediaBackend, timing: NegotiationTiming, spawn: Spawn, logger: logging.Logger
    ) -> None:
        self._media = media
        self._t = timing
        self._spawn = spawn
        self._log = logger

    def desired(self, room: Room, p: Participant) -> set[str]:
        want: set[str] = set()
        for other in room.others(p):
            for pub in other.publications.values():
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
            if p.closed or p.held_by_media:
                # No signalling socket to take server offers (WHIP/WHEP): a viewer's receive side was
                # set up by its own offer (control/whip/), a publisher receives nothing.
                continue
            p.negotiator_wakeup.set()  # a negotiator waiting for a retry looks again now
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
            p.negotiator_wakeup.clear()
            now = loop.time()
            desired = self.desired(room, p)
            for producer_id in set(p.subscribe_failed) - desired:
                del p.subscribe_failed[producer_id]  # unpublished, unsubscribed or no longer allowed
            remove = p.subscribed - desired
            add = {
                pid
                for pid in desired - p.subscribed
                if pid not in p.subscribe_failed or p.subscribe_failed[pid].retry_at <= now
            }
            offer: str | None = None
            added: list[str] = []
            try:
                if remove:
                    offer = await self._media.unsubscribe(room.router_id, p.participant_id, sorted(remove))
                    p.subscribed -= remove
                elif add:
                    result = await self._media.subscribe(
                        room.router_id, p.participant_id, sorted(add), audience=p.role is Role.AUDIENCE
                    )
                    added = result.added
                    p.subscribed.update(added)
                    for producer_id in added:
                        p.subscribe_failed.pop(producer_id, None)
                    self._failed(room, p, result.failed, now)
                    if added or p.offer_needed:
                        offer = result.offer_sdp
                elif p.offer_needed:
                    offer = await self._media.subscriber_offer(room.router_id, p.participant_id)
            except Exception as exc:
                if remove:
                    # The producer is gone already (publisher left); its consumer went with it.
                    p.subscribed -= remove
                    continue
                if not add:
                    # No recv transport to offer again (its loss was reported to the member as
                    # `reconnect`): nothing to re-offer until the room changes.
                    p.offer_needed = False
                    self._log.warning("subscriber re-offer failed", extra={"participant": p.participant_id})
                    return
                self._failed(room, p, dict.fromkeys(add, f"{exc.__class__.__name__}: {exc}"), now)
                continue
            if p.closed:
                return
            if offer is None:
                retry_in = min((f.retry_at for f in p.subscribe_failed.values()), default=None)
                if retry_in is None:
                    return  # converged
                await self._idle(p, retry_in - loop.time())
                continue
            exchanged = await self._offer_until_answered(room, p, offer)
            if exchanged is None:
                return
            nid, answer = exchanged
            try:
                await self._media.set_subscriber_answer(room.router_id, p.participant_id, answer)
            except Exception as exc:
                p.offer_needed = True
                p.answer_refusals += 1
                wait = backoff(self._t.retry_s, self._t.retry_max_s, p.answer_refusals)
                self._log.warning(
                    "subscriber answer refused",
                    extra={"participant": p.participant_id, "negotiation": nid, "error": type(exc).__name__},
                )
                p.send(
                    "error",
                    {
                        "code": int(ErrorCode.INVALID_PARAMETER),
                        "reason": "answer_refused",
                        "negotiationId": nid,
                        "message": f"answer refused ({_reason(exc)}); a new offer follows",
                        "retryInMs": int(wait * 1000),
                    },
                )
                await self._idle(p, wait)
                continue
            p.offer_needed = False
            p.answer_refusals = 0
            await self.request_keyframes(room, added)

    async def _offer_until_answered(self, room: Room, p: Participant, offer: str) -> tuple[int, str] | None:
        """Send the offer, and again (same negotiationId) with backoff while no answer comes. Returns
        (negotiationId, answer), or None when the member or the room went away."""
        loop = asyncio.get_running_loop()
        p.negotiation_seq += 1
        nid = p.negotiation_seq
        fut: asyncio.Future[str] = loop.create_future()
        p.pending_answer = (nid, fut)
        p.pending_offer = {
            "negotiationId": nid,
            "sdp": offer,
            "streams": self.stream_table(room, p.subscribed, offer),
        }
        started = loop.time()
        delay = self._t.offer_resend_s
        told = False
        try:
            while True:
                p.send("offer", p.pending_offer)
                try:
                    return nid, await asyncio.wait_for(asyncio.shield(fut), delay)
                except TimeoutError:
                    pass
                if p.closed or room.closed:
                    return None
                waited = loop.time() - started
                self._log.warning(
                    "no answer to subscriber offer; offering again",
                    extra={"participant": p.participant_id, "negotiation": nid, "waited_s": round(waited, 1)},
                )
                if not told and waited >= self._t.answer_timeout_s:
                    told = True
                    p.send(
                        "error",
                        {
                            "code": int(ErrorCode.OPERATION_FAILED),
                            "reason": "answer_missing",
                            "negotiationId": nid,
                            "message": f"no answer to offer {nid} after {int(waited)} s; it is sent again "
                            "until answered",
                        },
                    )
                delay = min(delay * 2, self._t.offer_resend_max_s)
        finally:
            if p.pending_answer is not None and p.pending_answer[0] == nid:
                p.pending_answer = None
                p.pending_offer = None

    def _failed(self, room: Room, p: Participant, failed: dict[str, str], now: float) -> None:
        """Record producers whose consumer could not be created: retried with backoff, told once."""
        owners = {
            pub.producer_id: (o.user_id, pub)
            for o in room.participants.values()
            for pub in o.publications.values()
        }
        for producer_id, why in failed.items():
            if producer_id not in owners:
                continue  # raced with an unpublish: nothing to retry, nothing to tell
            user_id, pub = owners[producer_id]
            entry = p.subscribe_failed.get(producer_id)
            attempts = entry.attempts + 1 if entry is not None else 1
            wait = backoff(self._t.retry_s, self._t.retry_max_s, attempts)
            told = entry is not None and entry.told
            p.subscribe_failed[producer_id] = FailedSubscription(attempts, now + wait, told=True)
            self._log.warning(
                "subscribe failed",
                extra={"participant": p.participant_id, "producer": producer_id, "attempts": attempts},
            )
            if not told:
                p.send(
                    "error",
                    {
                        "code": int(ErrorCode.OPERATION_FAILED),
                        "reason": "subscribe_failed",
                        "userId": user_id,
                        "kind": pub.kind,
                        "streamType": pub.source,
                        "message": f"could not receive {user_id}'s {pub.source} {pub.kind} ({why[:200]}); "
                        "retrying",
                        "retryInMs": int(wait * 1000),
                    },
                )

    async def _idle(self, p: Participant, seconds: float) -> None:
        """Wait up to ``seconds``; a room change (renegotiate) ends the wait early."""
        if seconds <= 0:
            return
        try:
            await asyncio.wait_for(p.negotiator_wakeup.wait(), seconds)
        except TimeoutError:
            pass

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


def _reason(exc: Exception) -> str:
    """A short reason for the client: the error's own message for input errors, else its class."""
    if isinstance(exc, ValueError | TypeError):
        return str(exc)[:200]
    return exc.__class__.__name__


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
