"""The Dockerfile without a Docker daemon: its shape (two stages, slim, non-root, healthcheck, entrypoint),
and its build stage's install steps run for real into a fresh virtualenv, whose server then starts."""

from __future__ import annotations

import fnmatch
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from dockerfile_parse import DockerfileParser

from tests.deploy.settings_env import image_settings, unknown_setting
from tests.processes import free_port

REPO = Path(__file__).resolve().parents[2]
PREFIX = "/opt/relayroom"


def stages() -> list[list[dict[str, Any]]]:
    """Instructions per stage (FROM starts one), comments left out."""
    out: list[list[dict[str, Any]]] = []
    for ins in DockerfileParser(path=str(REPO / "Dockerfile")).structure:
        if ins["instruction"] == "FROM":
            out.append([])
        if out and ins["instruction"] != "COMMENT":
            out[-1].append(ins)
    return out


def values(stage: list[dict[str, Any]], instruction: str) -> list[str]:
    return [str(i["value"]) for i in stage if i["instruction"] == instruction]


def test_the_image_is_two_stages_slim_non_root_with_healthcheck_and_serve_as_entrypoint() -> None:
    build, final = stages()
    assert values(build, "FROM")[0].endswith(" AS build")
    assert (
        "slim" in values(final, "FROM")[0] and values(build, "FROM")[0].split()[0] == values(final, "FROM")[0]
    )
    # nothing but the virtualenv comes from the build stage, and no compiler is installed in the final one
    assert values(final, "COPY") == [f"--from=build {PREFIX} {PREFIX}"]
    for run in values(final, "RUN"):
        assert "apt-get install" not in run and "pip" not in run
    [user] = values(final, "USER")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) >= 1000 and f"--uid {uid} " in " ".join(values(final, "RUN"))
    [healthcheck] = values(final, "HEALTHCHECK")
    assert healthcheck.split("CMD", 1)[1].strip() == '["python", "-m", "relayroom.healthcheck"]'
    assert [json.loads(v) for v in values(final, "ENTRYPOINT")] == [["relayroom", "serve"]]
    # the image's settings exist, and the data directory it sets is the volume
    assert all(unknown_setting(name) is None for name in image_settings()), image_settings()
    assert json.loads(values(final, "VOLUME")[0]) == [image_settings()["RELAYROOM_DATA_DIR"]]


def build_context(dest: Path) -> list[str]:
    """Copy what the build stage's COPY lines take (relative to its WORKDIR) into dest; return the RUNs."""
    build = stages()[0]
    ignore = [ln.strip() for ln in (REPO / ".dockerignore").read_text().splitlines()]
    allowed = [ln[1:].rstrip("/") for ln in ignore if ln.startswith("!")]
    assert "*" in ignore, ".dockerignore keeps everything out unless listed"
    for ins in build:
        if ins["instruction"] != "COPY":
            continue
        *sources, target = shlex.split(ins["value"])
        for source in sources:
            assert any(fnmatch.fnmatch(source, a) or source == a for a in allowed), (source, allowed)
            to = dest / target / Path(source).name if target.endswith("/") else dest / target
            if (REPO / source).is_dir():
                shutil.copytree(REPO / source, to, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
            else:
                to.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / source, to)
    return values(build, "RUN")


@pytest.mark.slow
@pytest.mark.install
@pytest.mark.timeout(900)
def test_the_build_stage_installs_a_server_that_starts_and_passes_the_healthcheck(tmp_path: Path) -> None:
    context, prefix = tmp_path / "src", tmp_path / "opt" / "relayroom"
    context.mkdir()
    runs = build_context(context)
    [install] = [r for r in runs if "deploy/install.sh" in r]
    assert install.split() == ["sh", "deploy/install.sh", PREFIX, "."]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RELAYROOM_", "VIRTUAL_ENV", "PIP_"))}
    # The image's build stage also sets PIP_NO_CACHE_DIR; here pip may use its cache (same packages).
    env["PYTHON"] = os.path.realpath(sys.executable)
    r = subprocess.run(
        install.replace(PREFIX, str(prefix)), shell=True, cwd=context, env=env, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    site = next((prefix / "lib").glob("python*/site-packages"))
    assert not list(site.glob("__editable__*")), "a regular install, not a link to the source tree"

    # The installed server, started the way the image starts it (its ENV, bound to loopback here).
    port = free_port()
    server_env = {
        **env,
        **image_settings(),
        "PATH": f"{prefix / 'bin'}:{env.get('PATH', '')}",
        "RELAYROOM_HOST": "127.0.0.1",
        "RELAYROOM_PORT": str(port),
        "RELAYROOM_DATA_DIR": str(tmp_path / "data"),
        "RELAYROOM_MEDIA__HOST": "127.0.0.1",
        "RELAYROOM_MEDIA__WORKERS": "1",
        "RELAYROOM_MEDIA__PORTS": "[0]",
    }
    healthcheck = [str(prefix / "bin" / "python"), "-m", "relayroom.healthcheck"]
    assert subprocess.run(healthcheck, env=server_env, capture_output=True, timeout=60).returncode == 1
    proc = subprocess.Popen(
        [str(prefix / "bin" / "relayroom"), "serve"],
        env=server_env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while subprocess.run(healthcheck, env=server_env, capture_output=True, timeout=60).returncode != 0:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else "server exited"
            assert time.monotonic() < deadline, "the installed server never became healthy"
            time.sleep(0.5)
        base = f"http://127.0.0.1:{port}"
        # package data made it into the wheel: web SDK, console, migrations (the database is up)
        # (the modules in subfolders too: the SDK's lib/, the console's lib/ and pages/, the demo's layout)
        for path in (
            "/sdk/relayroom.js",
            "/sdk/lib/client.js",
            "/console/",
            "/console/lib/router.js",
            "/console/pages/apps.js",
            "/demo/layout.js",
        ):
            assert httpx.get(f"{base}{path}").status_code == 200, path
        assert httpx.get(f"{base}/healthz").json()["status"] == "ok"
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
