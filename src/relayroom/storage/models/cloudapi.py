"""Call history for the cloud API's monitoring actions (DescribeRoomInfo, DescribeUserInfo, ...).

Rows are per application and end user: customer data, purged with the application and on a
data-subject deletion (see control/usage/privacy.py). No foreign keys to applications: history is
written from room events asynchronously and must not fail because an application was purged meanwhile.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from relayroom.storage.models.base import Base


class CallRoom(Base):
    """One life of a room (TRTC's CommId is ``<SdkAppId>_<RoomId>_<CreateTime>``)."""

    __tablename__ = "call_rooms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sdkappid: Mapped[int] = mapped_column(BigInteger, index=True)
    room_id: Mapped[str] = mapped_column(String(64))  # as text; str_room tells the client's type
    str_room: Mapped[bool] = mapped_column(Boolean, default=False)
    create_ts: Mapped[int] = mapped_column(BigInteger)  # unix s
    destroy_ts: Mapped[int | None] = mapped_column(BigInteger)
    creator: Mapped[str] = mapped_column(String(32), default="")
    # The node whose room manager holds this life; on start a node closes only its own open rows.
    node_id: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_call_rooms_app_time", "sdkappid", "create_ts"),
        Index("ix_call_rooms_node_open", "node_id", "destroy_ts"),
    )

    @property
    def comm_id(self) -> str:
        return f"{self.sdkappid}_{self.room_id}_{self.create_ts}"


class CallUser(Base):
    """One stay of a user in a room life."""

    __tablename__ = "call_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[int] = mapped_column(Integer, index=True)
    sdkappid: Mapped[int] = mapped_column(BigInteger, index=True)
    user_id: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(16), default="anchor")
    join_ts: Mapped[int] = mapped_column(BigInteger)
    leave_ts: Mapped[int | None] = mapped_column(BigInteger)
    # What the client reported at entry (signalling ``enter``), and its address as the privacy
    # setting allows: IPv4 /24 or IPv6 /48 by default (privacy.store_full_client_ip).
    device_type: Mapped[str] = mapped_column(String(64), default="", server_default="")
    sdk_version: Mapped[str] = mapped_column(String(64), default="", server_default="")
    client_ip: Mapped[str] = mapped_column(String(45), default="", server_default="")


class CallUserEvent(Base):
    """A user event as DescribeUserEvent reports it (EventId, Type, ParamOne, ParamTwo)."""

    __tablename__ = "call_user_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[int] = mapped_column(Integer, index=True)
    sdkappid: Mapped[int] = mapped_column(BigInteger, index=True)
    user_id: Mapped[str] = mapped_column(String(32))
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[int] = mapped_column(Integer)
    type: Mapped[int] = mapped_column(Integer, default=0)
    param_one: Mapped[int] = mapped_column(BigInteger, default=0)
    param_two: Mapped[int] = mapped_column(BigInteger, default=0)


class CallQualitySample(Base):
    """One point of a per-user quality series (DescribeCallDetailInfo); PeerId "" = uplink."""

    __tablename__ = "call_quality_samples"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[int] = mapped_column(Integer)
    sdkappid: Mapped[int] = mapped_column(BigInteger, index=True)
    user_id: Mapped[str] = mapped_column(String(32))
    peer_id: Mapped[str] = mapped_column(String(32), default="")
    data_type: Mapped[str] = mapped_column(String(32))
    ts: Mapped[int] = mapped_column(BigInteger)  # unix s
    value: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index("ix_call_quality_samples_call_user", "call_id", "user_id"),)
