"""API fuzzing with schemathesis against a real ``relayroom serve`` process on 127.0.0.1.

Three suites, each on a fresh server (its own data directory, one media worker):

- ``console-admin``: every operation of ``/openapi.json`` as the deployment admin;
- ``console-other-account``: every operation as the owner of another account, with path parameters
  drawn from the first account's real ids most of the time;
- ``cloud-api``: the TRTC actions on ``POST /`` (hand-written schema, tests/fuzz/cloud_schema.py),
  TC3-signed with either account's credential.

Checks: no 5xx (no ``InternalError`` on the cloud API, which answers HTTP 200 always), every response
matches its documented status, content type and schema, and nothing of the first account (its app
names, keys, member names, and ids the caller did not send) reaches the other account's owner. Cases
per operation: ``FUZZ_API_EXAMPLES`` (CI keeps it small; ``make fuzz`` runs more).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from relayroom.auth import tc3
from tests.fuzz import cloud_schema
from tests.processes import free_port

CONSOLE_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Generous: password hashing (argon2) on a loaded 2-core machine can take seconds; slower is a failure.
REQUEST_TIMEOUT_S = 60
# Operations anyone may call (no account's data behind them), so a 2xx with another account's id is fine.
PUBLIC = {
    ("GET", "/api/v1/privacy/receipts/{receipt_id}"),
    ("GET", "/api/v1/privacy/public-key"),
    ("GET", "/api/v1/privacy/consent-ages"),
    ("GET", "/api/v1/privacy/processing-records"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("POST", "/api/v1/auth/login"),
}


@dataclass
class Failure:
    suite: str
    operation: str
    problem: str
    request: str

    def __str__(self) -> str:
        return f"[{self.suite}] {self.operation}: {self.problem}\n    {self.request}"


@dataclass
class SuiteResult:
    suite: str
    operations: int = 0
    cases: int = 0
    seconds: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)

    def record(self, status: int | str) -> None:
        self.statuses[str(status)] = self.statuses.get(str(status), 0) + 1

    def fail(self, operation: str, problem: str, request: str) -> None:
        # one failure per (operation, first line of the problem): the same bug found 50 times is one
        head = problem.splitlines()[0][:200] if problem else ""
        if any(f.operation == operation and f.problem.splitlines()[0][:200] == head for f in self.failures):
            return
        self.failures.append(Failure(self.suite, operation, problem[:2000], request[:600]))


# ------------------------------------------------------------------------------ the server


@dataclass
class Server:
    base: str
    username: str
    password: str
    account_id: str
    sdkappid: int
    log_path: Path

    def server_errors(self) -> list[str]:
        """Unhandled exceptions the server logged: message, exception, and our innermost frame."""
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("level") not in ("error", "critical") and "exc" not in entry:
                continue
            exc = str(entry.get("exc", "")).strip().splitlines()
            ours = [f.strip() for f in exc if 'File "' in f and "/relayroom/" in f]
            out.append(
                f"{entry.get('msg', '').strip()} {exc[-1] if exc else ''} at {ours[-1] if ours else '?'}"
            )
        return out


@contextlib.contextmanager
def running_server() -> Iterator[Server]:
    """``relayroom serve`` on a free port in a temporary data directory; its first-start file gives the
    admin password and the demo app."""
    with tempfile.TemporaryDirectory(prefix="relayroom-apifuzz-") as tmp:
        port = free_port()
        env = {
            **os.environ,
            "RELAYROOM_MEDIA__WORKERS": "1",
            "RELAYROOM_MEDIA__PORTS": "[0]",
            "RELAYROOM_MEDIA__LOOPBACK_ONLY": "true",
            "RELAYROOM_LOG_LEVEL": "info",
            # every request comes from 127.0.0.1: the per-address sign-in throttle would lock the
            # harness out after the fuzzer's first wrong passwords (tests/security tests the throttle)
            "RELAYROOM_LOGIN__ADDRESS_FREE_ATTEMPTS": "1000000",
        }
        log_path = Path(tmp) / "server.log"
        first_start = Path(tmp) / "data" / "first-start.txt"  # stdout is no terminal: credentials go here
        exe = Path(sys.executable).with_name("relayroom")
        with log_path.open("w") as log:
            proc = subprocess.Popen(
                [str(exe), "serve", "--data-dir", f"{tmp}/data", "--port", str(port), "--host", "127.0.0.1"],
                stdout=log,
                stderr=log,
                env=env,
            )
            try:
                deadline = time.monotonic() + 90
                while True:
                    text = first_start.read_text() if first_start.exists() else ""
                    m = re.search(r"username: (\S+)\s+password: (\S+)", text)
                    app = re.search(r"SDKAppID: (\d+)", text)
                    if m and app:
                        break
                    if proc.poll() is not None:
                        raise RuntimeError(f"server exited: {log_path.read_text()[-2000:]}")
                    assert time.monotonic() < deadline, "server did not start"
                    time.sleep(0.2)
                first_start.unlink()  # as the notice asks: read it, then delete it
                base = f"http://127.0.0.1:{port}"
                with httpx.Client(base_url=base, trust_env=False, timeout=30) as http:
                    while True:
                        with contextlib.suppress(httpx.HTTPError):
                            if http.get("/healthz").status_code == 200:
                                break
                        assert time.monotonic() < deadline, "server not healthy"
                        time.sleep(0.2)
                    token = http.post("/api/v1/auth/login", json={"username": m[1], "password": m[2]}).json()[
                        "token"
                    ]
                    me = http.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
                yield Server(base, m[1], m[2], me["accounts"][0]["id"], int(app[1]), log_path)
            finally:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


# ------------------------------------------------------------------------------ two accounts


@dataclass
class World:
    """Account A (the first start's, with data to protect) and account B (its owner is the attacker)."""

    admin: dict[str, str]
    bob: dict[str, str]
    bob_login: tuple[str, str]
    a_ids: dict[str, list[str]]  # path parameter name -> A's real ids
    b_ids: dict[str, list[str]]
    a_markers: list[str]  # strings only A's data contains
    a_sensitive_ids: list[str]  # ids of A that B must not learn unless B sent them
    credentials: dict[str, tuple[str, str]]  # "a"/"b" -> (SecretId, SecretKey)
    sdkappids: dict[str, int]


def _ok(r: httpx.Response) -> Any:
    assert r.status_code < 300, (r.request.method, r.request.url, r.status_code, r.text)
    return r.json()


def build_world(server: Server) -> World:
    tag = secrets.token_hex(4)
    with httpx.Client(base_url=server.base, trust_env=False, timeout=30) as http:
        login = _ok(
            http.post("/api/v1/auth/login", json={"username": server.username, "password": server.password})
        )
        admin = {"Authorization": f"Bearer {login['token']}"}
        a_acc = server.account_id
        _ok(http.patch(f"/api/v1/accounts/{a_acc}", headers=admin, json={"name": f"alpha-account-{tag}"}))
        a_app2 = _ok(
            http.post(
                f"/api/v1/accounts/{a_acc}/applications",
                headers=admin,
                json={"name": f"alpha-app-{tag}", "tags": {"alpha": f"alpha-tag-{tag}"}},
            )
        )
        a_key = _ok(http.get(f"/api/v1/applications/{server.sdkappid}/key", headers=admin))["key"]
        member = f"alpha-member-{tag}"
        _ok(
            http.post(
                f"/api/v1/accounts/{a_acc}/members",
                headers=admin,
                json={"username": member, "password": f"pw-{tag}-{tag}", "role": "member"},
            )
        )
        a_cred = _ok(http.post(f"/api/v1/accounts/{a_acc}/credentials", headers=admin))
        a_req = _ok(
            http.post(
                f"/api/v1/accounts/{a_acc}/privacy/requests",
                headers=admin,
                json={
                    "kind": "access",
                    "subject_kind": "end_user",
                    "sdkappid": server.sdkappid,
                    "userid": "alice",
                },
            )
        )
        members = _ok(http.get(f"/api/v1/accounts/{a_acc}/members", headers=admin))
        # B: another customer, its owner created by the admin
        bob_name, bob_pw = f"bob-{tag}", f"bob-password-{tag}"
        _ok(http.post("/api/v1/users", headers=admin, json={"username": bob_name, "password": bob_pw}))
        b = _ok(
            http.post(
                "/api/v1/accounts", headers=admin, json={"name": f"bravo-{tag}", "owner_username": bob_name}
            )
        )
        bob_token = _ok(http.post("/api/v1/auth/login", json={"username": bob_name, "password": bob_pw}))
        bob = {"Authorization": f"Bearer {bob_token['token']}"}
        b_app = _ok(
            http.post(f"/api/v1/accounts/{b['id']}/applications", headers=bob, json={"name": "bravo-app"})
        )
        b_cred = _ok(http.post(f"/api/v1/accounts/{b['id']}/credentials", headers=bob))
        b_req = _ok(
            http.post(
                f"/api/v1/accounts/{b['id']}/privacy/requests",
                headers=bob,
                json={"kind": "access", "subject_kind": "account"},
            )
        )
        bob_id = _ok(http.get("/api/v1/me", headers=bob))["user"]["id"]
    a_ids = {
        "account_id": [a_acc],
        "sdkappid": [str(server.sdkappid), str(a_app2["sdkappid"])],
        "secret_id": [a_cred["secret_id"]],
        "user_id": [m["user_id"] if "user_id" in m else m["id"] for m in members],
        "request_id": [a_req["id"]],
        "room_key": [f"{server.sdkappid}:n:1"],
        "receipt_id": [],
    }
    b_ids = {
        "account_id": [b["id"]],
        "sdkappid": [str(b_app["sdkappid"])],
        "secret_id": [b_cred["secret_id"]],
        "user_id": [bob_id],
        "request_id": [b_req["id"]],
        "room_key": [f"{b_app['sdkappid']}:n:1"],
        "receipt_id": [],
    }
    return World(
        admin=admin,
        bob=bob,
        bob_login=(bob_name, bob_pw),
        a_ids=a_ids,
        b_ids=b_ids,
        a_markers=[
            f"alpha-app-{tag}",
            f"alpha-tag-{tag}",
            f"alpha-account-{tag}",
            member,
            a_key,
            a_cred["secret_key"],
        ],
        a_sensitive_ids=[a_acc, str(a_app2["sdkappid"]), a_cred["secret_id"], a_req["id"]],
        credentials={
            "a": (a_cred["secret_id"], a_cred["secret_key"]),
            "b": (b_cred["secret_id"], b_cred["secret_key"]),
        },
        sdkappids={"a": server.sdkappid, "b": int(b_app["sdkappid"])},
    )


# ------------------------------------------------------------------------------ console API


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=False,
        phases=[Phase.explicit, Phase.generate],  # failures are collected, not raised: no shrinking
        suppress_health_check=list(HealthCheck),
    )


