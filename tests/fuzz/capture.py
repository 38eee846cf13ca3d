"""Record seed corpora for the fuzz targets from a real local call through the server and its worker.

    python -m tests.fuzz.capture            # replaces tests/fuzz/corpus/<target>/ with a new capture
    python -m tests.fuzz.capture --out DIR  # somewhere else

What runs: the whole app (create_app, one media worker, loopback only) served on 127.0.0.1; two calls
with the Python client SDK (VP8 + Opus, then H.264), a receiver that drops a few video packets so the
worker answers NACKs with RTX, mute, a custom message, exit; the official TRTC SDK against the cloud
API; UserSigs and PrivateMapKeys from Tencent's own ``TLSSigAPIv2``. What is recorded is what each
parser sees: plaintext RTP/RTCP both ways at the client's SRTP layer (the worker decrypts the same
bytes), the STUN the client's ICE agent sends and receives, and, in the server process, the inputs of
the SDP, signalling, TC3 and UserSig parsers.

The media are the SDK's synthetic test pattern and sine tone, never anyone's audio or video; only a few
small packets of each kind are kept (see ``_Keep``). The app and its keys live in a temporary
directory that is deleted afterwards, so the tokens and signatures in the seeds verify nowhere.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import shutil
import sys
import tempfile
import time
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import httpx

HERE = Path(__file__).resolve().parent
GREEN = (30, 200, 30)
BLUE = (30, 30, 220)


class _Keep:
    """The first ``per_class`` inputs of each class, per target (a class: what makes inputs differ
    for the parser, e.g. RTCP packet types, H.264 NAL type, signalling request type)."""

    def __init__(self) -> None:
        self.files: dict[str, dict[str, bytes]] = {}
        self._seen: dict[tuple[str, str], int] = {}

    def add(self, target: str, cls: str, data: bytes, per_class: int = 2) -> None:
        key = (target, cls)
        if self._seen.get(key, 0) >= per_class:
            return
        name = hashlib.sha1(data).hexdigest()
        bucket = self.files.setdefault(target, {})
        if name not in bucket:
            bucket[name] = data
            self._seen[key] = self._seen.get(key, 0) + 1


def _rtp_class(data: bytes) -> str:
    b0, b1 = data[0], data[1]
    return f"pt{b1 & 0x7F}-m{b1 >> 7}-x{(b0 >> 4) & 1}-p{(b0 >> 5) & 1}-cc{b0 & 0x0F}"


def _payload_at(data: bytes) -> int:
    from relayroom.media.rtp import header

    try:
        return header.header_length(data)
    except ValueError:
        return len(data)


class Recorder:
    def __init__(self) -> None:
        self.keep = _Keep()
        self.video_pts: dict[int, str] = {}  # payload type -> "vp8" | "h264" (from the SDPs seen)
        self.last_timestamp = ""

    # -- media, at the client's SRTP layer -----------------------------------------------------------
    def rtp(self, data: bytes, direction: str) -> None:
        if len(data) < 12:
            return
        from relayroom.media.rtp.header import is_rtcp

        if is_rtcp(data):
            self.rtcp(data, direction)
            return
        self.keep.add("rtp", f"{direction}-{_rtp_class(data)}", data)
        codec = self.video_pts.get(data[1] & 0x7F)
        hlen = _payload_at(data)
        if codec is None or hlen >= len(data):
            return
        first = data[hlen]
        if codec == "vp8":
            from relayroom.media.rtp.header import is_vp8_keyframe

            self.keep.add("vp8", f"key{is_vp8_keyframe(data, hlen)}-x{first >> 7}-s{(first >> 4) & 1}", data)
        else:
            nal = first & 0x1F
            fu = (
                f"-fu{data[hlen + 1] >> 6}-{data[hlen + 1] & 0x1F}"
                if nal == 28 and hlen + 1 < len(data)
                else ""
            )
            self.keep.add("h264", f"nal{nal}{fu}", data, per_class=3)

    def rtcp(self, data: bytes, direction: str) -> None:
        from relayroom.media.rtp import rtcp

        try:
            kinds = "+".join(f"{pt}.{fmt}" for pt, fmt, _, _ in rtcp.iter_packets(data))
        except ValueError:
            kinds = "malformed"
        self.keep.add("rtcp", f"{direction}-{kinds}", data)

    def stun(self, data: bytes, direction: str) -> None:
        from aioice import stun

        try:
            msg = stun.parse_message(data)
            cls = f"{direction}-{msg.message_class}-{'+'.join(sorted(msg.attributes))}"
        except ValueError:
            cls = f"{direction}-unparsed"
        self.keep.add("stun", cls, data)

    # -- the server's parsers ----------------------------------------------------------------------
    def sdp(self, target: str, text: str) -> None:
        for line in text.splitlines():
            if line.startswith("a=rtpmap:"):
                pt, _, codec = line[9:].partition(" ")
                name = codec.split("/")[0].lower()
                if name in ("vp8", "h264") and pt.isdigit():
                    self.video_pts[int(pt)] = name
        self.keep.add(target, str(len(self.keep.files.get(target, {}))), text.encode(), per_class=1)

    def signalling(self, text: str) -> None:
        try:
            rtype = str(json.loads(text).get("type"))
        except (ValueError, AttributeError):
            rtype = "unparsed"
        self.keep.add("signalling", rtype, text.encode())

    def tc3(self, authorization: str) -> None:
        self.keep.add(
            "tc3",
            authorization.split("Credential=")[-1][:8],
            f"{self.last_timestamp}\n{authorization}".encode("latin-1"),
            per_class=6,
        )

    def usersig(self, token: str | bytes, cls: str) -> None:
        raw = token.encode() if isinstance(token, str) else bytes(token)
        self.keep.add("usersig", cls, b"\x00" + raw, per_class=4)
        with contextlib.suppress(Exception):
            from relayroom.auth.usersig import urlish_b64decode

            doc = zlib.decompress(urlish_b64decode(raw))
            self.keep.add("usersig", cls + "-json", b"\x01" + doc, per_class=4)

    def userbuf(self, buf: bytes, cls: str) -> None:
        self.keep.add("privatemapkey", cls, buf, per_class=4)


@contextlib.contextmanager
def recording(rec: Recorder, drop_every: int = 40) -> Iterator[None]:
    """Patch the places where each parser's input passes by (client SRTP/ICE, server parsers)."""
    from aioice import ice
    from aiortc.rtcdtlstransport import RTCDtlsTransport

    from relayroom.auth import tc3, usersig
    from relayroom.control.signaling import endpoints, protocol
    from relayroom.media import sdp

    send_rtp = RTCDtlsTransport._send_rtp
    handle_rtp = RTCDtlsTransport._handle_rtp_data
    handle_rtcp = RTCDtlsTransport._handle_rtcp_data
    send_stun = ice.StunProtocol.send_stun
    stun_received = ice.StunProtocol.datagram_received
    counter = [0]

    async def _send_rtp(self: Any, data: bytes) -> None:
        rec.rtp(data, "tx")
        await send_rtp(self, data)

    async def _handle_rtp(self: Any, data: bytes, arrival_time_ms: int) -> None:
        rec.rtp(data, "rx")
        if (data[1] & 0x7F) in rec.video_pts:
            counter[0] += 1
            if counter[0] % drop_every == 0:
                return  # lost: the receiver NACKs, the worker retransmits over RTX
        await handle_rtp(self, data, arrival_time_ms)

    async def _handle_rtcp(self: Any, data: bytes) -> None:
        rec.rtcp(data, "rx")
        await handle_rtcp(self, data)

    def _send_stun(self: Any, message: Any, addr: tuple[str, int]) -> None:
        rec.stun(bytes(message), "tx")
        send_stun(self, message, addr)

    def _stun_received(self: Any, data: bytes | str, addr: tuple[Any, ...]) -> None:
        if isinstance(data, bytes) and data and data[0] < 4:
            rec.stun(data, "rx")
        stun_received(self, data, addr)

    def wrap(fn: Callable[..., Any], record: Callable[[Any], None]) -> Callable[..., Any]:
        def inner(arg: Any, *args: Any, **kwargs: Any) -> Any:
            record(arg)
            return fn(arg, *args, **kwargs)

        return inner

    def _timestamp(value: str) -> None:
        rec.last_timestamp = value

    with contextlib.ExitStack() as stack:
        for target, name, new in [
            (RTCDtlsTransport, "_send_rtp", _send_rtp),
            (RTCDtlsTransport, "_handle_rtp_data", _handle_rtp),
            (RTCDtlsTransport, "_handle_rtcp_data", _handle_rtcp),
            (ice.StunProtocol, "send_stun", _send_stun),
            (ice.StunProtocol, "datagram_received", _stun_received),
            (sdp, "parse_offer", wrap(sdp.parse_offer, lambda t: rec.sdp("sdp_offer", t))),
            (sdp, "parse_answer", wrap(sdp.parse_answer, lambda t: rec.sdp("sdp_answer", t))),
            (endpoints, "parse_request", wrap(protocol.parse_request, rec.signalling)),
            (tc3, "parse_timestamp", wrap(tc3.parse_timestamp, _timestamp)),
            (tc3, "parse_authorization", wrap(tc3.parse_authorization, rec.tc3)),
            (usersig, "decode_usersig", wrap(usersig.decode_usersig, lambda t: rec.usersig(t, "entry"))),
        ]:
            stack.enter_context(mock.patch.object(target, name, new))
        yield


