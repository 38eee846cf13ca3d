"""End-to-end encryption on aiortc's senders and receivers: the two hooks, kept here and nowhere else.

aiortc (1.16) has no encoded-frame transform API, so this module hooks in at the narrowest points:

- **Sender**: ``RTCRtpSender._next_encoded_frame(codec)`` returns one encoded frame as the RTP payloads
  the encoder packetised it into (VP8: payload descriptor + a slice of the frame; Opus: one packet per
  payload). The hook wraps that method on the sender instance: it joins a VP8 frame's slices,
  encrypts the frame and packetises it again with aiortc's own VP8 packetiser (same PictureID); each
  Opus packet is encrypted on its own. RTP, RTCP, NACK/RTX and key-frame requests are untouched.
- **Receiver**: the receiver hands each reassembled, depacketised frame (a ``JitterFrame``) to its
  decoder thread through a ``queue.Queue``. Before the receiver starts, the hook puts a queue of its own
  there whose ``get`` decrypts the frame in the decoder thread; a frame that does not decrypt is dropped
  (the decoder never sees it, so no garbage picture or sound comes out; a missing key frame later makes
  aiortc ask for one with a PLI as after any loss).

Both rely on aiortc internals (``_next_encoded_frame``, the name-mangled ``__decoder_queue``): aiortc is
pinned, and tests/client/test_e2ee_room.py fails if an upgrade moves them. Only VP8 and Opus are
encrypted (the codecs RelayRoom's SFU picks for both SDKs); any other codec's frames are dropped, never
sent in the clear.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import weakref
from collections.abc import Callable
from typing import Any

from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc.codecs.vpx import Vp8Encoder, VpxPayloadDescriptor
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpsender import RTCEncodedFrame

from relayroom.client import sframe
from relayroom.client.e2ee import E2EEKey, FrameDecryptor, FrameEncryptor, KeyRing, base_key_from, room_salt

log = logging.getLogger(__name__)

_QUEUE_ATTR = "_RTCRtpReceiver__decoder_queue"
_THREAD_ATTR = "_RTCRtpReceiver__decoder_thread"


def _vp8_frame(payloads: list[bytes]) -> tuple[bytes, int]:
    """The VP8 frame aiortc packetised into ``payloads``, and its PictureID."""
    parts = []
    picture_id = 0
    for i, payload in enumerate(payloads):
        desc, data = VpxPayloadDescriptor.parse(payload)
        if i == 0:
            picture_id = desc.picture_id or 0
        parts.append(data)
    return b"".join(parts), picture_id


def encrypted_payloads(codec: sframe.Codec, encryptor: FrameEncryptor, payloads: list[bytes]) -> list[bytes]:
    """The RTP payloads of one encoded frame, encrypted (empty for a codec we do not encrypt)."""
    if codec == "vp8":
        frame, picture_id = _vp8_frame(payloads)
        return Vp8Encoder._packetize(encryptor.encrypt(codec, frame), picture_id)
    if codec == "opus":
        return [encryptor.encrypt(codec, p) for p in payloads]
    return []


def encrypt_sender(sender: RTCRtpSender, encryptor: FrameEncryptor) -> None:
    """Encrypt every frame ``sender`` sends (call before it starts, i.e. before the answer is applied)."""
    original = sender._next_encoded_frame
    warned: list[str] = []

    async def next_encoded_frame(codec: RTCRtpCodecParameters) -> RTCEncodedFrame | None:
        frame = await original(codec)
        if frame is None:
            return None
        name = sframe.codec_of(codec.mimeType)
        frame.payloads = encrypted_payloads(name, encryptor, frame.payloads)
        if not frame.payloads:
            if not warned:
                warned.append(codec.mimeType)
                log.warning("E2EE: %s frames are not encrypted by this SDK; not sending them", codec.mimeType)
            return None
        return frame

    setattr(sender, "_next_encoded_frame", next_encoded_frame)  # noqa: B010 (an instance override)


class _DecryptingQueue(queue.Queue[Any]):
    """The receiver's decoder queue: ``get`` (in the decoder thread) decrypts, and drops what does not."""

    def __init__(self, decryptor: FrameDecryptor) -> None:
        super().__init__()
        self._decryptor = decryptor

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        while True:
            item = super().get(block, timeout)
            if item is None:
                return None  # the receiver stops its decoder
            codec, frame = item
            plain = self._decryptor.decrypt(sframe.codec_of(codec.mimeType), frame.data)
            if plain is not None:
                frame.data = plain
                return item


def decrypt_receiver(receiver: RTCRtpReceiver, decryptor: FrameDecryptor) -> None:
    """Decrypt every frame ``receiver`` decodes. It must not have started (its decoder thread holds the
    queue it started with): call it after ``setRemoteDescription`` and before ``setLocalDescription``."""
    if getattr(receiver, _THREAD_ATTR, None) is not None:
        raise RuntimeError("the receiver already started; E2EE must be set up before")
    if not hasattr(receiver, _QUEUE_ATTR):
        raise RuntimeError("this aiortc has no decoder queue to hook E2EE into")
    setattr(receiver, _QUEUE_ATTR, _DecryptingQueue(decryptor))


Label = Callable[[str], dict[str, Any] | None]  # mid -> {userId, kind, streamType} of the stream
ErrorSink = Callable[[dict[str, Any]], None]


class ClientE2EE:
    """The E2EE state of one RelayRoomClient in one room: its key ring, and the hooks it sets."""

    def __init__(self, salt: bytes, base_key: bytes, on_error: ErrorSink) -> None:
        self._salt = salt
        self.keys = KeyRing(base_key)
        self._on_error = on_error
        self._receivers: weakref.WeakSet[RTCRtpReceiver] = weakref.WeakSet()  # hooked already
        self.decryptors: dict[str, FrameDecryptor] = {}  # mid -> decryptor (receive connection)

    @classmethod
    async def create(
        cls, key: E2EEKey, sdk_app_id: int, room_id: int | None, str_room_id: str | None, on_error: ErrorSink
    ) -> ClientE2EE:
        salt = room_salt(sdk_app_id, room_id, str_room_id)
        base = await asyncio.to_thread(base_key_from, key, salt)  # PBKDF2 takes a while
        return cls(salt, base, on_error)

    async def set_key(self, key: E2EEKey) -> None:
        self.keys.set_key(await asyncio.to_thread(base_key_from, key, self._salt))

    def ratchet(self) -> None:
        self.keys.ratchet()

    def protect_sender(self, sender: RTCRtpSender) -> None:
        encrypt_sender(sender, FrameEncryptor(self.keys))

    def protect_receivers(self, pc: RTCPeerConnection, label: Label) -> None:
        """Hook every receiver of ``pc`` not hooked yet (after each ``setRemoteDescription``)."""
        loop = asyncio.get_running_loop()
        for transceiver in pc.getTransceivers():
            receiver = transceiver.receiver
            if receiver in self._receivers or transceiver.mid is None:
                continue
            mid = transceiver.mid

            def report(reason: str, message: str, mid: str = mid) -> None:
                # called in the decoder thread
                data = {**(label(mid) or {}), "mid": mid, "reason": reason, "message": message}
                loop.call_soon_threadsafe(self._on_error, data)

            decryptor = FrameDecryptor(self.keys, report)
            decrypt_receiver(receiver, decryptor)
            self._receivers.add(receiver)
            self.decryptors[mid] = decryptor
