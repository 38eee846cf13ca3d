"""Usage metering buckets: seconds per application, room and user, by TRTC's billing tiers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Float, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from relayroom.storage.models.base import Base
from relayroom.storage.types import UTCDateTime


class UsageBucket(Base):
    """Seconds of audio and of video per resolution tier in one 5-minute or daily bucket (UTC)."""

    __tablename__ = "usage_buckets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sdkappid: Mapped[int] = mapped_column(BigInteger, index=True)
    granularity: Mapped[str] = mapped_column(String(8))  # "5min" | "day"
    bucket_start: Mapped[datetime] = mapped_column(UTCDateTime)
    room_id: Mapped[str] = mapped_column(String(64))
    str_room: Mapped[bool] = mapped_column(Boolean, default=False)
    user_id: Mapped[str] = mapped_column(String(32))
    audio_s: Mapped[float] = mapped_column(Float, default=0.0)
    sd_s: Mapped[float] = mapped_column(Float, default=0.0)
    hd_s: Mapped[float] = mapped_column(Float, default=0.0)
    fhd_s: Mapped[float] = mapped_column(Float, default=0.0)
    k2_s: Mapped[float] = mapped_column(Float, default=0.0)
    k4_s: Mapped[float] = mapped_column(Float, default=0.0)

    __table_args__ = (
        UniqueConstraint(
            "sdkappid",
            "granularity",
            "bucket_start",
            "room_id",
            "str_room",
            "user_id",
            name="uq_usage_bucket",
        ),
    )
