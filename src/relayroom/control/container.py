"""The control plane's service graph: every service built once, in one place, by constructor injection.

:func:`build_container` is used alike by the app factory (``control/app.py``), the CLI
(``cli/common.py``) and the tests. The pieces a cluster shares between nodes sit behind protocols
(:class:`RateLimiter`, :class:`ReplayCache`, :class:`ThrottleStore`, :class:`RoomRegistry`,
:class:`Presence`): this module picks the in-process implementations unless :class:`ContainerParams` brings
others, or the Redis ones when ``redis_url`` is set (a cluster node: ``Container.cluster`` is then its
:class:`~relayroom.cluster.runtime.ClusterRuntime`: heartbeat, room leases, command bus; docs/cluster.md).

Lifecycle (drain-first, like the rooms themselves): :meth:`Container.start` migrates the database,
checks the operation log, catches up on retention, bootstraps an empty deployment, then starts the
call history, webhooks and meter, the media workers and the rooms; :meth:`Container.close` stops them
in the reverse order (rooms first, so members are told; the database last).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from relayroom.clock import Clock, SystemClock
from relayroom.cluster.identity import check_cluster_keys, key_fingerprint, resolve_node_id
from relayroom.cluster.placement import RoomPlacement
from relayroom.cluster.redis import connect as redis_connect
from relayroom.cluster.registry import WorkerLoad
from relayroom.cluster.runtime import ClusterRuntime, ClusterTimings, LoadProbe, build_runtime
from relayroom.cluster.shared import RedisRateLimiter, RedisReplayCache, RedisThrottleStore
from relayroom.config import Settings
from relayroom.control.accounts.service import AccountService
from relayroom.control.accounts.throttle import InMemoryThrottleStore, LoginThrottle, ThrottleStore
from relayroom.control.applications.blocks import DbUserBlocks
from relayroom.control.applications.directory import DbAppDirectory
from relayroom.control.applications.service import ApplicationService
from relayroom.control.bootstrap import FirstStart, bootstrap_if_empty
from relayroom.control.cloudapi.history import CallHistory
from relayroom.control.cloudapi.ratelimit import InMemoryRateLimiter, RateLimiter
from relayroom.control.cloudapi.replay import InMemoryReplayCache, ReplayCache
from relayroom.control.context import ControlContext
from relayroom.control.keys.service import KeyService
from relayroom.control.live.ops import RoomOps, build_room_ops
from relayroom.control.oplog.chain import derive_chain_key
from relayroom.control.oplog.integrity import OplogIntegrity
from relayroom.control.oplog.service import OplogService
from relayroom.control.privacy.consent import ConsentGate, ConsentService
from relayroom.control.privacy.live import LiveControl, NoLiveRooms
from relayroom.control.privacy.requests import RequestService
from relayroom.control.privacy.retention import RetentionService
from relayroom.control.regions import RegionalDirectory, RegionMap
from relayroom.control.rooms.live_control import RoomsLiveControl
from relayroom.control.rooms.manager import RoomLimits, RoomManager, RoomManagerParams
from relayroom.control.rooms.moderation import ModerationService
from relayroom.control.rooms.observers import RoomEventFanout
from relayroom.control.rooms.registry import LocalPresence, LocalRoomRegistry, Presence, RoomRegistry
from relayroom.control.services import Services
from relayroom.control.signaling.connections import SignalConnections
from relayroom.control.signaling.ice_servers import IceServers, ice_servers_for
from relayroom.control.usage.meter import MeterParams, UsageMeter
from relayroom.control.usage.privacy import CustomerDataProvider
from relayroom.control.webhooks.service import WebhookParams, WebhookService
from relayroom.control.whip.service import WhipParams, WhipService
from relayroom.crypto.keyring import Keyring, load_master_key
from relayroom.crypto.signing import DeploymentSigner
from relayroom.datadir import secure_dir
from relayroom.media.service import MediaService
from relayroom.media.types import IceTcpOptions, MediaParams
from relayroom.storage.db import Database

T = TypeVar("T")

log = logging.getLogger("relayroom.control")


@dataclass(frozen=True)
class ContainerParams:
    """What differs between the server, the CLI and the tests; everything else comes from Settings.

    ``None`` means the default: the system clock, in-process stores, timers from Settings.
    """

    clock: Clock | None = None
    serve: bool = True  # False (the CLI): no media workers, no rooms, no background tasks
    replay_cache: ReplayCache | None = None
    throttle_store: ThrottleStore | None = None
    rate_limiter: RateLimiter | None = None
    room_registry: RoomRegistry | None = None
    presence: Presence | None = None
    node_id: str = "local"  # this node's name in the room registry
    webhook_params: WebhookParams | None = None  # tests: faster polling than Settings exposes
    meter_params: MeterParams | None = None


@dataclass
class Container:
    """Every control-plane service, once. Fields are the services themselves: nothing here looks
    anything up at run time."""

    settings: Settings
    ctx: ControlContext  # database, keyring, signer, clock, derived secrets
    services: Services  # the database-backed domain services (oplog, accounts, apps, keys, privacy)
    integrity: OplogIntegrity
    history: CallHistory
    webhooks: WebhookService
    meter: UsageMeter
    room_events: RoomEventFanout
    media: MediaService | None  # None: a node without media workers (control plane only, the CLI)
    rooms: RoomManager | None
    live: LiveControl
    moderation: ModerationService
    whip: WhipService | None  # WHIP ingest / WHEP playback over the rooms (None without rooms)
    signal_connections: SignalConnections
    ice_servers: IceServers
    login_throttle: LoginThrottle
    replay_cache: ReplayCache
    rate_limiter: RateLimiter
    regions: RegionMap  # regions as separate clusters (region_map): who holds which SDKAppID
    # A cluster node (redis_url set): its heartbeat, room leases and command bus; None: a single node.
    cluster: ClusterRuntime | None = None
    placement: RoomPlacement | None = None  # where entries belong (None: always here)
    # Live rooms as any node sees them: here, or at their owner over the command bus (control/live/ops.py)
    room_ops: RoomOps | None = None
    serve: bool = True
    _scheduler: asyncio.Task[None] | None = None
    _started: bool = False

    @property
    def db(self) -> Database:
        return self.ctx.db

    @property
    def oplog(self) -> OplogService:
        return self.services.oplog

    async def open_database(self) -> None:
        """The CLI's start: the database migrated, nothing running in the background."""
        await self.ctx.db.migrate()

    async def start(self) -> FirstStart | None:
        """Everything, in order; returns the first start's credentials when the database was empty."""
        services = self.services
        ctx = self.ctx
        await ctx.db.migrate()
        # A node with keys other than the database's refuses here (relayroom/cluster/identity.py).
        await check_cluster_keys(ctx.db, key_fingerprint(ctx.keyring, ctx.signer, ctx.oplog_key))
        self._started = True
        # Before anything appends to the operation log: key a legacy chain, verify it, compare it with
        # the data dir's checkpoints, start the automatic checkpoints (control/oplog/integrity.py).
        await self.integrity.start()
        # Catch-up before anything is served: every purge due (also after days of downtime) runs
        # to completion first; late ones are recorded as SLA breaches.
        caught_up = await services.retention.run_due()
        if caught_up:
            log.info("retention catch-up", extra={"purges": len(caught_up)})
        await services.requests.process_pending()
        first = await bootstrap_if_empty(services)
        # Before the room manager starts: the history closes rows a previous process left open.
        await self.history.start()
        await self.webhooks.start()
        await self.meter.start()
        if self.media is not None:
            await self.media.start()
        if self.cluster is not None:  # registered (heartbeat) before the first room can be created
            await self.cluster.start()
        if self.rooms is not None:
            await self.rooms.start()
        self._scheduler = asyncio.create_task(_retention_loop(services), name="retention-scheduler")
        return first

    async def close(self) -> None:
        """Drain: rooms first (members are told), then the history, webhooks and meter (after the
        rooms' last events), the workers, the operation log's last checkpoint, the database."""
        if self._scheduler is not None:
            self._scheduler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._scheduler
            self._scheduler = None
        if self._started:
            if self.cluster is not None:
                await self.cluster.set_draining()  # other nodes stop sending new rooms here at once
            if self.rooms is not None:
                await self.rooms.close()
            if self.whip is not None:
                await self.whip.close()  # WHIP/WHEP sessions ended with their rooms
            if self.cluster is not None:
                await self.cluster.close()  # leases released, node record removed
            await self.meter.close()
            await self.history.close()
            await self.webhooks.close()
            if self.media is not None:
                await self.media.close()
            await self.integrity.close()  # a last checkpoint of the state at shutdown
        await self.ctx.db.dispose()
        if self.cluster is not None and not self._started:
            await self.cluster.close()  # built but never started: only the Redis client to close


