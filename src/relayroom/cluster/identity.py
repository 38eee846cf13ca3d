"""A node's identity, and the check that it holds the keys the cluster's database was sealed with.

The node id names this node in call history, heartbeats and room leases. Given in settings, it is used
as is; otherwise it is the host name plus a short random suffix, created on first start and kept in
``data_dir/node-id`` (0600), so a restarted node is the same node.

Keys every node must share: the master key (wraps the accounts' data keys; the operation log's chain
key and the pseudonym secret derive from it) and the signing key (receipts, checkpoints). Their
fingerprint is written to the database on the first start and compared on every start after: a node
with other keys refuses to start here, with a message saying what to fix, rather than failing to
unseal secrets (or signing receipts nobody can verify) later.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import socket

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from relayroom.config import Settings
from relayroom.crypto.keyring import Keyring
from relayroom.crypto.signing import DeploymentSigner
from relayroom.datadir import write_private
from relayroom.storage.db import Database
from relayroom.storage.models import KEY_FINGERPRINT, DeploymentSetting

NODE_ID_FILE = "node-id"
_NODE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


class ClusterKeyMismatch(RuntimeError):
    """This node's keys are not the ones the database was set up with."""


def _host_part() -> str:
    host = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname().split(".")[0]).strip("-.")
    return (host or "node")[:48]


def resolve_node_id(settings: Settings) -> str:
    """The node id: from settings, else ``data_dir/node-id`` (created 0600 on first use)."""
    if settings.node_id:
        return settings.node_id
    path = settings.data_dir / NODE_ID_FILE
    if path.exists():
        found = path.read_text().strip()
        if not _NODE_ID.match(found):
            raise ValueError(
                f"{path} does not hold a node id (1-63 characters of A-Z a-z 0-9 . _ -): fix or delete it"
            )
        return found
    node_id = f"{_host_part()}-{secrets.token_hex(3)}"
    write_private(path, node_id.encode() + b"\n")
    return node_id


def key_fingerprint(keyring: Keyring, signer: DeploymentSigner, chain_key: bytes) -> str:
    """SHA-256 over one-way fingerprints of the shared keys (none of them recoverable from it)."""
    h = hashlib.sha256(b"relayroom cluster keys v1\0")
    h.update(keyring.fingerprint())
    h.update(signer.public_key_b64.encode())
    h.update(hmac.new(chain_key, b"relayroom chain key fingerprint v1", hashlib.sha256).digest())
    return h.hexdigest()


async def _stored(session: AsyncSession) -> str | None:
    found = await session.execute(
        select(DeploymentSetting.value).where(DeploymentSetting.key == KEY_FINGERPRINT)
    )
    return found.scalar_one_or_none()


async def check_cluster_keys(db: Database, fingerprint: str) -> None:
    """Record ``fingerprint`` if the database has none yet; else compare it and
    raise :class:`ClusterKeyMismatch` when it differs. Two nodes starting at once: the first insert
    wins and the other compares against it."""
    async with db.write() as session:
        await session.execute(
            db.insert(DeploymentSetting.__table__)
            .values(key=KEY_FINGERPRINT, value=fingerprint)
            .on_conflict_do_nothing(index_elements=["key"])
        )
    async with db.read() as session:
        stored = await _stored(session)
    if stored == fingerprint:
        return
    raise ClusterKeyMismatch(
        "this node's keys do not match the keys this database was set up with (fingerprint "
        f"{(stored or '?')[:16]}... in the database, {fingerprint[:16]}... here). Every node of a "
        "deployment must use the same master key (master_key / RELAYROOM_MASTER_KEY) and the same "
        "signing key (signing_key_file / RELAYROOM_SIGNING_KEY_FILE), not keys of its own data dir; "
        "with other keys the stored secrets would not unseal. Mount the cluster's keys and start again."
    )
