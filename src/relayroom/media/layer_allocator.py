"""LayerAllocator: which simulcast layer each video consumer of one subscriber gets, within the
bandwidth estimate of the subscriber's transport.

Input per video consumer: the bitrate of each spatial layer the publisher currently sends (lowest
first; 0 = that encoding is not arriving), the highest layer the subscriber asked for (``small``
means layer 0) and the layer it has now. Audio is never cut: its bitrate is taken off the estimate
first. Then:

1. budget = estimate * HEADROOM - audio;
2. every consumer gets its lowest active layer, in order (screen shares first, then the order the
   caller gives); a consumer whose lowest layer no longer fits is paused (video off, audio on);
3. round by round, each consumer goes up one layer while the next one fits, up to what it asked
   for: the bandwidth is shared evenly instead of the first consumer taking it all;
4. hysteresis: a consumer keeps its current layer while the total still fits the estimate without
   the headroom (so an estimate wobbling around a threshold does not switch layers back and forth),
   and goes up only when the upgrade fits with the headroom.

``wanted_bps`` (every consumer at the layer it asked for, plus audio) tells the estimator how far up
probing is worth it, and grades the downlink quality (``network_quality``). Pure and cheap: it runs
when the estimate changes (every feedback packet), not per media packet.
"""

from __future__ import annotations

from dataclasses import dataclass

HEADROOM = 0.9  # use at most 90 % of the estimate for new allocations


@dataclass(frozen=True)
class VideoDemand:
    consumer_id: str
    layer_bps: tuple[int, ...]  # per spatial layer, lowest first; 0 = not active
    max_layer: int  # the highest layer the subscriber asked for
    current: int = -1  # the layer it gets now (-1: paused or not started)
    screen: bool = False  # screen shares are served first


@dataclass(frozen=True)
class Allocation:
    layers: dict[str, int]  # consumer id -> spatial layer (-1: paused)
    allocated_bps: float  # video + audio as allocated
    wanted_bps: float  # video at the requested layers + audio
    next_upgrade_bps: float | None  # total that the next upgrade would need (a probe target), if any


def allocate(estimate_bps: float, audio_bps: float, demands: list[VideoDemand]) -> Allocation:
    ordered = sorted(demands, key=lambda d: not d.screen)  # stable: caller's order otherwise
    active = {d.consumer_id: [i for i, bps in enumerate(d.layer_bps) if bps > 0] for d in ordered}
    wanted = audio_bps
    for d in ordered:
        layers = [i for i in active[d.consumer_id] if i <= d.max_layer] or active[d.consumer_id][:1]
        if layers:
            wanted += d.layer_bps[layers[-1]]
    budget = estimate_bps * HEADROOM - audio_bps
    keep_budget = estimate_bps - audio_bps
    choice: dict[str, int] = {}
    used = 0.0
    # Base layer for everyone, in order, while it fits.
    for d in ordered:
        layers = active[d.consumer_id]
        if not layers:
            choice[d.consumer_id] = -1
            continue
        base = d.layer_bps[layers[0]]
        limit = keep_budget if d.current >= 0 else budget
        if used + base <= limit:
            choice[d.consumer_id] = layers[0]
            used += base
        else:
            choice[d.consumer_id] = -1
    # Keep current layers that still fit without headroom, before anyone is upgraded.
    for d in ordered:
        cur = choice[d.consumer_id]
        if cur < 0 or d.current <= cur or d.current > d.max_layer or d.current not in active[d.consumer_id]:
            continue
        extra = d.layer_bps[d.current] - d.layer_bps[cur]
        if used + extra <= keep_budget:
            choice[d.consumer_id] = d.current
            used += extra
    # Upgrades one step at a time, round-robin.
    next_upgrade: float | None = None
    progress = True
    while progress:
        progress = False
        for d in ordered:
            cur = choice[d.consumer_id]
            if cur < 0:
                continue
            higher = [i for i in active[d.consumer_id] if cur < i <= d.max_layer]
            if not higher:
                continue
            extra = d.layer_bps[higher[0]] - d.layer_bps[cur]
            if used + extra <= budget:
                choice[d.consumer_id] = higher[0]
                used += extra
                progress = True
            elif next_upgrade is None:
                next_upgrade = used + extra + audio_bps
    if next_upgrade is None:
        paused = [d for d in ordered if choice[d.consumer_id] < 0 and active[d.consumer_id]]
        if paused:
            next_upgrade = used + paused[0].layer_bps[active[paused[0].consumer_id][0]] + audio_bps
    return Allocation(choice, used + audio_bps, wanted, next_upgrade)
