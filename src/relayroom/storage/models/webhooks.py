"""Event callbacks: per-application configuration and the durable delivery outbox."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from relayroom.storage.models.base import Base
from relayroom.storage.types import UTCDateTime


class CallbackConfig(Base):
    """The callback URLs and key of an application; the key is sealed with the account's data key.

    As in TRTC, room events (group 1, 101-105) and media events (group 2, 201-206) have their own URL;
    setting one URL sets both. An empty URL turns that group off.
    """

    __tablename__ = "callback_configs"

    sdkappid: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("applications.sdkappid", ondelete="CASCADE"), primary_key=True
    )
    url: Mapped[str] = mapped_column(Text, default="")  # room events
    media_url: Mapped[str] = mapped_column(Text, default="", server_default="")  # media events
    key_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookDelivery(Base):
    """One event to deliver. Written before any delivery attempt, so a crash loses nothing.

    state: pending -> delivered | failed (given up after TRTC's retry window) | dropped (no URL).
    Nodes claim pending rows before sending (``claimed_by``/``lease_until``), so each is sent by one.
    The body is rendered at each attempt (CallbackTs is the send time) from ``event_info``.
    """

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sdkappid: Mapped[int] = mapped_column(BigInteger, index=True)
    event_group: Mapped[int] = mapped_column(Integer)
    event_type: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[str | None] = mapped_column(String(32))
    event_info: Mapped[str] = mapped_column(Text)  # JSON object, key order kept
    state: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    first_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(200))
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Delivery claim: the node sending this row now, until lease_until (then any node may take it).
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_webhook_deliveries_state_next", "state", "next_attempt_at"),)
