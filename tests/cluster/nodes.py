"""Real cluster nodes for the failure tests: `relayroom serve` processes on one PostgreSQL database and
one Redis (a key prefix of the test's own), sharing the master and signing keys, each with its own data
dir, port, node id and public URL."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.soak.run import Server


class Cluster:
    def __init__(
        self, root: Path, database_url: str, redis_url: str, prefix: str, extra: dict[str, str] | None = None
    ) -> None:
        self.root = root
        signing = root / "signing.pem"
        signing.write_bytes(
            Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        self.env = {
            "RELAYROOM_DATABASE_URL": database_url,
            "RELAYROOM_REDIS_URL": redis_url,
            "RELAYROOM_CLUSTER__KEY_PREFIX": prefix,
            "RELAYROOM_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
            "RELAYROOM_SIGNING_KEY_FILE": str(signing),
            **(extra or {}),
        }
        self.nodes: dict[str, Server] = {}

    def add(self, name: str) -> Server:
        """A node's process settings (port, URLs) without starting it."""
        if name not in self.nodes:
            self.nodes[name] = Server(self.root / name, workers=1, log=self.root / f"{name}.log")
        return self.nodes[name]

    def start(self, name: str, env: dict[str, str] | None = None) -> Server:
        node = self.add(name)
        node.start(
            {
                **self.env,
                "RELAYROOM_NODE_ID": f"node-{name}",
                "RELAYROOM_PUBLIC_URL": node.base,
                **(env or {}),
            }
        )
        return node

    async def ready(self, name: str) -> Server:
        """Wait for a node; the deployment's first-start credentials are the first node's."""
        node = self.nodes[name]
        first = next(iter(self.nodes.values()))
        if node is not first and not node.sdkappid:
            node.sdkappid, node.secret_key = first.sdkappid, first.secret_key
            node.username, node.password = first.username, first.password
        await node.wait_ready()
        return node

    async def start_nodes(self, *names: str) -> list[Server]:
        """Start the nodes one after the other (the first one bootstraps the database)."""
        started = []
        for name in names:
            self.start(name)
            started.append(await self.ready(name))
        return started

    def stop_all(self) -> None:
        for node in self.nodes.values():
            node.stop()

    def logs(self) -> str:
        return "\n".join(
            f"--- {name}\n{node.log.read_text(errors='replace')[-3000:]}"
            for name, node in self.nodes.items()
            if node.log.exists()
        )
