"""The SFUs under test behind one small interface: RelayRoom (MediaService + its worker processes) and
Janus (VideoRoom over its HTTP API). Both only ever listen on 127.0.0.1 and are pinned to one core."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import httpx

from bench.sdp import parse
from relayroom.media.service import MediaService
from relayroom.media.types import MediaParams


@dataclass
class Room:
    """One room on a server; ``feeds`` maps participant -> server-side ids of its published tracks."""

    key: Any
    feeds: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


class Server(Protocol):
    label: str

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def pids(self) -> list[int]: ...
    async def create_room(self, name: str) -> Room: ...
    async def close_room(self, room: Room) -> None: ...
    async def publish(self, room: Room, participant: str, offer: str) -> str: ...
    async def subscribe(self, room: Room, participant: str, publishers: list[str]) -> str: ...
    async def answer(self, room: Room, participant: str, answer: str) -> None: ...
    async def set_layer(self, room: Room, participant: str, publisher: str, layer: int) -> None: ...
    async def counters(self) -> dict[str, int]: ...


def pin(pid: int, cpus: set[int]) -> None:
    """Pin every thread of ``pid`` (threads created later inherit it)."""
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                os.sched_setaffinity(int(tid), cpus)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a whole process (all threads), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- RelayRoom ---------------------------------------------------------------------------------------------
class RelayRoomServer:
    """MediaService in this (coordinator) process; its worker processes are the server under test.

    Driven through MediaService directly (publish/subscribe/set_subscriber_answer), without signalling."""

    def __init__(
        self,
        cpus: set[int],
        workers: int = 1,
        gso: bool = True,
        label: str = "",
        load_shedding: bool = True,
        dtls_flights_per_turn: int | None = None,
        native: bool = True,
    ) -> None:
        self.label = label or ("relayroom" if native else "relayroom-py") + ("" if gso else "-nogso")
        self.cpus = cpus
        params = MediaParams(
            workers=workers,
            loopback_only=True,
            udp_gso=gso,
            restart_dead_workers=False,
            load_shedding=load_shedding,
            native=native,
        )
        if dtls_flights_per_turn is not None:
            params = replace(params, dtls_flights_per_turn=dtls_flights_per_turn)
        self.params = params
        self.ms: MediaService | None = None
        self.version = ""

    async def start(self) -> None:
        self.ms = MediaService(self.params)
        await self.ms.start()
        for pid in self.pids():
            pin(pid, self.cpus)
        from importlib.metadata import version

        self.version = version("relayroom")

    async def stop(self) -> None:
        if self.ms is not None:
            await self.ms.close()
            self.ms = None

    def pids(self) -> list[int]:
        if self.ms is None:
            return []
        return [p for p in self.ms.worker_pids() if p is not None]

    async def create_room(self, name: str) -> Room:
        assert self.ms is not None
        return Room(await self.ms.create_router(name))

    async def close_room(self, room: Room) -> None:
        if self.ms is not None:
            await self.ms.close_router(room.key)

    async def publish(self, room: Room, participant: str, offer: str) -> str:
        assert self.ms is not None
        res = await self.ms.publish(room.key, participant, offer)
        room.feeds[participant] = [p.producer_id for p in res.producers]
        return str(res.answer_sdp)

    async def subscribe(self, room: Room, participant: str, publishers: list[str]) -> str:
        assert self.ms is not None
        producers = [pid for p in publishers for pid in room.feeds[p]]
        return str((await self.ms.subscribe(room.key, participant, producers)).offer_sdp)

    async def answer(self, room: Room, participant: str, answer: str) -> None:
        assert self.ms is not None
        await self.ms.set_subscriber_answer(room.key, participant, answer)

    async def set_layer(self, room: Room, participant: str, publisher: str, layer: int) -> None:
        """The simulcast encoding ``participant`` gets of ``publisher``'s camera: the channel request
        ``MediaService.set_small_stream`` sends (which only knows layers 0 and 2), with any layer."""
        assert self.ms is not None
        state = self.ms._router(room.key)
        p = state.participant(participant)
        worker = self.ms._recv_handle(state, p)
        for ml in p.mlines:
            if ml.active and ml.consumer_id and ml.kind == "video" and ml.stream_id == publisher:
                await worker.request("consumer.setPreferredLayers", ml.consumer_id, {"spatialLayer": layer})

    async def counters(self) -> dict[str, int]:
        """Worker-wide drop/error/GSO counters (summed over workers), for the window's deltas."""
        out: dict[str, int] = {}
        if self.ms is None:
            return out
        for w in self.ms._workers:
            if w is None or w.closed:
                continue
            d = await w.request("worker.dump")
            for k in (
                "dropped",
                "errors",
                "stunRejected",
                "sendErrors",
                "gsoCalls",
                "gsoPackets",
                "udpRecvDrops",
                "nativePackets",
                "nativeCalls",
                "stunFast",
                "shedPackets",
                "shedTurns",
                "shedKeyframeRequests",
            ):
                out[k] = out.get(k, 0) + int(d.get(k, 0))
        return out


