"""Producer/Consumer logic with in-memory send functions (no sockets)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from aiortc.rtp import RtpPacket

from relayroom.media.consumer import Consumer, ConsumerParams
from relayroom.media.producer import KEYFRAME_MIN_INTERVAL_S, REMB_FLOOR_BPS, Producer, ProducerParams
from relayroom.media.rtp import header, rtcp
from relayroom.media.types import CloseReason

KEY = b"\x10\x00\x9d\x01\x2a"  # VP8 key frame start
DELTA = b"\x10\x01\x9d\x01\x2a"
CONT = b"\x00\x01"


def vp8(seq: int, ts: int, payload: bytes = DELTA, ssrc: int = 1111) -> bytes:
    return RtpPacket(
        payload_type=97, sequence_number=seq, timestamp=ts, ssrc=ssrc, payload=payload
    ).serialize()


class Sink:
    def __init__(self) -> None:
        self.rtp: list[bytes] = []
        self.rtcp: list[bytes] = []
        self.closed: list[str] = []


def rewriter(sink: Sink) -> Callable[[bytes, int, int, int, int], None]:
    def send(data: bytes, pt: int, seq: int, ts: int, ssrc: int) -> None:
        sink.rtp.append(header.rewritten(data, pt, seq, ts, ssrc))

    return send


def make_producer(sink: Sink, pid: str = "p1", ssrc: int = 1111) -> Producer:
    params = ProducerParams(pid, "video", "video/VP8", 90000, 97, ssrc, ssrc + 1, 98, "1", 2000)
    return Producer(params, sink.rtcp.append, lambda p, r: sink.closed.append(str(r)))


def make_consumer(sink: Sink, producer: Producer, rtx: bool = True) -> Consumer:
    params = ConsumerParams("c1", 5555, 100, 6666 if rtx else None, 101 if rtx else None)
    return Consumer(
        params,
        producer.attach,
        sink.rtp.append,
        rewriter(sink),
        sink.rtcp.append,
        lambda c, r: sink.closed.append(str(r)),
        lambda c: sink.closed.append("producer"),
    )


def feed(p: Producer, data: bytes, now: float) -> None:
    pt, seq, ts, ssrc = data[1] & 0x7F, int.from_bytes(data[2:4], "big"), int.from_bytes(data[4:8], "big"), 0
    ssrc = int.from_bytes(data[8:12], "big")
    p.receive_rtp(data, pt, seq, ts, ssrc, now)


def parsed(data: bytes) -> RtpPacket:
    return RtpPacket.parse(data)


def test_consumer_waits_for_a_keyframe_then_rewrites_ssrc_pt_and_offsets() -> None:
    up, down = Sink(), Sink()
    p = make_producer(up)
    c = make_consumer(down, p)
    feed(p, vp8(100, 9000), 0.0)  # delta frame: dropped until a key frame
    assert down.rtp == []
    feed(p, vp8(101, 12000, KEY), 0.03)
    feed(p, vp8(102, 12000, CONT), 0.03)
    out = [parsed(d) for d in down.rtp]
    assert [(o.ssrc, o.payload_type) for o in out] == [(5555, 100), (5555, 100)]
    assert out[1].sequence_number == (out[0].sequence_number + 1) & 0xFFFF
    assert out[0].timestamp == out[1].timestamp
    assert out[0].payload == KEY
    assert c.packets == 2


def test_replaced_producer_continues_the_same_consumer_sequence_space() -> None:
    up, down = Sink(), Sink()
    p1 = make_producer(up)
    c = make_consumer(down, p1)
    for i in range(5):
        feed(p1, vp8(65533 + i & 0xFFFF, 1000 + 3000 * i, KEY if i == 0 else DELTA), i * 0.033)
    p1.close()
    assert "producer" in down.closed and c.producer is None
    p2 = make_producer(up, "p2", ssrc=2222)
    c.set_producer(p2.kind, p2.attach)
    feed(p2, vp8(7, 500, DELTA, 2222), 1.0)  # not a key frame: skipped
    feed(p2, vp8(8, 800, KEY, 2222), 1.033)
    feed(p2, vp8(9, 3800, DELTA, 2222), 1.066)
    out = [parsed(d) for d in down.rtp]
    seqs = [o.sequence_number for o in out]
    assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))
    assert len(out) == 7 and {o.ssrc for o in out} == {5555}
    assert (out[5].timestamp - out[4].timestamp) & 0xFFFFFFFF > 0  # time moves forward across the switch
    assert (out[6].timestamp - out[5].timestamp) & 0xFFFFFFFF == 3000


def test_nack_from_subscriber_is_answered_with_rtx_and_missing_ones_go_upstream() -> None:
    up, down = Sink(), Sink()
    p = make_producer(up)
    c = make_consumer(down, p)
    feed(p, vp8(10, 0, KEY), 0.0)
    feed(p, vp8(11, 0, CONT), 0.0)
    first = parsed(down.rtp[0]).sequence_number
    down.rtp.clear()
    c.receive_nack([(first + 1) & 0xFFFF, (first + 5) & 0xFFFF], 0.1)
    assert len(down.rtp) == 1
    rtx = parsed(down.rtp[0])
    assert (rtx.ssrc, rtx.payload_type) == (6666, 101)
    assert int.from_bytes(rtx.payload[:2], "big") == (first + 1) & 0xFFFF and rtx.payload[2:] == CONT
    # (first + 5) maps to producer seq 15, never received: asked upstream on the next tick
    up.rtcp.clear()
    p.on_tick(0.2)
    nacks = [i for d in up.rtcp for i in rtcp.parse(d) if isinstance(i, rtcp.Nack)]
    assert nacks and 15 in nacks[0].lost and nacks[0].media_ssrc == 1111


def test_nack_without_rtx_resends_with_the_consumer_seq() -> None:
    up, down = Sink(), Sink()
    p = make_producer(up)
    c = make_consumer(down, p, rtx=False)
    feed(p, vp8(10, 0, KEY), 0.0)
    first = parsed(down.rtp[0])
    c.receive_nack([first.sequence_number], 0.1)
    again = parsed(down.rtp[-1])
    assert (again.ssrc, again.sequence_number, again.payload) == (5555, first.sequence_number, KEY)


def test_gap_from_publisher_triggers_upstream_nack_and_rtx_fills_it() -> None:
    up, down = Sink(), Sink()
    p = make_producer(up)
    make_consumer(down, p)
    feed(p, vp8(1, 0, KEY), 0.0)
    feed(p, vp8(4, 0, CONT), 0.01)
    nack = next(i for d in up.rtcp for i in rtcp.parse(d) if isinstance(i, rtcp.Nack))
    assert nack.lost == [2, 3]
    # the publisher answers with RTX (pt 98, ssrc 1112, OSN 2)
    rtx = RtpPacket(
        payload_type=98, sequence_number=50, timestamp=0, ssrc=1112, payload=(2).to_bytes(2, "big") + CONT
    ).serialize()
    feed(p, rtx, 0.02)
    assert p.rtx_received == 1
    assert len(down.rtp) == 3 and p.ring is not None and p.ring.get(2, 20) is not None


def test_keyframe_requests_are_rate_limited_and_deferred() -> None:
    up = Sink()
    p = make_producer(up)
    p.request_keyframe(10.0)
    p.request_keyframe(10.1)
    p.request_keyframe(10.2)

    def plis() -> list[rtcp.Pli]:
        return [i for d in up.rtcp for i in rtcp.parse(d) if isinstance(i, rtcp.Pli)]

    assert len(plis()) == 1
    p.on_tick(10.3)
    assert len(plis()) == 1
    p.on_tick(10.0 + KEYFRAME_MIN_INTERVAL_S + 0.01)
    assert len(plis()) == 2 and plis()[0].media_ssrc == 1111


def test_receiver_report_counts_loss() -> None:
    up = Sink()
    p = make_producer(up)
    for seq in [1, 2, 3, 5, 6, 7, 8, 9, 10, 11]:  # seq 4 lost
        feed(p, vp8(seq, seq * 3000), seq * 0.033)
    block = p.report_block(1.0)
    assert block is not None
    assert (block.ssrc, block.packets_lost, block.highest_seq) == (1111, 1, 11)
    assert block.fraction_lost == (1 << 8) // 11


def test_paused_producer_forwards_nothing_and_resume_waits_for_keyframe() -> None:
    up, down = Sink(), Sink()
    p = make_producer(up)
    make_consumer(down, p)
    feed(p, vp8(1, 0, KEY), 0.0)
    p.pause()
    feed(p, vp8(2, 3000), 0.03)
    assert len(down.rtp) == 1
    p.resume()
    feed(p, vp8(3, 6000), 0.06)  # delta after resume: waits for the key frame
    feed(p, vp8(4, 9000, KEY), 0.09)
    assert len(down.rtp) == 2
    assert (parsed(down.rtp[1]).sequence_number - parsed(down.rtp[0]).sequence_number) & 0xFFFF == 1


def test_close_is_idempotent_and_reports_reason() -> None:
    up, down = Sink(), Sink()
    p = make_producer(up)
    c = make_consumer(down, p)
    c.close(CloseReason.TRANSPORT_CLOSED)
    c.close()
    assert down.closed == ["transport_closed"] and p.consumers == ()
    p.close()
    p.close()
    assert up.closed == ["closed"]


def test_sender_report_uses_the_publishers_ntp_mapping() -> None:
    up, down = Sink(), Sink()
    p = make_producer(up)
    c = make_consumer(down, p)
    assert c.sender_report(0.0, 0.0) is None
    feed(p, vp8(1, 90000, KEY), 1.0)
    p.receive_sr(rtcp.SenderReport(1111, 5 << 32, 90000, 1, 100), 1.0)
    sr = rtcp.parse(c.sender_report(2.0, 0.0) or b"")[0]
    assert isinstance(sr, rtcp.SenderReport)
    assert sr.ssrc == 5555 and sr.ntp_timestamp >> 32 == 6 and sr.packet_count == 1
    first_ts = parsed(down.rtp[0]).timestamp
    assert (sr.rtp_timestamp - first_ts) & 0xFFFFFFFF == 90000


def test_remb_sent_upstream_is_the_lowest_subscriber_estimate() -> None:
    up, d1, d2 = Sink(), Sink(), Sink()
    p = make_producer(up)
    assert p.aggregate_remb() is None
    c1 = make_consumer(d1, p)
    c2 = Consumer(
        ConsumerParams("c2", 7777, 100),
        p.attach,
        d2.rtp.append,
        rewriter(d2),
        d2.rtcp.append,
        lambda c, r: None,
        lambda c: None,
    )
    c1.remb_bitrate = 900_000
    c2.remb_bitrate = 400_000
    remb = rtcp.parse(p.aggregate_remb() or b"")[0]
    assert isinstance(remb, rtcp.Remb) and remb.ssrcs == [1111]
    assert abs(remb.bitrate - 400_000) < 400
    c2.remb_bitrate = 6_000  # a subscriber estimate that low is floored
    remb = rtcp.parse(p.aggregate_remb() or b"")[0]
    assert isinstance(remb, rtcp.Remb) and abs(remb.bitrate - REMB_FLOOR_BPS) < 300


def test_padding_only_rtx_probe_is_not_mistaken_for_a_retransmission() -> None:
    up, down = Sink(), Sink()
    p = make_producer(up)
    make_consumer(down, p)
    feed(p, vp8(1, 0, KEY), 0.0)
    probe = RtpPacket(payload_type=98, sequence_number=9, timestamp=0, ssrc=1112, payload=b"")
    probe.padding_size = 200
    feed(p, probe.serialize(), 0.01)
    assert p.rtx_received == 0 and len(down.rtp) == 1


def test_fir_only_publisher_gets_fir_with_increasing_sequence_numbers() -> None:
    up = Sink()
    params = ProducerParams("p", "video", "video/VP8", 90000, 97, 1111, use_fir=True)
    p = Producer(params, up.rtcp.append, lambda p, r: None)
    p.request_keyframe(1.0)
    p.request_keyframe(2.0)
    firs = [i for d in up.rtcp for i in rtcp.parse(d) if isinstance(i, rtcp.Fir)]
    assert [f.entries for f in firs] == [[(1111, 1)], [(1111, 2)]]


def test_nack_flood_is_capped_by_a_token_bucket() -> None:
    from relayroom.media.consumer import RTX_BURST, RTX_RATE

    up, down = Sink(), Sink()
    p = make_producer(up)
    c = make_consumer(down, p)
    for seq in range(1, 601):
        feed(p, vp8(seq, seq * 10, KEY if seq == 1 else CONT), 0.0)
    first = parsed(down.rtp[0]).sequence_number
    down.rtp.clear()
    everything = [(first + i) & 0xFFFF for i in range(600)]
    c.receive_nack(everything, 0.0)
    assert len(down.rtp) == RTX_BURST and c.retransmissions_refused == 600 - RTX_BURST
    c.receive_nack(everything, 0.1)  # 0.1 s later: RTX_RATE * 0.1 more tokens
    assert len(down.rtp) == RTX_BURST + int(RTX_RATE * 0.1)


def test_a_consumer_holds_functions_of_its_producer_never_the_producer_itself() -> None:
    up, down = Sink(), Sink()
    p1 = make_producer(up)
    c = make_consumer(down, p1)
    assert list(p1.consumers) == [c]
    assert not any(value is p1 for value in vars(c).values())
    assert c.producer is not None and c.producer.producer_id == "p1" and c.producer.clock_rate == 90000
    p2 = make_producer(up, "p2", ssrc=2222)
    c.set_producer(p2.kind, p2.attach)
    assert list(p1.consumers) == [] and list(p2.consumers) == [c]  # detached from the old one
    assert c.stats()["producerId"] == "p2"
    c.close()
    assert list(p2.consumers) == []
