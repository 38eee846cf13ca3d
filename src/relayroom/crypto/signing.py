"""The deployment's Ed25519 key: signs oplog checkpoints and deletion receipts."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


def canonical_json(obj: Any) -> bytes:
    """The bytes that get signed/hashed: sorted keys, no spaces, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class DeploymentSigner:
    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public_key = key.public_key()

    @classmethod
    def load_or_create(cls, data_dir: Path, key_file: Path | None = None) -> DeploymentSigner:
        """``key_file`` (a cluster's shared, mounted key) must exist; the data dir's own key is
        created 0600 on first start."""
        if key_file is not None:
            if not key_file.is_file():
                raise ValueError(f"signing_key_file {key_file} is not a readable file")
            key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError(f"{key_file} is not an Ed25519 private key (PEM)")
            return cls(key)
        path = data_dir / "signing.key"
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError(f"{path} is not an Ed25519 key")
            return cls(key)
        data_dir.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        return cls(key)

    @property
    def public_key_b64(self) -> str:
        raw = self.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return base64.b64encode(raw).decode()

    def sign_document(self, body: dict[str, Any]) -> dict[str, Any]:
        """Return the body with a detached signature block over its canonical JSON."""
        sig = self._key.sign(canonical_json(body))
        return {
            **body,
            "signature": {
                "alg": "Ed25519",
                "public_key": self.public_key_b64,
                "value": base64.b64encode(sig).decode(),
            },
        }


def verify_document(doc: dict[str, Any], trusted_public_key_b64: str | None = None) -> bool:
    """Check a signed document offline; with a trusted key, the embedded key must equal it."""
    try:
        sig = doc["signature"]
        if sig.get("alg") != "Ed25519":
            return False
        if trusted_public_key_b64 is not None and sig["public_key"] != trusted_public_key_b64:
            return False
        pub = Ed25519PublicKey.from_public_bytes(base64.b64decode(sig["public_key"]))
        body = {k: v for k, v in doc.items() if k != "signature"}
        pub.verify(base64.b64decode(sig["value"]), canonical_json(body))
        return True
    except (InvalidSignature, KeyError, ValueError, TypeError):
        return False
