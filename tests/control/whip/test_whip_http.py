"""WHIP/WHEP over HTTP against the whole app (create_app, database, media workers): the protocol's
answers, bad input, and the sessions as room members (DescribeRoomInfo/UserInfo, callbacks).

Offers here are hand-written SDP (no media flows): these tests are about what the endpoints answer and
what each answer leaves behind. Media through these endpoints: test_whip_gstreamer.py, test_whep_*.py.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from relayroom.auth.privatemapkey import Privilege, gen_privatemapkey
from relayroom.auth.usersig import gen_usersig
from relayroom.config import Settings
from tests.control.cloudapi.server import Live, call, live_server, trtc_client
from tests.control.webhooks.receiver import receiver

pytestmark = [pytest.mark.timeout(120)]

ROOM = 6160
SDP = {"Content-Type": "application/sdp"}


def offer(*, video: str = "VP8/90000", audio: str = "opus/48000/2", ufrag: str | None = None) -> str:
    """A WHIP client's offer: sendonly audio + video, one SSRC each, fresh ICE credentials."""
    ufrag = ufrag or secrets.token_hex(4)
    fp = ":".join(f"{b:02X}" for b in secrets.token_bytes(32))
    transport = [
        "c=IN IP4 0.0.0.0",
        f"a=ice-ufrag:{ufrag}",
        f"a=ice-pwd:{secrets.token_hex(12)}",
        f"a=fingerprint:sha-256 {fp}",
        "a=setup:actpass",
        "a=rtcp-mux",
        "a=sendonly",
    ]
    ssrc = secrets.randbelow(2**31) + 1
    lines = ["v=0", "o=- 1 1 IN IP4 0.0.0.0", "s=-", "t=0 0", "a=group:BUNDLE 0 1"]
    lines += ["m=audio 9 UDP/TLS/RTP/SAVPF 111", *transport, "a=mid:0", f"a=rtpmap:111 {audio}"]
    lines += [f"a=ssrc:{ssrc} cname:enc"]
    lines += ["m=video 9 UDP/TLS/RTP/SAVPF 96", *transport, "a=mid:1", f"a=rtpmap:96 {video}"]
    lines += ["a=rtcp-fb:96 nack pli", f"a=ssrc:{ssrc + 1} cname:enc"]
    return "\r\n".join(lines) + "\r\n"


def settings(tmp: Path, **extra: Any) -> Settings:
    return Settings(
        data_dir=tmp / "d",
        media={"workers": 1, "ports": [0], "loopback_only": True},
        rooms={"idle_timeout_s": 10.0, **extra.pop("rooms", {})},
        **extra,
    )


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    async with live_server(settings(tmp_path, rooms={"rtc_max_members": 3})) as running:
        yield running


def sig(live: Live, user: str, expire: int = 3600, now: int | None = None) -> str:
    assert live.first is not None
    return str(gen_usersig(live.first.sdkappid, live.first.secret_key, user, expire, now=now))


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def members(live: Live, room: int | str = ROOM) -> list[str]:
    assert live.first is not None
    kind = "n" if isinstance(room, int) else "s"
    info = live.app.state.rooms.room_info(f"{live.first.sdkappid}:{kind}:{room}")
    return sorted(str(m["userId"]) for m in info["members"]) if info else []


async def publish(live: Live, user: str, room: int | str = ROOM) -> httpx.Response:
    """POST an offer to /whip/{room} as ``user``; expects 201."""
    r = await live.http.post(f"/whip/{room}", content=offer(), headers={**SDP, **auth(sig(live, user))})
    assert r.status_code == 201, r.text
    return r


def assert_error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"] == "application/json"
    assert r.headers["access-control-allow-origin"] == "*"
    body: dict[str, Any] = r.json()["error"]
    assert body["code"] == code and body["message"], body
    return body


