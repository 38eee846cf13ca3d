"""The signalling WebSocket (`/signal`): one connection per client, one room per connection.

The endpoint only translates protocol messages into RoomManager calls and back; room rules and media
live elsewhere. The manager, the open connections and the TURN servers handed to clients are the
container's, through typed dependencies (control/deps.py).
Never log message payloads, UserSigs or keys: only request types, codes and ids.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from relayroom.cluster.redis import ClusterUnavailable
from relayroom.control.deps import EntryMetricsDep, IceServersDep, OptionalRoomsDep, SignalConnectionsDep
from relayroom.control.rooms.client_info import ClientInfo
from relayroom.control.rooms.errors import ErrorCode, RoomError, RoomRedirect
from relayroom.control.rooms.manager import DeclaredTrack, EnterParams, RoomManager
from relayroom.control.rooms.participant import Participant
from relayroom.control.rooms.room import Room
from relayroom.control.signaling.connections import (
    SHUTDOWN_CLOSE_CODE,
    SHUTDOWN_CLOSE_REASON,
)
from relayroom.control.signaling.ice_servers import IceServers, NoIceServers
from relayroom.control.signaling.protocol import (
    PROTOCOL_VERSION,
    AnswerData,
    BadMessage,
    CustomMessageData,
    EnterData,
    MuteData,
    ProtocolError,
    PublishData,
    Request,
    ResumeData,
    SubscribeData,
    SwitchRoleData,
    UnpublishData,
    event_message,
    parse_request,
    redirect_message,
    response_error,
    response_ok,
)

log = logging.getLogger(__name__)

router = APIRouter()

# A client that stops reading must not make the server buffer without bound.
_MAX_QUEUED_MESSAGES = 2000


class EntryObserver(Protocol):
    """Told of each enter request's outcome (/metrics: join latency, refusals by reason)."""

    def entered(self, seconds: float) -> None: ...

    def refused(self, reason: str) -> None: ...


def _reason(code: int) -> str:
    return ErrorCode(code).name if code in ErrorCode._value2member_map_ else str(int(code))


@dataclass(frozen=True)
class SignalServices:
    """What every signalling connection of a node shares: its rooms, the TURN servers handed to clients,
    the observer of entries (/metrics)."""

    manager: RoomManager
    ice_servers: IceServers = field(default_factory=NoIceServers)
    entries: EntryObserver | None = None


