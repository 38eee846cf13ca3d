"""RelayRoomClient: the Python SDK on aiortc, shaped like TRTC's Web SDK v5.

One signalling WebSocket (docs/signalling.md), one send RTCPeerConnection (the client offers, the server
answers) and one receive RTCPeerConnection (the server offers, the client answers). TRTC names map to
snake_case: enterRoom → enter_room, exitRoom → exit_room, sendCustomMessage → send_custom_message, events
keep TRTC's kebab-case names (``remote-user-enter``, ``remote-video-available``, ``kicked-out``...).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import platform
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlparse

import aioice.ice
import av
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from relayroom import __version__
from relayroom.client import reconnect
from relayroom.client.e2ee import E2EEKey
from relayroom.client.e2ee_media import ClientE2EE
from relayroom.client.stall_guard import StallGuard
from relayroom.client.tracks import ScaledVideoTrack, audio_frequency, audio_rms, dominant_rgb
from relayroom.client.transport_cc import TransportCcFeedback

# Reported at entry (signalling ``enter``): printable text, at most 64 characters each.
_OS = f"{platform.system() or 'unknown'} {platform.machine()}".strip()
DEVICE_TYPE = f"Python {platform.python_version()} ({_OS})"[:64]
SDK_VERSION = f"relayroom-python/{__version__}"

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
_CLOSED = object()
ROOM_ELSEWHERE = -100212  # the enter was answered by a redirect: the room runs on another node
MAX_REDIRECTS = 3  # a cluster sends a client on at most twice (placement, then owner); more is a loop


def signal_url(public_url: str) -> str:
    """The signalling WebSocket of a node given by its public URL (http(s)://host[:port][/prefix])."""
    u = urlparse(public_url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(u.scheme)
    if scheme is None or not u.netloc:
        raise RelayRoomError(5000, "the redirect does not name an http(s) URL")
    path = u.path.rstrip("/")
    return f"{scheme}://{u.netloc}{path if path.endswith('/signal') else path + '/signal'}"


class RelayRoomError(Exception):
    """A refused request: TRTC-like ``code``, ``extra_code`` and ``message`` (docs/signalling.md)."""

    def __init__(
        self, code: int, message: str, extra_code: int = 0, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.extra_code = extra_code
        self.message = message
        # the error's other fields, e.g. regionUrl when the application belongs to another region
        self.details = details or {}


@dataclass(frozen=True)
class ClientEvent:
    name: str
    data: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


class _LoopbackGathering:
    """aioice leaves 127.0.0.1 out of host candidates. While at least one loopback client gathers,
    `aioice.ice.get_host_addresses` returns only 127.0.0.1 (a reference-counted, scoped patch:
    it is aioice's module function, so the patch cannot be per connection)."""

    def __init__(self) -> None:
        self._users = 0
        self._original: Callable[[bool, bool], list[str]] | None = None

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        if self._users == 0:
            self._original = aioice.ice.get_host_addresses
            aioice.ice.get_host_addresses = _loopback_addresses
        self._users += 1
        try:
            yield
        finally:
            self._users -= 1
            if self._users == 0 and self._original is not None:
                aioice.ice.get_host_addresses = self._original  # type: ignore[assignment]
                self._original = None


def _loopback_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    return ["127.0.0.1"] if use_ipv4 else []


_LOOPBACK = _LoopbackGathering()


IceTransportPolicy = Literal["all", "relay"]


def _peer_connection(ice_servers: list[RTCIceServer], policy: IceTransportPolicy) -> RTCPeerConnection:
    # No STUN servers (the SFU is ICE-lite with known addresses); TURN only when the server hands it out
    # (aiortc uses the first TURN URL it supports). MAX_BUNDLE because aiortc's default BALANCED policy
    # leaves the second m-line of a kind on a discarded transport when the server's offer BUNDLEs
    # everything: a subscriber receiving two video tracks would never start the second receiver.
    return RTCPeerConnection(
        RTCConfiguration(
            iceServers=ice_servers,
            iceTransportPolicy=RTCIceTransportPolicy(policy),
            bundlePolicy=RTCBundlePolicy.MAX_BUNDLE,
        )
    )


def _parse_ice_servers(raw: Any) -> list[RTCIceServer]:
    """The enter response's ``iceServers`` (WebRTC RTCIceServer dictionaries) for aiortc."""
    servers = []
    for entry in raw if isinstance(raw, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("urls"), str | list):
            servers.append(
                RTCIceServer(
                    urls=entry["urls"], username=entry.get("username"), credential=entry.get("credential")
                )
            )
    return servers


class RemoteTrack:
    """A received track of a remote user, decoded by aiortc; keeps counters, not frames."""

    def __init__(self, user_id: str, kind: str, stream_type: str, mid: str, track: MediaStreamTrack) -> None:
        self.user_id = user_id
        self.kind = kind
        self.stream_type = stream_type
        self.mid = mid
        self.track = track
        self.frames = 0
        self.created_at = time.monotonic()
        self.first_frame_at: float | None = None
        self.last_frame_at: float | None = None
        self.last_frame: av.VideoFrame | av.AudioFrame | None = None
        self.last_rms = 0.0  # audio
        self.last_frequency = 0.0  # audio: zero-crossing estimate of the tone
        self.ended = False
        self._task: asyncio.Task[None] | None = None
        self.stall_guard: StallGuard | None = None  # video: unblocks aiortc's jitter buffer (stall_guard.py)
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"remote-{self.kind}")

    async def _run(self) -> None:
        try:
            while True:
                frame = await self.track.recv()
                now = time.monotonic()
                if self.first_frame_at is None:
                    self.first_frame_at = now
                self.last_frame_at = now
                self.frames += 1
                if isinstance(frame, av.AudioFrame):
                    self.last_rms = audio_rms(frame)
                    self.last_frequency = audio_frequency(frame)
                self.last_frame = frame  # type: ignore[assignment]
                for n, fut in list(self._waiters):
                    if self.frames >= n and not fut.done():
                        fut.set_result(None)
        except Exception:
            # MediaStreamError when the track ends (unpublished, left, closed).
            self.ended = True

    def colour(self) -> tuple[int, int, int] | None:
        """Dominant RGB of the last decoded video frame."""
        if isinstance(self.last_frame, av.VideoFrame):
            return dominant_rgb(self.last_frame)
        return None

    async def wait_frames(self, count: int, within: float = 10.0) -> None:
        if self.frames >= count:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((count, fut))
        try:
            await asyncio.wait_for(fut, within)
        finally:
            self._waiters = [w for w in self._waiters if w[1] is not fut]

    async def close(self) -> None:
        if self.stall_guard is not None:
            self.stall_guard.stop()
        self.ended = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


RemoteKey = tuple[str, str, str]  # (userId, kind, streamType)


class _LentTrack(MediaStreamTrack):
    """An application's track as one send connection sees it: closing that connection stops this
    wrapper, not the application's track, so the SDK can publish the same track again after a
    re-entry (aiortc stops a sender's track when its connection closes)."""

    def __init__(self, source: MediaStreamTrack) -> None:
        super().__init__()
        self.kind = source.kind
        self.source = source

    async def recv(self) -> Any:
        if self.readyState != "live":
            raise MediaStreamError
        return await self.source.recv()


@dataclass
class _Published:
    """What the application published (publish's arguments), to publish again after a re-entry."""

    audio: MediaStreamTrack | None
    video: MediaStreamTrack | None
    screen: MediaStreamTrack | None
    small: bool | tuple[int, int]

    def stop(self) -> None:
        for track in (self.audio, self.video, self.screen):
            if track is not None:
                track.stop()


class RelayRoomClient:
    """One user's connection to a RelayRoom server.

    ``url`` is the signalling WebSocket, e.g. ``ws://127.0.0.1:8080/signal`` or ``wss://…`` (``ssl``:
    the TLS context for wss, e.g. one that trusts a private CA; default: the system's). ``loopback`` makes
    aiortc gather ICE candidates on 127.0.0.1 (default: when the URL's host is a loopback address).
    ``ice_transport_policy="relay"`` sends all media through the TURN server that the RelayRoom server
    hands out at entry (WebRTC's iceTransportPolicy; entering fails when the server offers no TURN).
    """

    def __init__(
        self,
        url: str,
        *,
        loopback: bool | None = None,
        request_timeout: float = 15.0,
        ice_transport_policy: IceTransportPolicy = "all",
        ssl: ssl.SSLContext | None = None,
        auto_reconnect: bool = True,
        reconnect_urls: Sequence[str] = (),
        reconnect_timeout: float | None = None,
    ) -> None:
        if ice_transport_policy not in ("all", "relay"):
            raise ValueError("ice_transport_policy must be 'all' or 'relay'")
        self.url = url  # the node this client talks to now (a redirect or a reconnect may change it)
        # Reconnecting (client/reconnect.py): on a dropped socket, resume or enter again by itself;
        # on a drain redirect or a ``reconnect`` (reason worker_died), enter again by itself too;
        # ``reconnect_urls`` are other entry points of the deployment, tried after ``url``.
        self.auto_reconnect = auto_reconnect
        self._home_url = url
        self._alternates = [signal_url(u) for u in reconnect_urls]
        self._reconnect_timeout = reconnect_timeout
        self._recovery: asyncio.Task[None] | None = None
        self._entry: dict[str, Any] | None = None  # the enter request (UserSig inside: never logged)
        self._published: _Published | None = None
        self._lent: list[_LentTrack] = []  # wrappers on the current send connection
        # explicit subscribe/unsubscribe calls: (wanted, small), replayed after a re-entry
        self._wanted: dict[RemoteKey, tuple[bool, bool | None]] = {}
        self._resubscribe: dict[RemoteKey, tuple[bool, bool | None]] = {}  # until the user is back
        self.connection_state = "DISCONNECTED"
        self._manual_drop = False  # drop_connection: the caller resumes
        host = urlparse(url).hostname or ""
        self.loopback = loopback if loopback is not None else host in ("127.0.0.1", "localhost", "::1")
        self.ice_transport_policy: IceTransportPolicy = ice_transport_policy
        self.ice_servers: list[RTCIceServer] = []  # from the enter response
        self._ssl = ssl
        self._timeout = request_timeout
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._negotiator: asyncio.Task[None] | None = None
        self._teardown: asyncio.Task[None] | None = None
        # Offers for the receive connection, tagged with the session they arrived in (see _session).
        self._offers: asyncio.Queue[tuple[int, dict[str, Any]]] = asyncio.Queue()
        # A session is one membership: from sending `enter` until `exit`, kicked-out or a server-side end.
        # Offers of another session (queued before a re-entry, or arriving while leaving) are void.
        self._session = 0
        self._in_session = False
        self._answered: tuple[int, str] | None = None  # (negotiationId, answer SDP) last sent
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next_id = 0
        self._listeners: dict[str, list[Callable[[ClientEvent], Any]]] = {}
        self._queues: list[asyncio.Queue[ClientEvent | object]] = []
        self._send_pc: RTCPeerConnection | None = None
        self._recv_pc: RTCPeerConnection | None = None
        self._transport_cc: TransportCcFeedback | None = None  # feedback for the SFU's estimate
        self._mid_streams: dict[str, dict[str, Any]] = {}
        self._local: dict[tuple[str, str], dict[str, Any]] = {}  # (kind, streamType) -> producer
        self.remote_tracks: dict[RemoteKey, RemoteTrack] = {}
        self.room: dict[str, Any] | None = None  # the enter response
        self.e2ee: ClientE2EE | None = None  # end-to-end encryption in this room (docs/e2ee.md)
        self.user_id: str | None = None
        self.event_log: list[ClientEvent] = []
        # Cluster: the last redirect the server sent ({"url", "reason"}), and the node URLs followed.
        self._redirect: dict[str, Any] | None = None
        self.redirected_from: list[str] = []
        self.closed = False

    # ------------------------------------------------------------------ events

    def on(self, event: str, cb: Callable[[ClientEvent], Any]) -> None:
        """Register a callback for an event name ('*' for all). Coroutine callbacks are awaited in a task."""
        self._listeners.setdefault(event, []).append(cb)

    def off(self, event: str, cb: Callable[[ClientEvent], Any]) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._listeners[event].remove(cb)

    async def events(self) -> AsyncIterator[ClientEvent]:
        """Every event from now on, in order, until the client closes."""
        queue: asyncio.Queue[ClientEvent | object] = asyncio.Queue()
        self._queues.append(queue)
        try:
            while True:
                item = await queue.get()
                if item is _CLOSED or not isinstance(item, ClientEvent):
                    return
                yield item
        finally:
            with contextlib.suppress(ValueError):
                self._queues.remove(queue)

    async def wait_for_event(
        self, name: str, predicate: Callable[[dict[str, Any]], bool] | None = None, within: float = 10.0
    ) -> ClientEvent:
        """The first event ``name`` (already received or future) matching ``predicate``."""
        for ev in self.event_log:
            if ev.name == name and (predicate is None or predicate(ev.data)):
                return ev
        fut: asyncio.Future[ClientEvent] = asyncio.get_running_loop().create_future()

        def check(ev: ClientEvent) -> None:
            if not fut.done() and (predicate is None or predicate(ev.data)):
                fut.set_result(ev)

        self.on(name, check)
        try:
            return await asyncio.wait_for(fut, within)
        finally:
            self.off(name, check)

    def _emit(self, name: str, data: dict[str, Any]) -> None:
        ev = ClientEvent(name, data)
        self.event_log.append(ev)
        for q in self._queues:
            q.put_nowait(ev)
        for cb in [*self._listeners.get(name, []), *self._listeners.get("*", [])]:
            try:
                result = cb(ev)
                if asyncio.iscoroutine(result):
                    asyncio.get_running_loop().create_task(result)
            except Exception:
                log.exception("event listener failed")

    # ------------------------------------------------------------------ signalling

    async def connect(self) -> None:
        if self._ws is not None:
            return
        await self._open(self.url)

    async def _open(self, url: str) -> None:
        self._ws = await connect(url, max_queue=None, max_size=1 << 20, ssl=self._ssl)
        self._reader = asyncio.get_running_loop().create_task(self._read_loop(), name="signal-reader")
        self._negotiator = asyncio.get_running_loop().create_task(self._negotiate_loop(), name="negotiator")

    async def request(self, rtype: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send one request and return its response data, or raise RelayRoomError."""
        if self._ws is None:
            raise RelayRoomError(5101, "not connected")
        self._next_id += 1
        rid = self._next_id
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            await self._ws.send(
                json.dumps({"v": PROTOCOL_VERSION, "id": rid, "type": rtype, "data": data or {}})
            )
            msg = await asyncio.wait_for(fut, self._timeout)
        except ConnectionClosed:
            raise RelayRoomError(5998, "signalling connection closed") from None
        except TimeoutError:
            raise RelayRoomError(5998, f"no response to {rtype} within {self._timeout} s") from None
        finally:
            self._pending.pop(rid, None)
        if not msg.get("ok"):
            err = msg.get("error") or {}
            raise RelayRoomError(
                int(err.get("code", 5999)),
                str(err.get("message", "")),
                int(err.get("extraCode", 0)),
                {k: v for k, v in err.items() if k not in ("code", "message", "extraCode")},
            )
        data_out: dict[str, Any] = msg.get("data") or {}
        return data_out

    async def _read_loop(self) -> None:
        ws = self._ws
        assert ws is not None
        try:
            async for raw in ws:
                try:
                    msg = json.loads(raw)
                except ValueError:
                    continue
                if msg.get("type") == "response":
                    fut = self._pending.get(msg.get("id"))
                    if fut is not None and not fut.done():
                        fut.set_result(msg)
                elif msg.get("type") == "event":
                    self._on_server_event(str(msg.get("event")), msg.get("data") or {})
                elif msg.get("type") == "redirect":
                    if isinstance(msg.get("url"), str):
                        self._redirect = {"url": msg["url"], "reason": str(msg.get("reason", ""))}
                    if msg.get("id") is None:  # not an entry's answer: e.g. the node drains
                        self._on_session_redirect(msg)
        except Exception:
            pass
        finally:
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(RelayRoomError(5998, "signalling connection closed"))
            self._socket_lost(ws)

    def _on_server_event(self, name: str, data: dict[str, Any]) -> None:
        if name == "offer":
            # Queued, not dropped, even when it overtakes the enter response: it belongs to this session.
            self._offers.put_nowait((self._session, data))
            return
        if name.endswith("-unavailable") and name.startswith("remote-"):
            kind = "audio" if "audio" in name else "video"
            track = self.remote_tracks.get(
                (str(data.get("userId")), kind, str(data.get("streamType", "main")))
            )
            if track is not None and data.get("reason") != "mute":
                track.ended = True
        if name == "remote-user-enter" and self._resubscribe:
            asyncio.get_running_loop().create_task(self._replay_subscriptions(str(data.get("userId"))))
        if (
            name == "reconnect"
            and data.get("reason") == "worker_died"
            and self.auto_reconnect
            and self._in_session
            and self._entry is not None
        ):
            # The media worker of our room died and the server dropped the membership: enter again
            # by ourselves (republish, resubscribe), as after a lost socket (client/reconnect.py).
            self._emit(name, data)
            self._start_recovery("worker_died", self.url)
            return
        if name == "kicked-out" or (name == "reconnect" and data.get("reason") in ("worker_died", "timeout")):
            # The membership is gone on the server: drop the media connections; enter_room works again.
            self._end_session()
            self.room = None
            self._forget_room()
            self._set_state("DISCONNECTED")
            if self._teardown is None or self._teardown.done():
                self._teardown = asyncio.get_running_loop().create_task(self._close_peer_connections())
        self._emit(name, data)

    async def _heartbeat_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(RelayRoomError):
                await self.request("heartbeat")

    # ------------------------------------------------------------------ room

    async def enter_room(
        self,
        *,
        sdk_app_id: int,
        user_id: str,
        user_sig: str,
        room_id: int | None = None,
        str_room_id: str | None = None,
        scene: str = "rtc",
        role: str = "anchor",
        private_map_key: str | None = None,
        auto_receive_audio: bool = True,
        auto_receive_video: bool = False,
        consent_token: str | None = None,
        e2ee_key: E2EEKey | None = None,
    ) -> dict[str, Any]:
        """TRTC enterRoom. Returns the server's enter response (members already in the room...).

        ``e2ee_key``: encrypt media end to end with this passphrase (str) or raw key (bytes ≥ 16); every
        member of the room needs the same one (docs/e2ee.md). The key never leaves this process."""
        if self._teardown is not None:
            await self._teardown  # media of a session the server ended must be gone before the new one
        await self.connect()
        data: dict[str, Any] = {
            "sdkAppId": sdk_app_id,
            "userId": user_id,
            "userSig": user_sig,
            "scene": scene,
            "role": role,
            "autoReceiveAudio": auto_receive_audio,
            "autoReceiveVideo": auto_receive_video,
            # what this client is (the server API's DescribeUserInfo DeviceType / SdkVersion)
            "deviceType": DEVICE_TYPE,
            "sdkVersion": SDK_VERSION,
        }
        if room_id is not None:
            data["roomId"] = room_id
        if str_room_id is not None:
            data["strRoomId"] = str_room_id
        if private_map_key is not None:
            data["privateMapKey"] = private_map_key
        if consent_token is not None:
            data["consentToken"] = consent_token
        self.e2ee = None
        if e2ee_key is not None:
            self.e2ee = await ClientE2EE.create(
                e2ee_key, sdk_app_id, room_id, str_room_id, lambda d: self._emit("e2ee-error", d)
            )
            data["e2ee"] = True
        # The session starts before the request: the server's first offer may arrive before the response
        # has been handed to this coroutine, and it must not be dropped.
        self._begin_session()
        self._set_state("CONNECTING")
        try:
            self.room = await self._enter_following_redirects(data)
        except BaseException:
            self._end_session()
            self._set_state("DISCONNECTED")
            raise
        self._entry = data  # to enter again after a lost connection (client/reconnect.py)
        self._set_state("CONNECTED")
        self.user_id = user_id
        self.ice_servers = _parse_ice_servers(self.room.get("iceServers"))
        if self.ice_transport_policy == "relay" and not self.ice_servers:
            await self.exit_room()
            raise RelayRoomError(
                5000, "ice_transport_policy='relay' needs a TURN server and this server offers none"
            )
        if self._heartbeat is None:
            interval = float(self.room.get("heartbeatInterval", 10.0))
            self._heartbeat = asyncio.get_running_loop().create_task(self._heartbeat_loop(interval))
        return self.room

    async def _enter_following_redirects(self, data: dict[str, Any]) -> dict[str, Any]:
        """``enter``; when the room runs on another node of a cluster, the server answers with a
        redirect: reconnect there and enter again (at most MAX_REDIRECTS times)."""
        for hops in range(MAX_REDIRECTS + 1):
            self._redirect = None
            try:
                return await self.request("enter", {**data, "redirects": hops} if hops else data)
            except RelayRoomError as exc:
                target = self._redirect
                if exc.code != ROOM_ELSEWHERE or target is None or hops == MAX_REDIRECTS:
                    raise
            log.info("room served by another node; entering there", extra={"reason": target["reason"]})
            self.redirected_from.append(self.url)
            await self._move_to(signal_url(str(target["url"])))
        raise AssertionError("unreachable")

    async def _move_to(self, url: str) -> None:
        """Close this signalling socket and open one to ``url`` (another node of the cluster)."""
        await self.drop_connection()
        self.url = url
        host = urlparse(url).hostname or ""
        self.loopback = self.loopback or host in ("127.0.0.1", "localhost", "::1")
        await self.connect()

    async def resume(self, resume_token: str) -> dict[str, Any]:
        """Reattach to a membership after the signalling socket dropped (docs/signalling.md)."""
        await self.connect()
        was_in_session = self._in_session
        self._in_session = True  # the same membership: offers already answered stay answered
        try:
            self.room = await self.request("resume", {"resumeToken": resume_token})
        except BaseException:
            self._in_session = was_in_session
            raise
        self.ice_servers = _parse_ice_servers(self.room.get("iceServers")) or self.ice_servers
        if self._recovery is None or self._recovery.done():  # the SDK's recovery reports on its own
            self._set_state("CONNECTED")
        return self.room

    # ------------------------------------------------------------------ reconnecting

    def _set_state(self, state: str) -> None:
        """TRTC's connection states: DISCONNECTED, CONNECTING, CONNECTED, RECONNECTING (and RECONNECTED,
        passed through on the way back to CONNECTED), each change a ``connection-state-changed``."""
        if state == self.connection_state:
            return
        previous, self.connection_state = self.connection_state, state
        self._emit("connection-state-changed", {"prevState": previous, "state": state})

    def _socket_lost(self, ws: ClientConnection) -> None:
        """The reader of ``ws`` ended: recover, or tell the application."""
        if self.closed or (self._ws is not None and self._ws is not ws):
            return  # closing, or replaced by a newer socket
        self._ws = None
        if self._recovery is not None and not self._recovery.done():
            return  # the running recovery sees its request fail and tries again
        manual, self._manual_drop = self._manual_drop, False
        if self.auto_reconnect and not manual and self._in_session and self._entry is not None:
            log.info("signalling socket lost; reconnecting")
            self._start_recovery("socket", None)
        elif manual and self.room is None:
            pass  # the entry moving to another node (redirect): not a state change
        else:
            self._set_state("DISCONNECTED")

    def _on_session_redirect(self, msg: dict[str, Any]) -> None:
        """``{"type": "redirect", "url", "reason"}`` while in a room (e.g. reason "drain": the node is
        going away): leave and enter again at ``url`` (the URL this client was made with if none),
        publishing and subscribing again what we had. A redirect answering ``enter`` is the entry's."""
        if self.closed or not self._in_session or self.room is None or self._entry is None:
            return
        raw = msg.get("url")
        target = self._home_url
        if isinstance(raw, str) and raw:
            try:
                target = signal_url(raw)
            except RelayRoomError:
                log.warning("redirect with an unusable URL; entering again where we started")
        self._emit("redirect", {"url": target, "reason": str(msg.get("reason", ""))})
        if self.auto_reconnect:
            self._start_recovery("redirect", target)

    def _start_recovery(self, why: str, target: str | None) -> None:
        if self._recovery is not None and not self._recovery.done():
            return
        self._set_state("RECONNECTING")
        self._recovery = asyncio.get_running_loop().create_task(self._recover(why, target), name="reconnect")

    async def _stop_recovery(self) -> None:
        task, self._recovery = self._recovery, None
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _recover(self, why: str, target: str | None) -> None:
        """Resume (``why`` "socket") or enter again (``why`` "redirect", "worker_died"), trying
        ``target``, the node we were on, the URL we were made with and ``reconnect_urls`` in turn, with
        backoff. A node that cannot be reached is skipped at once (the next URL is tried before
        sleeping), and a redirect answering the entry is followed at once (a few hops at most between
        sleeps)."""
        room = self.room or {}
        deadline = time.monotonic() + reconnect.deadline_s(room.get("idleTimeout"), self._reconnect_timeout)
        urls = reconnect.candidates(target or self.url, self._home_url, self._alternates)
        needs_enter = why != "socket"
        if why == "redirect":
            await self._leave_node()
        delay = reconnect.FIRST_DELAY_S
        attempt = 0
        hop: str | None = None  # the room is elsewhere: the node the server named
        unreachable = hops = 0  # since the last sleep
        while not self.closed:
            url = hop or urls[attempt % len(urls)]
            hop = None
            attempt += 1
            try:
                await self._reopen(url)
                if not needs_enter:
                    try:
                        await self.resume(str(room.get("resumeToken", "")))
                        break
                    except RelayRoomError as exc:
                        if exc.code != reconnect.SESSION_NOT_FOUND:
                            raise
                        needs_enter = True  # the server no longer knows the membership
                await self._reenter(hops)
                break
            except Exception as exc:
                code = exc.code if isinstance(exc, RelayRoomError) else 0
                if reconnect.is_final(code) or time.monotonic() + delay > deadline:
                    await self._give_up(exc)
                    return
                if code == ROOM_ELSEWHERE and self._redirect is not None and self._redirect["url"]:
                    with contextlib.suppress(RelayRoomError):
                        hop = signal_url(str(self._redirect["url"]))
                log.info("reconnect attempt failed: %s %s", type(exc).__name__, code or "")
                if hop is not None and hops < 3:
                    hops += 1
                    continue
                if self._ws is None and unreachable + 1 < len(urls):
                    unreachable += 1  # that node is down: the next URL at once
                    continue
                await asyncio.sleep(delay)
                delay = reconnect.next_delay(delay)
                unreachable = hops = 0
        if self.closed:
            return
        self.url = url
        log.info("back in the room", extra={"entered_again": needs_enter})
        self._set_state("RECONNECTED")
        self._set_state("CONNECTED")

    async def _leave_node(self) -> None:
        """Best effort: tell the node we leave (it is draining), then close its socket."""
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.request("exit"), 2)
        await self._reopen(None)

    async def _reopen(self, url: str | None) -> None:
        """Close the current socket (without a recovery of its own) and open one to ``url``."""
        old, self._ws = self._ws, None
        for task in (self._reader, self._negotiator):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        if old is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(old.close(), 2)
        for task in (self._reader, self._negotiator):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._reader = self._negotiator = None
        if url is not None:
            await self._open(url)

    async def _reenter(self, redirects: int = 0) -> None:
        """Enter again with the stored request on the open socket, publish again, subscribe again
        (``redirects``: how many entry redirects led here, as the entry path tells the server)."""
        assert self._entry is not None
        self._end_session()
        self.room = None
        await self._close_peer_connections()
        self._resubscribe = dict(self._wanted)
        self._begin_session()
        try:
            self._redirect = None
            data = {**self._entry, "redirects": redirects} if redirects else self._entry
            self.room = await self.request("enter", data)
            self.ice_servers = _parse_ice_servers(self.room.get("iceServers"))
            if self._published is not None and self.room.get("role", "anchor") == "anchor":
                await self._publish_tracks(self._published)
            await self._replay_subscriptions(None)
        except BaseException:
            if self.room is not None:  # in, but not publishing: leave before the next attempt
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.request("exit"), 2)
            self._end_session()
            self.room = None
            raise

    async def _replay_subscriptions(self, user_id: str | None) -> None:
        """Subscribe again as the application had (all, or ``user_id``'s once that user is back)."""
        for key, (wanted, small) in list(self._resubscribe.items()):
            if user_id is not None and key[0] != user_id:
                continue
            data: dict[str, Any] = {"userId": key[0], "kind": key[1], "streamType": key[2]}
            if small is not None:
                data["small"] = small
            try:
                await self.request("subscribe" if wanted else "unsubscribe", data)
            except RelayRoomError as exc:
                if exc.code == 5102:  # REMOTE_USER_MISSING: again when the user enters
                    continue
                log.warning("resubscribing failed: %s", exc.code)
            self._resubscribe.pop(key, None)

    async def _give_up(self, exc: Exception) -> None:
        log.warning("reconnecting failed: %s", type(exc).__name__)
        self._end_session()
        self.room = None
        await self._close_peer_connections()
        await self._reopen(None)
        code = exc.code if isinstance(exc, RelayRoomError) else 0
        self._emit(
            "error",
            {
                "code": 5500,
                "extraCode": reconnect.RECONNECT_FAILED,
                "reason": "reconnect_failed",
                "serverCode": code,
                "message": f"could not get back into the room ({type(exc).__name__}); enter again",
            },
        )
        self._set_state("DISCONNECTED")

    def _forget_room(self) -> None:
        """We left (or were removed): nothing to enter again, republish or resubscribe; the published
        tracks end (as aiortc ends the tracks of a closed connection)."""
        self._entry = None
        if self._published is not None:
            self._published.stop()
            self._published = None
        self._wanted.clear()
        self._resubscribe.clear()

    async def exit_room(self) -> None:
        """TRTC exitRoom: leave, stop publishing and receiving."""
        await self._stop_recovery()
        self._end_session()  # before the request: offers and media teardown racing the exit are void
        if self.room is not None:
            with contextlib.suppress(RelayRoomError):
                await self.request("exit")
        self.room = None
        self._forget_room()
        await self._close_peer_connections()
        self._set_state("DISCONNECTED")

    async def switch_role(self, role: str, private_map_key: str | None = None) -> str:
        data: dict[str, Any] = {"role": role}
        if private_map_key is not None:
            data["privateMapKey"] = private_map_key
        result = await self.request("switchRole", data)
        if self._entry is not None:  # a re-entry enters with the role we have now
            self._entry["role"] = str(result["role"])
            if private_map_key is not None:
                self._entry["privateMapKey"] = private_map_key
        if role == "audience":
            self._local.clear()
            if self._send_pc is not None:
                await self._send_pc.close()
                self._send_pc = None
            self._stop_lent()
            if self._published is not None:
                self._published.stop()
                self._published = None
        return str(result["role"])

    async def set_e2ee_key(self, key: E2EEKey) -> None:
        """A new end-to-end key: sends from now on; frames of the previous keys still decrypt."""
        if self.e2ee is None:
            raise RelayRoomError(5100, "not in an end-to-end encrypted room")
        await self.e2ee.set_key(key)

    def ratchet_e2ee_key(self) -> None:
        """Ratchet the sending key one step (RFC 9605 §5.1); the others follow without a new key."""
        if self.e2ee is None:
            raise RelayRoomError(5100, "not in an end-to-end encrypted room")
        self.e2ee.ratchet()

    async def send_custom_message(self, cmd_id: int, data: bytes) -> int:
        """TRTC sendCustomMessage (anchors only, cmdId 1..10, ≤1 KB, ≤30/s and ≤8 KB/s)."""
        result = await self.request(
            "customMessage", {"cmdId": cmd_id, "data": base64.b64encode(data).decode()}
        )
        return int(result["seq"])

    # ------------------------------------------------------------------ publishing

    async def publish(
        self,
        audio_track: MediaStreamTrack | None = None,
        video_track: MediaStreamTrack | None = None,
        screen_track: MediaStreamTrack | None = None,
        small: bool | tuple[int, int] = False,
    ) -> list[dict[str, Any]]:
        """Publish local tracks (main audio, main video, sub-stream video) on a new send connection.

        ``small`` also sends the camera's small stream (TRTC's dual stream): half its width and height,
        or ``(width, height)``. aiortc cannot send simulcast, so the small stream is a second video
        track declared ``small`` in the publish request; the server makes the two one simulcast
        producer (small = layer 0), and each subscriber chooses (``subscribe(..., small=True)``).
        """
        if self._send_pc is not None:
            raise RelayRoomError(5100, "already publishing; unpublish first")
        published = _Published(audio_track, video_track, screen_track, small)
        producers = await self._publish_tracks(published)
        self._published = published  # published again after a re-entry
        return producers

    async def _publish_tracks(self, published: _Published) -> list[dict[str, Any]]:
        """Publish the application's tracks on a new send connection (through wrappers: see _LentTrack)."""
        audio_track = self._lend(published.audio)
        video_track = self._lend(published.video)
        screen_track = self._lend(published.screen)
        small = published.small
        pc = self._new_peer_connection()
        declared: list[tuple[Any, str, str, bool]] = []
        small_track: MediaStreamTrack | None = None
        if small and video_track is not None:
            relay = MediaRelay()  # one camera, two consumers of its frames
            camera = video_track
            video_track = relay.subscribe(camera)
            size = small if isinstance(small, tuple) else (None, None)
            small_track = ScaledVideoTrack(relay.subscribe(camera), 2, size[0], size[1])
        for track, stream_type, is_small in (
            (audio_track, "main", False),
            (video_track, "main", False),
            (small_track, "main", True),
            (screen_track, "sub", False),
        ):
            if track is not None:
                transceiver = pc.addTransceiver(track, direction="sendonly")
                if self.e2ee is not None:
                    self.e2ee.protect_sender(transceiver.sender)
                declared.append((transceiver, track.kind, stream_type, is_small))
        if not declared:
            await pc.close()
            raise RelayRoomError(5000, "nothing to publish")
        with self._gathering():
            await pc.setLocalDescription(await pc.createOffer())
        tracks = [
            {"kind": kind, "streamType": st, "mid": t.mid, **({"small": True} if is_small else {})}
            for t, kind, st, is_small in declared
        ]
        try:
            result = await self.request("publish", {"sdp": pc.localDescription.sdp, "tracks": tracks})
            await pc.setRemoteDescription(RTCSessionDescription(result["sdp"], "answer"))
        except BaseException:
            await pc.close()
            self._stop_lent()
            raise
        self._send_pc = pc
        producers: list[dict[str, Any]] = result.get("producers", [])
        for prod in producers:
            self._local[(prod["kind"], prod["streamType"])] = prod
        return producers

    async def unpublish(self) -> None:
        if self._send_pc is None:
            return
        with contextlib.suppress(RelayRoomError):
            await self.request("unpublish", {})
        self._local.clear()
        await self._send_pc.close()
        self._send_pc = None
        self._stop_lent()
        if self._published is not None:
            self._published.stop()  # unpublished tracks end, as aiortc ends a closed sender's track
            self._published = None

    async def mute_local_audio(self, muted: bool) -> None:
        await self.request("mute", {"kind": "audio", "muted": muted})

    async def mute_local_video(self, muted: bool) -> None:
        await self.request("mute", {"kind": "video", "muted": muted})

    # ------------------------------------------------------------------ receiving

    async def subscribe(
        self, user_id: str, kind: str, stream_type: str = "main", small: bool | None = None
    ) -> None:
        """Receive a remote stream that autoReceive does not cover (TRTC startRemoteVideo). For a main
        video, ``small`` picks the small stream (True) or the big one (False); a publisher without a
        small stream sends its big one (TRTC's fallback). Call again to switch."""
        await self._subscription((user_id, kind, stream_type), True, small)

    async def unsubscribe(self, user_id: str, kind: str, stream_type: str = "main") -> None:
        await self._subscription((user_id, kind, stream_type), False, None)

    async def _subscription(self, key: RemoteKey, wanted: bool, small: bool | None) -> None:
        data: dict[str, Any] = {"userId": key[0], "kind": key[1], "streamType": key[2]}
        if small is not None:
            data["small"] = small
        await self.request("subscribe" if wanted else "unsubscribe", data)
        self._wanted[key] = (wanted, small)  # replayed after a re-entry

    async def start_remote_video(
        self, user_id: str, stream_type: str = "main", small: bool | None = None
    ) -> None:
        """TRTC startRemoteVideo: receive a user's main or sub video (needed when autoReceiveVideo is off);
        ``small`` as in ``subscribe``."""
        await self.subscribe(user_id, "video", stream_type, small)

    async def update_remote_video(self, user_id: str, small: bool) -> None:
        """TRTC updateRemoteVideo: switch a user's camera between its small and big stream."""
        await self.subscribe(user_id, "video", "main", small)

    async def stop_remote_video(self, user_id: str, stream_type: str = "main") -> None:
        """TRTC stopRemoteVideo."""
        await self.unsubscribe(user_id, "video", stream_type)

    async def mute_remote_audio(self, user_id: str, mute: bool) -> None:
        """TRTC muteRemoteAudio: stop (or resume) receiving a user's audio."""
        if mute:
            await self.unsubscribe(user_id, "audio")
        else:
            await self.subscribe(user_id, "audio")

    def remote_track(self, user_id: str, kind: str, stream_type: str = "main") -> RemoteTrack | None:
        return self.remote_tracks.get((user_id, kind, stream_type))

    async def wait_remote_track(
        self, user_id: str, kind: str, stream_type: str = "main", within: float = 10.0
    ) -> RemoteTrack:
        key = (user_id, kind, stream_type)
        track = self.remote_tracks.get(key)
        if track is not None and not track.ended:
            return track
        await self.wait_for_event(
            "track",
            lambda d: (
                (d["userId"], d["kind"], d["streamType"]) == key
                and (t := self.remote_tracks.get(key)) is not None
                and not t.ended
            ),
            within,
        )
        return self.remote_tracks[key]

    def _begin_session(self) -> None:
        self._session += 1
        self._in_session = True
        self._answered = None

    def _end_session(self) -> None:
        if self._in_session:
            self._session += 1
            self._in_session = False

    def _current(self, session: int) -> bool:
        return self._in_session and session == self._session and not self.closed

    async def _negotiate_loop(self) -> None:
        """Answer the server's offers one at a time, in order. An offer sent again (same negotiationId,
        because the server did not get our answer) is answered again with the same answer; a failure
        is reported as an `error` event and the server's next send of the offer is tried afresh."""
        while True:
            session, offer = await self._offers.get()
            if not self._current(session):
                continue  # an offer of a session that has ended
            nid = offer.get("negotiationId")
            try:
                if self._answered is not None and nid == self._answered[0]:
                    answer_sdp = self._answered[1]  # our answer was lost or is still on its way
                elif self._answered is not None and isinstance(nid, int) and nid < self._answered[0]:
                    continue  # superseded
                else:
                    applied = await self._apply_offer(offer, session)
                    if applied is None:
                        continue  # the session ended meanwhile
                    answer_sdp = applied
                    self._answered = (nid, answer_sdp) if isinstance(nid, int) else None
                await self.request("answer", {"negotiationId": nid, "sdp": answer_sdp})
            except RelayRoomError as exc:
                if not self._current(session) or exc.code == 5100:
                    continue  # left meanwhile, or the server had this answer already (5100: none waiting)
                self._report_offer_failure(nid, exc)
            except Exception as exc:
                if not self._current(session):
                    continue  # left the room while applying it: the connection was closed under us
                self._report_offer_failure(nid, exc)

    def _report_offer_failure(self, negotiation_id: Any, exc: Exception) -> None:
        log.warning("subscriber offer failed: %s", type(exc).__name__)
        self._emit(
            "error",
            {
                "code": 5500,
                "reason": "offer_failed",
                "negotiationId": negotiation_id,
                "message": f"could not apply the server's offer ({type(exc).__name__}); "
                "the server sends it again",
            },
        )

    async def _apply_offer(self, offer: dict[str, Any], session: int) -> str | None:
        """Apply one offer to the receive connection; returns our answer SDP (None: session ended)."""
        if self._recv_pc is None:
            self._recv_pc = self._new_peer_connection()
            self._recv_pc.on("track", self._on_track)
            self._transport_cc = TransportCcFeedback()
        for stream in offer.get("streams", []):
            if stream.get("mid") is not None:
                self._mid_streams[str(stream["mid"])] = stream
        pc = self._recv_pc
        await pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
        if not self._current(session):
            return None
        if self._transport_cc is not None:  # before the answer: it must keep transport-cc
            self._transport_cc.negotiate(pc, offer["sdp"])
        if self.e2ee is not None:  # before the answer: the new receivers must not start without it
            self.e2ee.protect_receivers(pc, self._mid_streams.get)
        for stream in offer.get("streams", []):
            # A republished producer may continue an existing m-line (same publisher, kind and source):
            # no new track appears, the old one carries the new stream.
            key = (str(stream["userId"]), str(stream["kind"]), str(stream["streamType"]))
            remote = self.remote_tracks.get(key)
            if remote is not None and remote.mid == stream.get("mid"):
                remote.ended = False
        with self._gathering():
            await pc.setLocalDescription(await pc.createAnswer())
        if not self._current(session):
            return None
        return str(pc.localDescription.sdp)

    def _on_track(self, track: MediaStreamTrack) -> None:
        assert self._recv_pc is not None
        transceiver = next((t for t in self._recv_pc.getTransceivers() if t.receiver.track is track), None)
        mid = transceiver.mid if transceiver is not None else None
        stream = self._mid_streams.get(mid or "")
        if mid is None or stream is None:
            log.warning("remote track without a stream label")
            return
        key = (str(stream["userId"]), str(stream["kind"]), str(stream["streamType"]))
        old = self.remote_tracks.get(key)
        if old is not None:
            old.ended = True
            if old.stall_guard is not None:
                old.stall_guard.stop()
        remote = RemoteTrack(key[0], key[1], key[2], mid, track)
        remote.start()
        if track.kind == "video" and transceiver is not None:
            remote.stall_guard = StallGuard(transceiver.receiver)
            remote.stall_guard.start()
        self.remote_tracks[key] = remote
        self._emit("track", {"userId": key[0], "kind": key[1], "streamType": key[2], "mid": mid})

    def _new_peer_connection(self) -> RTCPeerConnection:
        return _peer_connection(self.ice_servers, self.ice_transport_policy)

    @contextlib.contextmanager
    def _gathering(self) -> Iterator[None]:
        if self.loopback:
            with _LOOPBACK.active():
                yield
        else:
            yield

    # ------------------------------------------------------------------ teardown

    async def _close_peer_connections(self) -> None:
        for remote in list(self.remote_tracks.values()):
            await remote.close()
        self.remote_tracks.clear()
        self._mid_streams.clear()
        self._local.clear()
        if self._transport_cc is not None:
            await self._transport_cc.close()
            self._transport_cc = None
        for pc in (self._send_pc, self._recv_pc):
            if pc is not None:
                await pc.close()
        self._send_pc = self._recv_pc = None
        self._stop_lent()

    def _lend(self, track: MediaStreamTrack | None) -> MediaStreamTrack | None:
        if track is None:
            return None
        lent = _LentTrack(track)
        self._lent.append(lent)
        return lent

    def _stop_lent(self) -> None:
        for track in self._lent:
            track.stop()
        self._lent.clear()

    async def close(self) -> None:
        """Exit the room (if in one) and close everything. Idempotent."""
        if self.closed:
            return
        await self._stop_recovery()
        if self.room is not None and self._ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.exit_room(), 5)
        self.closed = True
        await self._close_peer_connections()
        if self._published is not None:
            self._published.stop()
            self._published = None
        for task in (self._heartbeat, self._negotiator, self._reader, self._teardown):
            if task is not None:
                task.cancel()
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        for task in (self._heartbeat, self._negotiator, self._reader, self._teardown):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        for q in self._queues:
            q.put_nowait(_CLOSED)

    async def drop_connection(self, reconnect: bool = False) -> None:
        """Close only the signalling socket, as a network failure would (tests of session resume).
        ``reconnect``: let the SDK recover by itself (else the caller resumes, see :meth:`resume`)."""
        if self._ws is not None:
            ws, self._ws = self._ws, None
            self._manual_drop = not reconnect
            await ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
            self._reader = None
        if self._negotiator is not None:
            self._negotiator.cancel()
            self._negotiator = None

    async def __aenter__(self) -> RelayRoomClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