async def _retention_loop(services: Services) -> None:
    """Purges and pending requests on a schedule (hourly by default) after the start-up catch-up."""
    interval = services.ctx.settings.retention.schedule_minutes * 60
    while True:
        await asyncio.sleep(interval)
        try:
            # One node of a cluster runs the schedule at a time (the jobs themselves are claimed too).
            async with services.ctx.db.try_advisory_lock("retention.schedule") as mine:
                if mine:
                    await services.retention.run_due()
                    await services.requests.process_pending()
        except Exception:
            log.exception("retention run failed; retried at the next tick")


def build_context(settings: Settings, clock: Clock) -> ControlContext:
    secure_dir(settings.data_dir)  # 0700: keys, database, checkpoints (relayroom/datadir.py)
    master = load_master_key(settings.data_dir, settings.master_key)
    return ControlContext(
        settings=settings,
        db=Database(settings.effective_database_url),
        keyring=Keyring(master),
        signer=DeploymentSigner.load_or_create(settings.data_dir, settings.signing_key_file),
        clock=clock,
        pseudonym_secret=ControlContext.derive_pseudonym_secret(master),
        oplog_key=derive_chain_key(master),
    )


def _media_service(settings: Settings) -> MediaService:
    m = settings.media
    return MediaService(
        MediaParams(
            workers=m.workers,
            host=m.host,
            ports=m.ports[: m.workers],
            announced_ip=m.announced_ip,
            loopback_only=m.loopback_only,
            consent_timeout_s=m.consent_timeout_s,
            tcp_ports=m.tcp_ports[: m.workers],
            pipe_threshold=m.pipe_threshold,
            worker_capacity=m.worker_capacity,
            native=m.native,
            load_shedding=m.load_shedding,
            shed_queue_bytes=m.shed_queue_bytes,
            dtls_flights_per_turn=m.dtls_flights_per_turn,
            tcp=IceTcpOptions(
                enabled=m.tcp_enabled,
                max_frame_bytes=m.tcp_max_frame_bytes,
                auth_timeout_s=m.tcp_auth_timeout_s,
                max_pending=m.tcp_max_pending,
                max_connections=m.tcp_max_connections,
                send_buffer_bytes=m.tcp_send_buffer_bytes,
            ),
        )
    )


