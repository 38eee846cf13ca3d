"""The core every part of MediaService shares: the worker and router tables, events, look-ups.

MediaService is split by concern (one module each, all methods of one object): this core, spreading a
room over workers with pipes (:mod:`service_pipes`), publishing (:mod:`service_publish`), subscribing and
WHEP play (:mod:`service_subscribe`), and the lifecycle, worker events and stats (:mod:`service`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from relayroom.media import sdp
from relayroom.media.service_state import EdgeState, ParticipantState, RouterState
from relayroom.media.types import InvalidStateError, MediaEvent, MediaParams
from relayroom.media.worker_handle import WorkerHandle

logger = logging.getLogger("relayroom.media.service")


class ServiceCore:
    """State and look-ups of MediaService (the facade over the media workers)."""

    def __init__(self, params: MediaParams) -> None:
        if params.workers < 1:
            raise ValueError("workers must be >= 1")
        if params.host in ("0.0.0.0", "::") and not params.announced_ip:
            raise ValueError("announced_ip is required when binding all interfaces")
        self._params = params
        self._workers: list[WorkerHandle | None] = [None] * params.workers
        self._routers: dict[str, RouterState] = {}
        self._transport_owner: dict[str, tuple[str, str]] = {}  # transport id -> (router id, participant id)
        self._consumer_owner: dict[str, tuple[str, str]] = {}  # consumer id -> (router id, participant id)
        self._pipe_consumers: dict[str, tuple[str, int, str]] = {}  # -> (router, edge worker, producer)
        self._edge_producers: set[str] = set()  # pipe producer ids on edge workers
        self._listeners: list[Callable[[MediaEvent], None]] = []
        self._grades: dict[str, int] = {}  # transport id -> last network quality grade (0..6)
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = False
        self.closed = False

    def on_event(self, cb: Callable[[MediaEvent], None]) -> None:
        """Register a listener. Exceptions in listeners are caught and logged."""
        self._listeners.append(cb)

    def _emit(self, event: MediaEvent) -> None:
        for cb in list(self._listeners):
            try:
                cb(event)
            except Exception:
                logger.exception("media event listener failed (%s)", event.type)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _check(self) -> None:
        if self.closed or not self._started:
            raise InvalidStateError("media service not running")

    def worker_for_router(self, router_id: str) -> WorkerHandle:
        state = self._router(router_id)
        w = self._workers[state.worker_index]
        if w is None or w.closed:
            raise InvalidStateError("worker not running")
        return w

    def _clear_recv(self, p: ParticipantState) -> None:
        p.recv_transport_id = None
        p.recv_local = None
        p.recv_connected = False
        p.recv_worker = None
        for ml in p.mlines:
            if ml.consumer_id is not None:
                self._consumer_owner.pop(ml.consumer_id, None)
        p.mlines.clear()

    def _router(self, router_id: str) -> RouterState:
        state = self._routers.get(router_id)
        if state is None:
            raise InvalidStateError("unknown router")
        return state

    def _handle(self, index: int) -> WorkerHandle:
        w = self._workers[index] if 0 <= index < len(self._workers) else None
        if w is None or w.closed:
            raise InvalidStateError("worker not running")
        return w

    def _recv_handle(self, state: RouterState, p: ParticipantState) -> WorkerHandle:
        return self._handle(state.worker_index if p.recv_worker is None else p.recv_worker)

    async def _create_transport(
        self, router_id: str, participant_id: str, edge: EdgeState | None = None
    ) -> tuple[str, sdp.LocalTransport]:
        """A WebRTC transport on the room's origin router, or on ``edge``'s router."""
        if edge is None:
            worker = self.worker_for_router(router_id)
            on_router = router_id
        else:
            worker = self._handle(edge.worker_index)
            on_router = edge.router_id
        transport_id = uuid.uuid4().hex
        params = await worker.request(
            "router.createWebRtcTransport", on_router, {"transportId": transport_id}
        )
        worker.transport_count += 1
        self._transport_owner[transport_id] = (router_id, participant_id)
        return transport_id, sdp.LocalTransport.from_worker(params)

    def _subscriber_offer(self, p: ParticipantState) -> str:
        assert p.recv_local is not None
        p.recv_version += 1
        return sdp.build_subscriber_offer(p.mlines, p.recv_local, p.session_id, p.recv_version)


async def _quiet(request: Awaitable[dict[str, Any]]) -> None:
    """A best-effort clean-up request: the object or its worker may be gone already."""
    with contextlib.suppress(InvalidStateError, TypeError, ValueError):
        await request


def _fp_set(fingerprints: list[tuple[str, str]]) -> frozenset[tuple[str, str]]:
    return frozenset((a.lower(), v.upper()) for a, v in fingerprints)


def _fps(fingerprints: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"algorithm": a, "value": v} for a, v in fingerprints]


async def _connect(
    worker: WorkerHandle,
    transport_id: str | None,
    role: str,
    fingerprints: list[tuple[str, str]],
    ufrag: str | None,
) -> None:
    """``transport.connect``: the peer's DTLS role (``client``/``server``) and fingerprints, its ICE ufrag."""
    await worker.request(
        "transport.connect",
        transport_id,
        {
            "dtlsParameters": {"role": role, "fingerprints": _fps(fingerprints)},
            "iceParameters": {"usernameFragment": ufrag},
        },
    )
