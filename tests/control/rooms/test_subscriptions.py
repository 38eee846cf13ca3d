"""Labelling the m-lines of a subscriber offer with the remote streams they carry."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from relayroom.auth.privatemapkey import Privilege
from relayroom.control.rooms.ids import ParticipantId, RoomKey, RoomRef
from relayroom.control.rooms.manager import DeclaredTrack, RoomManager
from relayroom.control.rooms.participant import Participant, Publication, Role
from relayroom.control.rooms.room import Room, Scene
from relayroom.control.rooms.subscriptions import NegotiationTiming, SubscriptionNegotiator, offer_sections
from relayroom.media.types import InvalidStateError
from tests.control.rooms.fakes import FakeMedia, RecordingSink, enter_params, make_manager
from tests.serving import eventually

AUDIO = [DeclaredTrack("audio", "main")]
AV = [DeclaredTrack("audio", "main"), DeclaredTrack("video", "main")]

OFFER = "\r\n".join(
    [
        "v=0",
        "a=group:BUNDLE 0 1 2",
        "m=audio 9 UDP/TLS/RTP/SAVPF 96",
        "a=mid:0",
        "a=inactive",
        "m=video 9 UDP/TLS/RTP/SAVPF 97 98",
        "a=mid:1",
        "a=sendonly",
        "a=msid:pid-alice prod-v-old",  # a republished producer continues the first one's m-line
        "m=audio 9 UDP/TLS/RTP/SAVPF 99",
        "a=mid:2",
        "a=sendonly",
        "a=msid:pid-bob prod-a-bob",
        "",
    ]
)


def member(user: str, pid: str, pubs: list[Publication]) -> Participant:
    return Participant(
        participant_id=ParticipantId(pid),
        user_id=user,
        room_key=RoomKey("1:n:1"),
        role=Role.ANCHOR,
        resume_token="rr_x",
        privileges=Privilege.ALL,
        permission_key_enforced=False,
        auto_receive_audio=True,
        auto_receive_video=True,
        sink=None,
        last_seen=0.0,
        publications={p.producer_id: p for p in pubs},
    )


def spawn(coro: Any, name: str) -> asyncio.Task[None]:
    raise AssertionError("not used here")


def test_offer_sections_skip_inactive_m_lines() -> None:
    assert offer_sections(OFFER) == [
        ("1", "video", "pid-alice", "prod-v-old"),
        ("2", "audio", "pid-bob", "prod-a-bob"),
    ]


def test_streams_are_labelled_by_msid_track_or_by_publisher_and_kind_for_continued_tracks() -> None:
    room = Room(ref=RoomRef(1, room_id=1), scene=Scene.RTC, router_id="r", created_at=0.0)
    room.participants["alice"] = member(
        "alice", "pid-alice", [Publication("prod-v-new", "video", "main", "1")]
    )
    room.participants["bob"] = member("bob", "pid-bob", [Publication("prod-a-bob", "audio", "main", "0")])
    neg = SubscriptionNegotiator(FakeMedia(), NegotiationTiming(), spawn, logging.getLogger("test"))
    table = neg.stream_table(room, {"prod-v-new", "prod-a-bob", "prod-gone"}, OFFER)
    assert table == [
        {"producerId": "prod-a-bob", "userId": "bob", "kind": "audio", "streamType": "main", "mid": "2"},
        {"producerId": "prod-v-new", "userId": "alice", "kind": "video", "streamType": "main", "mid": "1"},
    ]


# -- offers and retries, through RoomManager with the fake media backend -------------------------------

FAST: dict[str, Any] = {"offer_resend_s": 0.05, "answer_timeout_s": 0.2, "subscribe_retry_s": 0.05}


async def entered(m: RoomManager, user: str) -> tuple[Participant, RecordingSink]:
    sink = RecordingSink()
    p = await m.enter(enter_params(user, auto_receive_video=True), sink)
    return p, sink


async def answer_pending(m: RoomManager, p: Participant, sdp: str = "client-answer") -> int:
    await eventually(lambda: p.pending_answer is not None)
    assert p.pending_answer is not None
    nid = p.pending_answer[0]
    await m.set_answer(p, nid, sdp)
    await eventually(lambda: p.pending_answer is None or p.pending_answer[0] != nid)
    return nid


@pytest.mark.timeout(20)
async def test_an_unanswered_offer_is_sent_again_with_its_negotiation_id_until_answered() -> None:
    m, media, _ = make_manager(**FAST)
    a, _ = await entered(m, "alice")
    b, sb = await entered(m, "bob")
    await m.publish(a, "audio video", AV)
    # bob's client drops the offer: the server keeps sending the same one, and tells bob it waits
    await eventually(lambda: len(sb.of("offer")) >= 4)
    assert {o["negotiationId"] for o in sb.of("offer")} == {1}
    await eventually(lambda: any(e.get("reason") == "answer_missing" for e in sb.of("error")))
    missing = [e for e in sb.of("error") if e.get("reason") == "answer_missing"]
    assert len(missing) == 1 and missing[0]["negotiationId"] == 1 and missing[0]["code"] == 5500
    # a late answer to the first offer is still taken
    assert await answer_pending(m, b) == 1
    await eventually(lambda: b.negotiator is None or b.negotiator.done())
    assert media.answers[b.participant_id] == ["client-answer"]
    assert b.subscribed == set(a.publications)
    await m.close()


@pytest.mark.timeout(20)
async def test_a_refused_answer_is_reported_and_a_fresh_offer_of_the_same_streams_follows() -> None:
    m, media, _ = make_manager(**FAST)
    media.refused_answers.add("broken")
    a, _ = await entered(m, "alice")
    b, sb = await entered(m, "bob")
    await m.publish(a, "audio", AUDIO)
    first = await answer_pending(m, b, "broken")
    await eventually(lambda: bool(sb.of("error")))
    err = sb.of("error")[0]
    assert err["reason"] == "answer_refused" and err["negotiationId"] == first and err["code"] == 5000
    assert "dtls fingerprint" in err["message"]
    second = await answer_pending(m, b, "good")
    assert second == first + 1
    assert media.called("subscriber_offer")  # the transport's state offered again
    assert sb.of("offer")[-1]["sdp"] == sb.of("offer")[0]["sdp"]
    await eventually(lambda: b.negotiator is None or b.negotiator.done())
    assert not b.offer_needed and b.subscribed == set(a.publications)
    await m.close()


@pytest.mark.timeout(20)
async def test_a_producer_that_cannot_be_consumed_fails_alone_is_named_to_the_client_and_retried() -> None:
    m, media, _ = make_manager(**FAST)
    a, _ = await entered(m, "alice")
    c, _ = await entered(m, "carol")
    await m.publish(a, "video", [DeclaredTrack("video", "main")])
    await m.publish(c, "audio", AUDIO)
    bad = next(iter(a.publications))
    media.failing.add(bad)
    b, sb = await entered(m, "bob")
    await answer_pending(m, b)
    # carol's stream is offered and answered although alice's failed
    assert b.subscribed == set(c.publications)
    err = next(e for e in sb.of("error") if e.get("reason") == "subscribe_failed")
    assert (err["userId"], err["kind"], err["streamType"], err["code"]) == ("alice", "video", "main", 5500)
    # retried with backoff (told once), and taken once the media layer can
    await eventually(lambda: len(media.called("subscribe")) >= 3)
    assert [e.get("reason") for e in sb.of("error")].count("subscribe_failed") == 1
    media.failing.clear()
    await answer_pending(m, b)
    assert b.subscribed == set(c.publications) | {bad}
    assert not b.subscribe_failed
    await m.close()


@pytest.mark.timeout(20)
async def test_a_negotiator_waiting_to_retry_acts_on_a_room_change_at_once() -> None:
    m, media, _ = make_manager(offer_resend_s=0.05, subscribe_retry_s=60.0)
    a, _ = await entered(m, "alice")
    await m.publish(a, "audio", AUDIO)
    media.failing |= set(a.publications)
    b, _ = await entered(m, "bob")
    await eventually(lambda: bool(b.subscribe_failed))
    assert b.negotiator is not None and not b.negotiator.done()  # waiting a minute for the retry
    c, _ = await entered(m, "carol")
    await m.publish(c, "audio", AUDIO)
    await answer_pending(m, b)
    assert b.subscribed == set(c.publications)
    await m.close()


@pytest.mark.timeout(20)
async def test_a_re_offer_without_a_recv_transport_ends_the_negotiation_instead_of_spinning() -> None:
    m, media, _ = make_manager(**FAST)
    media.refused_answers.add("broken")
    a, _ = await entered(m, "alice")
    b, _ = await entered(m, "bob")
    await m.publish(a, "audio", AUDIO)
    calls = 0

    async def gone(router_id: str, participant_id: str) -> str:
        nonlocal calls
        calls += 1
        raise InvalidStateError("participant has no recv transport")

    media.subscriber_offer = gone  # type: ignore[method-assign]
    await answer_pending(m, b, "broken")
    await eventually(lambda: b.negotiator is None or b.negotiator.done())
    await asyncio.sleep(0.2)
    assert calls == 1 and not b.offer_needed
    await m.close()
