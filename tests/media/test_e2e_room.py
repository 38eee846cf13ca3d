"""Integration: real MediaService worker processes and real aiortc peers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import socket
import time

import pytest

from relayroom.media.service import MediaService
from relayroom.media.types import MediaEvent, MediaEventType, MediaParams
from tests.media.peers import (
    apply_offer,
    close_colour,
    publish,
    start_relay,
    subscribe,
    subscribe_via_relay,
)
from tests.serving import eventually

pytestmark = pytest.mark.timeout(60)

Media = tuple[MediaService, list[MediaEvent]]


def _track_colours(
    sub_frames: list[tuple[float, str, tuple[int, int, int]]],
) -> dict[str, tuple[int, int, int]]:
    last: dict[str, tuple[int, int, int]] = {}
    for _, track_id, yuv in sub_frames:
        last[track_id] = yuv
    return last


async def test_three_members_two_publishers_each_see_the_right_pictures(media: Media) -> None:
    svc, _ = media
    router_id = await svc.create_router("room-3")
    alice, alice_p = await publish(svc, router_id, "alice", "red")
    carol, carol_p = await publish(svc, router_id, "carol", "blue")
    bob = await subscribe(svc, router_id, "bob", alice_p + carol_p)
    alice_sub = await subscribe(svc, router_id, "alice", carol_p)
    carol_sub = await subscribe(svc, router_id, "carol", alice_p)
    try:
        await eventually(
            lambda: len(_track_colours(bob.video_frames)) == 2 and len(bob.video_frames) > 20, within=15
        )
        await eventually(
            lambda: len(alice_sub.video_frames) > 5 and len(carol_sub.video_frames) > 5, within=15
        )
        colours = sorted(_track_colours(bob.video_frames).values())
        assert any(close_colour(c, "red") for c in colours), colours
        assert any(close_colour(c, "blue") for c in colours), colours
        assert close_colour(alice_sub.video_frames[-1][2], "blue")
        assert close_colour(carol_sub.video_frames[-1][2], "red")
        # the msid track id of each m-line is the producer id
        assert set(_track_colours(bob.video_frames)) == {alice_p[1], carol_p[1]}
        assert set(_track_colours(alice_sub.video_frames)) == {carol_p[1]}
    finally:
        for s in (bob, alice_sub, carol_sub):
            await s.close()
        await alice.close()
        await carol.close()


async def test_late_subscriber_gets_a_keyframe_quickly_through_forwarded_pli(media: Media) -> None:
    # aiortc's VP8 encoder uses a 3000-frame GOP: without a forwarded PLI a late joiner sees nothing.
    svc, _ = media
    router_id = await svc.create_router("room-late")
    pub, producer_ids = await publish(svc, router_id, "alice", "green")
    early = await subscribe(svc, router_id, "bob", producer_ids)
    try:
        await eventually(lambda: len(early.video_frames) > 10, within=15)
        t0 = time.monotonic()
        late = await subscribe(svc, router_id, "dave", producer_ids)
        try:
            await eventually(lambda: len(late.video_frames) > 0, within=5)
            assert time.monotonic() - t0 < 5.0  # without the forwarded PLI: ~200 s (GOP)
            assert close_colour(late.video_frames[-1][2], "green")
        finally:
            await late.close()
    finally:
        await early.close()
        await pub.close()


async def test_unsubscribe_reoffer_keeps_mline_inactive_and_other_tracks_flowing(media: Media) -> None:
    svc, _ = media
    router_id = await svc.create_router("room-unsub")
    alice, alice_p = await publish(svc, router_id, "alice", "red", audio=False)
    carol, carol_p = await publish(svc, router_id, "carol", "blue", audio=False)
    bob = await subscribe(svc, router_id, "bob", alice_p + carol_p)
    try:
        await eventually(lambda: len(_track_colours(bob.video_frames)) == 2, within=15)
        offer = await svc.unsubscribe(router_id, "bob", alice_p)
        assert offer.count("m=video") == 2 and "a=inactive" in offer
        await apply_offer(svc, router_id, bob, offer)
        t0 = time.monotonic() + 0.5
        await asyncio.sleep(1.5)
        after = [c for t, _, c in bob.video_frames if t > t0]
        assert after and all(close_colour(c, "blue") for c in after)
        # subscribe again: a new m-line is appended, the inactive one stays
        offer = (await svc.subscribe(router_id, "bob", alice_p)).offer_sdp
        assert offer.count("m=video") == 3
        await apply_offer(svc, router_id, bob, offer)
        t1 = time.monotonic()
        await eventually(
            lambda: any(close_colour(c, "red") for t, _, c in bob.video_frames if t > t1), within=10
        )
    finally:
        await bob.close()
        await alice.close()
        await carol.close()


def _garbage(rng_seed: int = 1) -> list[bytes]:
    import random

    rng = random.Random(rng_seed)
    out = [bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 1400))) for _ in range(200)]
    out += [b"\x00", b"\x00\x01", b"\x00\x01\x00\x08\x21\x12\xa4\x42" + b"\x00" * 4]  # truncated STUN
    out += [b"\x00\x01\x00\x00\x21\x12\xa4\x42" + os.urandom(12)]  # binding request without USERNAME
    out += [b"\x80", b"\x80\x60\x00", b"\x80\x60" + os.urandom(10)]  # truncated RTP
    out += [b"\x90\x60" + os.urandom(30)]  # RTP with extension bit, garbage
    out += [b"\x80\xc8\x00\x06" + os.urandom(8), b"\x81\xcd\x00\x02" + os.urandom(4)]  # truncated RTCP
    out += [
        b"\x16\xfe\xfd" + os.urandom(50),
        b"\x17\xfe\xfd" + os.urandom(30),
        b"\x15\xfe\xfd\x00",
    ]  # DTLS junk
    out += [b"\x80\x60" + os.urandom(1200) for _ in range(50)]  # SRTP with bad auth tags
    return out


async def test_garbage_udp_to_the_worker_port_does_not_stop_media(media: Media) -> None:
    svc, _ = media
    router_id = await svc.create_router("room-garbage")
    port = svc.worker_for_router(router_id).port
    pub, producer_ids = await publish(svc, router_id, "alice", "red")
    relay = await start_relay(port)
    sub = await subscribe_via_relay(svc, router_id, "bob", producer_ids, relay)
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        await eventually(lambda: len(sub.video_frames) > 5, within=15)
        for data in _garbage():
            stranger.sendto(data, ("127.0.0.1", port))  # from an unknown address
            relay.inject(data)  # from the subscriber's bound 5-tuple
        await asyncio.sleep(0.3)
        t0 = time.monotonic()
        await eventually(
            lambda: len(sub.colours_since(t0)) > 10 and len([a for a in sub.audio_frames if a[0] > t0]) > 20,
            within=10,
        )
        assert close_colour(sub.colours_since(t0)[-1], "red")
        dump = await svc.dump()
        worker = dump["workers"][0]
        assert worker["dropped"] + worker["errors"] + worker["stunRejected"] > 0
    finally:
        stranger.close()
        await sub.close()
        await pub.close()
        assert relay.transport is not None
        relay.transport.close()


async def test_nack_and_rtx_keep_video_decoding_through_a_lossy_link(media: Media) -> None:
    svc, _ = media
    router_id = await svc.create_router("room-lossy")
    port = svc.worker_for_router(router_id).port
    pub, producer_ids = await publish(svc, router_id, "alice", "blue", audio=False)
    relay = await start_relay(port, drop_every=20)  # 5 % of video packets to the subscriber
    sub = await subscribe_via_relay(svc, router_id, "bob", producer_ids, relay)
    try:
        await eventually(lambda: len(sub.video_frames) > 5, within=15)
        t0 = time.monotonic()
        await asyncio.sleep(4)
        frames = sub.colours_since(t0)
        assert relay.dropped > 0
        assert len(frames) > 30  # ~15 fps for 4 s
        assert close_colour(frames[-1], "blue")
        dump = await svc.dump()
        consumers = [
            c for r in dump["workers"][0]["routers"] for t in r["transports"] for c in t["consumers"]
        ]
        assert sum(c["retransmitted"] for c in consumers) > 0
    finally:
        await sub.close()
        await pub.close()
        assert relay.transport is not None
        relay.transport.close()


async def test_silent_peer_is_closed_with_consent_timeout(loopback: None) -> None:
    svc = MediaService(MediaParams(workers=1, loopback_only=True, consent_timeout_s=2.0))
    events: list[MediaEvent] = []
    svc.on_event(events.append)
    await svc.start()
    try:
        router_id = await svc.create_router("room-consent")
        pub, producer_ids = await publish(svc, router_id, "alice", "red", audio=False)
        relay = await start_relay(svc.worker_for_router(router_id).port)
        sub = await subscribe_via_relay(svc, router_id, "bob", producer_ids, relay)
        await eventually(lambda: len(sub.video_frames) > 3, within=15)
        relay.blackhole = True  # the subscriber vanishes without a DTLS close
        await eventually(
            lambda: any(
                e.type == MediaEventType.TRANSPORT_CLOSED and e.participant_id == "bob" for e in events
            ),
            within=8,
        )
        closed = next(
            e for e in events if e.type == MediaEventType.TRANSPORT_CLOSED and e.participant_id == "bob"
        )
        assert closed.reason == "consent_timeout"
        await sub.close()
        await pub.close()
        assert relay.transport is not None
        relay.transport.close()
    finally:
        await svc.close()


async def test_killed_worker_is_reported_and_restarted_while_the_other_keeps_flowing(loopback: None) -> None:
    svc = MediaService(MediaParams(workers=2, loopback_only=True))
    events: list[MediaEvent] = []
    svc.on_event(events.append)
    await svc.start()
    try:
        room_a = await svc.create_router("room-a")
        room_b = await svc.create_router("room-b")
        worker_a = svc.worker_for_router(room_a)
        assert worker_a is not svc.worker_for_router(room_b)  # least-loaded placement
        pub_b, prods_b = await publish(svc, room_b, "alice", "green", audio=False)
        sub_b = await subscribe(svc, room_b, "bob", prods_b)
        pub_a, _ = await publish(svc, room_a, "carol", "red", audio=False)
        await eventually(lambda: len(sub_b.video_frames) > 5, within=15)
        old_pid = worker_a.pid
        worker_a.kill()
        await eventually(lambda: any(e.type == MediaEventType.WORKER_DIED for e in events), within=5)
        died = next(e for e in events if e.type == MediaEventType.WORKER_DIED)
        assert died.router_ids == (room_a,)
        t0 = time.monotonic()
        await eventually(lambda: any(e.type == MediaEventType.WORKER_RESTARTED for e in events), within=15)
        assert old_pid not in svc.worker_pids()
        await eventually(lambda: len(sub_b.colours_since(t0)) > 10, within=10)
        assert close_colour(sub_b.colours_since(t0)[-1], "green")
        # the restarted worker takes new rooms
        room_c = await svc.create_router("room-c")
        assert svc.worker_for_router(room_c).index == worker_a.index
        with pytest.raises(Exception):  # noqa: B017 - the lost router is unknown now
            await svc.publish(room_a, "carol", "v=0\r\n")
        await sub_b.close()
        await pub_b.close()
        await pub_a.close()
    finally:
        await svc.close()


async def test_service_close_is_idempotent_and_stops_workers(loopback: None) -> None:
    svc = MediaService(MediaParams(workers=1, loopback_only=True))
    await svc.start()
    pids = svc.worker_pids()
    await svc.close()
    await svc.close()
    for pid in pids:
        assert pid is not None
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


async def test_republished_stream_continues_on_the_same_subscriber_track(media: Media) -> None:
    """A publisher restarts its peer connection: subscribers keep their m-line, SSRC and sequence space."""
    svc, events = media
    router_id = await svc.create_router("room-republish")
    pub1, old = await publish(svc, router_id, "alice", "red")
    bob = await subscribe(svc, router_id, "bob", old)
    pub2 = None
    try:
        await eventually(lambda: len(bob.video_frames) > 5, within=15)
        await pub1.close()
        pub2, new = await publish(svc, router_id, "alice", "blue")
        assert set(new).isdisjoint(old)
        assert {e.producer_id for e in events if e.type == MediaEventType.PRODUCER_CLOSED} >= set(old)
        t0 = time.monotonic()
        await eventually(lambda: any(close_colour(c, "blue") for c in bob.colours_since(t0)), within=10)
        # same track (the first producer's id), no renegotiation needed
        assert {t for _, t, _ in bob.video_frames} == {old[1]}
        offer = (await svc.subscribe(router_id, "bob", new)).offer_sdp
        assert offer.count("m=") == 2
        await eventually(lambda: len([a for a in bob.audio_frames if a[0] > t0]) > 20, within=10)
        assert max(e for t, _, e in bob.audio_frames if t > t0) > 100
    finally:
        await bob.close()
        await pub1.close()
        if pub2 is not None:
            await pub2.close()


async def test_paused_producer_stops_and_resumes_at_a_keyframe(media: Media) -> None:
    svc, events = media
    router_id = await svc.create_router("room-mute")
    pub, producer_ids = await publish(svc, router_id, "alice", "green", audio=False)
    sub = await subscribe(svc, router_id, "bob", producer_ids)
    try:
        await eventually(lambda: len(sub.video_frames) > 5, within=15)
        await svc.pause_producer(router_id, producer_ids[0])
        await asyncio.sleep(0.5)
        t0 = time.monotonic()
        await asyncio.sleep(1.0)
        assert sub.colours_since(t0) == []
        await svc.resume_producer(router_id, producer_ids[0])
        t1 = time.monotonic()
        await eventually(lambda: len(sub.colours_since(t1)) > 3, within=5)
        assert close_colour(sub.colours_since(t1)[-1], "green")
        kinds = [e.type for e in events if e.producer_id == producer_ids[0]]
        assert MediaEventType.PRODUCER_PAUSED in kinds and MediaEventType.PRODUCER_RESUMED in kinds
        await svc.request_keyframe(router_id, producer_ids[0])
        with pytest.raises(ValueError):
            await svc.pause_producer(router_id, "no-such-producer")
    finally:
        await sub.close()
        await pub.close()


async def test_stats_events_and_dump_describe_workers_and_routers(loopback: None) -> None:
    svc = MediaService(MediaParams(workers=1, loopback_only=True, stats_interval_s=0.2))
    events: list[MediaEvent] = []
    svc.on_event(events.append)

    def broken(event: MediaEvent) -> None:
        raise RuntimeError("listener bug")

    svc.on_event(broken)  # a failing listener does not stop the others
    await svc.start()
    try:
        router_id = await svc.create_router("room-stats")
        await eventually(lambda: any(e.type == MediaEventType.STATS for e in events), within=3)
        dump = await svc.dump()
        assert dump["routers"][router_id]["roomKey"] == "room-stats"
        assert dump["workers"][0]["running"] and dump["workers"][0]["routerIds"] == [router_id]
        assert dump["workers"][0]["cpuSeconds"] > 0 and dump["workers"][0]["maxRssKb"] > 0
        await svc.close_router(router_id)
        assert router_id not in (await svc.dump())["routers"]
    finally:
        await svc.close()


async def test_a_busy_udp_port_fails_start_with_a_clear_error(loopback: None) -> None:
    busy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    busy.bind(("127.0.0.1", 0))
    svc = MediaService(MediaParams(workers=1, ports=[busy.getsockname()[1]], loopback_only=True))
    try:
        with pytest.raises(OSError, match=r"udp bind 127\.0\.0\.1"):
            await svc.start()
    finally:
        await svc.close()
        busy.close()


async def test_four_members_all_to_all_each_see_the_three_others(media: Media) -> None:
    svc, _ = media
    router_id = await svc.create_router("room-4")
    colours = {"ann": "red", "ben": "green", "cat": "blue", "dan": "yellow"}
    pubs = {u: await publish(svc, router_id, u, c, audio=False) for u, c in colours.items()}
    subs = {
        u: await subscribe(svc, router_id, u, [p for o, (_, ps) in pubs.items() if o != u for p in ps])
        for u in colours
    }
    try:
        await eventually(
            lambda: all(len(_track_colours(s.video_frames)) == 3 for s in subs.values()), within=20
        )
        for user, sub in subs.items():
            seen = _track_colours(sub.video_frames)
            for other, (_, producer_ids) in pubs.items():
                if other != user:
                    assert close_colour(seen[producer_ids[0]], colours[other]), (user, other, seen)
    finally:
        for s in subs.values():
            await s.close()
        for pc, _ in pubs.values():
            await pc.close()


async def test_workers_run_without_core_dumps(loopback: None) -> None:
    svc = MediaService(MediaParams(workers=1, loopback_only=True))
    await svc.start()
    try:
        (pid,) = svc.worker_pids()
        limits = open(f"/proc/{pid}/limits").read()
        line = next(row for row in limits.splitlines() if row.startswith("Max core file size"))
        assert line.split()[4:6] == ["0", "0"], line
    finally:
        await svc.close()


def _strip_rtx(answer: str) -> str:
    import re

    rtx_pts = set(re.findall(r"a=rtpmap:(\d+) rtx/", answer))
    out = []
    for line in answer.split("\r\n"):
        if any(line.startswith(f"a=rtpmap:{pt} ") or line.startswith(f"a=fmtp:{pt} ") for pt in rtx_pts):
            continue
        if line.startswith("m=video"):
            parts = line.split(" ")
            line = " ".join(parts[:3] + [p for p in parts[3:] if p not in rtx_pts])
        out.append(line)
    return "\r\n".join(out)


async def test_subscriber_without_rtx_gets_plain_retransmissions(media: Media) -> None:
    from aiortc import RTCPeerConnection, RTCSessionDescription

    from tests.media.peers import Subscriber, client_config

    svc, _ = media
    router_id = await svc.create_router("room-nortx")
    pub, producer_ids = await publish(svc, router_id, "alice", "red", audio=False)
    relay = await start_relay(svc.worker_for_router(router_id).port, drop_every=20)
    sub = Subscriber("bob", RTCPeerConnection(client_config()))
    sub.pc.on("track", sub.on_track)
    try:
        offer = relay.rewrite_sdp((await svc.subscribe(router_id, "bob", producer_ids)).offer_sdp)
        await sub.pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        await sub.pc.setLocalDescription(await sub.pc.createAnswer())
        await svc.set_subscriber_answer(router_id, "bob", _strip_rtx(sub.pc.localDescription.sdp))
        await eventually(lambda: len(sub.video_frames) > 5, within=15)
        await asyncio.sleep(3)
        dump = await svc.dump()
        consumers = [
            c for r in dump["workers"][0]["routers"] for t in r["transports"] for c in t["consumers"]
        ]
        assert consumers[0]["rtxSsrc"] is None
        assert relay.dropped > 0 and consumers[0]["retransmitted"] > 0
        assert close_colour(sub.video_frames[-1][2], "red")
    finally:
        await sub.close()
        await pub.close()
        assert relay.transport is not None
        relay.transport.close()


def test_binding_all_interfaces_needs_an_announced_ip() -> None:
    with pytest.raises(ValueError):
        MediaService(MediaParams(host="0.0.0.0"))
    MediaService(MediaParams(host="0.0.0.0", announced_ip="203.0.113.7"))


async def test_announced_ip_is_the_candidate_address(loopback: None) -> None:
    svc = MediaService(MediaParams(workers=1, host="127.0.0.1", announced_ip="127.0.0.2", loopback_only=True))
    await svc.start()
    try:
        router_id = await svc.create_router("room-announce")
        port = svc.worker_for_router(router_id).port
        from aiortc import RTCPeerConnection

        from tests.media.peers import SineAudioTrack, client_config

        pc = RTCPeerConnection(client_config())
        pc.addTransceiver(SineAudioTrack(), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        result = await svc.publish(router_id, "alice", pc.localDescription.sdp)
        await pc.close()
        assert f"a=candidate:udpcandidate 1 udp 1076302079 127.0.0.2 {port} typ host" in result.answer_sdp
    finally:
        await svc.close()
