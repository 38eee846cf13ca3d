from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from relayroom.storage.models.base import Base
from relayroom.storage.types import UTCDateTime


class AppUserBlock(Base):
    """A UserId blocked application-wide (entry refused with -100208 until unblocked).

    Kept in the database so every node and the CLI see the same blocks; who blocked, when and why is in
    the operation log."""

    __tablename__ = "app_user_blocks"

    sdkappid: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("applications.sdkappid", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    blocked_at: Mapped[datetime] = mapped_column(UTCDateTime)
