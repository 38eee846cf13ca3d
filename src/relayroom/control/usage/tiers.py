"""TRTC's billing tiers: audio, and video by the (aggregate) subscribed resolution."""

from __future__ import annotations

import enum


class Tier(enum.StrEnum):
    AUDIO = "audio"
    SD = "sd"
    HD = "hd"
    FHD = "fhd"
    K2 = "2k"
    K4 = "4k"


TIERS: tuple[Tier, ...] = tuple(Tier)
# Column of UsageBucket per tier, and the UsageKey / CSV names the APIs show.
COLUMN = {
    Tier.AUDIO: "audio_s",
    Tier.SD: "sd_s",
    Tier.HD: "hd_s",
    Tier.FHD: "fhd_s",
    Tier.K2: "k2_s",
    Tier.K4: "k4_s",
}
USAGE_KEY = {Tier.AUDIO: "Audio", Tier.SD: "SD", Tier.HD: "HD", Tier.FHD: "FHD", Tier.K2: "2K", Tier.K4: "4K"}

# Upper bounds in pixels (TRTC: SD <= 640x480, HD <= 1280x720, FHD <= 1920x1080, 2K <= 2560x1440).
_BOUNDS = ((640 * 480, Tier.SD), (1280 * 720, Tier.HD), (1920 * 1080, Tier.FHD), (2560 * 1440, Tier.K2))


def tier_for_pixels(pixels: int) -> Tier:
    for bound, tier in _BOUNDS:
        if pixels <= bound:
            return tier
    return Tier.K4


def video_rank(t: Tier) -> int:
    return TIERS.index(t)
