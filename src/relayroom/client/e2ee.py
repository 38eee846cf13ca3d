"""End-to-end encryption keys and per-stream frame encryption (docs/e2ee.md), shared-key mode.

The application hands every member the same key (a passphrase or raw bytes); key exchange is its job.
From it, both SDKs derive the same **base key** for the room:

- passphrase: PBKDF2-HMAC-SHA256(NFC UTF-8 passphrase, salt, 600 000 iterations, 32 octets);
- raw key (≥ 16 octets): HKDF-SHA256(key, salt, info "RelayRoom E2EE raw key", 32 octets);
- salt: ``"RelayRoom E2EE v1|<sdkAppId>|r:<roomId>"`` or ``"…|s:<strRoomId>"`` (UTF-8): fixed per room,
  known to every member, so the same passphrase gives other keys in other rooms.

Each sending stream encrypts under its own SFrame KID (RFC 9605 §5.1's layout, adapted to one shared
key): ``KID = stream id (48 random bits) << 16 | key tag (8 bits) << 8 | ratchet step (8 bits)``. The
random stream id makes every stream's (key, nonce) pairs its own although members share the base key;
the key tag (a hash of the key the application gave) says which key, the step how far it was ratcheted.
A receiver keeps the last few keys (``MAX_GENERATIONS``) after a rotation and follows a sender's ratchet
up to ``RATCHET_WINDOW`` steps ahead without being told.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from relayroom.client import sframe

PBKDF2_ITERATIONS = 600_000
BASE_KEY_BYTES = 32
MIN_RAW_KEY_BYTES = 16
RAW_KEY_INFO = b"RelayRoom E2EE raw key"
KEY_TAG_INFO = b"RelayRoom E2EE key tag"
RATCHET_WINDOW = 8  # steps a receiver ratchets ahead on its own
MAX_GENERATIONS = 4  # application keys kept for decryption (the newest sends)
STEPS_KEPT = RATCHET_WINDOW  # ratchet steps of one key kept for decryption
STREAM_ID_BITS = 48
ERROR_INTERVAL_S = 5.0  # a failing stream reports again after this long

E2EEKey = str | bytes


def room_salt(sdk_app_id: int, room_id: int | None = None, str_room_id: str | None = None) -> bytes:
    """The KDF salt of a room: the same for every member, different for every room."""
    if room_id is not None:
        room = f"r:{room_id}"
    elif str_room_id is not None:
        room = f"s:{str_room_id}"
    else:
        raise ValueError("room_id or str_room_id is required")
    return f"RelayRoom E2EE v1|{sdk_app_id}|{room}".encode()


def base_key_from(key: E2EEKey, salt: bytes) -> bytes:
    """The room's base key from the application's passphrase (str) or raw key (bytes). Slow for a
    passphrase (PBKDF2): call it off the event loop."""
    if isinstance(key, str):
        if not key:
            raise ValueError("the E2EE passphrase is empty")
        secret = unicodedata.normalize("NFC", key).encode("utf-8")
        return hashlib.pbkdf2_hmac("sha256", secret, salt, PBKDF2_ITERATIONS, BASE_KEY_BYTES)
    if isinstance(key, bytes | bytearray):
        if len(key) < MIN_RAW_KEY_BYTES:
            raise ValueError(f"a raw E2EE key has at least {MIN_RAW_KEY_BYTES} bytes")
        return HKDF(hashes.SHA256(), BASE_KEY_BYTES, salt, RAW_KEY_INFO).derive(bytes(key))
    raise TypeError("the E2EE key is a passphrase (str) or raw bytes")


def key_tag(base_key: bytes) -> int:
    """8 bits that name a key in KIDs (a receiver tries only the keys whose tag matches)."""
    prk = sframe._hkdf_extract(base_key)
    return sframe._hkdf_expand(prk, KEY_TAG_INFO, 1)[0]


def make_kid(stream_id: int, tag: int, step: int) -> int:
    return (stream_id << 16) | (tag << 8) | (step & 0xFF)


def split_kid(kid: int) -> tuple[int, int, int]:
    """``(stream id, key tag, ratchet step)``."""
    return kid >> 16, (kid >> 8) & 0xFF, kid & 0xFF


@dataclass
class _Generation:
    """One key the application gave, and the ratchet steps of it we hold."""

    serial: int
    tag: int
    steps: OrderedDict[int, bytes] = field(default_factory=OrderedDict)  # step -> base key, oldest first
    newest: int = 0


class KeyRing:
    """The keys of one member: the sending key, and the recent keys for decryption. Thread-safe (aiortc
    decrypts in its decoder threads)."""

    def __init__(self, base_key: bytes) -> None:
        self._lock = threading.Lock()
        self._serial = 0
        self._generations: list[_Generation] = []  # newest first; [0] sends
        self.set_key(base_key)

    def set_key(self, base_key: bytes) -> None:
        """A new key from the application: it sends from now on; the previous keys still decrypt."""
        with self._lock:
            self._serial += 1
            gen = _Generation(self._serial, key_tag(base_key))
            gen.steps[0] = base_key
            self._generations.insert(0, gen)
            del self._generations[MAX_GENERATIONS:]

    def ratchet(self) -> None:
        """Ratchet the sending key one step; receivers follow on their own (within the window)."""
        with self._lock:
            gen = self._generations[0]
            self._add_step(gen, (gen.newest + 1) & 0xFF, sframe.ratchet(gen.steps[gen.newest]))

    def sending(self) -> tuple[int, int, int, bytes]:
        """``(generation serial, key tag, ratchet step, base key)`` to encrypt with."""
        with self._lock:
            gen = self._generations[0]
            return gen.serial, gen.tag, gen.newest, gen.steps[gen.newest]

    def candidates(self, tag: int, step: int) -> list[tuple[int, int, list[bytes], bool]]:
        """Keys that may have encrypted a frame of (tag, step): ``(serial, step, chain, held)`` where
        ``chain`` is ``[base key]`` for a step we hold (``held``), or the ratchet steps leading to it (the
        last one is the key; ``commit`` keeps them once a frame decrypts)."""
        out: list[tuple[int, int, list[bytes], bool]] = []
        with self._lock:
            gens = [(g.serial, g.newest, dict(g.steps)) for g in self._generations if g.tag == tag]
        for serial, newest, steps in gens:
            if step in steps:
                out.append((serial, step, [steps[step]], True))
                continue
            ahead = (step - newest) & 0xFF
            if 1 <= ahead <= RATCHET_WINDOW:
                chain = [steps[newest]]
                for _ in range(ahead):
                    chain.append(sframe.ratchet(chain[-1]))
                out.append((serial, step, chain[1:], False))
        return out

    def commit(self, serial: int, step: int, chain: list[bytes]) -> None:
        """A frame decrypted with a ratcheted key: keep the steps up to it."""
        with self._lock:
            gen = next((g for g in self._generations if g.serial == serial), None)
            if gen is None:
                return
            first = (step - len(chain) + 1) & 0xFF
            for i, key in enumerate(chain):
                s = (first + i) & 0xFF
                if s not in gen.steps:
                    self._add_step(gen, s, key)

    @staticmethod
    def _add_step(gen: _Generation, step: int, key: bytes) -> None:
        gen.steps[step] = key
        gen.newest = step
        while len(gen.steps) > STEPS_KEPT:
            gen.steps.popitem(last=False)


class FrameEncryptor:
    """Encrypts one sending stream's frames: its own random stream id, a counter from 0."""

    def __init__(self, keys: KeyRing) -> None:
        self._keys = keys
        self._stream_id = secrets.randbits(STREAM_ID_BITS)
        self._ctr = 0
        self._key: sframe.FrameKey | None = None
        self._key_for: tuple[int, int] = (-1, -1)

    def encrypt(self, codec: sframe.Codec, frame: bytes) -> bytes:
        serial, tag, step, base = self._keys.sending()
        if self._key is None or self._key_for != (serial, step):
            self._key = sframe.FrameKey(base, make_kid(self._stream_id, tag, step))
            self._key_for = (serial, step)
        ctr = self._ctr
        self._ctr += 1
        return sframe.protect(codec, frame, self._key, ctr)


