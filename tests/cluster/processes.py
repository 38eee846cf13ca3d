"""Several real `relayroom serve` processes on 127.0.0.1 forming one cluster: one PostgreSQL database,
the shared Redis under a key prefix of their own, the same master and signing keys, distinct ports,
node ids and data dirs (each node's settings from relayroom.cluster.dev's ``node_env``, as ``make
cluster``). For the cluster tests and ``python -m bench --scenarios cluster``.

Each node logs to files in its directory (a pipe nobody reads would fill and stall the server). The
first node sets the database up; its ``first-start.txt`` gives the demo app's credentials and the
console admin's password, as an operator would read them.
"""

from __future__ import annotations

import secrets
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from relayroom.cluster.dev import NodeSpec, SharedKeys, node_env, same_code_env
from tests.processes import free_port, start_server, wait_ready


@dataclass
class Node:
    name: str  # its node id
    port: int
    root: Path
    proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def signal_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/signal"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n: int = 4000) -> str:
        err = self.root / "stderr.log"
        return err.read_text(errors="replace")[-n:] if err.exists() else ""


@dataclass
class Credentials:
    sdkappid: int
    secret_key: str
    password: str
    username: str = "admin"


@dataclass
class Cluster:
    nodes: list[Node]
    first: Credentials
    database_url: str
    redis_url: str
    keys: SharedKeys
    prefix: str
    env: dict[str, str] = field(default_factory=dict)  # settings beyond relayroom.cluster.dev's node_env

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def of_url(self, url: str) -> Node:
        """The node whose port a (signalling or HTTP) URL names."""
        return next(n for n in self.nodes if f":{n.port}/" in url + "/")

    def start(self, node: Node) -> None:
        spec = NodeSpec(node.name, node.port, node.root / "data", 0)
        env = node_env(
            spec,
            database_url=self.database_url,
            redis_url=self.redis_url,
            keys=self.keys,
            key_prefix=self.prefix,
            extra={**same_code_env(), **self.env},
        )
        with (node.root / "stdout.log").open("a") as out, (node.root / "stderr.log").open("a") as err:
            node.proc = start_server(
                spec.data_dir, node.port, args=("--host", "127.0.0.1"), env=env, stdout=out, stderr=err
            )

    def wait(self, node: Node, timeout: float = 120) -> None:
        assert node.proc is not None
        try:
            wait_ready(node.port, node.proc, timeout)
        except AssertionError as exc:
            raise AssertionError(f"{node.name}: {exc}\n{node.log_tail()}") from None

    def kill(self, node: Node) -> None:
        """SIGKILL: no drain, no lease released, no goodbye (a machine that died)."""
        if node.proc is not None and node.proc.poll() is None:
            node.proc.send_signal(signal.SIGKILL)
            node.proc.wait(10)

    def stop(self, node: Node, timeout: float = 30) -> None:
        if node.proc is not None and node.proc.poll() is None:
            node.proc.terminate()
            try:
                node.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                node.proc.kill()
                node.proc.wait(10)

    def login(self, node: Node) -> dict[str, str]:
        r = httpx.post(
            f"{node.url}/api/v1/auth/login",
            json={"username": self.first.username, "password": self.first.password},
            trust_env=False,
            timeout=30,
        )
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}


def timing_env(lease_ttl_s: float) -> dict[str, str]:
    """Test timings: short leases and heartbeats (failover in seconds), loopback media."""
    return {
        "RELAYROOM_CLUSTER__LEASE_TTL_S": str(lease_ttl_s),
        "RELAYROOM_CLUSTER__NODE_TTL_S": str(lease_ttl_s),
        "RELAYROOM_MEDIA__LOOPBACK_ONLY": "true",
        "RELAYROOM_ROOMS__IDLE_TIMEOUT_S": "20",
    }


def _credentials(data: Path, timeout: float = 30) -> Credentials:
    deadline = time.monotonic() + timeout
    path = data / "first-start.txt"
    while not path.exists():
        assert time.monotonic() < deadline, "the first node wrote no first-start.txt"
        time.sleep(0.1)
    text = path.read_text()
    return Credentials(
        sdkappid=int(text.split("SDKAppID:")[1].split()[0]),
        secret_key=text.split("SDKSecretKey:")[1].split()[0],
        password=text.split("password:")[1].split()[0],
        username=text.split("username:")[1].split()[0],
    )


@contextmanager
def cluster(
    root: Path,
    database_url: str,
    redis_url: str,
    *,
    nodes: int = 2,
    prefix: str | None = None,
    lease_ttl_s: float = 3.0,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[Cluster]:
    """``nodes`` nodes named node-a, node-b, ...; the first one started (and the database set up)
    before the others start together. Every node is stopped (SIGTERM) on the way out."""
    prefix = prefix or f"rrtest:{secrets.token_hex(6)}:"
    env = timing_env(lease_ttl_s) | dict(extra_env or {})
    members = []
    for i in range(nodes):
        name = f"node-{chr(ord('a') + i)}"
        (root / name).mkdir(parents=True, exist_ok=True)
        members.append(Node(name, free_port(), root / name))
    keys = SharedKeys.in_dir(root / "keys")
    c = Cluster(members, Credentials(0, "", ""), database_url, redis_url, keys, prefix, env)
    try:
        c.start(members[0])
        c.wait(members[0])
        c.first = _credentials(members[0].root / "data")
        for n in members[1:]:
            c.start(n)
        for n in members[1:]:
            c.wait(n)
        yield c
    finally:
        for n in members:
            c.stop(n)
        _forget(redis_url, prefix)


def _forget(redis_url: str, prefix: str) -> None:
    """Delete this cluster's keys from the shared Redis (never a flush: other suites use it)."""
    import redis

    r = redis.Redis.from_url(redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
    try:
        keys = list(r.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            r.delete(*keys)
    except redis.RedisError:
        pass  # the keys expire (leases, heartbeats) or are namespaced away from anyone else's
    finally:
        r.close()
