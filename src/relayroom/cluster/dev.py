"""A cluster on this machine for development: N ``relayroom serve`` nodes against the local PostgreSQL and
Redis, each with its own port, data dir and media ports, all with the cluster's shared keys
(``make cluster``; docs/cluster.md). The tests start their nodes through the same :func:`node_env`.

    python -m relayroom.cluster.dev [--nodes 3] [--base-port 8081] [--data-dir data/cluster]

Prints each node's URL once every node answers ``/healthz``; Ctrl-C (or SIGTERM) stops them all with
the drain-first shutdown.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from relayroom.datadir import secure_dir, write_private

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class SharedKeys:
    """What every node of one cluster must share (docs/cluster.md): the master key and the signing key."""

    master_key_b64: str
    signing_key_file: Path

    @classmethod
    def in_dir(cls, directory: Path) -> SharedKeys:
        """The keys kept in ``directory`` (created 0600 on first use)."""
        secure_dir(directory)
        master = directory / "master.key"
        if not master.exists():
            write_private(master, base64.b64encode(secrets.token_bytes(32)) + b"\n")
        signing = directory / "signing.pem"
        if not signing.exists():
            write_private(
                signing,
                Ed25519PrivateKey.generate().private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ),
            )
        return cls(master.read_text().strip(), signing)


@dataclass(frozen=True)
class NodeSpec:
    name: str  # the node id
    port: int  # HTTP and WebSocket
    data_dir: Path
    media_port: int  # the one media worker's UDP (and ICE-TCP) port; 0: the OS picks

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def same_code_env() -> dict[str, str]:
    """PYTHONPATH naming this ``relayroom`` package, so child nodes run this very code (a checkout, not
    whichever installation comes first on their path)."""
    import relayroom

    src = str(Path(relayroom.__file__).resolve().parents[1])
    rest = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": f"{src}{os.pathsep}{rest}" if rest else src}


def node_env(
    node: NodeSpec,
    *,
    database_url: str,
    redis_url: str,
    keys: SharedKeys,
    key_prefix: str = "relayroom:",
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The RELAYROOM_* settings of one node of a loopback cluster."""
    env = {
        "RELAYROOM_NODE_ID": node.name,
        "RELAYROOM_PUBLIC_URL": node.url,
        "RELAYROOM_DATABASE_URL": database_url,
        "RELAYROOM_REDIS_URL": redis_url,
        "RELAYROOM_CLUSTER__KEY_PREFIX": key_prefix,
        "RELAYROOM_MASTER_KEY": keys.master_key_b64,
        "RELAYROOM_SIGNING_KEY_FILE": str(keys.signing_key_file),
        "RELAYROOM_MEDIA__WORKERS": "1",
        "RELAYROOM_MEDIA__PORTS": f"[{node.media_port}]",
    }
    env.update(extra or {})
    return env


async def ensure_database(admin_dsn: str, name: str) -> str:
    """Create database ``name`` if absent; returns its SQLAlchemy URL (asyncpg)."""
    import asyncpg

    conn = await asyncpg.connect(admin_dsn, timeout=5)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"{admin_dsn.rsplit('/', 1)[0].replace('postgresql://', 'postgresql+asyncpg://')}/{name}"


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the node at {url} exited with {proc.returncode}; see its output above")
        try:
            if httpx.get(f"{url}/healthz", timeout=1, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the node at {url} did not answer /healthz within {timeout_s:g} s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m relayroom.cluster.dev", description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--base-port", type=int, default=8081, help="node i listens on base-port + i")
    ap.add_argument("--media-base-port", type=int, default=40100, help="node i's media worker: this + i")
    ap.add_argument("--data-dir", type=Path, default=Path("data/cluster"))
    ap.add_argument("--pg-admin", default=os.environ.get("RELAYROOM_DEV_PG", PG_ADMIN))
    ap.add_argument("--database", default="relayroom_dev_cluster")
    ap.add_argument("--redis-url", default=os.environ.get("RELAYROOM_DEV_REDIS", REDIS_URL))
    ap.add_argument("--key-prefix", default="relayroom-dev:")
    args = ap.parse_args(argv)
    if not 1 <= args.nodes <= 16:
        ap.error("--nodes must be 1..16")

    database_url = asyncio.run(ensure_database(args.pg_admin, args.database))
    keys = SharedKeys.in_dir(args.data_dir / "shared")
    nodes = [
        NodeSpec(
            f"node-{i + 1}", args.base_port + i, args.data_dir / f"node-{i + 1}", args.media_base_port + i
        )
        for i in range(args.nodes)
    ]
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("RELAYROOM_")} | same_code_env()
    procs: list[subprocess.Popen[bytes]] = []

    def stop(*_: object) -> None:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()

    def on_sigterm(*_: object) -> None:
        raise KeyboardInterrupt  # the finally below stops the nodes

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        for node in nodes:  # one after the other: the first migrates and bootstraps the database
            env = base_env | node_env(
                node,
                database_url=database_url,
                redis_url=args.redis_url,
                keys=keys,
                key_prefix=args.key_prefix,
            )
            cmd = [sys.executable, "-m", "relayroom", "serve", "--dev", "--port", str(node.port)]
            procs.append(subprocess.Popen([*cmd, "--data-dir", str(node.data_dir)], env=env))
            wait_healthy(node.url, procs[-1])
        print(f"\nRelayRoom cluster: {len(nodes)} nodes on PostgreSQL {args.database} and {args.redis_url}")
        for node in nodes:
            print(
                f"  {node.name}: {node.url}  (demo: {node.url}/demo/, signalling ws://127.0.0.1:{node.port}/signal)"
            )
        print("Ctrl-C stops every node.", flush=True)
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        gone = [n.name for n, p in zip(nodes, procs, strict=True) if p.poll() is not None]
        print(f"node(s) {', '.join(gone)} exited; stopping the others", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop()


if __name__ == "__main__":
    raise SystemExit(main())
