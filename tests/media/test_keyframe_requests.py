"""The producer's key frame request window (join to first frame): a request is held back only while the
key frame asked for is still on its way; once it arrived, the next request goes out at the next tick
(a subscriber whose DTLS came up just after it needs another one), never twice within 100 ms."""

from __future__ import annotations

from relayroom.media.producer import KEYFRAME_FLOOR_S, KEYFRAME_MIN_INTERVAL_S, KEYFRAME_RETRIES
from relayroom.media.rtp import rtcp
from tests.media.test_producer_consumer import DELTA, KEY, Sink, feed, make_producer, vp8


def _plis(sink: Sink) -> int:
    return sum(1 for d in sink.rtcp for i in rtcp.parse(d) if isinstance(i, rtcp.Pli))


def test_a_request_after_the_key_frame_arrived_is_not_held_for_the_whole_window() -> None:
    up = Sink()
    p = make_producer(up)
    feed(p, vp8(1, 0, DELTA), 9.9)
    p.request_keyframe(10.0)  # the subscriber answered: ask (its DTLS is not up yet)
    p.request_keyframe(10.05)  # another request while that key frame is on its way: held
    assert _plis(up) == 1
    feed(p, vp8(2, 3000, KEY), 10.06)  # it arrives (and is lost for the subscriber without DTLS)
    p.request_keyframe(10.07)  # DTLS up: ask again; within the floor, so it waits for a tick
    assert _plis(up) == 1
    p.on_tick(10.0 + KEYFRAME_FLOOR_S + 0.01)
    assert _plis(up) == 2  # not 10.5 s: the old rule held it for the whole window


def test_while_the_key_frame_does_not_come_requests_keep_the_whole_window() -> None:
    up = Sink()
    p = make_producer(up)
    p.request_keyframe(10.0)
    for t in (10.1, 10.2, 10.3, 10.4):
        feed(p, vp8(int(t * 10), int(t * 90000), DELTA), t)  # delta frames only
        p.request_keyframe(t)
        p.on_tick(t)
    assert _plis(up) == 1
    p.on_tick(10.0 + KEYFRAME_MIN_INTERVAL_S + 0.01)
    assert _plis(up) == 2


def test_a_key_frame_that_does_not_come_is_asked_for_again_a_few_times() -> None:
    up = Sink()
    p = make_producer(up)
    p.request_keyframe(10.0)  # the publisher ignores it (libwebrtc: within 300 ms of another request)
    t = 10.0
    while t < 16.0:
        t += 0.1
        p.on_tick(t)
    assert _plis(up) == 1 + KEYFRAME_RETRIES  # once a second, then it gives up
    feed(p, vp8(7, 9000, KEY), t)
    p.request_keyframe(t + 0.5)
    assert _plis(up) == 2 + KEYFRAME_RETRIES