async def test_publish_answers_201_with_an_answer_location_etag_and_cors(live: Live) -> None:
    r = await publish(live, "enc")
    assert r.headers["content-type"] == "application/sdp"
    assert r.headers["location"].startswith(f"http://{live.host}/whip/sessions/")  # absolute
    assert r.headers["etag"].startswith('"') and r.headers["access-control-allow-origin"] == "*"
    assert "location" in r.headers["access-control-expose-headers"].lower()
    answer = r.text
    assert "a=ice-lite" in answer and "a=recvonly" in answer and "127.0.0.1" in answer
    assert "m=audio 9 " in answer and "m=video 9 " in answer
    assert "link" not in r.headers  # no TURN configured
    assert members(live) == ["enc"]
    room = live.app.state.rooms.room_info(f"{live.first.sdkappid}:n:{ROOM}")  # type: ignore[union-attr]
    (member,) = room["members"]
    tracks = sorted((t["kind"], t["streamType"]) for t in member["tracks"])
    assert tracks == [("audio", "main"), ("video", "main")]

    # str:<strRoomId> is a different room than the number
    await publish(live, "enc2", "str:stage 1")
    assert members(live, "stage 1") == ["enc2"] and members(live) == ["enc"]

    # OPTIONS: CORS preflight for the endpoint and the session
    for path, accept in ((f"/whip/{ROOM}", "accept-post"), (r.headers["location"], "accept-patch")):
        o = await live.http.options(path)
        assert o.status_code == 204 and o.headers["access-control-allow-origin"] == "*"
        assert "authorization" in o.headers["access-control-allow-headers"].lower()
        assert accept in o.headers


async def test_delete_leaves_and_patch_answers_per_rfc(live: Live) -> None:
    r = await publish(live, "enc")
    loc, etag = r.headers["location"], r.headers["etag"]
    token = sig(live, "enc")
    frag = {"Content-Type": "application/trickle-ice-sdpfrag", **auth(token)}
    session = next(iter(live.app.state.whip.sessions.values()))
    candidate = "a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host"
    body = f"a=ice-ufrag:{session.ice_ufrag}\r\na=ice-pwd:whatever\r\na=mid:0\r\n{candidate}\r\n"

    p = await live.http.patch(loc, content=body, headers={**frag, "If-Match": etag})
    assert p.status_code == 204, p.text
    stale = {**frag, "If-Match": '"other"'}
    assert_error(await live.http.patch(loc, content=body, headers=stale), 412, "etag_mismatch")
    restart = body.replace(session.ice_ufrag, "newufrag1")
    assert_error(await live.http.patch(loc, content=restart, headers=frag), 422, "ice_restart_unsupported")
    as_sdp = {**SDP, **auth(token)}
    assert_error(await live.http.patch(loc, content=body, headers=as_sdp), 415, "unsupported_media_type")
    assert members(live) == ["enc"]

    d = await live.http.delete(loc, headers=auth(token))
    assert d.status_code == 200
    assert members(live) == []
    assert_error(await live.http.delete(loc, headers=auth(token)), 404, "not_found")
    assert_error(await live.http.patch(loc, content=body, headers=frag), 404, "not_found")


