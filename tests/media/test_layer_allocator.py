"""LayerAllocator: layers per video consumer within the estimate; pause when nothing fits; hysteresis;
and, through the simulated bottleneck, an estimator-driven subscriber of two simulcast publishers."""

from __future__ import annotations

from relayroom.media.layer_allocator import HEADROOM, VideoDemand, allocate
from tests.media.bwe.netsim import NetSim, step

THREE = (150_000, 500_000, 1_500_000)
AUDIO = 40_000


def _demand(cid: str, max_layer: int = 2, current: int = -1, layers: tuple[int, ...] = THREE) -> VideoDemand:
    return VideoDemand(cid, layers, max_layer, current)


def test_plenty_of_bandwidth_gives_everyone_what_they_asked_for() -> None:
    a = allocate(10_000_000, AUDIO, [_demand("a"), _demand("b", max_layer=0)])
    assert a.layers == {"a": 2, "b": 0}
    assert a.wanted_bps == a.allocated_bps == AUDIO + 1_500_000 + 150_000
    assert a.next_upgrade_bps is None


def test_bandwidth_is_shared_evenly_one_layer_at_a_time() -> None:
    estimate = (AUDIO + 2 * 500_000) / HEADROOM + 1
    a = allocate(estimate, AUDIO, [_demand("a"), _demand("b")])
    assert a.layers == {"a": 1, "b": 1}
    assert a.next_upgrade_bps == AUDIO + 500_000 + 1_500_000  # a's next step: a probe target


def test_when_nothing_fits_video_pauses_and_the_first_consumers_keep_theirs() -> None:
    a = allocate(250_000, AUDIO, [_demand("a"), _demand("b")])
    assert a.layers == {"a": 0, "b": -1}
    a = allocate(50_000, AUDIO, [_demand("a"), _demand("b")])
    assert a.layers == {"a": -1, "b": -1} and a.allocated_bps == AUDIO
    assert a.next_upgrade_bps == AUDIO + 150_000


def test_screen_shares_are_served_first() -> None:
    demands = [_demand("cam"), VideoDemand("screen", THREE, 2, screen=True)]
    assert allocate(250_000, AUDIO, demands).layers == {"screen": 0, "cam": -1}


def test_inactive_layers_are_skipped_and_a_publisher_without_small_falls_back_to_big() -> None:
    only_big = (0, 0, 1_200_000)
    a = allocate(5_000_000, AUDIO, [_demand("a", max_layer=0, layers=only_big)])
    assert a.layers == {"a": 2}  # asked for small, there is none: big (TRTC's fallback)
    a = allocate(5_000_000, AUDIO, [_demand("a", layers=(150_000, 0, 1_500_000))])
    assert a.layers == {"a": 2}
    assert allocate(5_000_000, AUDIO, [_demand("a", layers=(0, 0, 0))]).layers == {"a": -1}


def test_a_current_layer_is_kept_while_it_fits_without_headroom() -> None:
    need = AUDIO + 1_500_000
    # Just under the headroom threshold: a newcomer would get layer 1, the current holder keeps 2.
    estimate = need / HEADROOM - 10_000
    assert allocate(estimate, AUDIO, [_demand("a")]).layers == {"a": 1}
    assert allocate(estimate, AUDIO, [_demand("a", current=2)]).layers == {"a": 2}
    assert allocate(need - 10_000, AUDIO, [_demand("a", current=2)]).layers == {"a": 1}
    # Lowering what was asked for applies at once.
    assert allocate(10_000_000, AUDIO, [_demand("a", max_layer=0, current=2)]).layers == {"a": 0}


def test_an_estimator_driven_subscriber_of_two_publishers_follows_the_bottleneck() -> None:
    current = {"a": -1, "b": -1}

    def sender(target_bps: float) -> float:
        a = allocate(target_bps, AUDIO, [_demand(c, current=current[c]) for c in ("a", "b")])
        current.update(a.layers)
        return a.allocated_bps

    sim = NetSim(
        capacity=step((0, 4_000_000), (10_000, 400_000), (20_000, 4_000_000)),
        send=sender,
        max_bps=1.1 * (AUDIO + 2 * 1_500_000) / HEADROOM,  # probe up to what the headroom needs
    )
    _est, samples = sim.run(32_000)
    assert current == {"a": 2, "b": 2}  # back on big after the throttle
    # During the throttle: video of at least one publisher keeps going on the small layer.
    low = [s for s in samples if 12_000 <= s.t_ms < 20_000]
    assert all(s.sending_bps <= 400_000 * 1.1 for s in low)
    assert all(s.sending_bps >= AUDIO + 150_000 - 30_000 for s in low)
