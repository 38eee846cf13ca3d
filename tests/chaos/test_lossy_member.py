"""Chaos: one member on a bad network (30 % loss both ways, 0-300 ms jitter on what it receives) in a
live room. The other member's media does not degrade; the bad member's video keeps decoding (NACK,
RTX, PLI); the worker counts no error."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from relayroom.media.service import MediaService
from relayroom.media.types import MediaEvent
from tests.media.peers import UdpRelay, close_colour, publish, subscribe, subscribe_via_relay
from tests.serving import eventually

# run by `make chaos` (RELAYROOM_CHAOS=1): in the full suite on a loaded 2-core machine the lossy
# member's recovery has twice outlasted its bound while it passes alone in ~15 s (docs/reliability.md)
pytestmark = [pytest.mark.timeout(120), pytest.mark.slow, pytest.mark.chaos_long]

LOSS = 0.30
JITTER_S = 0.300
WINDOW_S = 4.0


class LossyRelay(UdpRelay):
    """The tests' UDP relay with random loss in both directions and a random delay (0..JITTER_S,
    so packets also arrive out of order) on everything the worker sends to the member."""

    def __init__(self, worker_addr: tuple[str, int], seed: int = 7) -> None:
        super().__init__(worker_addr)
        self.rng = random.Random(seed)
        self.lossy = False
        self.lost = 0
        self.passed = 0

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        media = 127 < data[0] < 192  # SRTP/SRTCP: ICE and DTLS pass, as a real lossy path would let
        # a handshake through eventually (it only needs to succeed once)
        if self.lossy and media and self.rng.random() < LOSS:
            self.lost += 1
            return
        self.passed += 1
        if addr == self.worker_addr:
            if self.client_addr is None:
                return
            if self.lossy:
                asyncio.get_running_loop().call_later(
                    self.rng.uniform(0, JITTER_S), self.transport.sendto, data, self.client_addr
                )
            else:
                self.transport.sendto(data, self.client_addr)
        else:
            self.client_addr = addr
            self.transport.sendto(data, self.worker_addr)


async def test_thirty_percent_loss_and_jitter_on_one_member_does_not_degrade_the_other(
    media: tuple[MediaService, list[MediaEvent]],
) -> None:
    svc, _ = media
    router_id = await svc.create_router("room-chaos-loss")
    port = svc.worker_for_router(router_id).port
    pub, producer_ids = await publish(svc, router_id, "anchor", "green")
    loop = asyncio.get_running_loop()
    _, relay = await loop.create_datagram_endpoint(
        lambda: LossyRelay(("127.0.0.1", port)), local_addr=("127.0.0.1", 0)
    )
    good = await subscribe(svc, router_id, "good", producer_ids)
    bad = await subscribe_via_relay(svc, router_id, "bad", producer_ids, relay)
    try:
        await eventually(lambda: len(good.video_frames) > 10 and len(bad.video_frames) > 10, within=30)
        # the same window before and during the fault: the good member's frame count is the baseline
        t0 = time.monotonic()
        await asyncio.sleep(WINDOW_S)
        before = len(good.colours_since(t0))
        relay.lossy = True
        t1 = time.monotonic()
        await asyncio.sleep(WINDOW_S)
        good_during = good.colours_since(t1)
        bad_during = bad.colours_since(t1)
        assert relay.lost > 20, relay.lost
        # the other member: as many frames as before the fault (ratio in the same run, generous for a
        # loaded machine), still the right picture
        assert len(good_during) >= 0.6 * before, (before, len(good_during))
        assert good_during and close_colour(good_during[-1], "green")
        # the bad member still gets decodable video
        assert len(bad_during) >= 5, len(bad_during)
        assert close_colour(bad_during[-1], "green")
        dump = await svc.dump()
        [worker] = dump["workers"]
        assert worker["errors"] == 0
        consumers = [c for r in worker["routers"] for t in r["transports"] for c in t["consumers"]]
        assert sum(c["retransmitted"] for c in consumers) > 0  # NACKs from the bad member answered
        # and the fault goes away: the bad member recovers
        relay.lossy = False
        t2 = time.monotonic()
        # a bound, not a measurement: on a CPU-starved machine aiortc's decoder catches up slowly
        await eventually(lambda: len(bad.colours_since(t2)) > 10, within=45)
    finally:
        for s in (good, bad):
            await s.close()
        await pub.close()
        assert relay.transport is not None
        relay.transport.close()
