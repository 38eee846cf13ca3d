"""The background parts of the cloud API, callbacks and metering, started and stopped together by the
app's lifespan: call history, webhook outbox + delivery, usage meter. (The purge provider,
usage/privacy.py, is registered by the lifespan before the retention catch-up.)"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from relayroom.control.cloudapi.history import CallHistory
from relayroom.control.services import Services
from relayroom.control.usage.meter import UsageMeter
from relayroom.control.webhooks.service import WebhookService


class CloudRuntime:
    def __init__(self, app: FastAPI, services: Services, observers: Any) -> None:
        ctx = services.ctx
        self.history = CallHistory(ctx)
        state = app.state
        # Timers can be tuned before start (tests): app.state.webhook_params / app.state.meter_params.
        self.webhooks = WebhookService(ctx, services.oplog, getattr(state, "webhook_params", None))
        self.meter = UsageMeter(
            ctx,
            rooms=lambda: getattr(state, "rooms", None),
            media=lambda: getattr(state, "media", None),
            history=self.history,
            params=getattr(state, "meter_params", None),
        )
        state.call_history = self.history
        state.webhooks = self.webhooks
        state.usage_meter = self.meter
        observers.subscribe(self.history.on_room_event)
        observers.subscribe(self.webhooks.on_room_event)

    async def start(self) -> None:
        """Before the room manager starts: closes history rows a previous process left open."""
        await self.history.start()
        await self.webhooks.start()
        await self.meter.start()

    async def close(self) -> None:
        """After the rooms are drained (their exit events are queued): final flush of everything."""
        await self.meter.close()
        await self.history.close()
        await self.webhooks.close()
