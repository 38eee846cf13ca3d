"""`relayroom serve --tls-cert/--tls-key`: the console, the API and the signalling socket over TLS, with a
self-signed certificate made by the test (a real process on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import os
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from relayroom.auth.usersig import gen_usersig
from relayroom.client import RelayRoomClient
from tests.client.calls import video_reaches
from tests.processes import free_port, stop

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

PURPLE = (150, 40, 200)


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (0600), valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relayroom test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.touch(0o600)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def read_banner(proc: subprocess.Popen[str]) -> str:
    """stdout until the 'serving on' line and the note of where the first start's credentials are
    (stdout is a pipe, not a terminal: they are in a 0600 file), then that file's text appended."""
    assert proc.stdout is not None
    text = ""
    for line in proc.stdout:
        text += line
        if "RelayRoom serving on" in text and "first-start.txt" in text:
            path = text.split(" are in ")[1].split(" (readable")[0]
            return text + Path(path).read_text()
    raise AssertionError(f"server exited before serving: {text}")


async def test_serve_over_tls_healthz_console_and_signalling_over_wss(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAYROOM_")}
    env.update(RELAYROOM_MEDIA__WORKERS="1", RELAYROOM_MEDIA__PORTS="[0]")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "relayroom",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "data"),
            "--tls-cert",
            str(cert),
            "--tls-key",
            str(key),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        banner = await asyncio.wait_for(asyncio.to_thread(read_banner, proc), 60)
        assert f"RelayRoom serving on https://127.0.0.1:{port}" in banner
        assert f"https://127.0.0.1:{port}/console/" in banner
        sdkappid = int(banner.split("SDKAppID:")[1].split()[0])
        secret_key = banner.split("SDKSecretKey:")[1].split()[0]
        trust = ssl.create_default_context(cafile=str(cert))
        base = f"https://127.0.0.1:{port}"
        async with httpx.AsyncClient(verify=trust, timeout=5) as http:
            for _ in range(300):
                try:
                    health = await http.get(f"{base}/healthz")
                    if health.status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            assert health.status_code == 200 and health.json()["status"] == "ok"
            assert (await http.get(f"{base}/console/")).status_code == 200
        # the image's HEALTHCHECK follows the TLS settings
        check = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "relayroom.healthcheck"],
            env={
                **env,
                "RELAYROOM_PORT": str(port),
                "RELAYROOM_TLS_CERT": str(cert),
                "RELAYROOM_TLS_KEY": str(key),
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert check.returncode == 0, check.stderr
        # TLS for real: a client that does not trust the certificate is refused, plain HTTP gets nothing
        async with httpx.AsyncClient(timeout=5) as untrusting:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await untrusting.get(f"{base}/healthz")
            with pytest.raises(httpx.TransportError):
                await untrusting.get(f"http://127.0.0.1:{port}/healthz")
        url = f"wss://127.0.0.1:{port}/signal"
        async with RelayRoomClient(url, ssl=trust) as alice, RelayRoomClient(url, ssl=trust) as bob:
            for c in (alice, bob):
                uid = "alice" if c is alice else "bob"
                await c.enter_room(
                    sdk_app_id=sdkappid,
                    user_id=uid,
                    user_sig=gen_usersig(sdkappid, secret_key, uid),
                    room_id=443,
                    auto_receive_video=True,
                )
            await video_reaches(alice, bob, PURPLE)
    finally:
        _, err = stop(proc)
    assert secret_key not in err


def test_serve_refuses_a_missing_certificate_with_a_clear_message(tmp_path: Path) -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "relayroom",
            "serve",
            "--data-dir",
            str(tmp_path / "data"),
            "--tls-cert",
            str(tmp_path / "nope.pem"),
            "--tls-key",
            str(tmp_path / "nope.key"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("RELAYROOM_")}, "COLUMNS": "400"},
    )
    assert r.returncode == 2 and "nope.pem is not a readable file" in r.stderr