def build_container(settings: Settings, params: ContainerParams | None = None) -> Container:
    """Construct the whole graph (no I/O beyond the data dir's keys; :meth:`Container.start` runs it)."""
    params = params or ContainerParams()
    clock = params.clock or SystemClock()
    ctx = build_context(settings, clock)

    oplog = OplogService(ctx)
    keys = KeyService(ctx, oplog)
    # Usage records, call history and callback outbox are reached by purges and data-subject requests.
    retention = RetentionService(ctx, oplog, subject_data_providers=[CustomerDataProvider()])
    apps = ApplicationService(ctx, oplog, keys, on_terminated=retention.on_app_terminated)

    history = CallHistory(ctx)
    wh = settings.webhooks
    webhooks = WebhookService(
        ctx,
        oplog,
        params.webhook_params
        or WebhookParams(
            retry_interval_s=wh.retry_interval_s,
            retry_window_s=wh.retry_window_s,
            timeout_s=wh.timeout_s,
            poll_interval_s=wh.poll_interval_s,
        ),
    )
    room_events = RoomEventFanout([history.on_room_event, webhooks.on_room_event])

    gate = ConsentGate(ctx)
    regions = RegionMap.from_settings(settings)
    directory = RegionalDirectory(DbAppDirectory(ctx.db, apps), regions)
    cluster = _cluster_runtime(settings, params)
    placement = RoomPlacement(cluster) if cluster is not None else None
    media: MediaService | None = None
    rooms: RoomManager | None = None
    if params.serve and settings.media.enabled:
        media = _media_service(settings)
        r = settings.rooms
        rooms = RoomManager(
            RoomManagerParams(
                media=media,
                directory=directory,
                node_region=settings.region,
                consent=gate,
                limits=RoomLimits(
                    rtc_max_members=r.rtc_max_members,
                    live_max_anchors=r.live_max_anchors,
                    live_max_audience=r.live_max_audience,
                    idle_timeout_s=r.idle_timeout_s,
                    # clients beat at least three times per idle timeout, so a short timeout (a setting)
                    # never removes a member whose beat is merely late
                    heartbeat_interval_s=min(10.0, r.idle_timeout_s / 3),
                ),
                observer=room_events,
                wall_clock=ctx.clock.time,  # UserSig/PrivateMapKey windows follow the app's clock
                registry=_given(
                    params.room_registry, _const(cluster.room_registry) if cluster else LocalRoomRegistry
                ),
                presence=_given(params.presence, _const(cluster.room_presence) if cluster else LocalPresence),
                node_id=cluster.node_id if cluster is not None else params.node_id,
                blocks=DbUserBlocks(ctx.db),
                placement=placement,
            )
        )
    if cluster is not None:
        cluster.probe = _load_probe(settings, media, rooms)
    if placement is not None and rooms is not None:
        placement.serve_evictions(rooms)  # one room per user: other nodes ask this one to kick
    live: LiveControl = RoomsLiveControl(rooms) if rooms is not None else NoLiveRooms()
    consent = ConsentService(ctx, oplog, gate, live)
    services = Services(
        ctx=ctx,
        oplog=oplog,
        accounts=AccountService(ctx, oplog),
        keys=keys,
        apps=apps,
        retention=retention,
        consent=consent,
        requests=RequestService(ctx, oplog, retention, consent),
    )
    ice_servers = ice_servers_for(settings.turn, clock)
    us = settings.usage
    meter = UsageMeter(
        ctx,
        rooms=_const(rooms),
        media=_const(media),
        history=history,
        params=params.meter_params or MeterParams(tick_s=us.tick_s, flush_s=us.flush_s),
    )
    moderation = ModerationService(ctx, oplog, rooms)
    return Container(
        settings=settings,
        ctx=ctx,
        services=services,
        integrity=OplogIntegrity(services),
        history=history,
        webhooks=webhooks,
        meter=meter,
        room_events=room_events,
        media=media,
        rooms=rooms,
        live=live,
        moderation=moderation,
        whip=(WhipService(WhipParams(rooms, media, ice_servers, directory)) if rooms is not None else None),
        signal_connections=SignalConnections(),
        ice_servers=ice_servers,
        login_throttle=LoginThrottle(
            _given(
                params.throttle_store,
                lambda: (
                    RedisThrottleStore(cluster.redis, prefix=cluster.prefix)
                    if cluster
                    else InMemoryThrottleStore(clock.time)
                ),
            ),
            clock.time,
            settings.login,
        ),
        replay_cache=_given(
            params.replay_cache,
            lambda: (
                RedisReplayCache(cluster.redis, prefix=cluster.prefix) if cluster else InMemoryReplayCache()
            ),
        ),
        rate_limiter=_given(
            params.rate_limiter,
            lambda: (
                RedisRateLimiter(cluster.redis, prefix=cluster.prefix) if cluster else InMemoryRateLimiter()
            ),
        ),
        cluster=cluster,
        placement=placement if rooms is not None else None,
        regions=regions,
        room_ops=build_room_ops(rooms, moderation, media, history, meter, cluster),
        serve=params.serve,
    )