def _describe(case: Any) -> str:
    body = (
        ""
        if case.body is None or not isinstance(case.body, dict | list | str)
        else json.dumps(case.body)[:300]
    )
    return f"{case.method} {case.formatted_path} query={case.query} body={body}"


def fuzz_console(server: Server, world: World, *, as_other_account: bool, examples: int) -> SuiteResult:
    # Nobody enters a room here, so no event callback is ever sent: the callback URLs the fuzzer sets
    # (any host) are stored, never contacted. Traffic stays on 127.0.0.1.
    suite = "console-other-account" if as_other_account else "console-admin"
    result = SuiteResult(suite)
    schema = schemathesis.openapi.from_url(f"{server.base}/openapi.json")
    known = {k: world.a_ids[k] + world.b_ids[k] for k in world.a_ids}
    a_values = {v for vs in world.a_ids.values() for v in vs}
    t0 = time.monotonic()
    tokens = {"current": (world.bob if as_other_account else world.admin)["Authorization"]}
    login = world.bob_login if as_other_account else (server.username, server.password)

    def fresh_token(http: httpx.Client) -> str:
        r = http.post("/api/v1/auth/login", json={"username": login[0], "password": login[1]})
        return f"Bearer {_ok(r)['token']}"

    def fuzz_operation(http: httpx.Client, op: Any, mode: schemathesis.GenerationMode) -> None:
        key = (op.method.upper(), op.path)
        label = f"{key[0]} {key[1]}"

        @_settings(examples)
        @given(case=op.as_strategy(generation_mode=mode), data=st.data())
        def run(case: Any, data: st.DataObject) -> None:
            for name in list(case.path_parameters or {}):
                pool = world.a_ids.get(name, []) if as_other_account else known.get(name, [])
                if name in known and pool and data.draw(st.integers(0, 3)):  # real ids 3 times in 4
                    case.path_parameters[name] = data.draw(st.sampled_from(pool))
            _edges(case, data)
            logout = key == ("POST", "/api/v1/auth/logout")
            # logging out ends the token it is called with: give it a throwaway one
            auth = fresh_token(http) if logout else tokens["current"]
            try:
                response = case.call(
                    base_url=server.base, headers={"Authorization": auth}, timeout=REQUEST_TIMEOUT_S
                )
            except Exception as exc:  # connection reset or timeout: the server fell over
                result.fail(label, f"request failed: {exc!r}", _describe(case))
                return
            result.cases += 1
            result.record(response.status_code)
            try:
                case.validate_response(response, checks=CONSOLE_CHECKS)
            except (FailureGroup, Exception) as exc:
                result.fail(label, str(exc), _describe(case))
            if as_other_account:
                _check_isolation(result, label, key, case, response, world, a_values)
            carried = response.request.headers.get("Authorization") == auth  # negative cases drop it
            if response.status_code == 401 and not logout and carried and auth == tokens["current"]:
                tokens["current"] = fresh_token(http)  # something else ended the session

        with contextlib.suppress(Unsatisfiable):  # nothing to negate (no parameters)
            run()

    with httpx.Client(base_url=server.base, trust_env=False, timeout=60) as http:
        for op in _operations(schema, result):
            result.operations += 1
            for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
                fuzz_operation(http, op, mode)
    result.seconds = round(time.monotonic() - t0, 1)
    return result