ErrorReporter = Callable[[str, str], None]  # (reason, message)

NO_KEY = "no-key"  # no key with the frame's key tag, or its ratchet step is out of the window
AUTH_FAILED = "auth-failed"  # a key matched the tag but the frame did not authenticate
MALFORMED = "malformed"  # not an encrypted frame (e.g. sent in the clear)


class FrameDecryptor:
    """Decrypts one receiving stream's frames. A frame that does not decrypt is dropped (never handed
    to the decoder) and reported through ``report`` when the stream starts failing, then at most every
    ``ERROR_INTERVAL_S`` while it keeps failing."""

    CACHE = 16

    def __init__(
        self, keys: KeyRing, report: ErrorReporter, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._keys = keys
        self._report = report
        self._clock = clock
        self._cache: OrderedDict[tuple[int, int, int], sframe.FrameKey] = OrderedDict()
        self._failing = False
        self._last_report = 0.0
        self.decrypted = 0
        self.failed = 0

    def decrypt(self, codec: sframe.Codec, data: bytes) -> bytes | None:
        try:
            n, kid, ctr, hlen = sframe.parse(codec, data)
        except sframe.SFrameError as exc:
            self._fail(MALFORMED, str(exc))
            return None
        _, tag, step = split_kid(kid)
        candidates = self._keys.candidates(tag, step)
        if not candidates:
            self._fail(NO_KEY, "no key for this frame (another key, or beyond the ratchet window)")
            return None
        header, clear, body = data[n : n + hlen], data[:n], data[n + hlen :]
        for serial, cstep, chain, held in candidates:
            cache_key = (serial, cstep, kid)
            key = self._cache.get(cache_key)
            if key is None:
                key = sframe.FrameKey(chain[-1], kid)
            try:
                plain = key.open(ctr, header, clear, body)
            except sframe.DecryptError:
                continue
            self._cache[cache_key] = key
            self._cache.move_to_end(cache_key)
            while len(self._cache) > self.CACHE:
                self._cache.popitem(last=False)
            if not held:
                self._keys.commit(serial, cstep, chain)
            self.decrypted += 1
            self._failing = False
            return clear + plain
        self._fail(AUTH_FAILED, "the frame did not authenticate with the room key")
        return None

    def _fail(self, reason: str, message: str) -> None:
        self.failed += 1
        now = self._clock()
        if not self._failing or now - self._last_report >= ERROR_INTERVAL_S:
            self._failing = True
            self._last_report = now
            self._report(reason, message)
