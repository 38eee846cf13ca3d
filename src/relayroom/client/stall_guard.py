"""A watchdog for aiortc's video receivers: a lost packet must not freeze the picture for half a minute.

aiortc (1.16) reassembles video frames in a 512-packet jitter buffer that waits for every missing packet:
it NACKs a gap once, when the gap appears, and gives up only once 512 newer packets have arrived (34 s
of a 100 kbit/s stream). On a congested downlink the retransmission is lost too, or the sender no
longer has the packet, and the picture stays frozen long after the link recovered (a browser re-NACKs
and asks for a key frame instead). Per video receiver, every CHECK_S:

- while the oldest frame of the jitter buffer cannot be assembled (a packet of it, or between it and
  the next frame, is missing) and newer packets wait behind it, NACK what is missing again every
  RENACK_S;
- after SKIP_S without progress, give the gap up: empty the jitter buffer, forget the missing packets and
  ask for a key frame (PLI), as aiortc does itself when its buffer overflows.

It reads two private attributes of ``RTCRtpReceiver`` (the name-mangled jitter buffer and NACK
generator); without them (another aiortc) it does nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiortc import RTCRtpReceiver

log = logging.getLogger(__name__)

CHECK_S = 0.05
RENACK_S = 0.15
SKIP_S = 0.5
_JITTER_ATTR = "_RTCRtpReceiver__jitter_buffer"
_NACK_ATTR = "_RTCRtpReceiver__nack_generator"


class StallGuard:
    """Watches one video receiver (``start``/``stop``); counts the gaps it gave up (``skips``)."""

    def __init__(self, receiver: RTCRtpReceiver) -> None:
        self._receiver = receiver
        self._task: asyncio.Task[None] | None = None
        self._gap_origin: int | None = None
        self._gap_since = 0.0
        self._renacked_at = 0.0
        self.renacks = 0
        self.skips = 0

    def start(self) -> None:
        jitter = getattr(self._receiver, _JITTER_ATTR, None)
        if jitter is None or not hasattr(jitter, "_packets") or not hasattr(jitter, "_origin"):
            log.debug("this aiortc has no jitter buffer to watch")
            return
        self._task = asyncio.get_running_loop().create_task(self._run(jitter), name="stall-guard")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self, jitter: Any) -> None:
        while True:
            await asyncio.sleep(CHECK_S)
            try:
                await self.check(jitter, time.monotonic())
            except Exception:  # a receiver that closed meanwhile
                log.debug("stall guard check failed", exc_info=True)

    async def check(self, jitter: Any, now: float) -> None:
        """Stalled = the buffer holds packets of more than one frame (a later frame is complete or on
        its way) but its oldest frame cannot be assembled, and that for a while (same origin)."""
        origin = jitter._origin
        present = [p for p in jitter._packets if p is not None]
        if origin is None or len({p.timestamp for p in present}) < 2:
            self._gap_origin = None
            return
        if self._gap_origin != origin:
            self._gap_origin = origin
            self._gap_since = self._renacked_at = now
            return
        ssrc = present[0].ssrc
        nack = getattr(self._receiver, _NACK_ATTR, None)
        if now - self._gap_since >= SKIP_S:
            self.skips += 1
            jitter.remove(len(jitter._packets))
            jitter._origin = None
            if nack is not None:
                nack.missing.clear()
            self._gap_origin = None
            await self._receiver._send_rtcp_pli(ssrc)
        elif now - self._renacked_at >= RENACK_S and nack is not None and nack.missing:
            self._renacked_at = now
            self.renacks += 1
            await self._receiver._send_rtcp_nack(ssrc, sorted(nack.missing))
