"""ActiveSpeakerDetector: per room, who is loud and who is the dominant speaker, from RFC 6464 levels.

Per audio producer the router feeds the level of every packet (``on_level``: a dict lookup and two
additions). Every INTERVAL_MS at most (``poll``):

- each producer's **volume** is the power average of its packets' levels over the interval, as a
  linear amplitude times 100 (0 dBov = 100, -20 dBov = 10, -40 dBov = 1; no packets = 0): the same
  scale as WebRTC's ``audioLevel`` (1.0 = 0 dBov), which the browser SDK reports for the local user;
- producers are listed loudest first;
- the **dominant speaker** changes with hysteresis, so it does not flicker between two people who
  talk over each other: over the last HISTORY_BUCKETS intervals (1 s) each producer gets a smoothed
  level; a challenger replaces the dominant speaker when it speaks (smoothed level above
  SPEAKING_DBOV) and is DOMINANT_MARGIN_DB louder for DOMINANT_HOLD_MS, or when the dominant speaker
  has been quiet for DOMINANT_SILENCE_MS. Nobody speaking keeps the last dominant speaker.

``poll`` returns None when nothing is to be said (interval not over; or everyone silent again with the
same dominant speaker). Pure: the worker passes ``now_ms``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from relayroom.media.rtp.audio_level import SILENCE_DBOV

INTERVAL_MS = 200.0
HISTORY_BUCKETS = 5
SPEAKING_DBOV = 50.0  # smoothed level louder than -50 dBov: speaking
DOMINANT_MARGIN_DB = 6.0
DOMINANT_HOLD_MS = 600.0
DOMINANT_SILENCE_MS = 1000.0

_POWER = [0.0 if level >= SILENCE_DBOV else 10 ** (-level / 10) for level in range(128)]


@dataclass(frozen=True)
class SpeakerReport:
    volumes: tuple[tuple[str, int], ...]  # (producer id, volume 0..100), loudest first
    dominant: str | None
    dominant_changed: bool


class _Producer:
    __slots__ = ("count", "history", "louder_since", "power", "quiet_since")

    def __init__(self) -> None:
        self.power = 0.0  # sum of linear power of this interval's packets
        self.count = 0
        self.history: list[float] = []  # mean power per past interval, newest last
        self.louder_since = -1.0  # challenger: since when it beats the dominant speaker by the margin
        self.quiet_since = -1.0  # dominant speaker: since when it is quiet


class ActiveSpeakerDetector:
    def __init__(self, interval_ms: float = INTERVAL_MS) -> None:
        self.interval_ms = interval_ms
        self._producers: dict[str, _Producer] = {}
        self._last_poll = -1e12
        self._dominant: str | None = None
        self._was_silent = True

    def add_producer(self, producer_id: str) -> None:
        self._producers.setdefault(producer_id, _Producer())

    def remove_producer(self, producer_id: str) -> None:
        self._producers.pop(producer_id, None)
        if self._dominant == producer_id:
            self._dominant = None

    @property
    def dominant(self) -> str | None:
        return self._dominant

    # -- hot path ----------------------------------------------------------------------------------
    def on_level(self, producer_id: str, level_dbov: int) -> None:
        p = self._producers.get(producer_id)
        if p is not None:
            p.power += _POWER[level_dbov & 0x7F]
            p.count += 1

    # -- every tick --------------------------------------------------------------------------------
    def poll(self, now_ms: float) -> SpeakerReport | None:
        if now_ms - self._last_poll < self.interval_ms:
            return None
        self._last_poll = now_ms
        volumes: list[tuple[str, int]] = []
        smoothed: dict[str, float] = {}
        for pid, p in self._producers.items():
            mean = p.power / p.count if p.count else 0.0
            p.power = 0.0
            p.count = 0
            history = p.history
            history.append(mean)
            if len(history) > HISTORY_BUCKETS:
                del history[0]
            volumes.append((pid, min(100, round(100 * math.sqrt(mean)))))
            avg = sum(history) / len(history)
            smoothed[pid] = -10 * math.log10(avg) if avg > 0 else float(SILENCE_DBOV)
        volumes.sort(key=lambda v: -v[1])
        previous = self._dominant
        self._update_dominant(smoothed, now_ms)
        changed = self._dominant != previous
        silent = all(v == 0 for _, v in volumes)
        if silent and self._was_silent and not changed:
            return None
        self._was_silent = silent
        return SpeakerReport(tuple(volumes), self._dominant, changed)

    def _update_dominant(self, smoothed: dict[str, float], now_ms: float) -> None:
        """``smoothed`` holds levels in -dBov: smaller is louder."""
        speaking = {pid: lvl for pid, lvl in smoothed.items() if lvl < SPEAKING_DBOV}
        current = self._dominant
        if current is None or current not in smoothed:
            if speaking:
                self._dominant = min(speaking, key=lambda k: speaking[k])
            return
        dom = self._producers[current]
        dom_level = smoothed[current]
        if dom_level < SPEAKING_DBOV:
            dom.quiet_since = -1.0
        elif dom.quiet_since < 0:
            dom.quiet_since = now_ms
        best: str | None = None
        for pid, level in speaking.items():
            if pid == current:
                continue
            p = self._producers[pid]
            if level <= dom_level - DOMINANT_MARGIN_DB:
                if p.louder_since < 0:
                    p.louder_since = now_ms
            else:
                p.louder_since = -1.0
            if best is None or level < speaking[best]:
                best = pid
        for pid, p in self._producers.items():
            if pid not in speaking:
                p.louder_since = -1.0
        if best is None:
            return
        challenger = self._producers[best]
        quiet_long = dom.quiet_since >= 0 and now_ms - dom.quiet_since >= DOMINANT_SILENCE_MS
        louder_long = challenger.louder_since >= 0 and now_ms - challenger.louder_since >= DOMINANT_HOLD_MS
        if quiet_long or louder_long:
            self._dominant = best
            challenger.louder_since = -1.0
            challenger.quiet_since = -1.0
