from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from relayroom.storage.models.base import Base
from relayroom.storage.types import UTCDateTime, str_enum


class AppStatus(enum.StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"
    TERMINATED = "terminated"


class ConsentPolicy(enum.StrEnum):
    OFF = "off"
    ATTEST = "attest"
    ENFORCE = "enforce"


class Application(Base):
    """A TRTC-style application, identified by its SDKAppID."""

    __tablename__ = "applications"

    sdkappid: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[AppStatus] = mapped_column(str_enum(AppStatus))
    region: Mapped[str] = mapped_column(String(64))
    permission_key_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_policy: Mapped[ConsentPolicy] = mapped_column(str_enum(ConsentPolicy), default=ConsentPolicy.OFF)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    terminated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