async def test_bad_input_gets_a_clear_4xx_and_affects_nobody(live: Live) -> None:
    assert live.first is not None
    app = live.first.sdkappid
    alice = await publish(live, "alice")
    url = f"/whip/{ROOM}"
    good = {**SDP, **auth(sig(live, "mallory"))}

    def post(body: str = "", headers: dict[str, str] | None = None, path: str = url) -> Any:
        return lambda: live.http.post(
            path, content=body or offer(), headers=good if headers is None else headers
        )

    def delete(path: str, headers: dict[str, str]) -> Any:
        return lambda: live.http.delete(path, headers=headers)

    expired = sig(live, "mallory", expire=60, now=int(time.time()) - 3600)
    other_key = gen_usersig(app, "0" * 64, "mallory", 3600)
    unknown_app = gen_usersig(app + 1, "0" * 64, "mallory", 3600)
    huge_app = gen_usersig(2**63 + 5, "0" * 64, "mallory", 3600)  # no SDKAppID; must not reach the database
    loc = alice.headers["location"]
    cases: list[tuple[str, Callable[[], Any], int, str]] = [
        (
            "wrong content type",
            post(headers={**good, "Content-Type": "text/plain"}),
            415,
            "unsupported_media_type",
        ),
        ("no token", post(headers=SDP), 401, "bad_token"),
        ("not a UserSig", post(headers={**SDP, **auth("garbage")}), 401, "bad_token"),
        ("garbage SDP", post("v=0\r\nthis is not sdp\r\n"), 400, "invalid_sdp"),
        ("SDP without media", post("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"), 400, "invalid_sdp"),
        (
            "codecs the room cannot carry",
            post(offer(video="H263/90000", audio="PCMU/8000")),
            422,
            "unsupported_codec",
        ),
        ("bad room id", post(path="/whip/12abc"), 400, "invalid_room"),
        ("room id out of range", post(path="/whip/4294967295"), 400, "invalid_room"),
        ("expired UserSig", post(headers={**SDP, **auth(expired)}), 401, "bad_token"),
        ("UserSig signed with another key", post(headers={**SDP, **auth(other_key)}), 401, "bad_token"),
        (
            "an unknown application's UserSig",
            post(headers={**SDP, **auth(unknown_app)}),
            403,
            "unknown_application",
        ),
        ("a UserSig naming no SDKAppID", post(headers={**SDP, **auth(huge_app)}), 401, "bad_token"),
        ("DELETE of someone else's session", delete(loc, auth(sig(live, "mallory"))), 403, "forbidden"),
        ("DELETE without a token", delete(loc, {}), 401, "bad_token"),
        (
            "DELETE of an unknown session",
            delete("/whip/sessions/nope", auth(sig(live, "alice"))),
            404,
            "not_found",
        ),
        (
            "WHEP DELETE of a WHIP session",
            delete(loc.replace("/whip/", "/whep/"), auth(sig(live, "alice"))),
            404,
            "not_found",
        ),
    ]
    for name, request, status, code in cases:
        r = await request()
        body = assert_error(r, status, code)
        if status == 401:
            assert r.headers["www-authenticate"].startswith("Bearer"), name
        if name.startswith("expired"):
            assert body["details"]["trtcCode"] == -100018
        assert members(live) == ["alice"], name  # nobody else entered, alice is still there
    session = next(iter(live.app.state.whip.sessions.values()))
    assert session.user_id == "alice" and not session.participant.closed

    # A full room (3 members here): the 4th is refused, the others stay.
    await publish(live, "bob")
    await publish(live, "carol")
    body = assert_error(await live.http.post(url, content=offer(), headers=good), 409, "room_full")
    assert body["details"]["trtcCode"] == -100202
    assert members(live) == ["alice", "bob", "carol"]


async def test_turn_servers_are_announced_in_link_headers(tmp_path: Path) -> None:
    turn = {
        "urls": ["turn:127.0.0.1:3478?transport=udp", "turns:127.0.0.1:5349"],
        "secret": "s3cret-for-the-tests-only",
    }
    async with live_server(settings(tmp_path, turn=turn)) as live:
        r = await publish(live, "enc")
        links = [link.strip() for link in r.headers["link"].split(",")]
        assert len(links) == 2
        assert links[0].startswith('<turn:127.0.0.1:3478?transport=udp>; rel="ice-server"; username="')
        assert ':enc"' in links[0] and 'credential="' in links[0] and 'credential-type="password"' in links[0]
        assert links[1].startswith('<turns:127.0.0.1:5349>; rel="ice-server"')
        assert "link" in r.headers["access-control-expose-headers"].lower()


