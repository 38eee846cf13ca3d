"""Native fan-out (``_fanout.c``, docs/decisions/0032-native-fanout.md): one C call per input packet
rewrites, SRTP-protects and sends the copies for every consumer armed on it.

``load()`` returns the extension module, initialised with the address of the ``srtp_protect`` that
pylibsrtp's own libsrtp exports, or ``None`` when the pure-Python path must be used: the extension is
not built, pylibsrtp's cffi binding is not the one we know, or ``RELAYROOM_MEDIA__NATIVE`` says no
(``0``/``false``/``no``/``off``; the same variable is the ``media.native`` setting of the control
plane, and the worker is started with ``--no-native`` when it is off).
"""

from __future__ import annotations

import asyncio
import os
import socket
from types import ModuleType
from typing import Any

ENV = "RELAYROOM_MEDIA__NATIVE"
_OFF = ("0", "false", "no", "off")
_SIGNATURE = "<ctype 'srtp_err_status_t(*)(struct srtp_ctx_t_ *, void *, int *)'>"
_loaded: ModuleType | None = None


def requested() -> bool:
    """False when the environment forces the pure-Python path."""
    return os.environ.get(ENV, "1").strip().lower() not in _OFF


def load() -> ModuleType | None:
    """The initialised extension, or None (not built, unknown pylibsrtp binding, or switched off)."""
    global _loaded
    if not requested():
        return None
    if _loaded is not None:
        return _loaded
    try:
        from pylibsrtp._binding import ffi, lib

        from relayroom.media.native import _fanout
    except ImportError:
        return None
    # libsrtp 2.x: srtp_err_status_t srtp_protect(srtp_t, void *, int *) -- the signature _fanout.c calls
    if (
        str(ffi.typeof(lib.srtp_protect))
        != "<ctype 'srtp_err_status_t(*)(struct srtp_ctx_t_ *, void *, int *)'>"
    ):
        return None
    _fanout.init(int(ffi.cast("uintptr_t", ffi.addressof(lib, "srtp_protect"))))
    _loaded = _fanout
    return _fanout


def srtp_context_address(session: object) -> int:
    """The ``srtp_t`` of a pylibsrtp ``Session`` (its private ``_srtp`` pointer), as an integer."""
    from pylibsrtp._binding import ffi

    return int(ffi.cast("uintptr_t", session._srtp[0]))  # type: ignore[attr-defined]


class NativeSender:
    """The worker's RTP send queue (``_fanout.Sender``): native forwards and the Python path's RTP
    (``queue``) wait in it until the end of the event-loop turn, then leave per address in arrival
    order, as UDP GSO runs when ``gso``. ``c`` is the C object handed to targets and fan-outs."""

    def __init__(
        self, fanout: ModuleType, sock: socket.socket, loop: asyncio.AbstractEventLoop, gso: bool
    ) -> None:
        self.c: Any = fanout.Sender(sock.fileno(), gso)
        self._loop = loop

    def schedule(self) -> None:
        """A forward or queue started this turn's batch: send it when the turn ends."""
        self._loop.call_soon(self.c.flush)

    def queue(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.c.queue(data, addr):
            self._loop.call_soon(self.c.flush)
