from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from relayroom.storage.models.base import Base
from relayroom.storage.types import UTCDateTime, str_enum


class AccountStatus(enum.StrEnum):
    ACTIVE = "active"
    TERMINATED = "terminated"  # credentials dead at once; purge scheduled
    PURGED = "purged"  # only a pseudonymous tombstone remains


class Account(Base):
    """A customer. Its data key (wrapped by the master key) encrypts every secret it owns."""

    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[AccountStatus] = mapped_column(str_enum(AccountStatus), default=AccountStatus.ACTIVE)
    # AES-GCM wrapped data key; NULL once shredded.
    data_key_wrapped: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    terminated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
