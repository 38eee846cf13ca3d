"""A room spread over two workers: pipe transports carry the origin's producers to an edge router.

Real MediaService worker processes, real aiortc peers decoding colours, all on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import re
import socket
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.rtcdtlstransport import SRTP_AEAD_AES_128_GCM

from relayroom.media.channel import Channel
from relayroom.media.dtls.dtls_transport import SrtpKeys
from relayroom.media.pipe_transport import new_pipe_keys
from relayroom.media.rtp import rtcp
from relayroom.media.service import MediaService
from relayroom.media.srtp.session import SrtpPair
from relayroom.media.types import InvalidStateError, MediaEvent, MediaEventType, MediaParams
from relayroom.media.worker import Worker
from tests.media.peers import (
    ColourVideoTrack,
    Subscriber,
    UdpRelay,
    apply_offer,
    client_config,
    close_colour,
    publish,
    start_relay,
    subscribe,
)
from tests.serving import eventually

pytestmark = pytest.mark.timeout(60)

Media = tuple[MediaService, list[MediaEvent]]


@pytest.fixture
async def spread(loopback: None) -> AsyncIterator[Media]:
    """Two workers; every new subscriber goes to the least-loaded one (pipe_threshold 0)."""
    svc = MediaService(MediaParams(workers=2, loopback_only=True, pipe_threshold=0.0))
    events: list[MediaEvent] = []
    svc.on_event(events.append)
    await svc.start()
    try:
        yield svc, events
    finally:
        await svc.close()


def _routers(dump: dict[str, Any], worker: int) -> list[dict[str, Any]]:
    return list(dump["workers"][worker].get("routers") or [])


def _pipes(dump: dict[str, Any], worker: int) -> list[dict[str, Any]]:
    return [pt for r in _routers(dump, worker) for pt in r["pipeTransports"]]


def _consumers(dump: dict[str, Any], worker: int) -> list[dict[str, Any]]:
    return [c for r in _routers(dump, worker) for t in r["transports"] for c in t["consumers"]]


async def _subscribe_on(
    svc: MediaService, router_id: str, user: str, producer_ids: list[str], drop_every: int = 0
) -> tuple[Subscriber, UdpRelay | None]:
    """Subscribe ``user``; with ``drop_every`` through a lossy relay in front of whichever worker the
    subscriber was placed on (read from the offer's candidate)."""
    sub = Subscriber(user, RTCPeerConnection(client_config()))
    sub.pc.on("track", sub.on_track)
    offer = (await svc.subscribe(router_id, user, producer_ids)).offer_sdp
    relay = None
    if drop_every:
        m = re.search(r" 127\.0\.0\.1 (\d+) typ host", offer)
        assert m is not None
        relay = await start_relay(int(m.group(1)), drop_every=drop_every)
        offer = relay.rewrite_sdp(offer)
    await apply_offer(svc, router_id, sub, offer)
    return sub, relay


async def test_subscribers_on_both_workers_decode_the_publisher_through_one_shared_pipe(
    spread: Media,
) -> None:
    svc, _ = spread
    router_id = await svc.create_router("room-spread")
    origin = svc.worker_for_router(router_id).index
    edge = 1 - origin
    pub, producer_ids = await publish(svc, router_id, "anchor", "green")
    subs = [await subscribe(svc, router_id, f"viewer{i}", producer_ids) for i in range(4)]
    try:
        placement = svc.placement(router_id)
        on = {placement[f"viewer{i}"] for i in range(4)}
        assert on == {origin, edge}, placement
        await eventually(lambda: all(len(s.video_frames) > 10 and len(s.audio_frames) > 25 for s in subs), 20)
        for s in subs:
            assert close_colour(s.video_frames[-1][2], "green"), (s.user, s.video_frames[-1])
            assert max(e for _, _, e in s.audio_frames[-20:]) > 100  # the sine, not silence
        dump = await svc.dump()
        # one pipe transport pair; on it one pipe per producer, shared by the edge's subscribers
        origin_pipes, edge_pipes = _pipes(dump, origin), _pipes(dump, edge)
        assert len(origin_pipes) == 1 and len(edge_pipes) == 1
        assert origin_pipes[0]["producersPiped"] == 2 and edge_pipes[0]["pipeProducers"] == 2
        assert origin_pipes[0]["txPackets"] > 50 and edge_pipes[0]["rxPackets"] > 50
        assert {c["producerId"] for c in origin_pipes[0]["consumers"]} == set(producer_ids)
        edge_viewers = sum(1 for v in placement.values() if v == edge)
        for p in edge_pipes[0]["producers"]:
            assert len(p["consumerIds"]) == edge_viewers
        assert sum(w.get("pipes", []) != [] for w in dump["workers"]) == 2
        # the same counters reach the control plane (pushed once a second) for /metrics
        await eventually(lambda: any(p["txPackets"] > 0 for p in svc.pipe_stats().get(origin, [])), within=5)
        room = dump["routers"][router_id]
        edge_router = room["edges"][str(edge)]["routerId"]
        assert room["edges"] == {str(edge): {"routerId": edge_router, "pipedProducers": sorted(producer_ids)}}
        # per member statistics still come back as one logical room
        stats = await svc.stats(router_id)
        assert {f"viewer{i}" for i in range(4)} <= set(stats)
    finally:
        for s in subs:
            await s.close()
        await pub.close()


async def test_pipes_close_with_their_last_consumer_and_with_the_publisher(spread: Media) -> None:
    svc, _ = spread
    router_id = await svc.create_router("room-pipe-close")
    origin = svc.worker_for_router(router_id).index
    edge = 1 - origin
    pub, producer_ids = await publish(svc, router_id, "anchor", "red")
    subs = [await subscribe(svc, router_id, f"v{i}", producer_ids) for i in range(2)]
    try:
        assert svc.placement(router_id)["v1"] == edge
        await eventually(lambda: len(subs[1].video_frames) > 3, 20)
        # the edge viewer drops the video: the video pipe closes, the audio pipe stays
        await svc.unsubscribe(router_id, "v1", [producer_ids[1]])
        dump = await svc.dump()
        assert _pipes(dump, origin)[0]["producersPiped"] == 1
        assert dump["routers"][router_id]["edges"][str(edge)]["pipedProducers"] == [producer_ids[0]]
        # the anchor leaves: every pipe and the edge router close on both workers
        await svc.close_participant(router_id, "anchor")
        dump = await svc.dump()
        assert _pipes(dump, origin) == [] or all(p["producersPiped"] == 0 for p in _pipes(dump, origin))
        assert all(p["pipeProducers"] == 0 for p in _pipes(dump, edge))
        assert dump["routers"][router_id]["edges"].get(str(edge), {}).get("pipedProducers", []) == []
        await svc.close_participant(router_id, "v1")
        dump = await svc.dump()
        assert dump["routers"][router_id]["edges"] == {}
        assert _routers(dump, edge) == [] and _pipes(dump, origin) == []
    finally:
        for s in subs:
            await s.close()
        await pub.close()


async def test_nack_rtx_and_pli_work_through_the_pipe_with_loss_on_the_audience_side(spread: Media) -> None:
    svc, _ = spread
    router_id = await svc.create_router("room-pipe-loss")
    origin = svc.worker_for_router(router_id).index
    edge = 1 - origin
    pub, producer_ids = await publish(svc, router_id, "anchor", "blue", audio=False)
    first = await subscribe(svc, router_id, "near", producer_ids)  # stays on the origin (tie)
    far, relay = await _subscribe_on(svc, router_id, "far", producer_ids, drop_every=20)
    assert relay is not None
    try:
        assert svc.placement(router_id) == {"anchor": origin, "near": origin, "far": edge}
        await eventually(lambda: len(far.video_frames) > 5, within=20)
        t0 = time.monotonic()
        await asyncio.sleep(4)
        frames = far.colours_since(t0)
        assert relay.dropped > 0
        assert len(frames) > 30, len(frames)  # ~15 fps for 4 s despite 5 % loss
        assert close_colour(frames[-1], "blue")
        dump = await svc.dump()
        edge_consumers = _consumers(dump, edge)
        assert sum(c["retransmitted"] for c in edge_consumers) > 0  # NACKs answered at the edge
        # key frame requests: the edge consumer asked, the pipe carried them to the origin producer
        before = _pipes(dump, origin)[0]["consumers"][0]["keyframeRequests"]
        receiver = far.pc.getReceivers()[0]
        streams: dict[int, Any] = receiver._RTCRtpReceiver__remote_streams  # type: ignore[attr-defined]
        media_ssrc = next(iter(streams))
        for _ in range(5):  # five PLIs from the far subscriber within one interval
            await receiver._send_rtcp_pli(media_ssrc)
        await asyncio.sleep(1.2)
        dump = await svc.dump()
        pipe_consumer = _pipes(dump, origin)[0]["consumers"][0]
        edge_producer = _pipes(dump, edge)[0]["producers"][0]
        assert edge_producer["keyframeRequests"] >= 1
        assert pipe_consumer["keyframeRequests"] > before
        # coalesced: the edge sends upstream at most one PLI per 0.5 s interval, not one per request
        assert pipe_consumer["keyframeRequests"] - before <= 4
    finally:
        await far.close()
        await first.close()
        await pub.close()
        if relay is not None and relay.transport is not None:
            relay.transport.close()


async def _publish_big_and_small(
    svc: MediaService, router_id: str, user: str
) -> tuple[RTCPeerConnection, list[str]]:
    """A camera (green, 320x240) and its small stream sent as a track of its own (blue, 160x120): one
    producer of two encodings, layer 0 the small one; the colour a subscriber decodes names its layer."""
    pc = RTCPeerConnection(client_config())
    pc.addTransceiver(ColourVideoTrack("green", 320, 240), direction="sendonly")
    pc.addTransceiver(ColourVideoTrack("blue", 160, 120), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    result = await svc.publish(router_id, user, pc.localDescription.sdp, small_mids={"1": "0"})
    await pc.setRemoteDescription(RTCSessionDescription(result.answer_sdp, "answer"))
    return pc, [p.producer_id for p in result.producers]


def _decodes(sub: Subscriber, colour: str) -> bool:
    return len(sub.video_frames) > 3 and all(close_colour(c, colour) for _, _, c in sub.video_frames[-3:])


async def test_a_simulcast_producer_is_piped_with_its_layers_and_edge_subscribers_choose_small_or_big(
    spread: Media,
) -> None:
    svc, _ = spread
    router_id = await svc.create_router("room-pipe-simulcast")
    origin = svc.worker_for_router(router_id).index
    edge = 1 - origin
    pub, producer_ids = await _publish_big_and_small(svc, router_id, "anchor")
    assert len(producer_ids) == 1
    for user in ("near_small", "far_small"):
        await svc.set_small_stream(router_id, user, "anchor", True)
    # least-loaded placement, ties to the origin: origin, edge, origin, edge
    users = ("near_big", "far_big", "near_small", "far_small")
    subs = {u: await subscribe(svc, router_id, u, producer_ids) for u in users}
    try:
        placement = svc.placement(router_id)
        assert [placement[u] for u in users] == [origin, edge, origin, edge], placement
        await eventually(
            lambda: all(_decodes(subs[u], "blue" if u.endswith("small") else "green") for u in users), 30
        )
        dump = await svc.dump()
        origin_pipe, edge_pipe = _pipes(dump, origin)[0], _pipes(dump, edge)[0]
        # one piped producer, carried as two layers: two pipe consumers, a two-layer pipe producer
        assert origin_pipe["producersPiped"] == 1 and edge_pipe["pipeProducers"] == 1
        assert len(origin_pipe["consumers"]) == 2 and len(edge_pipe["producers"]) == 2
        assert all(c["packets"] > 0 for c in origin_pipe["consumers"])
        # an edge subscriber switches: the edge's simulcast consumer changes layer at a key frame
        await svc.set_small_stream(router_id, "far_small", "anchor", False)
        await svc.set_small_stream(router_id, "far_big", "anchor", True)
        await eventually(
            lambda: _decodes(subs["far_small"], "green") and _decodes(subs["far_big"], "blue"), 20
        )
        # the publisher leaves: every layer's pipe closes on both sides
        await svc.close_participant(router_id, "anchor")
        dump = await svc.dump()
        assert all(p["consumers"] == [] for p in _pipes(dump, origin))
        assert all(p["producers"] == [] for p in _pipes(dump, edge))
    finally:
        for sub in subs.values():
            await sub.close()
        await pub.close()


async def test_a_publisher_restart_continues_edge_subscribers_through_a_new_pipe(spread: Media) -> None:
    svc, _ = spread
    router_id = await svc.create_router("room-pipe-restart")
    origin = svc.worker_for_router(router_id).index
    pub, producer_ids = await publish(svc, router_id, "anchor", "red", audio=False)
    near = await subscribe(svc, router_id, "near", producer_ids)
    far = await subscribe(svc, router_id, "far", producer_ids)
    pub2 = None
    try:
        assert svc.placement(router_id)["far"] == 1 - origin
        await eventually(lambda: len(far.video_frames) > 3, 20)
        # the publisher comes back on a new peer connection (new producer ids): the edge consumer
        # continues from a new pipe of the new producer, the old pipe is gone
        await pub.close()
        pub2, new_ids = await publish(svc, router_id, "anchor", "blue", audio=False)
        assert new_ids != producer_ids
        await eventually(lambda: close_colour(far.video_frames[-1][2], "blue"), within=20)
        dump = await svc.dump()
        assert dump["routers"][router_id]["edges"][str(1 - origin)]["pipedProducers"] == new_ids
    finally:
        await far.close()
        await near.close()
        await pub.close()
        if pub2 is not None:
            await pub2.close()


async def test_killing_the_edge_worker_resets_only_its_subscribers(spread: Media) -> None:
    svc, events = spread
    router_id = await svc.create_router("room-edge-dies")
    origin = svc.worker_for_router(router_id).index
    edge = 1 - origin
    pub, producer_ids = await publish(svc, router_id, "anchor", "red", audio=False)
    near = await subscribe(svc, router_id, "near", producer_ids)
    far = await subscribe(svc, router_id, "far", producer_ids)
    try:
        assert svc.placement(router_id)["far"] == edge
        await eventually(lambda: len(near.video_frames) > 3 and len(far.video_frames) > 3, 20)
        handle = svc._workers[edge]
        assert handle is not None
        handle.kill()
        await eventually(
            lambda: any(
                e.type is MediaEventType.TRANSPORT_CLOSED and e.participant_id == "far" for e in events
            ),
            within=10,
        )
        assert not any(e.type is MediaEventType.WORKER_DIED and e.router_ids for e in events)
        closed = [e for e in events if e.type is MediaEventType.TRANSPORT_CLOSED]
        assert {e.participant_id for e in closed} == {"far"} and closed[0].reason == "worker_died"
        n = len(near.video_frames)
        await eventually(lambda: len(near.video_frames) > n + 10, within=10)  # the origin carries on
        await eventually(lambda: any(e.type is MediaEventType.WORKER_RESTARTED for e in events), within=20)
        # the reset member comes back (a new peer connection) and is served again
        await far.close()
        far = await subscribe(svc, router_id, "far", producer_ids)
        await eventually(lambda: len(far.video_frames) > 5, 20)
        assert close_colour(far.video_frames[-1][2], "red")
    finally:
        await far.close()
        await near.close()
        await pub.close()


# -- one worker in this process: the pipe transport's own contract ------------------------------------


@pytest.fixture
async def inproc() -> AsyncIterator[tuple[Worker, Channel, list[tuple[str, str, dict[str, Any]]]]]:
    a, b = socket.socketpair()
    w = Worker("127.0.0.1", 0, None, loopback_only=True, rtx_buffer_ms=1000, consent_timeout_s=30.0)
    await w.start(a)
    reader, writer = await asyncio.open_unix_connection(sock=b)
    notes: list[tuple[str, str, dict[str, Any]]] = []
    channel = Channel(reader, writer, on_notification=lambda t, e, d: notes.append((t, e, d)))
    yield w, channel, notes
    await channel.close()
    await w.close()


def _rtp(ssrc: int, seq: int, pt: int = 96) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, seq, seq * 3000, ssrc) + b"\x10\x00\x00\x00" + b"x" * 100


async def test_pipe_transport_feeds_its_producer_sends_pli_upstream_and_closes_with_its_router(
    inproc: tuple[Worker, Channel, list[tuple[str, str, dict[str, Any]]]],
) -> None:
    worker, ch, notes = inproc
    await ch.request("worker.createRouter", None, {"routerId": "edge"})
    local = await ch.request("router.createPipeTransport", "edge", {"transportId": "pipe"})
    assert local["ip"] == "127.0.0.1" and local["port"] > 0 and local["srtp"] is False
    with pytest.raises(ValueError, match="loopback only"):
        await ch.request("pipeTransport.connect", "pipe", {"ip": "192.0.2.1", "port": 5000})
    # the "origin" end is a plain socket of this test
    origin = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    origin.bind(("127.0.0.1", 0))
    origin.settimeout(2)
    try:
        await ch.request(
            "pipeTransport.connect", "pipe", {"ip": "127.0.0.1", "port": origin.getsockname()[1]}
        )
        with pytest.raises(InvalidStateError, match="already connected"):
            await ch.request("pipeTransport.connect", "pipe", {"ip": "127.0.0.1", "port": 9})
        params = {"producerId": "piped", "kind": "video", "mimeType": "video/VP8", "clockRate": 90000}
        await ch.request("pipeTransport.produce", "pipe", {**params, "payloadType": 96, "ssrc": 4242})
        with pytest.raises(TypeError, match="unknown producer"):
            await ch.request(
                "pipeTransport.consume",
                "pipe",
                {"consumerId": "c", "producerId": "nope", "ssrc": 1, "payloadType": 96},
            )
        for seq in range(1, 6):
            origin.sendto(_rtp(4242, seq), ("127.0.0.1", local["port"]))
        await eventually(lambda: worker.pipes["pipe"].producers["piped"].packets == 5, within=5)
        # a key frame request for the piped producer goes back over the pipe as RTCP PLI
        await ch.request("producer.requestKeyFrame", "piped")
        data = await asyncio.get_running_loop().run_in_executor(None, origin.recv, 2048)
        assert 192 <= data[1] <= 223
        assert any(isinstance(i, rtcp.Pli) and i.media_ssrc == 4242 for i in rtcp.parse(data))
        dump = await ch.request("worker.dump")
        assert dump["pipes"][0]["rxPackets"] == 5 and dump["pipes"][0]["pipeProducers"] == 1
        assert dump["routers"][0]["producerIds"] == ["piped"]
        await ch.request("router.close", "edge")
        await eventually(lambda: any(e == "transportclose" and t == "pipe" for t, e, _ in notes), within=5)
        assert (await ch.request("worker.dump"))["pipes"] == []
        assert any(e == "producerclose" and t == "piped" for t, e, _ in notes)
    finally:
        origin.close()


async def test_placement_keeps_members_on_the_origin_below_the_threshold_and_always_spreads_audience(
    loopback: None,
) -> None:
    # capacity 4 consumers, threshold 0.5: the origin takes members until it carries 2 consumers
    svc = MediaService(MediaParams(workers=2, loopback_only=True, pipe_threshold=0.5, worker_capacity=4))
    await svc.start()
    pub = None
    try:
        router_id = await svc.create_router("room-placement")
        origin = svc.worker_for_router(router_id).index
        pub, producer_ids = await publish(svc, router_id, "anchor", "red")  # audio + video
        await svc.subscribe(router_id, "m1", producer_ids)  # origin: 0 consumers < 2
        assert svc.placement(router_id)["m1"] == origin
        await svc.subscribe(router_id, "m2", producer_ids)  # origin carries 2 now: least-loaded
        assert svc.placement(router_id)["m2"] == 1 - origin
        assert svc.consumer_loads() == {origin: 2, 1 - origin: 2}
        await svc.subscribe(router_id, "m3", producer_ids)  # a tie goes to the origin
        assert svc.placement(router_id)["m3"] == origin
        await svc.subscribe(router_id, "fan", producer_ids, audience=True)  # audience: least-loaded
        assert svc.placement(router_id)["fan"] == 1 - origin
        # leaving members free their worker's load; the edge's pipes close with its last member
        for user in ("m2", "fan"):
            await svc.close_participant(router_id, user)
        assert svc.consumer_loads()[1 - origin] == 0
        assert (await svc.dump())["routers"][router_id]["edges"] == {}
    finally:
        if pub is not None:
            await pub.close()
        await svc.close()


async def test_pipe_encodings_make_a_layered_producer_and_one_pipe_consumer_per_layer(
    inproc: tuple[Worker, Channel, list[tuple[str, str, dict[str, Any]]]],
) -> None:
    worker, ch, notes = inproc
    await ch.request("worker.createRouter", None, {"routerId": "r"})
    await ch.request("router.createPipeTransport", "r", {"transportId": "p"})
    video = {"producerId": "piped", "kind": "video", "mimeType": "video/VP8", "clockRate": 90000}
    video["payloadType"] = 96
    with pytest.raises(ValueError, match="last encoding"):
        await ch.request(
            "pipeTransport.produce", "p", {**video, "ssrc": 3, "encodings": [{"ssrc": 1}, {"ssrc": 2}]}
        )
    with pytest.raises(TypeError, match="ssrc already in use"):
        await ch.request(
            "pipeTransport.produce", "p", {**video, "ssrc": 2, "encodings": [{"ssrc": 2}, {"ssrc": 2}]}
        )
    await ch.request(
        "pipeTransport.produce", "p", {**video, "ssrc": 2, "encodings": [{"ssrc": 1}, {"ssrc": 2}]}
    )
    pipe = worker.pipes["p"]
    top = pipe.producers["piped"]
    assert [layer.id for layer in top.layers] == ["piped.0", "piped"]
    assert pipe.stats()["pipeProducers"] == 1
    # piping it on: as many encodings as it has layers, one pipe consumer each, closed together
    take = {"consumerId": "c", "producerId": "piped", "ssrc": 9, "payloadType": 96}
    with pytest.raises(ValueError, match="simulcast layers"):
        await ch.request(
            "pipeTransport.consume", "p", {**take, "encodings": [{"ssrc": s} for s in (7, 8, 9)]}
        )
    await ch.request("pipeTransport.consume", "p", {**take, "encodings": [{"ssrc": 8}, {"ssrc": 9}]})
    assert set(pipe.consumers) == {"c", "c.0"} and pipe.stats()["producersPiped"] == 1
    await ch.request("consumer.close", "c")
    assert pipe.consumers == {}
    # the top producer closes its lower layer with it; only the top is announced
    await ch.request("producer.close", "piped")
    assert pipe.producers == {}
    closed = [t for t, e, _ in notes if e == "producerclose"]
    assert "piped" in closed and "piped.0" not in closed


# -- SRTP pipes: what joins two nodes, run here between two workers of one node -------------------------


async def test_an_srtp_keyed_pipe_carries_the_room_between_two_workers_as_between_two_nodes(
    spread: Media,
) -> None:
    svc, _ = spread
    svc.pipe_srtp = True
    router_id = await svc.create_router("room-pipe-srtp")
    origin = svc.worker_for_router(router_id).index
    edge = 1 - origin
    pub, producer_ids = await publish(svc, router_id, "anchor", "yellow")
    subs = [await subscribe(svc, router_id, f"v{i}", producer_ids) for i in range(2)]
    try:
        assert svc.placement(router_id)["v1"] == edge
        await eventually(lambda: all(len(s.video_frames) > 5 and len(s.audio_frames) > 10 for s in subs), 20)
        assert close_colour(subs[1].video_frames[-1][2], "yellow")
        dump = await svc.dump()
        for worker in (origin, edge):
            pipe = _pipes(dump, worker)[0]
            assert pipe["rxErrors"] == 0
        origin_pipe = next(p for r in _routers(dump, origin) for p in r["pipeTransports"])
        assert origin_pipe["srtp"] is True and origin_pipe["txPackets"] > 50
    finally:
        for s in subs:
            await s.close()
        await pub.close()


async def test_an_srtp_pipe_drops_what_does_not_authenticate_and_protects_its_rtcp(
    inproc: tuple[Worker, Channel, list[tuple[str, str, dict[str, Any]]]],
) -> None:
    worker, ch, _ = inproc
    await ch.request("worker.createRouter", None, {"routerId": "edge"})
    local = await ch.request("router.createPipeTransport", "edge", {"transportId": "pipe"})
    ours, theirs = new_pipe_keys()
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.settimeout(2)
    try:
        target = {"ip": "127.0.0.1", "port": peer.getsockname()[1]}
        for bad, message in (
            ({**ours, "cryptoSuite": "AES_CM_128_HMAC_SHA1_80"}, "cryptoSuite"),
            ({**ours, "rxKey": ours["txKey"]}, "differ"),
            ({**ours, "txKey": "c2hvcnQ="}, "28 bytes"),
        ):
            with pytest.raises(ValueError, match=message):
                await ch.request("pipeTransport.connect", "pipe", {**target, "srtp": bad})
        await ch.request("pipeTransport.connect", "pipe", {**target, "srtp": ours})
        params = {"producerId": "piped", "kind": "video", "mimeType": "video/VP8", "clockRate": 90000}
        await ch.request("pipeTransport.produce", "pipe", {**params, "payloadType": 96, "ssrc": 4242})
        pipe = worker.pipes["pipe"]
        # the other end's keys: what it sends is ours to receive, and the other way round
        keys = SrtpKeys(
            SRTP_AEAD_AES_128_GCM,
            tx_key=base64.b64decode(theirs["txKey"]),
            rx_key=base64.b64decode(theirs["rxKey"]),
        )
        other = SrtpPair(keys)
        for seq in range(1, 4):  # plain RTP: refused
            peer.sendto(_rtp(4242, seq), ("127.0.0.1", local["port"]))
        await eventually(lambda: pipe.rx_errors == 3, within=5)
        for seq in range(4, 9):
            peer.sendto(other.tx.protect(_rtp(4242, seq)), ("127.0.0.1", local["port"]))
        await eventually(lambda: pipe.producers["piped"].packets == 5, within=5)
        # its key-frame request leaves as SRTCP, readable with the other end's keys only
        await ch.request("producer.requestKeyFrame", "piped")
        data = await asyncio.get_running_loop().run_in_executor(None, peer.recv, 2048)
        plain = other.rx.unprotect_rtcp(data)
        assert len(data) > len(plain) and data[8:12] != plain[8:12]  # tag added, media SSRC encrypted
        assert any(isinstance(i, rtcp.Pli) and i.media_ssrc == 4242 for i in rtcp.parse(plain))
        assert (await ch.request("pipeTransport.dump", "pipe"))["srtp"] is True
    finally:
        peer.close()
