"""The control plane's services, wired once."""

from __future__ import annotations

from dataclasses import dataclass

from relayroom.control.accounts.service import AccountService
from relayroom.control.applications.service import ApplicationService
from relayroom.control.context import ControlContext
from relayroom.control.keys.service import KeyService
from relayroom.control.oplog.service import OplogService
from relayroom.control.privacy.consent import ConsentService
from relayroom.control.privacy.requests import RequestService
from relayroom.control.privacy.retention import RetentionService


@dataclass
class Services:
    ctx: ControlContext
    oplog: OplogService
    accounts: AccountService
    keys: KeyService
    apps: ApplicationService
    retention: RetentionService
    consent: ConsentService
    requests: RequestService

    @classmethod
    def build(cls, ctx: ControlContext) -> Services:
        oplog = OplogService(ctx)
        keys = KeyService(ctx, oplog)
        retention = RetentionService(ctx, oplog)
        apps = ApplicationService(ctx, oplog, keys)
        apps.on_terminated = retention.on_app_terminated
        consent = ConsentService(ctx, oplog)
        return cls(
            ctx=ctx,
            oplog=oplog,
            accounts=AccountService(ctx, oplog),
            keys=keys,
            apps=apps,
            retention=retention,
            consent=consent,
            requests=RequestService(ctx, oplog, retention, consent),
        )
