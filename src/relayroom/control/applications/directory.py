"""The room-entry check's view of applications, read from the database on every entry.

Nothing is cached: a disable, termination or key rotation applies to the next entry attempt.
"""

from __future__ import annotations

import logging
from typing import cast

from relayroom.control.applications.service import ApplicationService
from relayroom.control.rooms.entry import AppEntryInfo, AppStatus, ConsentPolicy
from relayroom.crypto.keyring import KeyringError
from relayroom.storage.db import Database

log = logging.getLogger(__name__)


class DbAppDirectory:
    def __init__(self, db: Database, apps: ApplicationService) -> None:
        self._db = db
        self._apps = apps

    async def get_app(self, sdkappid: int) -> AppEntryInfo | None:
        async with self._db.read() as session:
            try:
                ctx = await self._apps.entry_context(session, sdkappid)
            except KeyringError:
                # The account's data key is gone (shredded): nothing of it may authenticate.
                log.warning("entry refused: application keys are unrecoverable", extra={"sdkappid": sdkappid})
                return AppEntryInfo(sdkappid=sdkappid, status="terminated", region="", secret_keys=())
        if ctx is None:
            return None
        return AppEntryInfo(
            sdkappid=ctx.sdkappid,
            status=cast(AppStatus, ctx.status),
            region=ctx.region,
            secret_keys=ctx.secret_keys,
            permission_key_enabled=ctx.permission_key_enabled,
            consent_policy=cast(ConsentPolicy, ctx.consent_policy),
        )
