"""The web router without a browser: static SDK and demo files (package data), dev-only UserSig endpoint."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from relayroom.auth.usersig import verify_usersig
from relayroom.config import Settings
from relayroom.control.app import create_app
from relayroom.control.bootstrap import FirstStart
from relayroom.control.web.endpoints import static_root
from tests.nodejs import require_node

REPO = Path(__file__).resolve().parents[3]


def _client(tmp_path: Path, dev: bool) -> Iterator[tuple[TestClient, FirstStart]]:
    first: list[FirstStart] = []
    settings = Settings(dev=dev, data_dir=tmp_path / "data", media={"enabled": False})
    with TestClient(create_app(settings, on_first_start=first.append)) as client:
        yield client, first[-1]


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[tuple[TestClient, FirstStart]]:
    yield from _client(tmp_path, True)


@pytest.fixture
def prod(tmp_path: Path) -> Iterator[tuple[TestClient, FirstStart]]:
    yield from _client(tmp_path, False)


def test_sdk_and_demo_files_are_served_from_package_data(prod: tuple[TestClient, FirstStart]) -> None:
    client, _ = prod
    js = client.get("/sdk/relayroom.js")
    assert js.status_code == 200
    assert js.headers["content-type"].startswith("text/javascript")
    assert js.headers["access-control-allow-origin"] == "*"  # an ES module another origin may import
    # the repository's sdk/js and web/demo are the package's files
    assert js.content == (REPO / "sdk/js/relayroom.js").read_bytes()
    assert js.content == static_root().joinpath("sdk", "relayroom.js").read_bytes()
    assert b"as default" in js.content
    # every module the entry imports (and the ones they import) is served as it is in the package
    modules = sorted(p.name for p in (REPO / "sdk/js/lib").iterdir() if p.suffix == ".js")
    assert "client.js" in modules and len(modules) >= 10
    for name in modules:
        r = client.get(f"/sdk/lib/{name}")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript"), name
        assert r.headers["access-control-allow-origin"] == "*"
        assert r.content == static_root().joinpath("sdk", "lib", name).read_bytes(), name
        for imported in re.findall(rb"from '\./([a-z0-9-]+\.js)'", r.content):
            assert imported.decode() in modules, (name, imported)
    dts = client.get("/sdk/relayroom.d.ts")
    assert dts.status_code == 200 and dts.content == (REPO / "sdk/js/relayroom.d.ts").read_bytes()
    for name, ctype in (("demo.js", "text/javascript"), ("demo.css", "text/css")):
        r = client.get(f"/demo/{name}")
        assert r.status_code == 200 and r.headers["content-type"].startswith(ctype)
        assert r.content == (REPO / "web/demo" / name).read_bytes()
    page = client.get("/demo/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/demo", follow_redirects=False).headers["location"] == "/demo/"
    for path in (
        "/sdk/other.js",
        "/sdk/..%2Fendpoints.py",
        "/sdk/lib/nope.js",
        "/sdk/lib/Client.js",
        "/sdk/lib/client.py",
        "/sdk/lib/..%2F..%2F..%2Fcontrol%2Fweb%2Fendpoints.py",
        "/sdk/lib/sub/client.js",
        "/demo/secret.txt",
        "/demo/../endpoints.py",
    ):
        assert client.get(path).status_code == 404, path
    # no external resources on the demo page
    for name in ("index.html", "demo.css", "demo.js"):
        text = (REPO / "web/demo" / name).read_text()
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, name


def test_dev_usersig_is_off_outside_dev_mode(prod: tuple[TestClient, FirstStart]) -> None:
    client, _ = prod
    assert client.post("/api/dev/usersig", json={"userId": "alice"}).status_code == 404


def test_dev_usersig_signs_for_the_demo_app(
    dev: tuple[TestClient, FirstStart], caplog: pytest.LogCaptureFixture
) -> None:
    client, first = dev
    with caplog.at_level(logging.DEBUG):
        r = client.post("/api/dev/usersig", json={"userId": "alice_1"})
    assert r.status_code == 200
    body = r.json()
    assert body["sdkAppId"] == first.sdkappid
    result = verify_usersig(
        body["userSig"],
        sdkappid=first.sdkappid,
        userid="alice_1",
        keys=[first.secret_key],
        now=int(time.time()),
    )
    assert result.ok, result.message
    assert first.secret_key not in r.text
    assert body["userSig"] not in caplog.text and first.secret_key not in caplog.text
    for bad in ("", "a b", "x" * 33, "ü"):
        assert client.post("/api/dev/usersig", json={"userId": bad}).status_code == 422, bad


# What the public import really exports, read by importing it in node (no browser globals are touched at
# import time): the module's names, RelayRoom's public members and statics, and the constants' values.
_INTROSPECT = """
const m = await import(process.argv[1]);
const R = m.default;
const hidden = ['constructor', 'length', 'name', 'prototype'];
const pub = (names) => names.filter((n) => !n.startsWith('_') && !hidden.includes(n));
const constants = {};
for (const c of ['ERROR_CODE', 'EXTRA_CODE', 'EVENT', 'TYPE']) constants[c] = Object.entries(m[c]);
const statics = new Set(); // RelayRoom's and its base class's (TRTC's statics)
for (let c = R; c && c !== Function.prototype; c = Object.getPrototypeOf(c)) {
  for (const n of Object.getOwnPropertyNames(c)) statics.add(n);
}
console.log(JSON.stringify({
  exports: Object.keys(m), isDefault: R === m.RelayRoom, frozen: Object.isFrozen(m.EVENT),
  members: pub(Object.getOwnPropertyNames(R.prototype)), statics: pub([...statics]),
  constants, staticConstants: ['EVENT', 'ERROR_CODE', 'EXTRA_CODE', 'TYPE'].every((c) => R[c] === m[c]),
}));
"""


def test_typescript_declarations_match_the_module() -> None:
    """Every export, method, property, event and error code the .d.ts declares is what
    `import ... from '/sdk/relayroom.js'` really gives (and the other way round), so the hand-written
    declarations cannot drift silently from the modules behind the entry."""
    node = require_node()
    entry = (REPO / "sdk/js/relayroom.js").resolve().as_uri()
    out = subprocess.run(
        [node, "--input-type=module", "-e", _INTROSPECT, entry],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    api = json.loads(out.stdout)
    dts = (REPO / "sdk/js/relayroom.d.ts").read_text()

    declared_exports = set(re.findall(r"^export declare (?:const|function|class) (\w+)", dts, re.M))
    assert "export default RelayRoom;" in dts
    assert set(api["exports"]) == declared_exports | {"default"}
    assert api["isDefault"] and api["frozen"] and api["staticConstants"]

    cls = dts[dts.index("export declare class RelayRoom") :]
    cls = cls[: cls.index("\n}\n")]
    methods = re.findall(r"^  (static )?(?:readonly )?(\w+)(?:<[^>]*>)?[(:]", cls, re.M)
    assert set(api["members"]) == {name for static, name in methods if not static and name != "constructor"}
    assert set(api["statics"]) == {name for static, name in methods if static}

    for const, pairs in api["constants"].items():
        block = dts[dts.index(f"export declare const {const}: Readonly<{{") :]
        declared = re.findall(r"^  (\w+): ([^;\n]+);", block[: block.index("}>;")], re.M)
        assert [(k, json.dumps(v).replace('"', "'")) for k, v in pairs] == declared, const


def _admin(client: TestClient, first: FirstStart) -> dict[str, str]:
    r = client.post("/api/v1/auth/login", json={"username": first.username, "password": first.password})
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _other_tenant_app(client: TestClient, admin: dict[str, str]) -> int:
    """Another customer's enabled application, created after the demo one (and named Demo too)."""
    assert client.post("/api/v1/users", headers=admin, json={"username": "acme", "password": "acme-password"})
    r = client.post("/api/v1/accounts", headers=admin, json={"name": "Acme", "owner_username": "acme"})
    acc = r.json()["id"]
    r = client.post("/api/v1/auth/login", json={"username": "acme", "password": "acme-password"})
    acme = {"Authorization": f"Bearer {r.json()['token']}"}
    r = client.post(f"/api/v1/accounts/{acc}/applications", headers=acme, json={"name": "Demo"})
    assert r.status_code == 201, r.text
    return int(r.json()["sdkappid"])


