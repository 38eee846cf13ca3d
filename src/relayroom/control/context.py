"""What every control-plane service needs, built once at start and passed explicitly."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from relayroom.clock import Clock
from relayroom.config import Settings
from relayroom.crypto.keyring import Keyring
from relayroom.crypto.signing import DeploymentSigner
from relayroom.storage.db import Database


@dataclass
class ControlContext:
    settings: Settings
    db: Database
    keyring: Keyring
    signer: DeploymentSigner
    clock: Clock
    pseudonym_secret: bytes  # derived from the master key; turns account ids into refs
    oplog_key: bytes  # derived from the master key; keys the operation log's chain (never stored)

    @staticmethod
    def derive_pseudonym_secret(master_key: bytes) -> bytes:
        return hmac.new(master_key, b"relayroom pseudonym v1", hashlib.sha256).digest()
