"""Labelling the m-lines of a subscriber offer with the remote streams they carry."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from relayroom.auth.privatemapkey import Privilege
from relayroom.control.rooms.ids import ParticipantId, RoomKey, RoomRef
from relayroom.control.rooms.participant import Participant, Publication, Role
from relayroom.control.rooms.room import Room, Scene
from relayroom.control.rooms.subscriptions import SubscriptionNegotiator, offer_sections
from tests.control.rooms.fakes import FakeMedia

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
    neg = SubscriptionNegotiator(FakeMedia(), 1.0, spawn, logging.getLogger("test"))
    table = neg.stream_table(room, {"prod-v-new", "prod-a-bob", "prod-gone"}, OFFER)
    assert table == [
        {"producerId": "prod-a-bob", "userId": "bob", "kind": "audio", "streamType": "main", "mid": "2"},
        {"producerId": "prod-v-new", "userId": "alice", "kind": "video", "streamType": "main", "mid": "1"},
    ]