@contextlib.contextmanager
def h264_only() -> Iterator[None]:
    """Make the SDK's video transceivers offer H.264 only (the SDK offers VP8 first otherwise)."""
    from aiortc import RTCPeerConnection, RTCRtpSender

    add = RTCPeerConnection.addTransceiver

    def _add(self: Any, track_or_kind: Any, direction: str = "sendrecv") -> Any:
        transceiver = add(self, track_or_kind, direction=direction)
        if transceiver.kind == "video":
            codecs = RTCRtpSender.getCapabilities("video").codecs
            transceiver.setCodecPreferences([c for c in codecs if c.mimeType in ("video/H264", "video/rtx")])
        return transceiver

    with mock.patch.object(RTCPeerConnection, "addTransceiver", _add):
        yield


@contextlib.asynccontextmanager
async def _server(data_dir: Path) -> AsyncIterator[tuple[int, Any]]:
    from relayroom.config import Settings
    from relayroom.control.app import create_app
    from relayroom.control.bootstrap import FirstStart
    from tests.serving import served

    first: list[FirstStart] = []
    settings = Settings(data_dir=data_dir, media={"workers": 1, "ports": [0], "loopback_only": True})
    app = create_app(settings, on_first_start=first.append)
    async with served(app) as port:
        yield port, first[-1]


