"""A private PostgreSQL instance (initdb in a temporary directory, its own port on 127.0.0.1) that a
chaos test may stop and start: the machine's shared PostgreSQL is never touched."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.soak.run import free_port


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


class PrivatePostgres:
    def __init__(self) -> None:
        initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
        if initdb is None or pg_ctl is None:
            raise FileNotFoundError("PostgreSQL server binaries (initdb, pg_ctl) not found")
        self.pg_ctl = pg_ctl
        # its own directory under /tmp (pytest's tmp_path is not reachable by another user)
        root = Path(tempfile.mkdtemp(prefix="relayroom-pg-"))
        self.root = root
        self.dir = root / "pg"
        self.dir.mkdir()
        self.port = free_port()
        # initdb refuses to run as root: then the cluster belongs to the postgres user
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                raise FileNotFoundError("running as root without runuser to become postgres")
            self.prefix = [runuser, "-u", "postgres", "--"]
            shutil.chown(root, "postgres")
            shutil.chown(self.dir, "postgres")
        self._run(initdb, "-D", str(self.dir), "-A", "trust", "-U", "postgres", "--no-sync")
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> None:
        done = subprocess.run([*self.prefix, *argv], capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise OSError(f"{Path(argv[0]).name} failed: {done.stderr.strip()[-500:]}")

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(self.pg_ctl, "-D", str(self.dir), "-o", opts, "-l", str(self.dir / "log"), "-w", "start")

    def stop(self) -> None:
        self._run(self.pg_ctl, "-D", str(self.dir), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
