"""Hash chain of the operation log (pure functions).

Each entry commits to its content through a salted hash, so content (and salt) can be purged
later while the chain of manifests still verifies (privacy.md §3, manifest/content split).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from relayroom.crypto.signing import canonical_json

GENESIS = "0" * 64
REDACT_ACTION = "oplog.redact"


def new_salt() -> bytes:
    return os.urandom(16)


def payload_commit(salt: bytes, payload: str) -> str:
    return hashlib.sha256(salt + payload.encode()).hexdigest()


def entry_hash(
    *, seq: int, ts: datetime, account_ref: str, action: str, result: str, commit: str, prev_hash: str
) -> str:
    manifest = {
        "seq": seq,
        "ts": ts.isoformat(timespec="microseconds"),
        "account_ref": account_ref,
        "action": action,
        "result": result,
        "payload_commit": commit,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(manifest)).hexdigest()


def account_ref(secret: bytes, account_id: str | None) -> str:
    """Pseudonymous account reference: stable, but not reversible without the deployment secret."""
    if account_id is None:
        return "-"
    return hmac.new(secret, b"account-ref:" + account_id.encode(), hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class ChainRow:
    seq: int
    ts: datetime
    account_ref: str
    action: str
    result: str
    payload: str | None
    salt: bytes | None
    payload_commit: str
    prev_hash: str
    entry_hash: str


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    entries: int
    head_hash: str
    broken_at: int | None = None
    problem: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "head_hash": self.head_hash,
            "broken_at": self.broken_at,
            "problem": self.problem,
        }


def verify_chain(rows: list[ChainRow]) -> ChainReport:
    """Recompute the chain from genesis; name the first entry that does not fit.

    Detects edited content (commit mismatch), edited manifests (hash mismatch), reordering and
    dropped entries (seq gap / prev_hash mismatch), and content removed without a redaction entry.
    Truncation of the newest entries needs an externally held checkpoint: see `check_checkpoint`.
    """
    import json

    prev = GENESIS
    expected_seq = 1
    missing_content: set[int] = set()
    for row in rows:
        if row.seq != expected_seq:
            return ChainReport(
                False, expected_seq - 1, prev, expected_seq, f"entry {expected_seq} is missing"
            )
        if row.prev_hash != prev:
            return ChainReport(
                False, row.seq - 1, prev, row.seq, "prev_hash does not match the previous entry"
            )
        recomputed = entry_hash(
            seq=row.seq,
            ts=row.ts,
            account_ref=row.account_ref,
            action=row.action,
            result=row.result,
            commit=row.payload_commit,
            prev_hash=row.prev_hash,
        )
        if recomputed != row.entry_hash:
            return ChainReport(False, row.seq - 1, prev, row.seq, "entry hash does not match its manifest")
        if row.payload is not None:
            if row.salt is None or payload_commit(row.salt, row.payload) != row.payload_commit:
                return ChainReport(False, row.seq - 1, prev, row.seq, "content does not match its commitment")
            if row.action == REDACT_ACTION:
                try:
                    missing_content -= set(json.loads(row.payload).get("redacted_seqs", []))
                except (ValueError, AttributeError):
                    return ChainReport(False, row.seq - 1, prev, row.seq, "redaction entry is malformed")
        else:
            missing_content.add(row.seq)
        prev = row.entry_hash
        expected_seq += 1
    if missing_content:
        first = min(missing_content)
        return ChainReport(False, len(rows), prev, first, "content removed without a redaction entry")
    return ChainReport(True, len(rows), prev)
