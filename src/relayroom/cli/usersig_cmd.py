"""`relayroom usersig gen|verify` and `relayroom privatemapkey gen|verify`.

Offline tools over the pure auth modules: issue tokens for tests and debug what a client sent.
The command bodies only parse options; the work is in `*_gen` / `*_verify` functions that take
the key(s) directly, so a later `--app SDKAPPID` option only has to load the stored key(s).
"""

from __future__ import annotations

import base64
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from relayroom.auth.privatemapkey import (
    PrivateMapKeyBuf,
    PrivateMapKeyResult,
    Privilege,
    gen_privatemapkey,
    parse_privilege,
    privilege_names,
    verify_privatemapkey,
)
from relayroom.auth.usersig import DecodedUserSig, UserSigResult, gen_usersig, verify_usersig

__all__ = [
    "KEY_ENV",
    "privatemapkey_app",
    "privatemapkey_gen",
    "privatemapkey_report",
    "privatemapkey_verify",
    "usersig_app",
    "usersig_gen",
    "usersig_report",
    "usersig_verify",
]

KEY_ENV = "RELAYROOM_SDK_SECRET_KEY"
DEFAULT_CLI_EXPIRE = 7 * 86400

usersig_app = typer.Typer(no_args_is_help=True, help="Issue and check TRTC UserSigs (TLSSigAPIv2).")
privatemapkey_app = typer.Typer(
    no_args_is_help=True, help="Issue and check TRTC PrivateMapKeys (room and privilege tickets)."
)

SdkAppIdOpt = Annotated[int, typer.Option("--sdkappid", min=0, help="SDKAppID of the application.")]
KeyOpt = Annotated[
    str,
    typer.Option(
        "--key",
        envvar=KEY_ENV,
        show_envvar=True,
        help=f"SDKSecretKey (64 hex chars). Prefer setting {KEY_ENV} so the key stays out of shell history.",
    ),
]
UserIdOpt = Annotated[str, typer.Option("--userid", help="UserID the token is for.")]
ExpireOpt = Annotated[int, typer.Option("--expire", help="Validity in seconds after the issue time.")]
TimeOpt = Annotated[int | None, typer.Option("--time", help="Issue time as Unix seconds (default: now).")]
NowOpt = Annotated[int | None, typer.Option("--now", help="Check at this Unix time (default: now).")]
RoomIdOpt = Annotated[int | None, typer.Option("--roomid", min=0, max=0xFFFFFFFF, help="Numeric room id.")]
StrRoomIdOpt = Annotated[str | None, typer.Option("--strroomid", help="String room id.")]
PrivilegeOpt = Annotated[
    str,
    typer.Option(
        "--privilege",
        help="Number (255, 0xab) or comma-separated names: "
        + ",".join(name.lower() for name in Privilege.__members__)
        + " (create/enter for short).",
    ),
]


# --- work, independent of where the key comes from ---------------------------------------------


def usersig_gen(*, sdkappid: int, key: str, userid: str, expire: int, issued: int | None = None) -> str:
    """Issue a UserSig; ValueError for arguments the verifier would refuse."""
    return gen_usersig(sdkappid, key, userid, expire, now=issued)


def usersig_verify(
    usersig: str, *, sdkappid: int, userid: str, keys: Sequence[str], now: int | None = None
) -> UserSigResult:
    """Verify at `now` (default: the clock) with any of `keys`."""
    return verify_usersig(
        usersig, sdkappid=sdkappid, userid=userid, keys=keys, now=_now() if now is None else now
    )


def privatemapkey_gen(
    *,
    sdkappid: int,
    key: str,
    userid: str,
    expire: int,
    room_id: int | None,
    str_room_id: str | None,
    privilege: int,
    issued: int | None = None,
) -> str:
    """Issue a PrivateMapKey for one room; ValueError for out-of-range fields."""
    return gen_privatemapkey(
        sdkappid,
        key,
        userid,
        expire,
        room_id=room_id,
        str_room_id=str_room_id,
        privilege=privilege,
        now=issued,
    )


def privatemapkey_verify(
    pmk: str,
    *,
    sdkappid: int,
    userid: str,
    keys: Sequence[str],
    room_id: int | None,
    str_room_id: str | None,
    now: int | None = None,
) -> PrivateMapKeyResult:
    """Verify for one room at `now` (default: the clock) with any of `keys`."""
    return verify_privatemapkey(
        pmk,
        sdkappid=sdkappid,
        userid=userid,
        keys=keys,
        now=_now() if now is None else now,
        room_id=room_id,
        str_room_id=str_room_id,
    )


def usersig_report(result: UserSigResult) -> dict[str, Any]:
    """JSON-ready view: verdict first, then the decoded fields (bytes as base64)."""
    report: dict[str, Any] = {
        "valid": result.ok,
        "reason": str(result.reason),
        "message": result.message,
        "expires_at": result.expires_at,
    }
    if result.decoded is not None:
        report.update(_decoded_fields(result.decoded))
    return report


def privatemapkey_report(result: PrivateMapKeyResult) -> dict[str, Any]:
    """`usersig_report` of the token plus the parsed userbuf with privilege names."""
    report = usersig_report(result.usersig)
    report.update(
        valid=result.ok,
        reason=str(result.reason),
        message=result.message,
        expires_at=result.expires_at,
        granted=privilege_names(result.privilege),
    )
    if result.buf is not None:
        report["userbuf_fields"] = _buf_fields(result.buf)
    return report


