"""deploy/compose.yaml without a Docker daemon: it parses, sets only settings that exist, its init step makes
secrets that RelayRoom, PostgreSQL and coturn agree on, and a real coturn with the generated config takes
RelayRoom's credentials and relays to the media workers only."""

from __future__ import annotations

import asyncio
import os
import runpy
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from aioice import turn
from aioice.stun import TransactionFailed

from relayroom.clock import SystemClock
from relayroom.config import load_settings
from relayroom.control.signaling.ice_servers import TurnIceServers
from tests.coturn import running_coturn
from tests.deploy.settings_env import image_settings, interpolate, unknown_setting

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
SECRETS_MOUNT = "/run/relayroom-secrets"


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def published(service: dict[str, Any]) -> set[tuple[int, str]]:
    """(host port, protocol) pairs of a service's `ports` ("[ip:]a[-b]:c[-d][/proto]")."""
    out = set()
    for spec in service.get("ports", []):
        spec, _, proto = str(spec).partition("/")
        host = spec.split(":")[-2]
        low, _, high = host.partition("-")
        out |= {(p, proto or "tcp") for p in range(int(low), int(high or low) + 1)}
    return out


def test_compose_has_the_four_services_and_sets_only_settings_that_exist() -> None:
    services = compose()["services"]
    assert {"relayroom", "postgres", "redis", "coturn"} <= set(services)
    problems = [
        unknown_setting(name)
        for service in services.values()
        for name in (service.get("environment") or {})
        if name.startswith("RELAYROOM_")
    ]
    assert [p for p in problems if p] == []
    assert services["relayroom"]["environment"], "RelayRoom is configured through RELAYROOM_* variables"
    # files mounted from the repository exist; the image builds from the repository's Dockerfile
    for service in services.values():
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), volume
        if "build" in service:
            assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
    # plain HTTP only on the host's loopback: anything else goes through TLS (docs/deploy.md)
    assert all(str(p).startswith("127.0.0.1:") for p in services["relayroom"]["ports"] if ":8080" in str(p))


def test_a_variable_that_is_not_a_setting_is_caught() -> None:
    assert unknown_setting("RELAYROOM_MEDIA__ANNOUNCED_IP") is None
    assert unknown_setting("RELAYROOM_TURN__SECRET") is None
    assert unknown_setting("RELAYROOM_CONFIG") is None
    assert "no setting 'announce_ip'" in str(unknown_setting("RELAYROOM_MEDIA__ANNOUNCE_IP"))
    assert "no setting 'redis_uri'" in str(unknown_setting("RELAYROOM_REDIS_URI"))
    assert "no nested settings" in str(unknown_setting("RELAYROOM_PORT__X"))


def run_init(secrets_dir: Path, public_ip: str) -> subprocess.CompletedProcess[str]:
    init = compose()["services"]["init"]
    env = {k: str(interpolate(str(v), {"PUBLIC_IP": public_ip})) for k, v in init["environment"].items()}
    env.update(SECRETS_DIR=str(secrets_dir), TURN_TEMPLATE=str(DEPLOY / "coturn" / "turnserver.conf"))
    script = DEPLOY / "compose" / "init-secrets.py"
    return subprocess.run(
        [sys.executable, str(script)], env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )


def test_init_refuses_a_public_ip_that_is_not_an_address(tmp_path: Path) -> None:
    r = run_init(tmp_path / "secrets", "relayroom.example.org")
    assert r.returncode != 0 and "does not appear to be an IPv4 or IPv6 address" in r.stderr
    assert not (tmp_path / "secrets" / "relayroom.toml").exists()


