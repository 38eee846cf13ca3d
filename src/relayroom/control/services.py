"""The database-backed domain services, as one group of the container (control/container.py builds
them; services own their transactions' audit)."""

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
