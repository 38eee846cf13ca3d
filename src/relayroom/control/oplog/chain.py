"""Hash chain of the operation log (pure functions).

Each entry commits to its content through a salted hash, so content (and salt) can be purged
later while the chain of manifests still verifies (privacy.md §3, manifest/content split). Each
entry's hash is an HMAC under a key derived from the master key (not in the database), so someone
who can write the database cannot edit an entry and recompute the chain.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from relayroom.crypto.signing import canonical_json

GENESIS = "0" * 64
REDACT_ACTION = "oplog.redact"
# The first keyed entry of a chain that began before the chain was keyed: it records the legacy
# prefix (count and head) under the key, so that prefix cannot be rewritten afterwards either.
KEYED_ACTION = "oplog.chain.keyed"
CHAIN_ALGORITHM = "hmac-sha256"


def derive_chain_key(master_key: bytes) -> bytes:
    """The chain's HMAC key: derived from the deployment's master key, never stored in the database, so
    write access to the database alone cannot produce entries that verify."""
    return hmac.new(master_key, b"relayroom oplog chain v1", hashlib.sha256).digest()


def new_salt() -> bytes:
    return os.urandom(16)


def payload_commit(salt: bytes, payload: str) -> str:
    return hashlib.sha256(salt + payload.encode()).hexdigest()


def entry_hash(
    *,
    key: bytes | None,
    seq: int,
    ts: datetime,
    account_ref: str,
    action: str,
    result: str,
    commit: str,
    prev_hash: str,
) -> str:
    """HMAC-SHA256 of the manifest under the chain key; ``key=None`` gives the unkeyed SHA-256 of
    chains written before keying (verification of their legacy prefix only)."""
    manifest = canonical_json(
        {
            "seq": seq,
            "ts": ts.isoformat(timespec="microseconds"),
            "account_ref": account_ref,
            "action": action,
            "result": result,
            "payload_commit": commit,
            "prev_hash": prev_hash,
        }
    )
    if key is None:
        return hashlib.sha256(manifest).hexdigest()
    return hmac.new(key, manifest, hashlib.sha256).hexdigest()


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
    account_id: str | None = None  # routing only, not hashed: checked against account_ref


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    entries: int  # entries that verified, from the first
    head_hash: str  # hash of the last entry that verified
    broken_at: int | None = None
    problem: str | None = None
    legacy_entries: int = 0  # unkeyed entries before the keyed chain began
    keyed: bool = True  # False: every entry is unkeyed (a chain from before keying, not migrated yet)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "head_hash": self.head_hash,
            "broken_at": self.broken_at,
            "problem": self.problem,
        }


def verify_chain(
    rows: list[ChainRow],
    key: bytes,
    ref_of: Callable[[str], str] | None = None,
    *,
    start: tuple[int, str] = (1, GENESIS),
    check_redactions: bool = True,
) -> ChainReport:
    """Recompute the chain from genesis; name the first entry that does not fit.

    Detects edited content (commit mismatch), edited manifests (hash mismatch: without the key no
    edit can be hidden by recomputing the chain), reordering and dropped entries (seq gap / prev_hash
    mismatch), content removed without a redaction entry, and an entry moved to another account
    (``ref_of``: account id -> its pseudonymous ref). Entries written before the chain was keyed verify
    unkeyed, but only as a prefix that a ``KEYED_ACTION`` entry closes. Truncation of the newest
    entries needs a checkpoint held elsewhere: see checkpoints.py.

    ``start``: (first seq, the hash before it) to verify a tail after a trusted checkpoint; such a tail
    must be keyed throughout, and redactions of earlier entries are then not checked.
    """
    expected_seq, prev = start
    legacy = 0
    keyed_seen = start[0] > 1
    missing_content: set[int] = set()

    def broken(row_seq: int, problem: str) -> ChainReport:
        return ChainReport(False, row_seq - start[0], prev, row_seq, problem, legacy, keyed_seen)

    for row in rows:
        if row.seq != expected_seq:
            return broken(expected_seq, f"entry {expected_seq} is missing")
        if row.prev_hash != prev:
            return broken(row.seq, "prev_hash does not match the previous entry")
        fields: dict[str, Any] = {
            "seq": row.seq,
            "ts": row.ts,
            "account_ref": row.account_ref,
            "action": row.action,
            "result": row.result,
            "commit": row.payload_commit,
            "prev_hash": row.prev_hash,
        }
        if hmac.compare_digest(entry_hash(key=key, **fields), row.entry_hash):
            if legacy and not keyed_seen and row.action != KEYED_ACTION:
                return broken(row.seq, "the keyed chain does not begin with its marker entry")
            keyed_seen = True
        elif not keyed_seen and entry_hash(key=None, **fields) == row.entry_hash:
            legacy += 1
        elif keyed_seen and entry_hash(key=None, **fields) == row.entry_hash:
            return broken(row.seq, "entry hash is not keyed (rewritten without the key)")
        else:
            return broken(row.seq, "entry hash does not match its manifest")
        if ref_of is not None:
            if row.account_id is not None and ref_of(row.account_id) != row.account_ref:
                return broken(row.seq, "entry was moved to another account")
            if row.account_id is None and row.account_ref != "-" and row.payload is not None:
                return broken(row.seq, "entry was taken out of its account")
        if row.payload is not None:
            if row.salt is None or payload_commit(row.salt, row.payload) != row.payload_commit:
                return broken(row.seq, "content does not match its commitment")
            if row.action == REDACT_ACTION:
                try:
                    missing_content -= set(json.loads(row.payload).get("redacted_seqs", []))
                except (ValueError, AttributeError):
                    return broken(row.seq, "redaction entry is malformed")
        else:
            missing_content.add(row.seq)
        prev = row.entry_hash
        expected_seq += 1
    if missing_content and check_redactions:
        first = min(missing_content)
        return ChainReport(
            False, len(rows), prev, first, "content removed without a redaction entry", legacy, keyed_seen
        )
    if legacy and not keyed_seen:
        problem = "the chain is not keyed yet (the server keys it at start)"
        return ChainReport(False, len(rows), prev, None, problem, legacy, False)
    return ChainReport(True, len(rows), prev, legacy_entries=legacy, keyed=True)
