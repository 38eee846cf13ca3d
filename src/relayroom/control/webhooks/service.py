"""Event callbacks: per-application configuration, a durable outbox and the delivery worker.

Flow: the room manager's observer hands each RoomEvent to :meth:`WebhookService.on_room_event`, which
only enqueues (it runs on the media path's loop and must never block). A writer task translates events
(events.py) and inserts outbox rows in one transaction, *before* any delivery attempt, so a crash or
restart after that point loses nothing: the delivery worker picks up every pending row on start.

Room events (group 1) and media events (group 2) go to the application's room-events and media-events
URL respectively (one URL set for both, unless the customer sets them apart), as TRTC configures them;
an event of a group with no URL is not written.

Delivery (TRTC's rules): POST the cJSON body with ``Sign`` and ``SdkAppId`` headers; HTTP 200 within
5 s is success; on failure retry immediately, then every 10 s until 1 minute after the first try, then
the row is marked ``failed``. Rows of one application are sent one at a time in event order, so a
healthy receiver sees events in order; a failing row does not hold back later ones.

Several nodes on one database: a node claims the rows it sends (``claimed_by``, ``lease_until``) in a
short transaction, ``SELECT ... FOR UPDATE SKIP LOCKED`` under a PostgreSQL advisory lock, and never
claims rows of an application another node is sending (order per application holds across nodes).
A lease covers the claimed rows' sends (one timeout each, in order) plus a margin; a node that dies
mid-send leaves leases that expire, and another node sends those rows.

Never logged: callback keys, signatures, bodies.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import re
import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlparse

import httpx
from sqlalchemy import or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from relayroom.cluster.identity import resolve_node_id
from relayroom.control.context import ControlContext
from relayroom.control.errors import InvalidInput, InvalidState, NotFound
from relayroom.control.event_batches import BatchWriter
from relayroom.control.oplog.service import OplogService
from relayroom.control.principal import Principal
from relayroom.control.rooms.manager import RoomEvent
from relayroom.control.webhooks import body as cb_body
from relayroom.control.webhooks.events import GROUP_MEDIA, GROUP_ROOM, CallbackEvent, Translator
from relayroom.storage.db import lock_id
from relayroom.storage.models import (
    Account,
    AccountStatus,
    Application,
    AppStatus,
    CallbackConfig,
    WebhookDelivery,
)

log = logging.getLogger(__name__)

_KEY_RE = re.compile(r"^[A-Za-z0-9]{1,32}$")
_ALNUM = string.ascii_letters + string.digits
MAX_URL = 2083  # TRTC's limit for callback URLs
_CLAIM_LOCK = lock_id("webhooks.claim")


@dataclass(frozen=True)
class WebhookParams:
    retry_interval_s: float = 10.0
    retry_window_s: float = 60.0
    timeout_s: float = 5.0
    poll_interval_s: float = 1.0
    batch: int = 100
    config_cache_s: float = 5.0
    lease_margin_s: float = 10.0  # a claim's lease: one timeout per claimed row of the app, plus this


def _key_context(sdkappid: int) -> str:
    return f"callbackkey:{sdkappid}"


def validate_url(url: str) -> str:
    url = url.strip()
    if not url:
        return ""
    if len(url) > MAX_URL:
        raise InvalidInput(f"callback URL must be at most {MAX_URL} characters")
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise InvalidInput("callback URL must be an http:// or https:// URL with a host")
    return url


def validate_key(key: str) -> str:
    if not _KEY_RE.match(key):
        raise InvalidInput("callback key must be 1-32 characters of [A-Za-z0-9]")
    return key


@dataclass(frozen=True)
class _Target:
    room_url: str
    media_url: str
    key: str | None

    def url(self, group: int) -> str:
        return self.media_url if group == GROUP_MEDIA else self.room_url


def _group_url(cfg: CallbackConfig | None, group: int) -> str:
    if cfg is None:
        return ""
    return cfg.media_url if group == GROUP_MEDIA else cfg.url


class WebhookService:
    def __init__(
        self,
        ctx: ControlContext,
        oplog: OplogService,
        params: WebhookParams | None = None,
        node_id: str | None = None,
    ) -> None:
        self.ctx = ctx
        self._node_id = node_id
        self.oplog = oplog
        self.params = params or WebhookParams()
        self._batches = BatchWriter[RoomEvent](self._write_batch, "webhook outbox")
        self._translator = Translator()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._http: httpx.AsyncClient | None = None
        self._has_url: dict[tuple[int, int], float] = {}  # (sdkappid, group) -> when seen set
        self.closed = False

    @property
    def node_id(self) -> str:
        if self._node_id is None:
            self._node_id = resolve_node_id(self.ctx.settings)
        return self._node_id

    # --- console configuration ----------------------------------------------------------------
    async def _owned_app(self, session: AsyncSession, principal: Principal, sdkappid: int) -> Application:
        app = await session.get(Application, sdkappid)
        if app is None or app.account_id not in principal.roles:
            raise NotFound(f"no application {sdkappid}")
        return app

    async def get_config(self, session: AsyncSession, principal: Principal, sdkappid: int) -> dict[str, Any]:
        app = await self._owned_app(session, principal, sdkappid)
        cfg = await session.get(CallbackConfig, app.sdkappid)
        return {
            "sdkappid": sdkappid,
            "url": cfg.url if cfg else "",
            "media_url": cfg.media_url if cfg else "",
            "key_set": bool(cfg and cfg.key_ciphertext),
            "updated_at": cfg.updated_at if cfg else None,
        }

    async def set_config(
        self,
        session: AsyncSession,
        principal: Principal,
        sdkappid: int,
        *,
        url: str | None,
        key: str | None,
        generate_key: bool = False,
        media_url: str | None = None,
    ) -> tuple[dict[str, Any], str | None]:
        """Set the URLs and/or key (``key=""`` removes it). ``url`` is the room-events URL and, unless
        ``media_url`` is given too, the media-events URL: one URL stays valid for both. ``media_url``
        alone changes the media-events URL only; ``""`` turns a group off. Returns (config, generated
        key or None)."""
        app = await self._owned_app(session, principal, sdkappid)
        principal.require_owner(app.account_id)
        if app.status is AppStatus.TERMINATED:
            raise InvalidState("a terminated application cannot be changed")
        account = await session.get(Account, app.account_id)
        if account is None or account.status is not AccountStatus.ACTIVE:
            raise NotFound(f"no application {sdkappid}")
        if generate_key and key:
            raise InvalidInput("give either key or generate_key, not both")
        new_key: str | None = None
        if generate_key:
            new_key = "".join(secrets.choice(_ALNUM) for _ in range(32))
            key = new_key
        cfg = await session.get(CallbackConfig, sdkappid)
        now = self.ctx.clock.now()
        if cfg is None:
            cfg = CallbackConfig(sdkappid=sdkappid, url="", media_url="", key_ciphertext=None, updated_at=now)
            session.add(cfg)
        before = {"url": cfg.url, "media_url": cfg.media_url, "key_set": cfg.key_ciphertext is not None}
        if url is not None:
            cfg.url = validate_url(url)
            if media_url is None:
                cfg.media_url = cfg.url
        if media_url is not None:
            cfg.media_url = validate_url(media_url)
        key_changed = False
        if key is not None:
            key_changed = True
            if key == "":
                cfg.key_ciphertext = None
            else:
                cfg.key_ciphertext = self.ctx.keyring.seal(
                    account.id, account.data_key_wrapped, _key_context(sdkappid), validate_key(key)
                )
        cfg.updated_at = now
        after = {"url": cfg.url, "media_url": cfg.media_url, "key_set": cfg.key_ciphertext is not None}
        await session.flush()
        if before != after or key_changed:
            await self.oplog.append(
                session,
                principal=principal,
                action="app.callback.update",
                account_id=app.account_id,
                obj={"type": "application", "id": sdkappid},
                before=before,
                after=after | ({"key_changed": True} if key_changed else {}),
            )
        for group in (GROUP_ROOM, GROUP_MEDIA):
            self._has_url.pop((sdkappid, group), None)
        return {"sdkappid": sdkappid, "updated_at": now} | after, new_key

    async def list_deliveries(
        self,
        session: AsyncSession,
        principal: Principal,
        sdkappid: int,
        *,
        state: str | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[WebhookDelivery]:
        await self._owned_app(session, principal, sdkappid)
        q = select(WebhookDelivery).where(WebhookDelivery.sdkappid == sdkappid)
        if state:
            q = q.where(WebhookDelivery.state == state)
        if before_id:
            q = q.where(WebhookDelivery.id < before_id)
        rows = await session.execute(q.order_by(WebhookDelivery.id.desc()).limit(max(1, min(limit, 1000))))
        return list(rows.scalars())

    # --- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        # Claims this node holds are its previous process's (this one has sent nothing yet): release
        # them, so a restarted node resends at once instead of after the leases run out.
        async with self.ctx.db.write() as session:
            await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.claimed_by == self.node_id, WebhookDelivery.state == "pending")
                .values(claimed_by=None, lease_until=None)
            )
        self._http = httpx.AsyncClient(timeout=self.params.timeout_s, follow_redirects=False, trust_env=False)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._batches.run(), name="webhook-writer"),
            loop.create_task(self._delivery_loop(), name="webhook-delivery"),
        ]

    async def close(self) -> None:
        """Write what is queued (so it is delivered after a restart), then stop."""
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            await self._batches.drain()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self._http is not None:
            await self._http.aclose()

    # --- event intake (media path: enqueue only) --------------------------------------------------
    def queue_depth(self) -> int:
        """Room events received and not yet written to the outbox."""
        return self._batches.qsize()

    def on_room_event(self, event: RoomEvent) -> None:
        if not self.closed:
            self._batches.put(event)

    async def _write_batch(self, batch: list[RoomEvent]) -> None:
        """Translate and store a batch of room events in one transaction, then wake delivery. A failure
        (the database away) leaves the translator as it was: the batch is translated again later."""
        before = copy.deepcopy(self._translator)
        try:
            events = self._translator.translate(batch)
            wanted = [e for e in events if await self._wants(e.sdkappid, e.group)]
            if not wanted:
                return
            now = self.ctx.clock.now()
            async with self.ctx.db.write() as session:
                for e in wanted:
                    session.add(self._row(e, now))
        except BaseException:
            self._translator = before
            raise
        self._wake.set()

    def _row(self, e: CallbackEvent, now: datetime) -> WebhookDelivery:
        return WebhookDelivery(
            sdkappid=e.sdkappid,
            event_group=e.group,
            event_type=e.type,
            user_id=e.user_id,
            event_info=json.dumps(e.info, separators=(",", ":")),
            state="pending",
            created_at=now,
            next_attempt_at=now,
            attempts=0,
        )

    async def _wants(self, sdkappid: int, group: int) -> bool:
        """Only events of a group the application has a URL for get outbox rows (a short cache of the
        positives)."""
        mono = asyncio.get_running_loop().time()
        seen = self._has_url.get((sdkappid, group))
        if seen is not None and mono - seen < self.params.config_cache_s:
            return True
        async with self.ctx.db.read() as session:
            cfg = await session.get(CallbackConfig, sdkappid)
        has = bool(_group_url(cfg, group))
        if has:  # only positives are cached: a URL set a moment ago must take effect at once
            self._has_url[(sdkappid, group)] = mono
        return has

    # --- delivery -----------------------------------------------------------------------------
    async def _delivery_loop(self) -> None:
        while True:
            try:
                busy = await self.deliver_due()
            except Exception:
                log.exception("webhook delivery round failed")
                busy = False
            if busy:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.params.poll_interval_s)

    async def deliver_due(self) -> bool:
        """One round: every due row, applications in parallel, each application's rows in order.
        Returns whether anything was attempted."""
        rows = await self.claim_due()
        if not rows:
            return False
        per_app: dict[int, list[WebhookDelivery]] = {}
        for r in rows:
            per_app.setdefault(r.sdkappid, []).append(r)
        await asyncio.gather(*(self._deliver_app(app, rs) for app, rs in per_app.items()))
        return True

    async def claim_due(self) -> list[WebhookDelivery]:
        """Claim due rows for this node: none of an application whose rows another claim holds."""
        now = self.ctx.clock.now()
        p = self.params
        D = WebhookDelivery
        async with self.ctx.db.write() as session:
            if self.ctx.db.dialect == "postgresql":
                # Claims one at a time across nodes, so "no other claim holds this app" stays true.
                await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CLAIM_LOCK})
            busy = select(D.sdkappid).where(D.state == "pending", D.lease_until > now)
            rows = list(
                (
                    await session.execute(
                        select(D)
                        .where(
                            D.state == "pending",
                            D.next_attempt_at <= now,
                            or_(D.lease_until.is_(None), D.lease_until <= now),
                            D.sdkappid.not_in(busy),
                        )
                        .order_by(D.id)
                        .limit(p.batch)
                        .with_for_update(skip_locked=True)
                    )
                ).scalars()
            )
            nth: dict[int, int] = {}
            for row in rows:
                k = nth[row.sdkappid] = nth.get(row.sdkappid, 0) + 1
                row.claimed_by = self.node_id
                row.lease_until = now + timedelta(seconds=p.timeout_s * k + p.lease_margin_s)
        return rows

    async def _target(self, sdkappid: int) -> _Target | None:
        async with self.ctx.db.read() as session:
            cfg = await session.get(CallbackConfig, sdkappid)
            if cfg is None or not (cfg.url or cfg.media_url):
                return None
            key = None
            if cfg.key_ciphertext is not None:
                app = await session.get(Application, sdkappid)
                account = await session.get(Account, app.account_id) if app else None
                if account is None:
                    return None
                key = self.ctx.keyring.open(
                    account.id, account.data_key_wrapped, _key_context(sdkappid), cfg.key_ciphertext
                )
            return _Target(cfg.url, cfg.media_url, key)

    async def _deliver_app(self, sdkappid: int, rows: list[WebhookDelivery]) -> None:
        target = await self._target(sdkappid)
        for row in rows:
            if target is None or not target.url(row.event_group):
                group = "media" if row.event_group == GROUP_MEDIA else "room"
                await self._finish(row, "dropped", None, f"no callback URL configured for {group} events")
                continue
            await self._attempt(row, target)

    async def _attempt(self, row: WebhookDelivery, target: _Target) -> None:
        assert self._http is not None
        now = self.ctx.clock.now()
        first = row.first_attempt_at or now
        body = cb_body.render(
            row.event_group, row.event_type, int(self.ctx.clock.time() * 1000), json.loads(row.event_info)
        )
        headers = {"Content-Type": "application/json", "SdkAppId": str(row.sdkappid)}
        if target.key:
            headers["Sign"] = cb_body.sign(target.key, body)
        status: int | None = None
        error: str | None = None
        try:
            resp = await self._http.post(target.url(row.event_group), content=body, headers=headers)
            status = resp.status_code
            if status != 200:
                error = f"HTTP {status}"
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        attempts = row.attempts + 1
        if error is None:
            await self._save(
                row.id, attempts=attempts, first=first, status=status, error=None, state="delivered"
            )
            return
        log.info(
            "callback delivery failed",
            extra={"sdkappid": row.sdkappid, "delivery": row.id, "attempt": attempts, "error": error},
        )
        p = self.params
        if attempts == 1:
            nxt = now
        else:
            nxt = first + timedelta(seconds=p.retry_interval_s * (attempts - 1))
        if nxt > first + timedelta(seconds=p.retry_window_s):
            await self._save(
                row.id, attempts=attempts, first=first, status=status, error=error, state="failed"
            )
        else:
            await self._save(
                row.id, attempts=attempts, first=first, status=status, error=error, state="pending", nxt=nxt
            )
            if attempts == 1:
                self._wake.set()

    async def _save(
        self,
        row_id: int,
        *,
        attempts: int,
        first: datetime,
        status: int | None,
        error: str | None,
        state: str,
        nxt: datetime | None = None,
    ) -> None:
        async with self.ctx.db.write() as session:
            row = await session.get(WebhookDelivery, row_id)
            if row is None:  # purged meanwhile
                return
            row.attempts = attempts
            row.first_attempt_at = first
            row.last_status = status
            row.last_error = error
            row.state = state
            row.claimed_by = None  # the claim ends with the attempt
            row.lease_until = None
            if nxt is not None:
                row.next_attempt_at = nxt
            if state != "pending":
                row.finished_at = self.ctx.clock.now()

    async def _finish(self, row: WebhookDelivery, state: str, status: int | None, error: str | None) -> None:
        await self._save(
            row.id,
            attempts=row.attempts,
            first=row.first_attempt_at or self.ctx.clock.now(),
            status=status,
            error=error,
            state=state,
        )