@pytest.mark.timeout(90)
async def test_compose_settings_agree_and_coturn_relays_to_the_workers_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets_dir = tmp_path / "secrets"
    first = run_init(secrets_dir, "127.0.0.1")
    assert first.returncode == 0, first.stderr
    files = {p.name: p for p in secrets_dir.iterdir()}
    assert set(files) == {"postgres_password", "turn_secret", "relayroom.toml", "turnserver.conf"}
    owners = runpy.run_path(str(DEPLOY / "compose" / "init-secrets.py"))
    expected_owner = {"relayroom.toml": owners["RELAYROOM_UID"], "turnserver.conf": owners["COTURN_UID"]}
    for name, path in files.items():
        st = path.stat()
        assert stat.S_IMODE(st.st_mode) == 0o400, name
        if os.geteuid() == 0:
            assert st.st_uid == expected_owner.get(name, 0), name
    before = {name: path.read_text() for name, path in files.items()}
    assert run_init(secrets_dir, "127.0.0.1").returncode == 0  # every `up` runs it: secrets stay
    assert {name: path.read_text() for name, path in files.items()} == before

    services = compose()["services"]
    node = services["relayroom"]
    for k in list(os.environ):
        if k.startswith("RELAYROOM_"):
            monkeypatch.delenv(k)
    for name, value in image_settings().items():  # the image's ENV, then the service's environment
        monkeypatch.setenv(name, value)
    for name, value in node["environment"].items():
        value = interpolate(str(value), {"PUBLIC_IP": "127.0.0.1"})
        monkeypatch.setenv(name, value.replace(SECRETS_MOUNT, str(secrets_dir)))
    settings = load_settings()  # what the container's `relayroom serve` reads

    db = urlsplit(settings.database_url or "")
    pg_env = services["postgres"]["environment"]
    assert db.scheme == "postgresql+asyncpg" and db.hostname == "postgres" and db.port == 5432
    assert (db.username, db.path.lstrip("/")) == (pg_env["POSTGRES_USER"], pg_env["POSTGRES_DB"])
    assert db.password == files["postgres_password"].read_text().strip()
    assert pg_env["POSTGRES_PASSWORD_FILE"] == f"{SECRETS_MOUNT}/postgres_password"

    ports = published(node)
    media = settings.media.ports[: settings.media.workers]
    assert all((p, "udp") in ports and (p, "tcp") in ports for p in media)
    assert settings.media.announced_ip == "127.0.0.1" and settings.media.host == "0.0.0.0"

    assert settings.turn.secret is not None
    secret = settings.turn.secret.get_secret_value()
    coturn_conf = files["turnserver.conf"].read_text()
    assert f"static-auth-secret={secret}\n" in coturn_conf
    coturn_ports = published(services["coturn"])
    relay = owners["RELAY_PORTS"]  # the generated config's relay range is published (the last lines win)
    assert f"min-port={relay.start}\nmax-port={relay.stop - 1}\n" in coturn_conf
    assert {(p, "udp") for p in relay} <= coturn_ports
    for url in settings.turn.urls:
        where, _, transport = url.removeprefix("turn:").partition("?transport=")
        host, _, port = where.partition(":")
        assert host == "127.0.0.1" and (int(port), transport) in coturn_ports

    # A real coturn with the generated config (moved to a free loopback port) takes the credentials the
    # node hands out, and relays to the workers' address and nowhere else.
    with running_coturn(tmp_path / "coturn", secret, base_conf=files["turnserver.conf"]) as coturn:
        [server] = TurnIceServers(settings.turn, SystemClock()).for_user("alice")
        loop = asyncio.get_running_loop()
        udp, client = await loop.create_datagram_endpoint(
            lambda: turn.TurnClientUdpProtocol(
                ("127.0.0.1", coturn.port),
                username=str(server["username"]),
                password=str(server["credential"]),
                lifetime=600,
                channel_refresh_time=500,
            ),
            remote_addr=("127.0.0.1", coturn.port),
        )
        try:
            await client.connect()
            await client.channel_bind(0x4000, ("127.0.0.1", media[0]))
            # ChannelBind only asks coturn for a permission: no packet is sent to these addresses.
            for n, ip in enumerate(["127.0.0.2", "10.0.0.1", "8.8.8.8"], start=1):
                with pytest.raises(TransactionFailed, match="403"):
                    await client.channel_bind(0x4000 + n, (ip, 9))
            await client.delete()
        finally:
            udp.close()
        assert (
            f"user <{server['username']}>: incoming packet ALLOCATE processed, success" in coturn.log_text()
        )
    assert int(str(server["username"]).split(":")[0]) > time.time()