async def test_a_whip_publisher_is_a_member_for_describe_apis_and_callbacks(live: Live) -> None:
    assert live.first is not None
    async with receiver() as rcv:
        r = await live.http.put(
            f"/api/v1/applications/{live.first.sdkappid}/callback",
            headers=live.admin,
            json={"url": rcv.url, "key": "Cb0Key123"},
        )
        assert r.status_code == 200, r.text
        for _ in range(50):  # the PUT's commit may land just after its response
            g = await live.http.get(
                f"/api/v1/applications/{live.first.sdkappid}/callback", headers=live.admin
            )
            if g.json()["url"] == rcv.url:
                break
            await asyncio.sleep(0.05)
        pub = await publish(live, "encoder")
        sid, key = await live.credential()
        sdk = trtc_client(live.host, sid, key)
        now = int(time.time())
        window = {"SdkAppId": live.first.sdkappid, "StartTime": now - 600, "EndTime": now + 5}
        rooms = await call(sdk, "DescribeRoomInfo", window)
        assert rooms.Total == 1 and rooms.RoomList[0].RoomString == str(ROOM)
        users = await call(sdk, "DescribeUserInfo", dict(window, CommId=rooms.RoomList[0].CommId))
        assert [u.UserId for u in users.UserList] == ["encoder"] and users.UserList[0].Finished is False

        d = await live.http.delete(pub.headers["location"], headers=auth(sig(live, "encoder")))
        assert d.status_code == 200

        def seen() -> list[tuple[int, str | None]]:
            return [(x.json["EventType"], x.json["EventInfo"].get("UserId")) for x in rcv.received]

        deadline = time.monotonic() + 20
        want = {(103, "encoder"), (201, "encoder"), (203, "encoder"), (104, "encoder")}
        while not want <= set(seen()):
            assert time.monotonic() < deadline, seen()
            await asyncio.sleep(0.1)
        order = [e for e in seen() if e[1] == "encoder"]
        assert order.index((103, "encoder")) < order.index((201, "encoder")) < order.index((104, "encoder"))

        later = dict(window, CommId=rooms.RoomList[0].CommId, EndTime=now + 30)
        users = await call(sdk, "DescribeUserInfo", later)
        assert users.UserList[0].Finished is True


def viewer_offer() -> str:
    """A WHEP client's offer: recvonly audio + video."""
    return (
        offer()
        .replace("a=sendonly", "a=recvonly")
        .replace("\r\na=ssrc:", "\r\na=x-no-ssrc:")  # a receive-only client declares no SSRC
    )


async def test_whep_plays_a_publisher_and_refuses_what_it_cannot_play(live: Live) -> None:
    assert live.first is not None
    await publish(live, "enc")
    url = f"/whep/{ROOM}/enc"
    viewer = {**SDP, **auth(sig(live, "viewer"))}

    r = await live.http.post(url + "?stream=main&small=1", content=viewer_offer(), headers=viewer)
    assert r.status_code == 201, r.text
    assert (
        r.headers["location"].startswith(f"http://{live.host}/whep/sessions/")
        and r.headers["content-type"] == "application/sdp"
    )
    answer = r.text
    assert answer.count("a=sendonly") == 2 and answer.count("a=ssrc-group:FID") == 0
    assert "a=rtpmap:111 opus/48000/2" in answer and "a=rtpmap:96 VP8/90000" in answer
    assert members(live) == ["enc", "viewer"]

    other = {**SDP, **auth(sig(live, "viewer2"))}
    h263_pcmu = offer(video="H263/90000", audio="PCMU/8000").replace("sendonly", "recvonly")
    cases = [
        ("nobody of that name", f"/whep/{ROOM}/ghost", viewer_offer(), other, 404, "not_publishing"),
        ("a room that does not exist", "/whep/999/enc", viewer_offer(), other, 404, "not_publishing"),
        ("no sub stream", f"{url}?stream=sub", viewer_offer(), other, 404, "not_publishing"),
        ("playing oneself", url, viewer_offer(), {**SDP, **auth(sig(live, "enc"))}, 400, "invalid_request"),
        ("garbage SDP", url, "nonsense", other, 400, "invalid_sdp"),
        ("an offer that only sends", url, offer(), other, 400, "invalid_sdp"),
        ("no codec to play", url, h263_pcmu, other, 422, "unsupported_codec"),
        ("wrong content type", url, viewer_offer(), {**other, "Content-Type": "application/json"}, 415,
         "unsupported_media_type"),
        ("expired UserSig", url, viewer_offer(),
         {**SDP, **auth(sig(live, "viewer2", expire=60, now=int(time.time()) - 3600))}, 401, "bad_token"),
    ]  # fmt: skip
    for name, path, body, headers, status, code in cases:
        assert_error(await live.http.post(path, content=body, headers=headers), status, code)
        assert members(live) == ["enc", "viewer"], name
        assert live.app.state.rooms.room_info(f"{live.first.sdkappid}:n:999") is None, name

    assert (
        await live.http.delete(r.headers["location"], headers=auth(sig(live, "viewer")))
    ).status_code == 200
    assert members(live) == ["enc"]


