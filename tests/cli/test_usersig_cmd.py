"""`relayroom usersig …` and `relayroom privatemapkey …`, driven through a small root app."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from relayroom.auth.usersig import decode_usersig
from relayroom.cli.usersig_cmd import KEY_ENV, privatemapkey_app, usersig_app

SDKAPPID = "1400000000"
KEY = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
T0 = 1700000000
TV1_SIG = "SNF4FmVCPucoXsBOpbVF3fFCf57JPm0ezZ1jeVILlVc="
TV4_TLS_USERBUF = "AAAHeGlhb2p1blNyTgAAACcQZVVCgAAAAP8AAAAA"
TV4_TLS_SIG = "m5WPLBP4ZpMhjE/+GSzmHQEKbLMxsvWih1uhJTQ0sPw="

root = typer.Typer()
root.add_typer(usersig_app, name="usersig")
root.add_typer(privatemapkey_app, name="privatemapkey")


def run(*args: str, key_env: bool = True, stdin: str | None = None) -> Result:
    env = {KEY_ENV: KEY} if key_env else {KEY_ENV: ""}
    return CliRunner().invoke(root, list(args), env=env, input=stdin)


def gen_tv1() -> str:
    result = run(
        "usersig",
        "gen",
        "--sdkappid",
        SDKAPPID,
        "--userid",
        "xiaojun",
        "--expire",
        "86400",
        "--time",
        str(T0),
    )
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def verify_usersig(token: str, *extra: str, stdin: str | None = None) -> Result:
    args = ("usersig", "verify", "--sdkappid", SDKAPPID, "--userid", "xiaojun", "--usersig", token, *extra)
    return run(*args, stdin=stdin)


def report(result: Result) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def test_usersig_gen_prints_tv1_with_the_key_from_the_environment() -> None:
    decoded = decode_usersig(gen_tv1())
    assert base64.b64encode(decoded.sig).decode() == TV1_SIG
    assert (decoded.identifier, decoded.expire, decoded.time) == ("xiaojun", 86400, T0)


def test_usersig_gen_key_option_works_too_and_defaults_to_a_week() -> None:
    result = run("usersig", "gen", "--sdkappid", SDKAPPID, "--userid", "u1", "--key", KEY, key_env=False)
    assert result.exit_code == 0
    assert decode_usersig(result.stdout.strip()).expire == 604800


def test_usersig_gen_without_a_key_fails() -> None:
    result = run("usersig", "gen", "--sdkappid", SDKAPPID, "--userid", "u1", key_env=False)
    assert result.exit_code != 0
    assert "RELAYROOM_SDK_SECRET_KEY" in run("usersig", "gen", "--help").stdout


def test_usersig_verify_prints_fields_and_exits_0_when_valid() -> None:
    result = verify_usersig(gen_tv1(), "--now", str(T0 + 86400))
    assert result.exit_code == 0
    out = report(result)
    assert out["valid"] is True and out["reason"] == "ok" and out["expires_at"] == T0 + 86400
    assert out["identifier"] == "xiaojun" and out["sdkappid"] == int(SDKAPPID)
    assert out["sig"] == TV1_SIG and out["userbuf"] is None
    assert result.stderr == ""
    assert KEY not in result.output


def test_usersig_verify_reads_the_token_from_stdin() -> None:
    result = verify_usersig("-", "--now", str(T0), stdin=gen_tv1() + "\n")
    assert result.exit_code == 0 and report(result)["valid"] is True


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        (("--now", str(T0 + 86401)), "expired"),
        (("--now", str(T0), "--key", "0" * 64), "sig_mismatch"),
    ],
)
def test_usersig_verify_exits_1_with_the_reason_on_stderr(extra: tuple[str, ...], reason: str) -> None:
    result = verify_usersig(gen_tv1(), *extra)
    assert result.exit_code == 1
    assert report(result)["valid"] is False and report(result)["reason"] == reason
    assert result.stderr.startswith(f"error: {reason}: ")


def test_usersig_verify_of_garbage_is_malformed() -> None:
    result = verify_usersig("not-a-token", "--now", str(T0))
    assert result.exit_code == 1
    assert report(result) == {
        "valid": False,
        "reason": "malformed",
        "message": report(result)["message"],
        "expires_at": None,
    }
    assert "malformed" in result.stderr


def pmk_gen(*room: str, privilege: str = "255") -> str:
    result = run(
        "privatemapkey", "gen", "--sdkappid", SDKAPPID, "--userid", "xiaojun", "--expire", "86400",
        "--time", str(T0), "--privilege", privilege, *room,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def pmk_verify(token: str, *extra: str) -> Result:
    return run(
        "privatemapkey",
        "verify",
        "--sdkappid",
        SDKAPPID,
        "--userid",
        "xiaojun",
        "--privatemapkey",
        token,
        *extra,
    )


def test_privatemapkey_gen_prints_tv4() -> None:
    decoded = decode_usersig(pmk_gen("--roomid", "10000"))
    assert base64.b64encode(decoded.userbuf or b"").decode() == TV4_TLS_USERBUF
    assert base64.b64encode(decoded.sig).decode() == TV4_TLS_SIG


def test_privatemapkey_verify_shows_the_userbuf_and_privilege_names() -> None:
    result = pmk_verify(
        pmk_gen("--strroomid", "meeting-42", privilege="enter,recv_audio"),
        "--strroomid",
        "meeting-42",
        "--now",
        str(T0),
    )
    assert result.exit_code == 0, result.output
    out = report(result)
    assert out["valid"] is True and out["granted"] == ["enter_room", "recv_audio"]
    assert out["userbuf_fields"] == {
        "version": 1,
        "userid": "xiaojun",
        "sdkappid": int(SDKAPPID),
        "room_id": 0,
        "str_room_id": "meeting-42",
        "expire_at": T0 + 86400,
        "privilege": 10,
        "privilege_names": ["enter_room", "recv_audio"],
        "account_type": 0,
    }


def test_privatemapkey_verify_for_another_room_exits_1() -> None:
    result = pmk_verify(pmk_gen("--roomid", "10000"), "--roomid", "10001", "--now", str(T0))
    assert result.exit_code == 1
    out = report(result)
    assert out["reason"] == "room_mismatch" and out["granted"] == []
    assert out["userbuf_fields"]["room_id"] == 10000
    assert result.stderr.startswith("error: room_mismatch: ")


@pytest.mark.parametrize(
    "args",
    [
        (),  # no room
        ("--roomid", "1", "--strroomid", "r"),  # two rooms
        ("--roomid", "1", "--privilege", "enter,fly"),  # unknown privilege
        ("--roomid", "4294967296"),  # out of u32
    ],
)
def test_privatemapkey_gen_rejects_bad_options_with_exit_2(args: tuple[str, ...]) -> None:
    result = run("privatemapkey", "gen", "--sdkappid", SDKAPPID, "--userid", "xiaojun", *args)
    assert result.exit_code == 2


def test_privatemapkey_verify_needs_a_room() -> None:
    assert pmk_verify(pmk_gen("--roomid", "10000")).exit_code == 2
