"""Room rules of RoomManager with a fake media backend, a fake directory and a fake clock."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import pytest

from relayroom.control.rooms.errors import ErrorCode, RoomError
from relayroom.control.rooms.manager import DeclaredTrack, RoomEvent, RoomEventType, RoomManager
from relayroom.control.rooms.participant import Participant, Role
from relayroom.media.types import InvalidStateError, MediaEvent, MediaEventType, SubscribeResult
from tests.control.rooms.fakes import (
    SDKAPPID,
    FakeMedia,
    RecordingSink,
    enter_params,
    make_manager,
)

pytestmark = pytest.mark.timeout(30)

AUDIO = [DeclaredTrack("audio", "main")]
AV = [DeclaredTrack("audio", "main"), DeclaredTrack("video", "main")]


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def enter(m: RoomManager, user: str, **kw: object) -> tuple[Participant, RecordingSink]:
    sink = RecordingSink()
    p = await m.enter(enter_params(user, **kw), sink)  # type: ignore[arg-type]
    return p, sink


async def answer_all(m: RoomManager, p: Participant, sink: RecordingSink) -> None:
    """Play the client: answer every subscriber offer until none is pending."""
    for _ in range(10):
        await settle()
        if p.pending_answer is None:
            return
        await m.set_answer(p, p.pending_answer[0], "client-answer")
    raise AssertionError("negotiation did not finish")


async def test_first_entry_creates_room_and_others_see_enter_in_order() -> None:
    m, media, _ = make_manager()
    _a, sa = await enter(m, "alice")
    _b, sb = await enter(m, "bob")
    assert len(media.called("create_router")) == 1
    assert sa.events == [("remote-user-enter", {"userId": "bob"})]
    assert sb.events == [("remote-user-enter", {"userId": "alice"})]
    assert m.list_rooms(SDKAPPID)[0]["members"] == 2


async def test_numeric_and_string_room_ids_are_different_rooms() -> None:
    m, media, _ = make_manager()
    await enter(m, "alice", room_id=123)
    await enter(m, "bob", room_id=None, str_room_id="123")
    assert len(media.called("create_router")) == 2
    assert {r["roomKey"] for r in m.list_rooms(SDKAPPID)} == {f"{SDKAPPID}:n:123", f"{SDKAPPID}:s:123"}


@pytest.mark.parametrize(
    ("room_id", "str_room_id", "code"),
    [
        (0, None, ErrorCode.ROOM_ID_OUT_OF_RANGE),
        (4294967295, None, ErrorCode.ROOM_ID_OUT_OF_RANGE),
        ("12", None, ErrorCode.ROOM_ID_NOT_NUMBER),
        (None, "x" * 65, ErrorCode.STR_ROOM_ID_INVALID),
        (None, "bad/slash", ErrorCode.STR_ROOM_ID_INVALID),
        (None, None, ErrorCode.ROOM_ID_MISSING),
    ],
)
async def test_bad_room_ids_are_refused_with_trtc_codes(
    room_id: object, str_room_id: object, code: ErrorCode
) -> None:
    m, _, _ = make_manager()
    with pytest.raises(RoomError) as exc:
        await enter(m, "alice", room_id=room_id, str_room_id=str_room_id)
    assert exc.value.code == code


async def test_301st_member_of_an_rtc_room_is_refused_room_full() -> None:
    m, _, _ = make_manager()
    for i in range(300):
        await enter(m, f"u{i}")
    with pytest.raises(RoomError) as exc:
        await enter(m, "u300")
    assert exc.value.code == ErrorCode.ROOM_FULL


async def test_51st_anchor_of_a_live_room_is_refused_but_audience_enters() -> None:
    m, _, _ = make_manager()
    for i in range(50):
        await enter(m, f"a{i}", scene="live", role="anchor")
    with pytest.raises(RoomError) as exc:
        await enter(m, "a50", scene="live", role="anchor")
    assert exc.value.code == ErrorCode.ANCHOR_LIMIT
    p, _ = await enter(m, "viewer", scene="live", role="audience")
    assert p.role is Role.AUDIENCE


async def test_live_audience_limit_is_configurable() -> None:
    m, _, _ = make_manager(live_max_audience=2)
    await enter(m, "v1", scene="live", role="audience")
    await enter(m, "v2", scene="live", role="audience")
    with pytest.raises(RoomError) as exc:
        await enter(m, "v3", scene="live", role="audience")
    assert exc.value.code == ErrorCode.ROOM_FULL


async def test_audience_cannot_publish() -> None:
    m, media, _ = make_manager()
    p, _ = await enter(m, "viewer", scene="live", role="audience")
    with pytest.raises(RoomError) as exc:
        await m.publish(p, "audio", AUDIO)
    assert exc.value.code == ErrorCode.AUDIENCE_CANNOT_PUBLISH
    assert media.called("publish") == []


async def test_in_live_rooms_only_anchors_produce_enter_and_exit_events() -> None:
    m, _, _ = make_manager()
    _anchor, sa = await enter(m, "host", scene="live", role="anchor")
    viewer, sv = await enter(m, "viewer", scene="live", role="audience")
    assert sa.events == []  # the audience member is invisible
    assert sv.events == [("remote-user-enter", {"userId": "host"})]
    await m.exit(viewer)
    assert sa.events == []


async def test_same_user_entering_again_kicks_the_older_session_with_reason_kick() -> None:
    m, media, _ = make_manager()
    _, s_other = await enter(m, "bob")
    old, s_old = await enter(m, "alice")
    new, _s_new = await enter(m, "alice")
    assert old.closed and not new.closed
    assert ("kicked-out", {"reason": "kick"}) in s_old.events
    assert media.called("close_participant")[-1][1] == old.participant_id
    assert s_other.names()[-2:] == ["remote-user-exit", "remote-user-enter"]
    assert s_other.of("remote-user-exit")[-1] == {"userId": "alice", "reason": 2}


async def test_rtc_room_closes_when_the_last_member_leaves() -> None:
    m, media, _ = make_manager()
    a, _ = await enter(m, "alice")
    b, _ = await enter(m, "bob")
    await m.exit(a)
    assert media.called("close_router") == []
    await m.exit(b)
    assert len(media.called("close_router")) == 1
    assert m.list_rooms() == []


async def test_live_room_closes_at_once_when_the_last_leaver_is_an_anchor() -> None:
    m, media, _ = make_manager()
    viewer, _ = await enter(m, "viewer", scene="live", role="audience")
    host, _ = await enter(m, "host", scene="live", role="anchor")
    await m.exit(viewer)
    await m.exit(host)
    assert len(media.called("close_router")) == 1


async def test_live_room_closes_ten_minutes_after_the_last_audience_member_leaves() -> None:
    m, media, clock = make_manager()
    host, _ = await enter(m, "host", scene="live", role="anchor")
    viewer, _ = await enter(m, "viewer", scene="live", role="audience")
    await m.exit(host)
    await m.exit(viewer)
    clock.advance(599)
    await m.sweep()
    assert media.called("close_router") == [] and len(m.list_rooms()) == 1
    # Someone entering during the grace period keeps the room (and its router).
    back, _ = await enter(m, "viewer2", scene="live", role="audience")
    clock.advance(10)
    await m.sweep()
    assert media.called("close_router") == []
    await m.exit(back)
    clock.advance(601)
    await m.sweep()
    assert len(media.called("close_router")) == 1 and m.list_rooms() == []


async def test_idle_member_is_removed_after_the_timeout_and_others_see_exit_reason_timeout() -> None:
    m, _media, clock = make_manager(idle_timeout_s=2.0)
    a, sa = await enter(m, "alice")
    b, sb = await enter(m, "bob")
    clock.advance(1.5)
    m.touch(a)  # alice heartbeats, bob does not
    clock.advance(1.0)
    await m.sweep()
    assert b.closed and not a.closed
    assert sa.of("remote-user-exit") == [{"userId": "bob", "reason": 1}]
    assert ("reconnect", {"reason": "timeout"}) in sb.events


async def test_detached_member_resumes_within_the_timeout_and_is_dropped_after_it() -> None:
    m, _, clock = make_manager(idle_timeout_s=2.0)
    a, _ = await enter(m, "alice")
    b, _sb = await enter(m, "bob")
    m.detach(b)
    clock.advance(1.5)
    m.touch(a)
    await m.sweep()
    sink2 = RecordingSink()
    resumed = await m.resume(b.resume_token, sink2)
    assert resumed is b and not b.closed
    m.detach(b)
    clock.advance(2.5)
    m.touch(a)
    await m.sweep()
    assert b.closed
    with pytest.raises(RoomError) as exc:
        await m.resume(b.resume_token, RecordingSink())
    assert exc.value.code == ErrorCode.SESSION_NOT_FOUND


async def test_publish_announces_streams_and_renegotiates_subscribers_one_offer_at_a_time() -> None:
    m, media, _ = make_manager()
    a, sa = await enter(m, "alice", auto_receive_video=True)
    b, sb = await enter(m, "bob", auto_receive_video=True)
    result = await m.publish(a, "audio video", AV)
    assert result.answer_sdp == "answer"
    assert sb.names()[-2:] == ["remote-audio-available", "remote-video-available"]
    assert sb.of("remote-video-available") == [{"userId": "alice", "streamType": "main"}]
    await settle()
    offer = sb.of("offer")[-1]
    assert {s["userId"] for s in offer["streams"]} == {"alice"}
    assert {s["kind"] for s in offer["streams"]} == {"audio", "video"}
    await answer_all(m, b, sb)
    assert media.answers[b.participant_id] == ["client-answer"]
    assert b.subscribed == set(a.publications)
    # Bob's own later publish gives alice an offer; bob is not offered his own streams.
    await m.publish(b, "audio", AUDIO)
    await answer_all(m, a, sa)
    assert a.subscribed == set(b.publications)
    assert not b.subscribed & set(b.publications)


async def test_auto_receive_video_false_subscribes_audio_only_until_asked() -> None:
    m, _, _ = make_manager()
    a, _ = await enter(m, "alice")
    b, sb = await enter(m, "bob")  # TRTC default: autoReceiveAudio true, autoReceiveVideo false
    await m.publish(a, "audio video", AV)
    await answer_all(m, b, sb)
    kinds = {a.publications[pid].kind for pid in b.subscribed}
    assert kinds == {"audio"}
    await m.set_subscription(b, "alice", "main", "video", True)
    await answer_all(m, b, sb)
    assert b.subscribed == set(a.publications)
    await m.set_subscription(b, "alice", "main", "audio", False)
    await answer_all(m, b, sb)
    assert {a.publications[pid].kind for pid in b.subscribed} == {"video"}


async def test_leaving_publisher_gives_unavailable_then_exit_events() -> None:
    m, _, _ = make_manager()
    a, _ = await enter(m, "alice")
    _b, sb = await enter(m, "bob")
    await m.publish(a, "audio video", AV)
    await m.exit(a)
    assert sb.names()[-3:] == ["remote-audio-unavailable", "remote-video-unavailable", "remote-user-exit"]


async def test_mute_pauses_the_producer_and_tells_the_room() -> None:
    m, media, _ = make_manager()
    a, _ = await enter(m, "alice")
    _b, sb = await enter(m, "bob")
    await m.publish(a, "audio video", AV)
    await m.mute(a, "video", True)
    assert len(media.called("pause_producer")) == 1
    assert sb.events[-1] == (
        "remote-video-unavailable",
        {"userId": "alice", "streamType": "main", "reason": "mute"},
    )
    await m.mute(a, "video", False)
    assert sb.events[-1] == (
        "remote-video-available",
        {"userId": "alice", "streamType": "main", "reason": "mute"},
    )
    assert media.called("request_keyframe")


async def test_set_media_blocked_stops_media_refuses_own_unmute_and_unblock_restores() -> None:
    m, media, _ = make_manager()
    a, sa = await enter(m, "alice")
    _b, sb = await enter(m, "bob")
    await m.publish(a, "audio video", AV)
    await m.mute(a, "video", True)  # muted by alice herself before the block
    await m.set_media_blocked(a.room_key, "alice", audio=True, video=True)
    assert sb.events[-1] == (
        "remote-audio-unavailable",
        {"userId": "alice", "streamType": "main", "reason": "mute"},
    )
    with pytest.raises(RoomError) as exc:
        await m.mute(a, "audio", False)
    assert exc.value.code == ErrorCode.USER_BLOCKED and "blocked" in exc.value.message
    await m.set_media_blocked(a.room_key, "alice", audio=False, video=True)
    assert a.publication_for("audio", "main").muted is False  # type: ignore[union-attr]
    assert a.publication_for("video", "main").muted is True  # type: ignore[union-attr]  # alice's own mute stays
    with pytest.raises(RoomError):
        await m.mute(a, "video", False)
    await m.set_media_blocked(a.room_key, "alice", audio=False, video=False)
    await m.mute(a, "video", False)  # allowed again
    assert len(media.called("pause_producer")) == 2 and sa.events is not None


async def test_switch_role_anchor_to_audience_unpublishes_and_back_checks_the_anchor_limit() -> None:
    m, media, _ = make_manager(live_max_anchors=1)
    host, _ = await enter(m, "host", scene="live", role="anchor")
    viewer, sv = await enter(m, "viewer", scene="live", role="audience")
    await m.publish(host, "audio", AUDIO)
    with pytest.raises(RoomError) as exc:
        await m.switch_role(viewer, "anchor")
    assert exc.value.code == ErrorCode.ANCHOR_LIMIT
    assert await m.switch_role(host, "audience") is Role.AUDIENCE
    assert len(media.called("unpublish")) == 1
    assert sv.names()[-2:] == ["remote-audio-unavailable", "remote-user-exit"]
    assert sv.of("remote-user-exit")[-1]["reason"] == 3
    assert await m.switch_role(viewer, "anchor") is Role.ANCHOR


async def test_custom_messages_follow_trtc_rules() -> None:
    m, _, clock = make_manager()
    a, _ = await enter(m, "host", scene="live", role="anchor")
    v, sv = await enter(m, "viewer", scene="live", role="audience")
    assert await m.custom_message(a, 1, b"hi") == 1
    assert sv.of("custom-message") == [{"userId": "host", "cmdId": 1, "seq": 1, "data": "aGk="}]
    for bad_cmd in (0, 11):
        with pytest.raises(RoomError) as exc:
            await m.custom_message(a, bad_cmd, b"x")
        assert exc.value.code == ErrorCode.INVALID_PARAMETER
    with pytest.raises(RoomError):
        await m.custom_message(a, 1, b"x" * 1025)
    with pytest.raises(RoomError) as exc:
        await m.custom_message(v, 1, b"x")
    assert exc.value.code == ErrorCode.INVALID_OPERATION
    for _ in range(29):
        await m.custom_message(a, 2, b"y")
    with pytest.raises(RoomError) as exc:
        await m.custom_message(a, 2, b"y")
    assert exc.value.code == ErrorCode.RATE_LIMITED
    clock.advance(1.01)
    for _ in range(8):
        await m.custom_message(a, 3, b"z" * 1000)
    with pytest.raises(RoomError) as exc:
        await m.custom_message(a, 3, b"z" * 1000)  # 9 KB within one second
    assert exc.value.code == ErrorCode.RATE_LIMITED


async def test_worker_death_tells_members_to_reconnect_and_they_can_re_enter() -> None:
    m, media, _ = make_manager()
    await m.start()
    try:
        a, sa = await enter(m, "alice")
        router = media.called("create_router")
        assert router
        room = m.get_room(a.room_key)
        assert room is not None
        media.emit(MediaEvent(MediaEventType.WORKER_DIED, router_ids=(room.router_id,)))
        await settle()
        assert ("reconnect", {"reason": "worker_died"}) in sa.events
        assert a.closed and m.list_rooms() == []
        a2, _ = await enter(m, "alice")
        assert not a2.closed and len(media.called("create_router")) == 2
    finally:
        await m.close()


async def test_transport_closed_asks_to_reconnect_and_drops_the_member_after_the_timeout() -> None:
    m, _, clock = make_manager(idle_timeout_s=2.0)
    a, sa = await enter(m, "alice")
    room = m.get_room(a.room_key)
    assert room is not None
    await m.handle_media_event(
        MediaEvent(
            MediaEventType.TRANSPORT_CLOSED,
            router_id=room.router_id,
            participant_id=a.participant_id,
            reason="consent_timeout",
        )
    )
    assert ("reconnect", {"reason": "consent_timeout"}) in sa.events
    clock.advance(2.5)
    m.touch(a)  # signalling alive, media dead
    await m.sweep()
    assert a.closed


async def test_cloud_api_hooks_dismiss_remove_block_and_room_info() -> None:
    events: list[RoomEvent] = []
    m, media, _ = make_manager(observer=events.append)
    a, sa = await enter(m, "alice")
    _b, sb = await enter(m, "bob")
    await m.publish(a, "audio", AUDIO)
    info = m.room_info(a.room_key)
    assert info is not None
    assert {mem["userId"] for mem in info["members"]} == {"alice", "bob"}
    assert info["members"][0]["tracks"][0]["kind"] == "audio"
    assert await m.remove_users(a.room_key, ["bob"]) == ["bob"]
    assert ("kicked-out", {"reason": "banned"}) in sb.events
    await m.set_user_blocked(SDKAPPID, "bob", True)
    with pytest.raises(RoomError) as exc:
        await enter(m, "bob")
    assert exc.value.code == ErrorCode.USER_BLOCKED
    await m.set_user_blocked(SDKAPPID, "bob", False)
    await enter(m, "bob")
    assert await m.dismiss_room(a.room_key)
    assert ("kicked-out", {"reason": "room_disband"}) in sa.events
    assert m.list_rooms() == [] and len(media.called("close_router")) == 1
    types = [e.type for e in events]
    assert types[0] is RoomEventType.ROOM_CREATED and types[-1] is RoomEventType.ROOM_CLOSED
    assert RoomEventType.STREAM_STARTED in types


async def test_media_failure_to_create_a_router_is_a_server_error() -> None:
    media = FakeMedia()
    media.fail_create = True
    m, _, _ = make_manager(media)
    with pytest.raises(RoomError) as exc:
        await enter(m, "alice")
    assert exc.value.code == ErrorCode.SERVER_ERROR


async def test_a_subscribe_failing_for_a_producer_that_went_away_does_not_block_the_others() -> None:
    m, media, _ = make_manager()
    a, sa = await enter(m, "alice")
    c, sc = await enter(m, "carol")
    await m.publish(a, "audio", AUDIO)
    await m.publish(c, "audio", AUDIO)
    await answer_all(m, a, sa)
    await answer_all(m, c, sc)
    real_subscribe = media.subscribe
    calls = 0

    async def flaky(
        router_id: str, participant_id: str, producer_ids: Sequence[str], *, audience: bool = False
    ) -> SubscribeResult:
        nonlocal calls
        calls += 1
        if calls == 1:
            # alice unpublishes while bob's subscribe to alice + carol is in flight
            gone = set(a.publications)
            await m.unpublish(a)
            media.failing |= gone
        return await real_subscribe(router_id, participant_id, producer_ids, audience=audience)

    media.subscribe = flaky  # type: ignore[method-assign]
    b, sb = await enter(m, "bob")
    await answer_all(m, b, sb)
    assert not b.subscribe_failed
    assert b.subscribed == set(c.publications)
    assert sb.of("error") == []  # a stream that went away is no error


async def test_concurrent_entries_of_one_user_leave_exactly_one_session() -> None:
    m, media, _ = make_manager()
    await enter(m, "bob")
    (p1, s1), (p2, s2) = await asyncio.gather(enter(m, "alice"), enter(m, "alice"))
    assert p1.closed != p2.closed
    loser = s1 if p1.closed else s2
    assert ("kicked-out", {"reason": "kick"}) in loser.events
    info = m.room_info(p1.room_key)
    assert info is not None and sorted(x["userId"] for x in info["members"]) == ["alice", "bob"]
    closed = p1 if p1.closed else p2
    assert (closed.participant_id,) == media.called("close_participant")[-1][1:]


async def test_a_failed_best_effort_media_step_is_logged_and_the_room_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An expected media refusal (the producer is gone) stays quiet; anything else is logged with its
    traceback; neither fails the unmute that asked for the keyframe."""
    m, media, _ = make_manager()
    a, _ = await enter(m, "alice")
    _b, sb = await enter(m, "bob")
    await m.publish(a, "audio video", AV)
    failure: list[Exception] = []

    async def request_keyframe(router_id: str, producer_id: str) -> None:
        raise failure[-1]

    media.request_keyframe = request_keyframe  # type: ignore[method-assign]
    caplog.set_level(logging.DEBUG, logger="relayroom.control.rooms.manager")
    for exc in (InvalidStateError("unknown producer"), RuntimeError("a bug")):
        failure.append(exc)
        caplog.clear()
        await m.mute(a, "video", True)
        await m.mute(a, "video", False)
        assert sb.events[-1][0] == "remote-video-available"
        errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
        if isinstance(exc, InvalidStateError):
            assert errors == []
            assert any("unknown producer" in r.getMessage() for r in caplog.records)
        else:
            assert [r.getMessage() for r in errors] == ["keyframe request after unmute failed"]
            assert errors[0].exc_info is not None and errors[0].exc_info[1] is exc
