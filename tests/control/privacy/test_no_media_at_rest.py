"""No media at rest: a room carries audio and video through the real server while we watch every file
its processes open for writing, the data dir and the logs; no payload byte may show up anywhere.

Also the full stack in one test: `relayroom serve` as a newcomer starts it, the first-start demo app,
real UserSigs checked against the database, Python SDK clients on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import aiortc.rtcrtpreceiver
import pytest

from relayroom.auth.usersig import gen_usersig
from relayroom.client import RelayRoomClient, SineAudioTrack, TestPatternVideoTrack, colour_close
from tests.processes import free_port, wait_ready

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            out.append(int(entry.name))
    return out


def _files_open_for_writing(pid: int) -> set[str]:
    paths: set[str] = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        fds = list(fd_dir.iterdir())
    except OSError:
        return paths
    for fd in fds:
        try:
            target = os.readlink(fd)
            flags = int((Path(f"/proc/{pid}/fdinfo") / fd.name).read_text().split("flags:")[1].split()[0], 8)
        except (OSError, IndexError, ValueError):
            continue
        if target.startswith("/") and not target.startswith(("/dev/", "/proc/")) and flags & 0o3:
            paths.add(target)
    return paths


async def test_media_is_relayed_and_never_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    port = free_port()
    out_path, err_path = tmp_path / "stdout.log", tmp_path / "stderr.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAYROOM_")}
    env.update(
        RELAYROOM_MEDIA__WORKERS="1",
        RELAYROOM_MEDIA__PORTS="[0]",
        RELAYROOM_MEDIA__LOOPBACK_ONLY="true",
        RELAYROOM_LOG_LEVEL="debug",  # the most talkative the server can be
    )
    with out_path.open("w") as out, err_path.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "relayroom", "serve", "--port", str(port), "--data-dir", str(data)],
            stdout=out,
            stderr=err,
            env=env,
        )
    # payload samples seen by the subscriber (after SRTP, i.e. what the SFU relayed)
    samples: list[bytes] = []
    original = aiortc.rtcrtpreceiver.RTCRtpReceiver._handle_rtp_packet

    async def spy(self: object, packet: object, arrival_time_ms: int) -> None:
        payload = getattr(packet, "payload", b"")
        if len(payload) >= 64 and len(samples) < 400:
            samples.append(bytes(payload[8:40]))
        await original(self, packet, arrival_time_ms)  # type: ignore[arg-type]

    monkeypatch.setattr(aiortc.rtcrtpreceiver.RTCRtpReceiver, "_handle_rtp_packet", spy)
    written: set[str] = set()
    limits: list[str] = []
    clients: list[RelayRoomClient] = []
    try:
        await asyncio.to_thread(wait_ready, port, proc)
        text = (data / "first-start.txt").read_text()  # stdout is no terminal: credentials in a 0600 file
        sdkappid = int(text.split("SDKAppID:")[1].split()[0])
        key = text.split("SDKSecretKey:")[1].split()[0]
        url = f"ws://127.0.0.1:{port}/signal"
        now = int(time.time())
        for user, colour in (("alice", (200, 40, 40)), ("bob", (40, 40, 200))):
            c = RelayRoomClient(url)
            clients.append(c)
            await c.enter_room(
                sdk_app_id=sdkappid,
                user_id=user,
                user_sig=gen_usersig(sdkappid, key, user, 600, now=now),
                room_id=777,
                auto_receive_audio=True,
                auto_receive_video=True,
            )
            await c.publish(audio_track=SineAudioTrack(500), video_track=TestPatternVideoTrack(colour))
        bob = clients[1]
        video = await bob.wait_remote_track("alice", "video", within=30)
        audio = await bob.wait_remote_track("alice", "audio", within=30)
        workers = _children(proc.pid)
        assert workers, "media workers run as child processes"
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            for pid in [proc.pid, *workers]:
                written |= _files_open_for_writing(pid)
            await asyncio.sleep(0.2)
        await video.wait_frames(20, within=20)
        await audio.wait_frames(50, within=20)
        seen = video.colour()
        assert seen is not None and colour_close(seen, (200, 40, 40))
        limits = [Path(f"/proc/{w}/limits").read_text() for w in workers]
        # a bad UserSig is refused by the real entry check against the database
        intruder = RelayRoomClient(url)
        clients.append(intruder)
        with pytest.raises(Exception, match="userSig"):
            await intruder.enter_room(
                sdk_app_id=sdkappid,
                user_id="eve",
                user_sig=gen_usersig(sdkappid, "0" * 64, "eve", 600),
                room_id=777,
            )
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        proc.terminate()
        await asyncio.to_thread(proc.wait, 20)

    assert len(samples) >= 50, "the subscriber received media"
    # the database, and the log streams (scanned below)
    allowed = {str(data / n) for n in ("relayroom.db", "relayroom.db-wal", "relayroom.db-shm")}
    allowed |= {str(out_path), str(err_path)}
    # signed operation-log checkpoints (hashes and sequence numbers only; scanned below like the rest)
    allowed |= {str(p) for p in written if Path(p).parent == data / "oplog-checkpoints"}
    assert written <= allowed, f"files opened for writing besides the database: {written - allowed}"
    for text in limits:
        core = next(line for line in text.splitlines() if line.startswith("Max core file size"))
        assert core.split()[4:6] == ["0", "0"], core  # core dumps disabled in workers
    files = [p for p in data.rglob("*") if p.is_file()]
    checkpoints = {p.name for p in files if p.parent.name == "oplog-checkpoints"}
    assert checkpoints and all(name.endswith(".json") for name in checkpoints)
    assert {p.name for p in files} - checkpoints <= {
        "relayroom.db",
        "relayroom.db-wal",
        "relayroom.db-shm",
        "master.key",
        "signing.key",
        "node-id",
        "first-start.txt",
    }
    blobs = [p.read_bytes() for p in files] + [out_path.read_bytes(), err_path.read_bytes()]
    assert len(err_path.read_bytes()) > 0
    for sample in samples:
        for blob in blobs:
            assert sample not in blob, "a media payload fragment reached the disk"
    assert key.encode() not in err_path.read_bytes()
