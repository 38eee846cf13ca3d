"""Node identity and cluster settings; a node whose keys differ from the database's refuses to start."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError
from sqlalchemy import select

from relayroom.cluster.identity import (
    NODE_ID_FILE,
    ClusterKeyMismatch,
    check_cluster_keys,
    key_fingerprint,
    resolve_node_id,
)
from relayroom.config import Settings
from relayroom.control.oplog.chain import derive_chain_key
from relayroom.crypto.keyring import Keyring
from relayroom.crypto.signing import DeploymentSigner
from relayroom.storage.db import Database
from relayroom.storage.models import KEY_FINGERPRINT, DeploymentSetting
from tests.control.helpers import running

PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/relayroom"


def _key(seed: bytes) -> str:
    return base64.b64encode(seed * (32 // len(seed))).decode()


def _signing_key_file(path: Path) -> Path:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.write_bytes(pem)
    return path


def test_redis_with_sqlite_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as err:
        Settings(data_dir=tmp_path, redis_url="redis://127.0.0.1:6379/0")
    assert "PostgreSQL" in str(err.value) and "database_url" in str(err.value)


def test_redis_with_postgres_is_a_cluster_node(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path, redis_url="redis://127.0.0.1:6379/0", database_url=PG_URL)
    assert s.clustered and s.redis_url == "redis://127.0.0.1:6379/0"
    assert not Settings(data_dir=tmp_path).clustered  # the embedded default: one node


def test_redis_url_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from relayroom.config import load_settings

    monkeypatch.setenv("RELAYROOM_REDIS_URL", "redis://127.0.0.1:6379/3")
    monkeypatch.setenv("RELAYROOM_DATABASE_URL", PG_URL)
    monkeypatch.setenv("RELAYROOM_PUBLIC_URL", "https://node-a.example.test/")
    s = load_settings(data_dir=tmp_path)
    assert s.redis_url == "redis://127.0.0.1:6379/3"
    assert s.effective_public_url == "https://node-a.example.test"


@pytest.mark.parametrize(
    ("field", "value"),
    [("redis_url", "http://127.0.0.1:6379"), ("public_url", "node-a:8080"), ("node_id", "bad id/with slash")],
)
def test_malformed_cluster_settings_are_refused(tmp_path: Path, field: str, value: str) -> None:
    with pytest.raises(ValidationError) as err:
        Settings.model_validate({"data_dir": tmp_path, "database_url": PG_URL, field: value})
    assert field in str(err.value)


def test_public_url_defaults_to_host_and_port(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path, port=9000).effective_public_url == "http://127.0.0.1:9000"


def test_node_id_is_created_once_0600_and_kept(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path / "d")
    first = resolve_node_id(s)
    path = tmp_path / "d" / NODE_ID_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert resolve_node_id(s) == first  # a restarted node is the same node
    assert len(first.rsplit("-", 1)[1]) == 6  # hostname + 3 random bytes
    other = resolve_node_id(Settings(data_dir=tmp_path / "e"))
    assert other != first  # another data dir on the same host is another node
    assert resolve_node_id(Settings(data_dir=tmp_path / "d", node_id="edge-1")) == "edge-1"


def test_a_corrupt_node_id_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / NODE_ID_FILE).write_text("../../etc\n")
    with pytest.raises(ValueError, match="node id"):
        resolve_node_id(Settings(data_dir=tmp_path))


def test_fingerprint_changes_with_each_shared_key(tmp_path: Path) -> None:
    master = b"k" * 32
    signer = DeploymentSigner.load_or_create(tmp_path / "a")
    base = key_fingerprint(Keyring(master), signer, derive_chain_key(master))
    assert base == key_fingerprint(Keyring(master), signer, derive_chain_key(master))
    assert base != key_fingerprint(Keyring(b"j" * 32), signer, derive_chain_key(master))
    assert base != key_fingerprint(Keyring(master), signer, derive_chain_key(b"j" * 32))
    assert base != key_fingerprint(
        Keyring(master), DeploymentSigner.load_or_create(tmp_path / "b"), derive_chain_key(master)
    )
    assert master.hex() not in base and base64.b64encode(master).decode() not in base


def test_signing_key_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="signing_key_file"):
        DeploymentSigner.load_or_create(tmp_path, tmp_path / "missing.pem")


async def test_fingerprint_is_recorded_once_and_compared(settings: Settings) -> None:
    db = Database(settings.effective_database_url)
    try:
        await db.migrate()
        await check_cluster_keys(db, "a" * 64)
        await check_cluster_keys(db, "a" * 64)  # the same keys again: fine
        with pytest.raises(ClusterKeyMismatch, match="master key"):
            await check_cluster_keys(db, "b" * 64)
        async with db.read() as s:
            rows = (
                await s.execute(select(DeploymentSetting).where(DeploymentSetting.key == KEY_FINGERPRINT))
            ).all()
        assert len(rows) == 1 and rows[0][0].value == "a" * 64  # the mismatch changed nothing
    finally:
        await db.dispose()


async def test_nodes_with_shared_keys_start_and_others_refuse(settings: Settings, tmp_path: Path) -> None:
    """Node A and node B (own data dirs, mounted shared keys) on one database start; node C, with the
    keys of its own data dir, refuses to start before serving anything."""
    keys = tmp_path / "keys"
    keys.mkdir()
    shared = {
        "master_key": _key(b"m"),
        "signing_key_file": _signing_key_file(keys / "signing.pem"),
        "database_url": settings.effective_database_url,  # SQLite too: the same file for A, B and C
    }
    a = settings.model_copy(update=shared | {"data_dir": tmp_path / "a"})
    b = settings.model_copy(update=shared | {"data_dir": tmp_path / "b"})
    async with running(a) as rt:
        first = rt.first
        assert (await rt.client.get("/healthz")).status_code == 200
    async with running(b, first=first) as rt:
        assert (await rt.client.get("/healthz")).status_code == 200
        assert not (tmp_path / "b" / "master.key").exists()  # the shared key, not one of its own
        assert not (tmp_path / "b" / "signing.key").exists()
    own_keys = settings.model_copy(
        update={"data_dir": tmp_path / "c", "database_url": settings.effective_database_url}
    )
    with pytest.raises(ClusterKeyMismatch) as err:
        async with running(own_keys, first=first):
            pass
    assert "RELAYROOM_MASTER_KEY" in str(err.value)
