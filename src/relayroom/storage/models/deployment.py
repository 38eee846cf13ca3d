from __future__ import annotations

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from relayroom.storage.models.base import Base

# Keys of DeploymentSetting.
DEMO_SDKAPPID = "demo_sdkappid"  # the demo application created at first start (dev UserSig endpoint)
# Fingerprint of the keys every node must share (master, signing, oplog chain): relayroom/cluster/identity.py
KEY_FINGERPRINT = "cluster_key_fingerprint"


class DeploymentSetting(Base):
    """Facts about the deployment as a whole, kept in the database so every node sees them."""

    __tablename__ = "deployment_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
