"""RelayRoom as a user installs it: a wheel built from this tree, installed into a fresh virtualenv, and
`relayroom serve` started from there (no editable install, no source tree on the path).

Speed: installing the ~40 pinned dependencies into every fresh virtualenv takes minutes on a busy
machine. They go once into a cached virtualenv built from the dependency list of pyproject.toml alone
(keyed by its hash: nothing else, no test tools, no RelayRoom); the fresh virtualenv sees them through a
``.pth`` line and gets the wheel itself installed with ``--no-deps``. ``pip check`` then proves the
wheel's own metadata is satisfied by exactly those packages, so a dependency missing from pyproject.toml
fails here as it would for a user.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

from tests.processes import free_port, start_server, stop, wait_ready

pytestmark = [pytest.mark.slow, pytest.mark.install, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "relayroom"
BUILD_REQUIRES = ["setuptools>=68", "wheel"]


def _run(*args: str | Path, cwd: Path | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout


def _pip(python: Path, *args: str | Path) -> str:
    """This interpreter's pip, acting on another virtualenv (pip's --python)."""
    return _run(sys.executable, "-m", "pip", "--python", python, *args)


def _site_packages(venv: Path) -> Path:
    rel = Path(sysconfig.get_path("purelib")).relative_to(sysconfig.get_path("data"))
    return venv / rel


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # another test run on this machine may be building it too
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def dependency_venv() -> Path:
    """A virtualenv holding pyproject's runtime dependencies and the build backend, nothing else."""
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = sorted(meta["project"]["dependencies"]) + BUILD_REQUIRES
    key = hashlib.sha256("\n".join([sys.version, *wanted]).encode()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "relayroom-tests"
    venv = cache / f"wheel-deps-{key}"
    with _locked(cache / f"wheel-deps-{key}.lock"):
        if not (venv / "complete").exists():
            shutil.rmtree(venv, ignore_errors=True)
            _run(sys.executable, "-m", "venv", "--without-pip", venv)
            _pip(venv / "bin" / "python", "install", "-q", *wanted)
            (venv / "complete").touch()
    return venv


def build_wheel(deps: Path, out: Path) -> Path:
    """setuptools' PEP 517 hook on a copy of the tree (a build/ left in the tree could add stale files)."""
    tree = out / "tree"
    tree.mkdir(parents=True)
    for name in ("pyproject.toml", "setup.py", "README.md"):  # setup.py: the C extension (decision 0032)
        shutil.copy2(ROOT / name, tree / name)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(ROOT / "src", tree / "src", ignore=skip)
    hook = "import sys, setuptools.build_meta as b; print(b.build_wheel(sys.argv[1]))"
    name = _run(deps / "bin" / "python", "-c", hook, out, cwd=tree).strip().splitlines()[-1]
    return out / name


def runtime_files() -> set[str]:
    """Every file of the package the server may read: modules and data alike."""
    return {
        p.relative_to(PACKAGE.parent).as_posix()
        for p in PACKAGE.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }


_HTML_LINK = re.compile(r"""(?:src|href)=["']([^"'?#:]+)["']""")
_JS_LINK = re.compile(r"""["']((?:\.{1,2}/|/)[^"'\s?#]+?\.(?:js|css|svg))["']""")


def crawl(http: httpx.Client, *pages: str) -> set[str]:
    """Every same-origin script, module, stylesheet and icon the pages reach (HTML src/href, JS imports,
    new URL(...)); each must answer 200. Returns the paths fetched."""
    seen: set[str] = set()
    todo = list(pages)
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        r = http.get(path)
        assert r.status_code == 200, f"{path}: {r.status_code}"
        links = _HTML_LINK if path.endswith((".html", "/")) else _JS_LINK
        todo += [urljoin(path, m) for m in links.findall(r.text)]
    return seen


def test_an_installed_wheel_serves_the_console_consent_demo_and_sdk(tmp_path: Path) -> None:
    deps = dependency_venv()
    wheel = build_wheel(deps, tmp_path / "dist")
    with zipfile.ZipFile(wheel) as zf:
        shipped = set(zf.namelist())
    missing = sorted(runtime_files() - shipped)
    assert not missing, f"files of src/relayroom missing from the wheel (pyproject package-data): {missing}"

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    (_site_packages(venv) / "relayroom-test-deps.pth").write_text(f"{_site_packages(deps)}\n")
    python = venv / "bin" / "python"
    _pip(python, "install", "-q", "--no-deps", wheel)
    _pip(python, "check")  # the wheel's requirements, satisfied by pyproject's dependencies alone
    where = _run(python, "-c", "import relayroom; print(relayroom.__file__)", cwd=tmp_path).strip()
    assert where.startswith(str(venv)), where  # the installed copy, not this tree

    data, port = tmp_path / "data", free_port()
    proc = start_server(
        data, port, command=[str(venv / "bin" / "relayroom")], env={"RELAYROOM_MEDIA__LOOPBACK_ONLY": "true"}
    )
    try:
        wait_ready(port, proc)
        banner = data / "first-start.txt"
        assert stat.S_IMODE(banner.stat().st_mode) == 0o600
        text = banner.read_text()
        password = text.split("password:")[1].split()[0]
        sdkappid = int(text.split("SDKAppID:")[1].split()[0])
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=30) as http:
            # the console and its API
            r = http.post("/api/v1/auth/login", json={"username": "admin", "password": password})
            assert r.status_code == 200, r.text
            auth = {"Authorization": f"Bearer {r.json()['token']}"}
            me = http.get("/api/v1/me", headers=auth)
            assert me.status_code == 200 and me.json()["accounts"], me.text
            # consent and privacy: the packaged table of ages and the per-app consent settings
            ages = http.get("/api/v1/privacy/consent-ages", headers=auth)
            assert ages.status_code == 200, ages.text
            assert {"DE", "FR"} <= {row["code"] for row in ages.json()["jurisdictions"]}
            consent = http.get(f"/api/v1/applications/{sdkappid}/consent", headers=auth)
            assert consent.status_code == 200 and consent.json()["table_version"] == ages.json()["version"]
            assert http.get("/api/v1/privacy/public-key").status_code == 200
            # the console, the demo and the browser SDK with every module they load
            fetched = crawl(http, "/console/", "/demo/")
            pages = {"/console/console.js", "/demo/demo.js", "/sdk/relayroom.js", "/sdk/lib/client.js"}
            assert pages <= fetched, sorted(fetched)
            sdk_files = ["/sdk/relayroom.d.ts"] + [
                f"/sdk/lib/{m.name}" for m in (PACKAGE / "web" / "sdk" / "lib").glob("*.js")
            ]
            crawl(http, *sdk_files)  # also the modules no page imports at start (the transform worker)
    finally:
        out, err = stop(proc)
    assert password not in out + err