# -- Janus -------------------------------------------------------------------------------------------------
JANUS_LIB = "/usr/lib/x86_64-linux-gnu/janus"
_DISABLED_PLUGINS = ",".join(
    f"libjanus_{p}.so"
    for p in (
        "audiobridge duktape lua nosip recordplay sip streaming textroom videocall voicemail echotest".split()
    )
)
_DISABLED_TRANSPORTS = ",".join(f"libjanus_{t}.so" for t in "websockets mqtt nanomsg pfunix rabbitmq".split())


def janus_binary() -> str | None:
    return shutil.which("janus") or ("/usr/bin/janus" if os.path.exists("/usr/bin/janus") else None)


def ensure_janus(log: Any = print) -> str | None:
    """Return the janus binary, installing Debian's package first when missing and we are root."""
    found = janus_binary()
    if found:
        return found
    if os.geteuid() != 0:
        log("Janus is not installed. Install it with: sudo apt-get install -y janus  (Debian/Ubuntu)")
        return None
    log("Janus missing: apt-get install -y janus")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run(["apt-get", "install", "-y", "janus"], check=True, env=env, timeout=600)
    except (subprocess.SubprocessError, OSError):
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run(["apt-get", "update"], check=True, env=env, timeout=300)
            subprocess.run(["apt-get", "install", "-y", "janus"], check=True, env=env, timeout=600)
    # the package's service must not keep running on its own (policy-rc.d usually blocks it anyway)
    with contextlib.suppress(subprocess.SubprocessError, OSError):
        subprocess.run(["systemctl", "stop", "janus"], timeout=30, capture_output=True)
    return janus_binary()


class JanusError(Exception):
    pass


