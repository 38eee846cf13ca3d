from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from relayroom.storage.models.base import Base
from relayroom.storage.types import UTCDateTime


class OplogEntry(Base):
    """One operation-log entry: a manifest that stays, and content that can be purged.

    entry_hash = HMAC(chain key, prev_hash, seq, ts, account_ref, action, result, payload_commit) (the
    key is derived from the master key; entries from before keying: plain SHA-256, closed by an
    ``oplog.chain.keyed`` entry), and payload_commit = H(salt || payload). Purging drops payload and
    salt; the chain still verifies.
    """

    __tablename__ = "oplog_entries"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    account_id: Mapped[str | None] = mapped_column(String(36), index=True)  # routing only; not hashed
    account_ref: Mapped[str] = mapped_column(String(64))  # pseudonymous, hashed into the chain
    action: Mapped[str] = mapped_column(String(64), index=True)
    result: Mapped[str] = mapped_column(String(16))
    payload: Mapped[str | None] = mapped_column(Text)  # canonical JSON: actor, object, before/after
    salt: Mapped[bytes | None] = mapped_column(LargeBinary)
    payload_commit: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))
    redacted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
