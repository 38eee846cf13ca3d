"""Storage guarantees: migrations, secure_delete on every connection, secrets only ever sealed."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from relayroom.config import Settings
from relayroom.crypto.keyring import Keyring, KeyringError
from relayroom.storage.db import Database
from relayroom.storage.models import Account, AppSecretKey
from tests.control.helpers import running


async def test_migrations_create_every_table(settings: Settings) -> None:
    db = Database(settings.effective_database_url)
    try:
        await db.migrate()
        await db.migrate()  # idempotent
        async with db.read() as s:
            for table in (
                "accounts",
                "users",
                "memberships",
                "api_tokens",
                "applications",
                "app_secret_keys",
                "cloud_credentials",
                "oplog_entries",
                "alembic_version",
            ):
                await s.execute(text(f"SELECT count(*) FROM {table}"))
    finally:
        await db.dispose()


async def test_sqlite_secure_delete_and_wal_on_every_connection(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        conns = [await db.engine.connect() for _ in range(3)]  # distinct pooled connections
        for conn in conns:
            assert (await conn.execute(text("PRAGMA secure_delete"))).scalar_one() == 1
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one() == 1
        for conn in conns:
            await conn.close()
    finally:
        await db.dispose()


def _raw_bytes(data_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in data_dir.glob("relayroom.db*"))


async def test_plaintext_secrets_never_reach_the_database(settings: Settings) -> None:
    async with running(settings) as rt:
        h = await rt.admin()
        cred = (await rt.client.post(f"/api/v1/accounts/{rt.first.account_id}/credentials", headers=h)).json()
        secrets = [rt.first.secret_key.encode(), cred["secret_key"].encode(), rt.first.password.encode()]
        if settings.is_sqlite:
            raw = _raw_bytes(settings.data_dir)
            assert raw, "database files exist"
            for s in secrets:
                assert s not in raw
        else:
            async with rt.services.ctx.db.read() as sess:
                for table in ("app_secret_keys", "cloud_credentials", "users", "oplog_entries", "api_tokens"):
                    dump = str((await sess.execute(text(f"SELECT * FROM {table}"))).all()).encode()
                    for s in secrets:
                        assert s not in dump, table


async def test_destroying_the_data_key_shreds_every_secret(settings: Settings) -> None:
    async with running(settings) as rt:
        acc = rt.first.account_id
        async with rt.services.ctx.db.read() as s:
            account = await s.get(Account, acc)
            assert account is not None
            row = (await s.execute(select(AppSecretKey))).scalars().first()
            assert row is not None
            ctx = f"appkey:{row.sdkappid}:{row.id}"
            assert (
                rt.services.ctx.keyring.open(acc, account.data_key_wrapped, ctx, row.ciphertext)
                == rt.first.secret_key
            )
        async with rt.services.ctx.db.write() as s:
            await s.execute(update(Account).where(Account.id == acc).values(data_key_wrapped=None))
        with pytest.raises(KeyringError):
            rt.services.ctx.keyring.open(acc, None, ctx, row.ciphertext)
        async with rt.services.ctx.db.read() as s:
            with pytest.raises(KeyringError):
                await rt.services.apps.entry_context(s, rt.first.sdkappid)


def test_ciphertext_is_bound_to_its_row() -> None:
    kr = Keyring(b"k" * 32)
    wrapped = kr.new_data_key("acct-1")
    blob = kr.seal("acct-1", wrapped, "appkey:1:a", "secret")
    assert kr.open("acct-1", wrapped, "appkey:1:a", blob) == "secret"
    with pytest.raises(KeyringError):
        kr.open("acct-1", wrapped, "appkey:1:b", blob)  # copied to another row
    with pytest.raises(KeyringError):
        kr.open("acct-2", wrapped, "appkey:1:a", blob)  # another account's wrapping
    with pytest.raises(KeyringError):
        Keyring(b"m" * 32).open("acct-1", wrapped, "appkey:1:a", blob)  # another master key


def test_no_sql_pattern_is_built_from_text_without_escaping_it() -> None:
    """LIKE patterns only through contains/startswith/endswith(..., autoescape=True) on a column, so
    a `%` or `_` in a filter, a name or an id matches only itself; no raw like()/ilike()."""
    import ast

    src = Path(__file__).resolve().parents[2] / "src" / "relayroom"
    offenders = []
    for path in src.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            name = node.func.attr
            receiver = node.func.value
            on_column = (
                isinstance(receiver, ast.Attribute)
                and isinstance(receiver.value, ast.Name)
                and receiver.value.id[:1].isupper()  # Model.column
            )
            escaped = any(k.arg == "autoescape" for k in node.keywords)
            if name in ("like", "ilike", "notlike", "notilike") or (
                on_column and name in ("contains", "startswith", "endswith", "istartswith") and not escaped
            ):
                offenders.append(f"{path.relative_to(src)}:{node.lineno} .{name}()")
    assert not offenders, offenders
