"""Envelope encryption: master key → per-account data key → secrets (AES-256-GCM).

Destroying an account's wrapped data key makes every secret encrypted under it unrecoverable,
wherever copies of the ciphertext live (WAL, dead tuples, backups): crypto-shredding.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE = 12
_VERSION = b"\x01"


class KeyringError(Exception):
    """A ciphertext could not be opened (wrong key, tampering, or a shredded data key)."""


def load_master_key(data_dir: Path, configured: str | None) -> bytes:
    """The master key from config (base64), else data_dir/master.key, created 0600 on first start."""
    if configured:
        key = base64.b64decode(configured)
        if len(key) != 32:
            raise ValueError("master_key must be 32 bytes, base64-encoded")
        return key
    path = data_dir / "master.key"
    if path.exists():
        key = base64.b64decode(path.read_bytes().strip())
        if len(key) != 32:
            raise ValueError(f"{path} does not hold a 32-byte base64 key")
        return key
    data_dir.mkdir(parents=True, exist_ok=True)
    key = AESGCM.generate_key(bit_length=256)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(base64.b64encode(key) + b"\n")
    return key


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return _VERSION + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _open(key: bytes, blob: bytes, aad: bytes) -> bytes:
    if len(blob) < 1 + _NONCE + 16 or blob[:1] != _VERSION:
        raise KeyringError("malformed ciphertext")
    try:
        return AESGCM(key).decrypt(blob[1 : 1 + _NONCE], blob[1 + _NONCE :], aad)
    except Exception as exc:  # InvalidTag
        raise KeyringError("ciphertext does not open with this key") from exc


class Keyring:
    """Wraps account data keys with the master key and seals secrets with a data key.

    AAD binds each ciphertext to what it is (account id, secret kind and object id), so a
    ciphertext copied to another row does not open.
    """

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise ValueError("master key must be 32 bytes")
        self._master = master_key

    def fingerprint(self) -> bytes:
        """A one-way fingerprint of the master key (HMAC under it): equal for equal keys, and it
        reveals nothing of the key (the nodes of a cluster compare it: relayroom/cluster/identity.py)."""
        return hmac.new(self._master, b"relayroom master key fingerprint v1", hashlib.sha256).digest()

    def new_data_key(self, account_id: str) -> bytes:
        """Return the wrapped form of a fresh data key for the account."""
        return _seal(self._master, AESGCM.generate_key(bit_length=256), b"dek:" + account_id.encode())

    def unwrap(self, account_id: str, wrapped: bytes | None) -> bytes:
        if wrapped is None:
            raise KeyringError("the account's data key was destroyed")
        return _open(self._master, wrapped, b"dek:" + account_id.encode())

    def seal(self, account_id: str, wrapped_dek: bytes | None, context: str, plaintext: str) -> bytes:
        return _seal(self.unwrap(account_id, wrapped_dek), plaintext.encode(), context.encode())

    def open(self, account_id: str, wrapped_dek: bytes | None, context: str, blob: bytes) -> str:
        return _open(self.unwrap(account_id, wrapped_dek), blob, context.encode()).decode()
