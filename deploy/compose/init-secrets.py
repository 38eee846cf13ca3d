"""First step of deploy/compose.yaml: make this deployment's secrets once, then the files that carry them.

Runs as root in the RelayRoom image before the other services start (and again at every `up`; existing
secrets are kept). Writes into SECRETS_DIR, each file readable only by the one service that needs it:

  postgres_password   root 0400    PostgreSQL's POSTGRES_PASSWORD_FILE (read before it drops root)
  turn_secret         root 0400    the shared TURN REST API secret
  relayroom.toml      10001 0400   RelayRoom's RELAYROOM_CONFIG: database_url and turn.secret
  turnserver.conf     65534 0400   coturn's config: the shipped one plus secret, external IP, and a relay
                                   that reaches the media workers (this host) and nothing else

Standard library only: it runs before anything is installed besides the image.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path

RELAYROOM_UID = 10001  # the image's user (Dockerfile)
COTURN_UID = 65534  # nobody, the coturn/coturn image's user
RELAY_PORTS = range(49160, 49260)  # published by the coturn service of compose.yaml


def _write(path: Path, text: str, uid: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    if os.geteuid() == 0:
        os.chown(tmp, uid, uid)
    tmp.replace(path)


def _secret(out: Path, name: str) -> str:
    path = out / name
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_hex(32)
    _write(path, value + "\n", 0)
    return value


def main() -> None:
    out = Path(os.environ.get("SECRETS_DIR", "/run/relayroom-secrets"))
    template = Path(os.environ.get("TURN_TEMPLATE", "/init/turnserver.conf"))
    public_ip = str(ipaddress.ip_address(os.environ["PUBLIC_IP"]))  # refuses anything but an IP address
    db_user = os.environ.get("POSTGRES_USER", "relayroom")
    db_name = os.environ.get("POSTGRES_DB", "relayroom")
    out.mkdir(parents=True, exist_ok=True)

    db_password = _secret(out, "postgres_password")
    turn_secret = _secret(out, "turn_secret")
    _write(
        out / "relayroom.toml",
        "# written by deploy/compose/init-secrets.py; the other settings come from compose.yaml\n"
        f'database_url = "postgresql+asyncpg://{db_user}:{db_password}@postgres:5432/{db_name}"\n'
        "\n[turn]\n"
        f'secret = "{turn_secret}"\n',
        RELAYROOM_UID,
    )
    _write(
        out / "turnserver.conf",
        template.read_text()
        + "\n# written by deploy/compose/init-secrets.py\n"
        + f"static-auth-secret={turn_secret}\n"
        # relayed addresses are announced with the host's address, not the container's
        + f"external-ip={public_ip}\n"
        # the relay ports compose.yaml publishes (Docker publishes each port of a range on its own)
        + f"min-port={RELAY_PORTS.start}\nmax-port={RELAY_PORTS.stop - 1}\n"
        # This coturn serves RelayRoom only: it relays to the media workers, published on the host's
        # address, and to nothing else (no other host, public or private).
        + "denied-peer-ip=0.0.0.0-255.255.255.255\n"
        + "denied-peer-ip=::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff\n"
        + f"allowed-peer-ip={public_ip}\n",
        COTURN_UID,
    )
    print(f"secrets ready in {out} (public address {public_ip})")


if __name__ == "__main__":
    main()
