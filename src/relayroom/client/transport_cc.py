"""Transport-wide congestion control feedback from the Python SDK's receive connection, as a browser sends
it: the SFU estimates each subscriber's downlink from it (``media/bwe``) and picks simulcast layers by
that estimate, probing with padding to climb back. aiortc (1.16) neither negotiates transport-cc nor
sends the feedback (it sends REMB), so the SDK does both here:

- ``negotiate(pc, offer_sdp)``, between setRemoteDescription and createAnswer: the transport-cc
  extension the server offers is added to every transceiver's header extensions, so the answer keeps it
  (the server then stamps its transport-wide sequence number on every packet);
- the receive connection's DTLS transport is wrapped once: every decrypted RTP packet's sequence number
  and arrival time go to a ``TwccRecorder`` (the one the SFU uses towards publishers), and every
  FEEDBACK_INTERVAL_S its feedback packets (RTPFB FMT 15) go back over the same transport.

It uses two private parts of aiortc: ``transceiver._headerExtensions`` and the DTLS transport's
``_handle_rtp_data`` / ``_send_rtp``. Without them (another aiortc) the connection keeps using REMB.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiortc import RTCPeerConnection
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters

from relayroom.media.rtp.twcc import TWCC_URI, TwccRecorder, find_extension

log = logging.getLogger(__name__)

FEEDBACK_INTERVAL_S = 0.05  # what Chromium sends at a few hundred kbit/s and more
SENDER_SSRC = 1
_EXTMAP = re.compile(r"^a=extmap:(\d+)(?:/\w+)? (\S+)", re.MULTILINE)


def offered_id(offer_sdp: str) -> int:
    """The id the offer gives transport-cc (0: not offered)."""
    for ext_id, uri in _EXTMAP.findall(offer_sdp):
        if uri == TWCC_URI and 1 <= int(ext_id) <= 14:
            return int(ext_id)
    return 0


class TransportCcFeedback:
    """Feedback for one receive peer connection (``negotiate`` on every offer, ``close`` at the end)."""

    def __init__(self) -> None:
        self.ext_id = 0
        self.recorder = TwccRecorder()
        self.packets = 0
        self.feedback_sent = 0
        self._dtls: Any = None
        self._task: asyncio.Task[None] | None = None

    def negotiate(self, pc: RTCPeerConnection, offer_sdp: str) -> None:
        ext_id = offered_id(offer_sdp)
        if not ext_id or (self.ext_id and ext_id != self.ext_id):
            return
        ext = RTCRtpHeaderExtensionParameters(id=ext_id, uri=TWCC_URI)
        for transceiver in pc.getTransceivers():
            extensions = getattr(transceiver, "_headerExtensions", None)
            if isinstance(extensions, list) and all(e.uri != TWCC_URI for e in extensions):
                extensions.append(ext)
            dtls = transceiver.receiver.transport
            if self._dtls is None and dtls is not None and hasattr(dtls, "_handle_rtp_data"):
                self._hook(dtls)
        self.ext_id = ext_id

    def _hook(self, dtls: Any) -> None:
        self._dtls = dtls
        handle: Callable[[bytes, int], Awaitable[None]] = dtls._handle_rtp_data

        async def recording(data: bytes, arrival_time_ms: int) -> None:
            ext_id = self.ext_id
            if ext_id and len(data) >= 12:
                pos = find_extension(data, ext_id)
                if pos > 0 and (data[pos - 1] & 0x0F) == 1:
                    self.packets += 1
                    self.recorder.record((data[pos] << 8) | data[pos + 1], int(time.monotonic() * 1e6))
            await handle(data, arrival_time_ms)

        dtls._handle_rtp_data = recording
        self._task = asyncio.get_running_loop().create_task(self._send_loop(dtls), name="transport-cc")

    async def _send_loop(self, dtls: Any) -> None:
        while True:
            await asyncio.sleep(FEEDBACK_INTERVAL_S)
            for packet in self.recorder.feedback(SENDER_SSRC, 0):
                try:
                    await dtls._send_rtp(packet)
                except ConnectionError:
                    return
                except Exception:  # the transport closed meanwhile
                    log.debug("transport-cc feedback not sent", exc_info=True)
                    return
                self.feedback_sent += 1

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
