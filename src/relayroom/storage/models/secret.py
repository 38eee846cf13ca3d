from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from relayroom.storage.models.base import Base
from relayroom.storage.types import UTCDateTime


class AppSecretKey(Base):
    """An SDKSecretKey (signs UserSigs). Encrypted with the owning account's data key.

    The current key has retires_at NULL; a rotated-out key keeps verifying until retires_at (grace).
    """

    __tablename__ = "app_secret_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    sdkappid: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("applications.sdkappid", ondelete="CASCADE"), index=True
    )
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    retires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CloudCredential(Base):
    """Cloud-API credential (SecretId + SecretKey) of an account, for the TRTC-compatible server API."""

    __tablename__ = "cloud_credentials"

    secret_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