def _die_with_parent() -> None:
    """preexec_fn: SIGTERM janus if the coordinator dies (even by SIGKILL); kept across exec."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _build_loopback_shim(d: Path) -> str | None:
    """Compile bench/janus_loopback_shim.c (lets `ice_enforce_list = "lo"` work); None without gcc."""
    src = Path(__file__).with_name("janus_loopback_shim.c")
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        return None
    out = d / "loopback_shim.so"
    try:
        subprocess.run(
            [cc, "-shared", "-fPIC", "-O2", "-o", str(out), str(src), "-ldl"],
            check=True,
            capture_output=True,
            timeout=60,
        )
    except (subprocess.SubprocessError, OSError):
        return None
    return str(out)


class JanusServer:
    """Janus with only VideoRoom and the HTTP transport, configured in a temp dir for loopback."""

    def __init__(self, cpus: set[int], event_loops: int | None) -> None:
        self.cpus = cpus
        self.event_loops = event_loops
        self.label = f"janus-el{event_loops}" if event_loops else "janus"
        self.proc: subprocess.Popen[bytes] | None = None
        self.dir: tempfile.TemporaryDirectory[str] | None = None
        self.port = 0
        self.http: httpx.AsyncClient | None = None
        self.session = 0
        self._events: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._poller: asyncio.Task[None] | None = None
        self._handles: dict[str, int] = {}
        self._room_seq = 1000
        self.version = ""

    # lifecycle
    def _write_config(self, d: Path) -> None:
        el = f"\tevent_loops = {self.event_loops}\n" if self.event_loops else ""
        (d / "janus.jcfg").write_text(
            "general: {\n"
            f'\tconfigs_folder = "{d}"\n'
            f'\tplugins_folder = "{JANUS_LIB}/plugins"\n'
            f'\ttransports_folder = "{JANUS_LIB}/transports"\n'
            f'\tevents_folder = "{JANUS_LIB}/events"\n'
            f'\tloggers_folder = "{JANUS_LIB}/loggers"\n'
            "\tdebug_level = 3\n"
            "\tlog_to_stdout = false\n"
            f'\tlog_to_file = "{d}/janus.log"\n'
            "\tsession_timeout = 120\n"
            f"{el}"
            "}\n"
            'media: {\n\trtp_port_range = "20000-40000"\n}\n'
            'nat: {\n\tnice_debug = false\n\tignore_mdns = true\n\tice_enforce_list = "lo"\n}\n'
            f'plugins: {{\n\tdisable = "{_DISABLED_PLUGINS}"\n}}\n'
            f'transports: {{\n\tdisable = "{_DISABLED_TRANSPORTS}"\n}}\n'
            'loggers: {\n\tdisable = "libjanus_jsonlog.so"\n}\n'
            "events: {\n\tbroadcast = false\n}\n"
        )
        (d / "janus.transport.http.jcfg").write_text(
            "general: {\n"
            '\tjson = "compact"\n\tbase_path = "/janus"\n\thttp = true\n'
            f'\tport = {self.port}\n\tip = "127.0.0.1"\n\thttps = false\n'
            "}\n"
            "admin: {\n\tadmin_http = false\n}\n"
        )
        (d / "janus.plugin.videoroom.jcfg").write_text("general: {\n}\n")

    def _spawn(self) -> Path:
        """Write the config and start janus (pinned with taskset); blocking, but only a fork+exec."""
        binary = janus_binary()
        if binary is None:
            raise JanusError("janus not installed")
        self.dir = tempfile.TemporaryDirectory(prefix="bench-janus-")
        d = Path(self.dir.name)
        self.port = free_port()
        self._write_config(d)
        cpus = ",".join(str(c) for c in sorted(self.cpus))
        env = dict(os.environ)
        shim = _build_loopback_shim(d)
        if shim is None:
            raise JanusError(
                "cannot build bench/janus_loopback_shim.c (gcc missing?): "
                "without it Janus would use non-loopback addresses"
            )
        env["LD_PRELOAD"] = shim
        with open(d / "stdout.log", "wb") as log:
            self.proc = subprocess.Popen(
                ["taskset", "-c", cpus, binary, "-C", str(d / "janus.jcfg"), "-F", str(d), "-o"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
                preexec_fn=_die_with_parent,
            )
        return d

    async def start(self) -> None:
        d = self._spawn()
        assert self.proc is not None
        self.http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}/janus", timeout=15)
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                raise JanusError(f"janus exited ({self.proc.returncode}); see {d}/janus.log")
            try:
                r = await self.http.get("/info")
                if r.status_code == 200:
                    self.version = r.json().get("version_string", "")
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise JanusError("janus did not answer /info within 20 s")
            await asyncio.sleep(0.1)
        await self._new_session()

    async def _new_session(self) -> None:
        res = await self._post("", {"janus": "create"})
        self.session = int(res["data"]["id"])
        self._poller = asyncio.get_running_loop().create_task(self._poll())

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._poller
        if self.http is not None:
            if self.session:
                with contextlib.suppress(Exception):
                    await self._post(f"/{self.session}", {"janus": "destroy"})
            await self.http.aclose()
            self.http = None
        proc = self.proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            for _ in range(50):
                if proc.poll() is not None:
                    break
                await asyncio.sleep(0.1)
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        self.proc = None
        if self.dir is not None:
            self.dir.cleanup()
            self.dir = None

    def pids(self) -> list[int]:
        """The janus process itself (taskset exec()s into it, so the pid is janus's)."""
        return [self.proc.pid] if self.proc is not None and self.proc.poll() is None else []

    # HTTP API
    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        assert self.http is not None
        body = {**body, "transaction": body.get("transaction") or secrets.token_hex(8)}
        r = await self.http.post(path, json=body)
        r.raise_for_status()
        res: dict[str, Any] = r.json()
        if res.get("janus") == "error":
            raise JanusError(str(res.get("error")))
        return res

    async def _poll(self) -> None:
        assert self.http is not None
        while True:
            try:
                r = await self.http.get(f"/{self.session}", params={"maxev": 50}, timeout=40)
                events = r.json()
            except (httpx.HTTPError, ValueError):
                await asyncio.sleep(0.05)
                continue
            if isinstance(events, dict):
                events = [events]
            for ev in events:
                fut = self._events.get(ev.get("transaction", ""))
                if fut is not None and not fut.done() and ev.get("janus") == "event":
                    fut.set_result(ev)

    async def _attach(self) -> int:
        res = await self._post(f"/{self.session}", {"janus": "attach", "plugin": "janus.plugin.videoroom"})
        return int(res["data"]["id"])

    async def _message(
        self, handle: int, body: dict[str, Any], jsep: dict[str, Any] | None = None, wait: bool = True
    ) -> dict[str, Any]:
        tx = secrets.token_hex(8)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._events[tx] = fut
        msg: dict[str, Any] = {"janus": "message", "body": body, "transaction": tx}
        if jsep is not None:
            msg["jsep"] = jsep
        try:
            res = await self._post(f"/{self.session}/{handle}", msg)
            if res.get("janus") == "success" or not wait:
                return res
            async with asyncio.timeout(15):
                ev = await fut
        finally:
            self._events.pop(tx, None)
        data = ev.get("plugindata", {}).get("data", {})
        if "error" in data:
            raise JanusError(f"{data.get('error_code')}: {data['error']}")
        return ev

    async def create_room(self, name: str) -> Room:
        h = await self._attach()
        self._room_seq += 1
        room_id = self._room_seq
        res = await self._message(
            h,
            {
                "request": "create",
                "room": room_id,
                "publishers": 1000,
                "bitrate": 0,
                "fir_freq": 0,
                "audiocodec": "opus",
                "videocodec": "vp8",
                "notify_joining": False,
                "audiolevel_event": False,
            },
        )
        data = res.get("plugindata", {}).get("data", {})
        if data.get("videoroom") != "created":
            raise JanusError(f"room create failed: {data}")
        return Room(room_id, extra={"admin": h, "handles": {}})

    async def close_room(self, room: Room) -> None:
        with contextlib.suppress(Exception):
            await self._message(room.extra["admin"], {"request": "destroy", "room": room.key})
        for h in [room.extra["admin"], *room.extra["handles"].values()]:
            with contextlib.suppress(Exception):
                await self._post(f"/{self.session}/{h}", {"janus": "detach"})

    async def _trickle_done(self, handle: int) -> None:
        await self._post(f"/{self.session}/{handle}", {"janus": "trickle", "candidate": {"completed": True}})

    async def publish(self, room: Room, participant: str, offer: str) -> str:
        h = await self._attach()
        room.extra["handles"][f"pub:{participant}"] = h
        ev = await self._message(
            h,
            {"request": "joinandconfigure", "room": room.key, "ptype": "publisher", "display": participant},
            {"type": "offer", "sdp": offer},
        )
        room.feeds[participant] = ev["plugindata"]["data"]["id"]
        await self._trickle_done(h)
        return str(ev["jsep"]["sdp"])

    async def subscribe(self, room: Room, participant: str, publishers: list[str]) -> str:
        h = await self._attach()
        room.extra["handles"][f"sub:{participant}"] = h
        streams = [{"feed": room.feeds[p]} for p in publishers]
        ev = await self._message(
            h, {"request": "join", "room": room.key, "ptype": "subscriber", "streams": streams}
        )
        return str(ev["jsep"]["sdp"])

    async def counters(self) -> dict[str, int]:
        return {}

    async def answer(self, room: Room, participant: str, answer: str) -> None:
        h = room.extra["handles"][f"sub:{participant}"]
        room.extra.setdefault("video_mids", {})[participant] = [
            m.mid for m in parse(answer).media if m.kind == "video" and m.port != 0
        ]
        await self._message(h, {"request": "start"}, {"type": "answer", "sdp": answer})
        await self._trickle_done(h)

    async def set_layer(self, room: Room, participant: str, publisher: str, layer: int) -> None:
        """VideoRoom's per-subscriber simulcast choice: ``configure`` with the stream's ``substream``
        (every video stream of the subscription; the bench subscribes one publisher per handle)."""
        h = room.extra["handles"][f"sub:{participant}"]
        streams = [{"mid": mid, "substream": layer} for mid in room.extra["video_mids"][participant]]
        await self._message(h, {"request": "configure", "streams": streams})