# Boundary values schemathesis rarely draws: integers around the 32/64-bit limits and dates at the ends
# of the calendar (the 500s found so far were all of this kind: database and datetime overflows).
EDGE_INTS = st.sampled_from([-1, 2**32, 2**63, 2**64, -(2**63) - 1])
EDGE_DATES = st.sampled_from(["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "1970-01-01T00:00:00"])
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T")


def _edges(case: Any, data: st.DataObject) -> None:
    """Three times in four, one integer or date-time value of the query or of the top level of a JSON body
    becomes a boundary value (one only: another invalid value would hide it behind a 422)."""
    spots = [
        (values, name)
        for values in (case.query, case.body)
        if isinstance(values, dict)
        for name, value in values.items()
        if (isinstance(value, int) and not isinstance(value, bool))
        or (isinstance(value, str) and _DATE.match(value))
    ]
    if not spots or not data.draw(st.integers(0, 3)):
        return
    values, name = data.draw(st.sampled_from(spots))
    values[name] = data.draw(EDGE_DATES if isinstance(values[name], str) else EDGE_INTS)


def _operations(schema: Any, result: SuiteResult) -> list[Any]:
    """The schema's operations, those that end things (DELETE, terminate) last: closing the account
    with the real id first would leave every later operation nothing but 404s."""
    ops = []
    for op_result in schema.get_all_operations():
        if isinstance(op_result, Err):
            result.fail("schema", f"operation cannot be generated: {op_result.err()}", "")
        else:
            ops.append(op_result.ok())
    return sorted(ops, key=lambda op: op.method.upper() == "DELETE" or op.path.endswith("/terminate"))


def _check_isolation(
    result: SuiteResult,
    label: str,
    key: tuple[str, str],
    case: Any,
    response: Any,
    world: World,
    a_values: set[str],
) -> None:
    text = response.text
    sent = (
        _describe(case) + json.dumps(case.path_parameters or {}) + json.dumps(case.query or {}, default=str)
    )
    leaked = [m for m in world.a_markers if m in text]
    leaked += [i for i in world.a_sensitive_ids if i in text and i not in sent]
    if leaked:
        result.fail(label, f"another account's data in the response: {leaked}", _describe(case))
    used_a = any(str(v) in a_values for v in (case.path_parameters or {}).values())
    if used_a and response.status_code < 300 and key not in PUBLIC:
        result.fail(label, f"{response.status_code} on another account's object", _describe(case))


# ------------------------------------------------------------------------------ cloud API


def _window(action: str, span: int) -> dict[str, Any]:
    """StartTime/EndTime ending now: Unix seconds, or dates for the usage actions."""
    now = int(time.time())
    if action == "DescribeTrtcUsage":
        fmt = "%Y-%m-%d"
    elif action == "DescribeTrtcRoomUsage":
        fmt = "%Y-%m-%d %H:%M"
    else:
        return {"StartTime": now - span, "EndTime": now}
    return {
        "StartTime": time.strftime(fmt, time.gmtime(now - span)),
        "EndTime": time.strftime(fmt, time.gmtime(now)),
    }


def fuzz_cloud(server: Server, world: World, *, examples: int) -> SuiteResult:
    """The TRTC actions, TC3-signed: every answer is HTTP 200 + application/json in the API 3.0
    envelope, never InternalError, matching the action's schema; B's credential never gets A's data."""
    result = SuiteResult("cloud-api")
    schema = schemathesis.openapi.from_dict(cloud_schema.schema())
    t0 = time.monotonic()
    host = server.base.removeprefix("http://")
    with httpx.Client(base_url=server.base, trust_env=False, timeout=60) as http:

        def post(action: str, body: Any, who: str) -> httpx.Response:
            payload = json.dumps(body).encode() if not isinstance(body, bytes) else body
            sid, skey = world.credentials[who]
            for _ in range(20):
                ts = int(time.time())
                headers = {
                    "Content-Type": "application/json",
                    "Host": host,
                    "X-TC-Action": action,
                    "X-TC-Version": "2019-07-22",
                    "X-TC-Timestamp": str(ts),
                    "X-TC-Region": "ap-guangzhou",
                    "Authorization": tc3.sign_request(
                        secret_id=sid, secret_key=skey, host=host, payload=payload, timestamp=ts
                    ),
                }
                r = http.post("/", content=payload, headers=headers)
                if '"RequestLimitExceeded"' not in r.text:
                    return r
                time.sleep(0.25)  # TRTC's per-credential QPS: wait for the window, as a client would
            return r

        def fuzz_action(op: Any, mode: schemathesis.GenerationMode) -> None:
            action = op.path.strip("/")
            label = f"POST / {action}"

            @_settings(examples)
            @given(case=op.as_strategy(generation_mode=mode), data=st.data())
            def run(case: Any, data: st.DataObject) -> None:
                who = data.draw(st.sampled_from(["a", "b"]))
                body = case.body
                if isinstance(body, dict):
                    for name in ("SdkAppId", "SdkAppid"):
                        if name in body and data.draw(st.booleans()):
                            body[name] = world.sdkappids[data.draw(st.sampled_from(["a", "b"]))]
                    if "StartTime" in body and data.draw(st.booleans()):  # a window the server accepts
                        body.update(_window(action, data.draw(st.integers(0, 3 * 86400))))
                try:
                    r = post(action, body, who)
                except Exception as exc:
                    result.fail(label, f"request failed: {exc!r}", json.dumps(body, default=str)[:300])
                    return
                result.cases += 1
                request = f"{who}: {json.dumps(body, default=str)[:300]}"
                problem = cloud_schema.check_response(action, r.status_code, r.headers, r.content)
                code = cloud_schema.error_code(r.content)
                result.record(code or "ok")
                if problem:
                    result.fail(label, problem, request)
                if who == "b" and isinstance(body, dict) and code is None:
                    appid = body.get("SdkAppId", body.get("SdkAppid"))
                    if appid == world.sdkappids["a"]:
                        result.fail(label, "another account's SdkAppId was served", request)

            with contextlib.suppress(Unsatisfiable):
                run()

        for op in _operations(schema, result):
            result.operations += 1
            for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
                fuzz_action(op, mode)
    result.seconds = round(time.monotonic() - t0, 1)
    return result


SUITES: dict[str, Callable[[Server, World, int], SuiteResult]] = {
    "console-admin": lambda s, w, n: fuzz_console(s, w, as_other_account=False, examples=n),
    "console-other-account": lambda s, w, n: fuzz_console(s, w, as_other_account=True, examples=n),
    "cloud-api": lambda s, w, n: fuzz_cloud(s, w, examples=n),
}


def run_suite(name: str, examples: int) -> tuple[SuiteResult, list[str]]:
    """One suite on a fresh server; returns its result and the server's logged exceptions."""
    with running_server() as server:
        world = build_world(server)
        result = SUITES[name](server, world, examples)
        return result, server.server_errors()


def main(argv: list[str] | None = None) -> int:
    import argparse

    from tests.fuzz.run import git_commit, machine

    ap = argparse.ArgumentParser(prog="python -m tests.fuzz.api", description=__doc__.split("\n")[0])
    ap.add_argument("suites", nargs="*", help=f"default: all of {', '.join(SUITES)}")
    ap.add_argument("--examples", type=int, default=int(os.environ.get("FUZZ_API_EXAMPLES", 100)))
    ap.add_argument("--ledger", type=Path, help="append one JSON line per suite to this file")
    args = ap.parse_args(argv)
    failed = False
    for name in args.suites or list(SUITES):
        result, logged = run_suite(name, args.examples)
        failed |= bool(result.failures or logged)
        print(
            f"{name:22} {result.operations:3} operations {result.cases:6} cases in {result.seconds:6.1f} s, "
            f"{len(result.failures)} failures, {len(logged)} logged server errors; statuses {result.statuses}"
        )
        for f in result.failures:
            print(f"  {f}")
        for line in logged[:20]:
            print(f"  server: {line[:400]}")
        if args.ledger:
            entry = {
                "kind": "api",
                "commit": git_commit(),
                "machine": machine(),
                "suite": name,
                "examples_per_operation_and_mode": args.examples,
                "operations": result.operations,
                "cases": result.cases,
                "seconds": result.seconds,
                "statuses": result.statuses,
                "failures": [str(f) for f in result.failures],
                "logged_server_errors": len(logged),
            }
            with args.ledger.open("a") as f:
                f.write(json.dumps(entry, sort_keys=True) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
