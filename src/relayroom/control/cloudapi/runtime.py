"""The background parts of the cloud API, callbacks and metering, started and stopped together by the
app's lifespan: call history, webhook outbox + delivery, usage meter. (The purge provider,
usage/privacy.py, is registered by the lifespan before the retention catch-up.)"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from relayroom.control.cloudapi.history import CallHistory
from relayroom.control.services import Services
from relayroom.control.usage.meter import MeterParams, UsageMeter
from relayroom.control.webhooks.service import WebhookParams, WebhookService


class CloudRuntime:
    def __init__(self, app: FastAPI, services: Services, observers: Any) -> None:
        ctx = services.ctx
        self.history = CallHistory(ctx)
        state = app.state
        # Timers come from Settings (webhooks, usage); tests may set app.state.webhook_params /
        # app.state.meter_params before start to tune what Settings does not expose.
        wh = ctx.settings.webhooks
        webhook_params = getattr(state, "webhook_params", None) or WebhookParams(
            retry_interval_s=wh.retry_interval_s,
            retry_window_s=wh.retry_window_s,
            timeout_s=wh.timeout_s,
            poll_interval_s=wh.poll_interval_s,
        )
        us = ctx.settings.usage
        meter_params = getattr(state, "meter_params", None) or MeterParams(
            tick_s=us.tick_s, flush_s=us.flush_s
        )
        self.webhooks = WebhookService(ctx, services.oplog, webhook_params)
        self.meter = UsageMeter(
            ctx,
            rooms=lambda: getattr(state, "rooms", None),
            media=lambda: getattr(state, "media", None),
            history=self.history,
            params=meter_params,
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