@pytest.mark.parametrize("how", ["disable", "terminate", "close_account"])
def test_dev_usersig_signs_for_no_other_app_when_the_demo_app_is_unavailable(
    dev: tuple[TestClient, FirstStart], how: str
) -> None:
    client, first = dev
    admin = _admin(client, first)
    other = _other_tenant_app(client, admin)
    if how == "close_account":
        assert client.delete(f"/api/v1/accounts/{first.account_id}", headers=admin).status_code < 300
    else:
        assert client.post(f"/api/v1/applications/{first.sdkappid}/{how}", headers=admin).status_code < 300
    r = client.post("/api/dev/usersig", json={"userId": "alice"})
    assert r.status_code == 409, r.text
    assert "demo application created at first start" in r.text
    assert str(other) not in r.text


def test_dev_usersig_follows_the_demo_app_by_id_not_by_name(dev: tuple[TestClient, FirstStart]) -> None:
    client, first = dev
    admin = _admin(client, first)
    _other_tenant_app(client, admin)
    r = client.patch(f"/api/v1/applications/{first.sdkappid}", headers=admin, json={"name": "Renamed"})
    assert r.status_code == 200, r.text
    assert client.post("/api/dev/usersig", json={"userId": "alice"}).json()["sdkAppId"] == first.sdkappid