async def _call(url: str, sdkappid: int, key: str, room: int, colour: tuple[int, int, int]) -> None:
    from relayroom.auth.usersig import gen_usersig
    from relayroom.client import RelayRoomClient, SineAudioTrack, TestPatternVideoTrack

    async with RelayRoomClient(url) as alice, RelayRoomClient(url) as bob:
        await alice.enter_room(
            sdk_app_id=sdkappid, user_id="alice", user_sig=gen_usersig(sdkappid, key, "alice"), room_id=room
        )
        await bob.enter_room(
            sdk_app_id=sdkappid,
            user_id="bob",
            user_sig=gen_usersig(sdkappid, key, "bob"),
            room_id=room,
            auto_receive_video=True,
        )
        await alice.publish(audio_track=SineAudioTrack(440.0), video_track=TestPatternVideoTrack(colour))
        video = await bob.wait_remote_track("alice", "video", within=30)
        await video.wait_frames(60, within=60)  # long enough for reports, REMB, TWCC and a few NACKs
        await alice.mute_local_video(True)
        await alice.mute_local_video(False)
        await alice.send_custom_message(1, b"seed")
        await video.wait_frames(90, within=60)
        await bob.exit_room()
        await alice.exit_room()


async def _cloud_api(port: int, first: Any) -> None:
    from tests.control.cloudapi.server import call, trtc_client

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=30) as http:
        r = await http.post(
            "/api/v1/auth/login", json={"username": first.username, "password": first.password}
        )
        admin = {"Authorization": f"Bearer {r.json()['token']}"}
        r = await http.post(f"/api/v1/accounts/{first.account_id}/credentials", headers=admin)
        r.raise_for_status()
        cred = r.json()
    client = trtc_client(f"127.0.0.1:{port}", cred["secret_id"], cred["secret_key"])
    now = int(time.time())
    for action, params in [
        ("DescribeRoomInfo", {"SdkAppId": first.sdkappid, "StartTime": now - 3600, "EndTime": now}),
        ("DescribeTrtcUsage", {"StartTime": "2026-01-01", "EndTime": "2026-01-02"}),
        ("RemoveUser", {"SdkAppId": first.sdkappid, "RoomId": 7, "UserIds": ["alice"]}),
        ("DismissRoom", {"SdkAppId": first.sdkappid, "RoomId": 7}),
    ]:
        with contextlib.suppress(Exception):  # refusals are fine: the request is what we keep
            await call(client, action, params)


