"""ORM models, one module per table."""

from relayroom.storage.models.account import Account, AccountStatus
from relayroom.storage.models.application import Application, AppStatus, ConsentPolicy
from relayroom.storage.models.base import Base
from relayroom.storage.models.blocks import AppUserBlock
from relayroom.storage.models.cloudapi import CallQualitySample, CallRoom, CallUser, CallUserEvent
from relayroom.storage.models.deployment import DEMO_SDKAPPID, KEY_FINGERPRINT, DeploymentSetting
from relayroom.storage.models.oplog import OplogEntry
from relayroom.storage.models.privacy import (
    ConsentAttestation,
    ConsentRecord,
    DataSubjectRequest,
    DeletionReceipt,
    RetentionJob,
    Tombstone,
)
from relayroom.storage.models.secret import AppSecretKey, CloudCredential
from relayroom.storage.models.usage import UsageBucket
from relayroom.storage.models.user import ApiToken, Membership, Role, User
from relayroom.storage.models.webhooks import CallbackConfig, WebhookDelivery

__all__ = [
    "DEMO_SDKAPPID",
    "KEY_FINGERPRINT",
    "Account",
    "AccountStatus",
    "ApiToken",
    "AppSecretKey",
    "AppStatus",
    "AppUserBlock",
    "Application",
    "Base",
    "CallQualitySample",
    "CallRoom",
    "CallUser",
    "CallUserEvent",
    "CallbackConfig",
    "CloudCredential",
    "ConsentAttestation",
    "ConsentPolicy",
    "ConsentRecord",
    "DataSubjectRequest",
    "DeletionReceipt",
    "DeploymentSetting",
    "Membership",
    "OplogEntry",
    "RetentionJob",
    "Role",
    "Tombstone",
    "UsageBucket",
    "User",
    "WebhookDelivery",
]