async def test_privatemapkey_in_the_query_and_a_live_room_audience_viewer(live: Live) -> None:
    assert live.first is not None
    app, key = live.first.sdkappid, live.first.secret_key
    r = await live.http.patch(
        f"/api/v1/applications/{app}", headers=live.admin, json={"permission_key_enabled": True}
    )
    assert r.status_code == 200, r.text

    def pmk(user: str, privilege: int) -> str:
        return str(gen_privatemapkey(app, key, user, 3600, room_id=ROOM, privilege=privilege))

    enc = {**SDP, **auth(sig(live, "enc"))}
    deadline = time.monotonic() + 10
    while True:  # the directory may answer from before the PATCH for a moment
        refused = await live.http.post(f"/whip/{ROOM}?scene=live", content=offer(), headers=enc)
        if refused.status_code != 201 or time.monotonic() > deadline:
            break
        await live.http.delete(refused.headers["location"], headers=enc)
        await asyncio.sleep(0.2)
    assert_error(refused, 403, "privatemapkey_refused")
    assert members(live) == []

    ok = await live.http.post(
        f"/whip/{ROOM}",
        params={"scene": "live", "privateMapKey": pmk("enc", 255)},
        content=offer(),
        headers=enc,
    )
    assert ok.status_code == 201, ok.text
    room = live.app.state.rooms.room_info(f"{app}:n:{ROOM}")
    assert room["scene"] == "live" and room["members"][0]["role"] == "anchor"

    # A viewer whose key allows entering and receiving audio only: it gets the audio, as audience.
    viewer = {**SDP, **auth(sig(live, "viewer"))}
    audio_only = int(Privilege.ENTER_ROOM | Privilege.RECV_AUDIO)
    assert_error(await live.http.post(f"/whep/{ROOM}/enc", content=viewer_offer(), headers=viewer), 403,
                 "privatemapkey_refused")  # fmt: skip
    r = await live.http.post(
        f"/whep/{ROOM}/enc",
        params={"privateMapKey": pmk("viewer", audio_only)},
        content=viewer_offer(),
        headers=viewer,
    )
    assert r.status_code == 201, r.text
    assert r.text.count("a=sendonly") == 1 and "m=video 0 " in r.text and "m=audio 9 " in r.text
    roles = {m["userId"]: m["role"] for m in live.app.state.rooms.room_info(f"{app}:n:{ROOM}")["members"]}
    assert roles == {"enc": "anchor", "viewer": "audience"}


async def test_a_session_is_held_by_its_media_not_by_heartbeats(tmp_path: Path) -> None:
    # idle rule: 1 s without a heartbeat; media consent: 3 s without packets
    cfg = settings(tmp_path, rooms={"idle_timeout_s": 1.0})
    cfg.media.consent_timeout_s = 3.0
    async with live_server(cfg) as live:
        r = await publish(live, "enc")  # an offer whose ICE never completes: no media will flow
        await asyncio.sleep(2.0)
        assert members(live) == ["enc"]  # no heartbeat for 2 s: still in (no socket to send one on)
        deadline = time.monotonic() + 15
        while members(live):  # the transport's consent expires: the session ends, the member leaves
            assert time.monotonic() < deadline, "the session outlived its media"
            await asyncio.sleep(0.2)
        assert not live.app.state.whip.sessions
        gone = await live.http.delete(r.headers["location"], headers=auth(sig(live, "enc")))
        assert_error(gone, 404, "not_found")