def _official_tokens(rec: Recorder) -> None:
    """UserSigs and PrivateMapKeys as Tencent's own library issues them."""
    import TLSSigAPIv2

    from relayroom.auth.privatemapkey import Privilege, build_userbuf
    from tests.fuzz.targets import FUZZ_KEY, FUZZ_SDKAPPID

    api = TLSSigAPIv2.TLSSigAPIv2(FUZZ_SDKAPPID, FUZZ_KEY)
    rec.usersig(api.gen_sig("alice", 86400), "official")
    for room_id, str_room_id, privilege in [(1234, None, Privilege.ALL), (None, "live-1", 0x2A)]:
        buf = build_userbuf(
            "alice",
            FUZZ_SDKAPPID,
            room_id=room_id,
            str_room_id=str_room_id,
            expire_at=1900000000,
            privilege=privilege,
        )
        rec.userbuf(buf, "numeric" if room_id else "string")
        rec.usersig(api.gen_sig_with_userbuf("alice", 86400, buf), "official-pmk")


def _built(rec: Recorder) -> None:
    """Inputs the call above does not produce (aiortc sends no FIR, BYE or transport-wide feedback),
    made with our own builders, and the real browser offers the SDP tests keep in tests/data."""
    from relayroom.media.rtp import rtcp, twcc

    rr = rtcp.build_rr(1, [rtcp.ReportBlock(0x1234, 3, -2, 70000, 40, 5, 6)])
    for cls, data in [
        ("fir", rr + rtcp.build_fir(1, 0x1234, 7)),
        ("bye", rr + bytes([0x81, 203, 0, 1]) + (0x1234).to_bytes(4, "big")),
        ("twcc", twcc.build_feedback(1, 0x1234, 0, 65530, [1000, None, 1250, 900000])),
        ("remb-2", rtcp.build_remb(1, 2_500_000, [0x1234, 0x5678])),
    ]:
        rec.keep.add("rtcp", f"built-{cls}", data)
    root = HERE.parent / "data"
    for name in ("chromium156_offer.sdp", "aiortc116_offer.sdp"):
        rec.keep.add("sdp_offer", name, (root / name).read_bytes())


async def capture() -> Recorder:
    rec = Recorder()
    with tempfile.TemporaryDirectory(prefix="relayroom-capture-") as tmp, recording(rec):
        async with _server(Path(tmp) / "data") as (port, first):
            url = f"ws://127.0.0.1:{port}/signal"
            await _call(url, first.sdkappid, first.secret_key, 11, GREEN)
            rec.video_pts.clear()  # payload types are per call: the next call's are H.264
            with h264_only():
                await _call(url, first.sdkappid, first.secret_key, 12, BLUE)
            await _cloud_api(port, first)
    _official_tokens(rec)
    _built(rec)
    return rec


def write(rec: Recorder, out: Path) -> dict[str, tuple[int, int]]:
    """Replace out/<target>/ with the capture; returns {target: (files, bytes)}."""
    from tests.fuzz.targets import TARGETS

    summary: dict[str, tuple[int, int]] = {}
    for target in TARGETS:
        files = rec.keep.files.get(target, {})
        d = out / target
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        for name, data in sorted(files.items()):
            (d / name).write_bytes(data)
        summary[target] = (len(files), sum(len(v) for v in files.values()))
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.fuzz.capture", description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=HERE / "corpus")
    args = ap.parse_args(argv)
    rec = asyncio.run(capture())
    for target, (n, size) in write(rec, args.out).items():
        print(f"{target:14} {n:3} files {size:7} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