def _decoded_fields(decoded: DecodedUserSig) -> dict[str, Any]:
    return {
        "ver": decoded.ver,
        "identifier": decoded.identifier,
        "sdkappid": decoded.sdkappid,
        "expire": decoded.expire,
        "time": decoded.time,
        "userbuf": None if decoded.userbuf is None else base64.b64encode(decoded.userbuf).decode("ascii"),
        "sig": base64.b64encode(decoded.sig).decode("ascii"),
        "fingerprint": decoded.fingerprint,
    }


def _buf_fields(buf: PrivateMapKeyBuf) -> dict[str, Any]:
    return {
        "version": buf.version,
        "userid": buf.userid,
        "sdkappid": buf.sdkappid,
        "room_id": buf.room_id,
        "str_room_id": buf.str_room_id,
        "expire_at": buf.expire_at,
        "privilege": int(buf.privilege),
        "privilege_names": privilege_names(buf.privilege),
        "account_type": buf.account_type,
    }


def _now() -> int:
    return int(time.time())


# --- option plumbing ---------------------------------------------------------------------------


def _token_arg(value: str) -> str:
    """`-` reads the token from stdin, keeping it out of argv and shell history too."""
    return (sys.stdin.readline() if value == "-" else value).strip()


def _one_room(room_id: int | None, str_room_id: str | None) -> None:
    if (room_id is None) == (not str_room_id):
        raise typer.BadParameter("give exactly one of --roomid and a non-empty --strroomid")


def _emit(report: dict[str, Any]) -> None:
    """Print the report; on failure also the reason on stderr, and exit 1."""
    typer.echo(json.dumps(report, indent=2, ensure_ascii=False))
    if not report["valid"]:
        typer.echo(f"error: {report['reason']}: {report['message']}", err=True)
        raise typer.Exit(1)


@usersig_app.command("gen")
def usersig_gen_cmd(
    sdkappid: SdkAppIdOpt,
    userid: UserIdOpt,
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            envvar=KEY_ENV,
            show_envvar=True,
            help=f"SDKSecretKey (64 hex chars); prefer {KEY_ENV}. Without it, the application's stored "
            "key is used (operators: reads the server's database, see --data-dir).",
        ),
    ] = None,
    expire: ExpireOpt = DEFAULT_CLI_EXPIRE,
    issued: TimeOpt = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="server data directory")] = None,
    database_url: Annotated[str | None, typer.Option("--database-url", help="server database URL")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="server TOML config")] = None,
) -> None:
    """Print a UserSig, byte-identical to Tencent's TLSSigAPIv2 for the same time."""
    if key is None:
        key = _stored_key(sdkappid, config, data_dir, database_url)
    try:
        typer.echo(usersig_gen(sdkappid=sdkappid, key=key, userid=userid, expire=expire, issued=issued))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _stored_key(sdkappid: int, config: Path | None, data_dir: Path | None, database_url: str | None) -> str:
    """The application's current SDKSecretKey from the server's database (the use is logged)."""
    from relayroom.cli.common import settings_from, with_services
    from relayroom.control.principal import Principal
    from relayroom.control.services import Services

    async def run(services: Services) -> str | None:
        async with services.ctx.db.write() as s:
            return await services.apps.use_key(s, Principal(actor="system:cli"), sdkappid, "usersig gen")

    key = with_services(settings_from(config, data_dir, database_url), run)
    if key is None:
        raise typer.BadParameter(
            f"no enabled application {sdkappid} with a key in that database", param_hint="--sdkappid"
        )
    return key


@usersig_app.command("verify")
def usersig_verify_cmd(
    sdkappid: SdkAppIdOpt,
    key: KeyOpt,
    userid: UserIdOpt,
    usersig: Annotated[str, typer.Option("--usersig", help="The UserSig, or - to read it from stdin.")],
    now: NowOpt = None,
) -> None:
    """Print the decoded UserSig as JSON; exit 1 (reason on stderr) unless it is valid."""
    result = usersig_verify(_token_arg(usersig), sdkappid=sdkappid, userid=userid, keys=[key], now=now)
    _emit(usersig_report(result))


@privatemapkey_app.command("gen")
def privatemapkey_gen_cmd(
    sdkappid: SdkAppIdOpt,
    key: KeyOpt,
    userid: UserIdOpt,
    roomid: RoomIdOpt = None,
    strroomid: StrRoomIdOpt = None,
    privilege: PrivilegeOpt = "255",
    expire: ExpireOpt = DEFAULT_CLI_EXPIRE,
    issued: TimeOpt = None,
) -> None:
    """Print a PrivateMapKey for one room (--roomid or --strroomid) with the given privileges."""
    _one_room(roomid, strroomid)
    try:
        bits = parse_privilege(privilege)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--privilege") from None
    try:
        token = privatemapkey_gen(
            sdkappid=sdkappid,
            key=key,
            userid=userid,
            expire=expire,
            room_id=roomid,
            str_room_id=strroomid,
            privilege=bits,
            issued=issued,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    typer.echo(token)


@privatemapkey_app.command("verify")
def privatemapkey_verify_cmd(
    sdkappid: SdkAppIdOpt,
    key: KeyOpt,
    userid: UserIdOpt,
    privatemapkey: Annotated[
        str, typer.Option("--privatemapkey", help="The PrivateMapKey, or - to read it from stdin.")
    ],
    roomid: RoomIdOpt = None,
    strroomid: StrRoomIdOpt = None,
    now: NowOpt = None,
) -> None:
    """Print the decoded PrivateMapKey and userbuf as JSON; exit 1 unless valid for the room."""
    _one_room(roomid, strroomid)
    result = privatemapkey_verify(
        _token_arg(privatemapkey),
        sdkappid=sdkappid,
        userid=userid,
        keys=[key],
        room_id=roomid,
        str_room_id=strroomid or None,
        now=now,
    )
    _emit(privatemapkey_report(result))
