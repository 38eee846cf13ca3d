"""`relayroom serve` as a real process on 127.0.0.1: start it on a free port, wait until it answers
/healthz (bounded, with the server's stderr in the failure), stop it; or a served call in progress
(:func:`served_call`), for the chaos scenarios that break something under it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from relayroom.client import RelayRoomClient, RemoteTrack
    from tests.soak.run import Console, Server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def server_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without RELAYROOM_* settings, with one media worker on an ephemeral UDP
    port (a developer's `make run` on the default ports is no conflict)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAYROOM_")}
    env.update(RELAYROOM_MEDIA__WORKERS="1", RELAYROOM_MEDIA__PORTS="[0]")
    env.update(extra or {})
    return env


def start_server(
    data_dir: Path,
    port: int,
    *,
    command: Sequence[str] = (sys.executable, "-m", "relayroom"),
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    **popen: Any,
) -> subprocess.Popen[str]:
    """`relayroom serve` (``command`` picks which installation) with stdout and stderr piped unless
    ``popen`` says otherwise."""
    options: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    options.update(popen)
    return subprocess.Popen(
        [*command, "serve", "--port", str(port), "--data-dir", str(data_dir), *args],
        env=server_env(env),
        **options,
    )


def wait_ready(port: int, proc: subprocess.Popen[Any], timeout: float = 120) -> dict[str, str]:
    """/healthz's body once the server answers; fails with its stderr if it exits or never answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"the server exited with {proc.returncode}: {err}")
        try:
            r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1, trust_env=False)
            if r.status_code == 200:
                out: dict[str, str] = r.json()
                return out
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"the server did not answer /healthz within {timeout} s")


def stop(proc: subprocess.Popen[Any], timeout: float = 20) -> tuple[str, str]:
    """SIGTERM (the drain-first shutdown), then its output; killed if it does not exit in time."""
    proc.terminate()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"the server did not stop within {timeout} s after SIGTERM") from None
    return out or "", err or ""


@dataclass
class ServedCall:
    """A server process (the soak harness's, first-start admin signed in on ``console``) with a call in
    progress in ``room_id``: ``anchor`` publishes audio and video, ``viewer`` receives the video
    (``track``, frames flowing)."""

    server: Server
    console: Console
    room_id: int
    anchor: RelayRoomClient
    viewer: RelayRoomClient
    track: RemoteTrack
    account_id: str

    @property
    def apps_url(self) -> str:
        return f"/api/v1/accounts/{self.account_id}/applications"

    async def join(self, client: RelayRoomClient, user_id: str) -> RemoteTrack:
        """``client`` enters the call as ``user_id`` and gets the anchor's video (frames not awaited)."""
        return await _join(self.server, self.room_id, client, user_id)


async def _join(server: Server, room_id: int, client: RelayRoomClient, user_id: str) -> RemoteTrack:
    await client.enter_room(
        sdk_app_id=server.sdkappid,
        user_id=user_id,
        user_sig=server.usersig(user_id),
        room_id=room_id,
        auto_receive_video=True,
    )
    return await client.wait_remote_track("anchor", "video", within=30)


@asynccontextmanager
async def served_call(
    tmp_path: Path, room_id: int, env: Mapping[str, str] | None = None
) -> AsyncIterator[ServedCall]:
    """Start `relayroom serve` (one media worker, data and log under ``tmp_path``, ``env`` added), set a
    call up on it, and on exit close the clients and stop the server (SIGTERM)."""
    from relayroom.client import RelayRoomClient, SineAudioTrack, TestPatternVideoTrack
    from tests.soak.run import Console, Server

    server = Server(tmp_path / "data", workers=1, log=tmp_path / "server.log")
    server.start(dict(env) if env else None)
    console = Console(server)
    anchor, viewer = RelayRoomClient(server.url), RelayRoomClient(server.url)
    try:
        await server.wait_ready()
        await console.login()
        sig = server.usersig("anchor")
        await anchor.enter_room(sdk_app_id=server.sdkappid, user_id="anchor", user_sig=sig, room_id=room_id)
        await anchor.publish(audio_track=SineAudioTrack(440), video_track=TestPatternVideoTrack())
        me = (await console.http.get("/api/v1/me", headers=console.headers)).json()
        account_id = me.get("account_id") or me["accounts"][0]["id"]
        track = await _join(server, room_id, viewer, "viewer")
        await track.wait_frames(5, within=30)
        yield ServedCall(server, console, room_id, anchor, viewer, track, account_id)
    finally:
        await anchor.close()
        await viewer.close()
        await console.close()
        server.stop()