def _cluster_runtime(settings: Settings, params: ContainerParams) -> ClusterRuntime | None:
    """A cluster node's runtime when ``redis_url`` is set and this process serves (the CLI does not
    join the cluster); nothing connects before :meth:`ClusterRuntime.start`."""
    if settings.redis_url is None or not params.serve:
        return None
    return build_runtime(
        redis_connect(settings.redis_url),
        node_id=resolve_node_id(settings),
        region=settings.region,
        public_url=settings.effective_public_url,
        timings=ClusterTimings(
            node_ttl_s=settings.cluster.node_ttl_s, lease_ttl_s=settings.cluster.lease_ttl_s
        ),
        prefix=settings.cluster.key_prefix,
    )


def _load_probe(settings: Settings, media: MediaService | None, rooms: RoomManager | None) -> LoadProbe:
    """The heartbeat's figures: each running worker's announced address and consumer load (its share of
    ``worker_capacity``), and the rooms this node runs."""
    m = settings.media
    host = m.announced_ip or m.host

    def probe() -> tuple[tuple[WorkerLoad, ...], int]:
        workers: tuple[WorkerLoad, ...] = ()
        if media is not None:
            workers = tuple(
                WorkerLoad(
                    index=i,
                    address=f"{host}:{m.ports[i] if i < len(m.ports) else 0}",
                    load=min(1.0, consumers / m.worker_capacity),
                )
                for i, consumers in sorted(media.consumer_loads().items())
            )
        return workers, len(rooms.list_rooms()) if rooms is not None else 0

    return probe


def _given(value: T | None, default: Callable[[], T]) -> T:
    """``value`` unless None (not ``or``: an empty in-memory store is falsy, having a ``__len__``)."""
    return default() if value is None else value


def _const(value: T) -> Callable[[], T]:
    return lambda: value