class Connection:
    """One signalling socket. Implements the manager's EventSink."""

    def __init__(self, websocket: WebSocket, services: SignalServices) -> None:
        self._ws = websocket
        self._manager, self._ice_servers, self._entries = (
            services.manager,
            services.ice_servers,
            services.entries,
        )
        self._out: asyncio.Queue[str | None] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._flushed = asyncio.Event()
        self._close_code = 1008  # policy violation: the client stopped reading
        self._close_reason = ""
        self.participant: Participant | None = None
        self.closed = False

    # EventSink
    def send_event(self, event: str, data: dict[str, Any]) -> None:
        self._push(event_message(event, data))

    def _push(self, text: str) -> None:
        if self.closed:
            return
        if self._out.qsize() >= _MAX_QUEUED_MESSAGES:
            log.warning("signalling client not reading; closing")
            self.closed = True
            self._out.put_nowait(None)
            return
        self._out.put_nowait(text)

    def close_with_notice(self, event: str, data: dict[str, Any], code: int, reason: str) -> None:
        """Send ``event`` as the last message, then close with ``code``/``reason`` (server shutdown)."""
        if self.closed:
            return
        self._push(event_message(event, data))
        self._close_code, self._close_reason = code, reason
        self.closed = True
        self._out.put_nowait(None)

    async def wait_flushed(self) -> None:
        await self._flushed.wait()

    @property
    def in_room(self) -> bool:
        return self._in_room()

    def send_redirect(self, url: str | None, reason: str) -> None:
        """A mid-session ``redirect`` (a draining node: control/drain.py); the client leaves by itself."""
        self._push(redirect_message(url or "", reason))  # "": back where the client entered

    async def run(self) -> None:
        self._writer = asyncio.get_running_loop().create_task(self._write_loop(), name="signal-writer")
        try:
            await self._read_loop()
        finally:
            self.closed = True
            p = self.participant
            if p is not None and not p.closed and p.sink is self:
                self._manager.detach(p)
            self._out.put_nowait(None)
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._writer

    async def _write_loop(self) -> None:
        try:
            while True:
                text = await self._out.get()
                if text is None:
                    with contextlib.suppress(Exception):
                        await self._ws.close(code=self._close_code, reason=self._close_reason)
                    return
                await self._ws.send_text(text)
        finally:
            self._flushed.set()

    async def _read_loop(self) -> None:
        while not self.closed:
            try:
                message = await self._ws.receive()
            except (WebSocketDisconnect, RuntimeError):
                return
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                err = BadMessage(ProtocolError.BINARY_FRAME, "binary frames are not part of the protocol")
                self._push(response_error(None, err))
                continue
            if self._in_room():
                assert self.participant is not None
                self._manager.touch(self.participant)
            try:
                request = parse_request(text)
            except BadMessage as exc:
                log.info("bad signalling message", extra={"extra_code": exc.extra_code})
                self._push(response_error(exc.request_id, exc))
                continue
            await self._dispatch(request)

    async def _dispatch(self, req: Request) -> None:
        started = time.perf_counter()
        try:
            try:
                data = await self._handle(req)
            except ClusterUnavailable as exc:  # Redis (or the room's node) away: retryable, never a hang
                raise RoomError(ErrorCode.CLUSTER_UNAVAILABLE, str(exc)) from None
        except RoomRedirect as exc:
            # The room is another node's: say where, then refuse (a client that knows no redirects
            # still gets a clear answer).
            log.info("entry redirected", extra={"reason": exc.reason})
            if self._entries is not None:
                self._entries.refused(_reason(int(exc.code)))
            self._push(redirect_message(exc.url, exc.reason, req.id))
            self._push(response_error(req.id, exc))
            return
        except RoomError as exc:
            log.info("request refused", extra={"request": req.type, "code": int(exc.code)})
            if req.type == "enter" and self._entries is not None:
                self._entries.refused(_reason(int(exc.code)))
            self._push(response_error(req.id, exc))
            return
        except Exception:
            log.exception("request failed", extra={"request": req.type})
            self._push(response_error(req.id, RoomError(ErrorCode.SERVER_ERROR, "internal error")))
            if req.type == "enter" and self._entries is not None:
                self._entries.refused(ErrorCode.SERVER_ERROR.name)
            return
        if req.type == "enter" and self._entries is not None:
            self._entries.entered(time.perf_counter() - started)
        if data is not None:
            self._push(response_ok(req.id, data))

    def _current(self) -> Participant:
        p = self.participant
        if p is None or p.closed or p.sink is not self:
            # Closed, or taken over by another socket with the resume token.
            self.participant = None
            raise RoomError(ErrorCode.NOT_IN_ROOM, "enter a room first")
        return p

    def _in_room(self) -> bool:
        p = self.participant
        return p is not None and not p.closed and p.sink is self

    async def _handle(self, req: Request) -> dict[str, Any] | None:
        """Return the response data, or None when the response was already queued."""
        d = req.data
        m = self._manager
        if isinstance(d, EnterData):
            if self._in_room():
                raise RoomError(ErrorCode.INVALID_OPERATION, "already in a room; exit first")
            params = EnterParams(
                sdkappid=d.sdk_app_id,
                user_id=d.user_id,
                user_sig=d.user_sig,
                room_id=d.room_id,
                str_room_id=d.str_room_id,
                scene=d.scene,
                role=d.role,
                private_map_key=d.private_map_key,
                auto_receive_audio=d.auto_receive_audio,
                auto_receive_video=d.auto_receive_video,
                consent_token=d.consent_token,
                e2ee=d.e2ee,
                redirects=d.redirects,
                client=ClientInfo(
                    device_type=d.device_type,
                    sdk_version=d.sdk_version,
                    client_ip=self._ws.client.host if self._ws.client else "",
                ),
            )
            # The response goes out before the room snapshot events (see RoomManager.enter).
            self.participant = await m.enter(params, self, lambda p, room: self._entered(req, p, room))
            return None
        if isinstance(d, ResumeData):
            if self._in_room():
                raise RoomError(ErrorCode.INVALID_OPERATION, "already in a room")
            self.participant = await m.resume(
                d.resume_token, self, lambda p, room: self._entered(req, p, room)
            )
            return None
        if req.type == "heartbeat":
            return {"inRoom": self._in_room()}
        p = self._current()
        if req.type == "exit":
            await m.exit(p)
            self.participant = None
            return {}
        if isinstance(d, PublishData):
            tracks = [DeclaredTrack(t.kind, t.stream_type, t.mid, t.small) for t in d.tracks]
            result = await m.publish(p, d.sdp, tracks)
            return {
                "sdp": result.answer_sdp,
                "producers": [
                    {
                        "producerId": info.producer_id,
                        "kind": info.kind,
                        "streamType": p.publications[info.producer_id].source
                        if info.producer_id in p.publications
                        else info.source,
                        "mid": info.mid,
                    }
                    for info in result.producers
                    if info.producer_id in p.publications
                ],
            }
        if isinstance(d, UnpublishData):
            return {"producerIds": await m.unpublish(p, d.producer_ids)}
        if isinstance(d, SubscribeData):
            subscribe = req.type == "subscribe"
            await m.set_subscription(
                p, d.user_id, d.stream_type, d.kind, subscribe, d.small if subscribe else None
            )
            return {}
        if isinstance(d, AnswerData):
            await m.set_answer(p, d.negotiation_id, d.sdp)
            return {}
        if isinstance(d, MuteData):
            await m.mute(p, d.kind, d.muted, d.stream_type)
            return {}
        if isinstance(d, SwitchRoleData):
            role = await m.switch_role(p, d.role, d.private_map_key)
            return {"role": role.value}
        if isinstance(d, CustomMessageData):
            try:
                payload = base64.b64decode(d.data, validate=True)
            except (binascii.Error, ValueError):
                raise RoomError(ErrorCode.INVALID_PARAMETER, "data must be standard base64") from None
            seq = await m.custom_message(p, d.cmd_id, payload)
            return {"seq": seq}
        raise BadMessage(ProtocolError.UNKNOWN_TYPE, "unknown request type", req.id)

    def _entered(self, req: Request, p: Participant, room: Room) -> None:
        limits = self._manager.limits
        self._push(
            response_ok(
                req.id,
                {
                    "participantId": p.participant_id,
                    "resumeToken": p.resume_token,
                    "roomKey": room.key,
                    "scene": room.scene.value,
                    "role": p.role.value,
                    "e2ee": bool(room.e2ee),
                    "heartbeatInterval": limits.heartbeat_interval_s,
                    "idleTimeout": limits.idle_timeout_s,
                    "members": self._manager.room_state(room, p),
                    "iceServers": self._ice_servers.for_user(p.user_id),
                },
            )
        )


@router.websocket("/signal")
async def signal(
    websocket: WebSocket,
    manager: OptionalRoomsDep,
    connections: SignalConnectionsDep,
    ice_servers: IceServersDep,
    entries: EntryMetricsDep,
) -> None:
    await websocket.accept()
    if manager is None:
        # Media (and so rooms) disabled on this node, e.g. a control-plane-only deployment.
        await websocket.close(code=1013, reason="rooms are not available on this node")
        return
    if connections.closing:
        await websocket.close(code=SHUTDOWN_CLOSE_CODE, reason=SHUTDOWN_CLOSE_REASON)
        return
    conn = Connection(websocket, SignalServices(manager, ice_servers, entries))
    connections.add(conn)
    try:
        await conn.run()
    finally:
        connections.discard(conn)
        if websocket.client_state is WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close()


__all__ = ["PROTOCOL_VERSION", "Connection", "router"]
