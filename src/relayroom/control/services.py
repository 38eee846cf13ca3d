"""The control plane's services, wired once."""

from __future__ import annotations

from dataclasses import dataclass

from relayroom.control.accounts.service import AccountService
from relayroom.control.applications.service import ApplicationService
from relayroom.control.context import ControlContext
from relayroom.control.keys.service import KeyService
from relayroom.control.oplog.service import OplogService


@dataclass
class Services:
    ctx: ControlContext
    oplog: OplogService
    accounts: AccountService
    keys: KeyService
    apps: ApplicationService

    @classmethod
    def build(cls, ctx: ControlContext) -> Services:
        oplog = OplogService(ctx)
        keys = KeyService(ctx, oplog)
        return cls(
            ctx=ctx,
            oplog=oplog,
            accounts=AccountService(ctx, oplog),
            keys=keys,
            apps=ApplicationService(ctx, oplog, keys),
        )
