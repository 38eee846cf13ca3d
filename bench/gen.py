"""Load-generator process: hosts synthetic publishers and subscribers, driven by the coordinator.

Run by the coordinator as ``python -m bench.gen --kbps 1000`` (pinned to the generator core). It reads
one JSON request per line on stdin and writes one JSON reply per line on stdout (``{"id": ..., ...}``).
It exits when stdin closes, on ``quit``, or after ``--max-seconds`` whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from typing import Any

from aiortc import RTCCertificate

from bench import sdp
from bench.media import Frame, opus_payloads, video_frames
from bench.peer import Peer, Publisher, SimulcastPublisher, Subscriber, Window, schedule_publishers
from relayroom.media.dtls.dtls_transport import DtlsRole

# A simulcast camera's three encodings as shares of --kbps (≈ Chrome's 1/4, 1/2, 1 resolution ladder)
SIMULCAST_SHARES = (0.15, 0.35, 1.0)


class Generator:
    def __init__(self, kbps: int, burst: bool, seed: int) -> None:
        self.kbps = kbps
        self.burst = burst
        self.cert = RTCCertificate.generateCertificate()
        self.window = Window()
        self.frames, self.key_frame = video_frames(kbps, 30, 90, seed)
        self.audio = opus_payloads(250, seed)
        self.peers: dict[str, Peer] = {}
        self.publishers: list[Publisher] = []
        self.stop = asyncio.Event()
        self.clock: asyncio.Task[None] | None = None
        self.reported_joins: set[str] = set()
        self.deferred: dict[str, sdp.RemoteDescription] = {}  # subscribers answered, not started
        self.seed = seed
        self.layers: list[tuple[list[Frame], Frame]] = []  # simulcast encodings, built on first use

    def _simulcast_layers(self) -> list[tuple[list[Frame], Frame]]:
        if not self.layers:
            self.layers = [
                video_frames(max(1, int(self.kbps * share)), 30, 90, self.seed + i)
                for i, share in enumerate(SIMULCAST_SHARES)
            ]
        return self.layers

    def _pubs(self) -> list[Publisher]:
        return self.publishers

    async def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        op = req["op"]
        if op == "pub_offer" and req.get("simulcast"):
            spub = SimulcastPublisher(
                req["name"],
                self.cert,
                self.window,
                stream_id=int(req["stream_id"]),
                audio=bool(req.get("audio", True)),
                layers=self._simulcast_layers(),
                audio_payloads=self.audio,
                kbps=int(self.kbps * sum(SIMULCAST_SHARES)),
                burst=self.burst,
            )
            return self._add_publisher(spub, req, spub.video_ssrcs)
        if op == "pub_offer":
            pub = Publisher(
                req["name"],
                self.cert,
                self.window,
                stream_id=int(req["stream_id"]),
                audio=bool(req.get("audio", True)),
                video=bool(req.get("video", True)),
                frames=self.frames,
                key_frame=self.key_frame,
                audio_payloads=self.audio,
                kbps=self.kbps,
                burst=self.burst,
            )
            return self._add_publisher(pub, req, None)
        if op == "pub_answer":
            peer = self.peers[req["name"]]
            remote = sdp.parse(req["sdp"])
            # We offered actpass: the answerer's "active" makes us the DTLS server.
            role = DtlsRole.SERVER if remote.setup == "active" else DtlsRole.CLIENT
            peer.start(remote, controlling=True, dtls_role=role)
            return {}
        if op == "sub_answer":
            # count=False: a subscriber whose packets are not counted (bench/robust.py's joiners)
            sub = Subscriber(req["name"], self.cert, self.window if req.get("count", True) else Window())
            sub.start_ns = int(req.get("start_ns") or time.time_ns())
            self.peers[sub.name] = sub
            remote = sdp.parse(req["sdp"])
            answer = sdp.subscriber_answer(
                remote, ufrag=sub.ufrag, pwd=sub.pwd, fingerprint=sub.fingerprint, port=sub.port
            )
            # A full-ICE offerer (Janus) controls; against ICE-lite (RelayRoom) we do.
            if req.get("defer"):  # ICE and DTLS start with ``sub_start`` (bench/robust.py's mass join)
                self.deferred[sub.name] = remote
            else:
                sub.start(remote, controlling=remote.ice_lite, dtls_role=DtlsRole.CLIENT)
            return {"sdp": answer}
        if op == "sub_start":
            for name in req["names"]:
                p = self.peers.get(name)
                deferred = self.deferred.pop(name, None)
                if p is not None and deferred is not None:
                    p.start_ns = time.time_ns()
                    p.start(deferred, controlling=deferred.ice_lite, dtls_role=DtlsRole.CLIENT)
            return {}
        if op == "wait":
            names = req["names"]
            deadline = time.monotonic() + float(req.get("wait_s", 15))
            for n in names:
                p = self.peers.get(n)
                if p is None:
                    continue
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(0.01, deadline - time.monotonic())):
                        await p.connected.wait()
            failed = {
                n: (self.peers[n].failed or "timeout")
                for n in names
                if n in self.peers and (self.peers[n].failed or not self.peers[n].connected.is_set())
            }
            profiles = sorted({self.peers[n].srtp_profile for n in names if n in self.peers})
            return {"failed": failed, "profiles": profiles}
        if op == "arm":
            self.window.reset(int(req["t0"]), int(req["t1"]))
            return {}
        if op == "arm_bins":
            self.window.reset_bins(int(req["t0"]), int(req["bin_ns"]), int(req["n"]))
            return {}
        if op == "collect":
            w = self.window
            joins = []
            for p in self.peers.values():
                if isinstance(p, Subscriber) and p.name not in self.reported_joins and p.first_rtp_ns:
                    self.reported_joins.add(p.name)
                    joins.append(
                        {
                            "name": p.name,
                            "connect_ms": (p.connected_ns - p.start_ns) / 1e6 if p.connected_ns else None,
                            "first_ms": (p.first_rtp_ns - p.start_ns) / 1e6,
                            "key_ms": (p.first_key_ns - p.start_ns) / 1e6 if p.first_key_ns else None,
                        }
                    )
            waiting = [
                p.name for p in self.peers.values() if isinstance(p, Subscriber) and not p.first_rtp_ns
            ]
            return {
                "received": w.received,
                "bytes": w.received_bytes,
                "bad": w.bad,
                "hist": {str(i): c for i, c in enumerate(w.hist) if c},
                "received_kind": w.received_kind,
                "sent_bins": w.sent_bins,
                "ontime_bins": w.ontime_bins,
                "sent": dict(w.sent),
                "joins": joins,
                "no_media": waiting,
                "socket_drops": self.socket_drops(),
                "key_frames": sum(p.key_frames_sent for p in self.publishers),
                "plis": sum(p.plis for p in self.publishers),
            }
        if op == "close":
            for n in req.get("names") or list(self.peers):
                p = self.peers.pop(n, None)
                if p is not None:
                    p.close()
                    if isinstance(p, Publisher):
                        self.publishers.remove(p)
            return {}
        if op == "ping":
            return {"pid": os.getpid()}
        raise ValueError(f"unknown op {op}")

    def _add_publisher(
        self, pub: Publisher, req: dict[str, Any], video_ssrcs: list[int] | None
    ) -> dict[str, Any]:
        pub.start_ns = int(req.get("start_ns") or time.time_ns())
        self.peers[pub.name] = pub
        self.publishers.append(pub)
        if self.clock is None:
            self.clock = schedule_publishers(self._pubs, self.stop)
        offer = sdp.publisher_offer(
            ufrag=pub.ufrag,
            pwd=pub.pwd,
            fingerprint=pub.fingerprint,
            port=pub.port,
            audio_ssrc=pub.audio_ssrc,
            video_ssrc=pub.video_ssrc,
            stream=pub.name,
            video_ssrcs=video_ssrcs,
        )
        return {"sdp": offer}

    def socket_drops(self) -> int:
        """Datagrams the kernel dropped on our subscribers' sockets (full receive buffer): generator
        overload, not server loss. From the last column of /proc/net/udp."""
        ports = {f"0100007F:{p.port:04X}" for p in self.peers.values() if isinstance(p, Subscriber)}
        drops = 0
        with contextlib.suppress(OSError), open("/proc/net/udp") as f:
            next(f, None)
            for line in f:
                cols = line.split()
                if len(cols) > 12 and cols[1] in ports:
                    drops += int(cols[-1])
        return drops

    def close(self) -> None:
        self.stop.set()
        for p in self.peers.values():
            p.close()
        self.peers.clear()


async def serve(args: argparse.Namespace) -> None:
    gen = Generator(args.kbps, args.burst, args.seed)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=16 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout

    def reply(msg: dict[str, Any]) -> None:
        out.write(json.dumps(msg) + "\n")
        out.flush()

    async def one(req: dict[str, Any]) -> None:
        try:
            res = await gen.handle(req)
            reply({"id": req.get("id"), "ok": True, **res})
        except Exception as exc:
            reply({"id": req.get("id"), "ok": False, "error": f"{exc.__class__.__name__}: {exc}"})

    tasks: set[asyncio.Task[None]] = set()
    try:
        async with asyncio.timeout(args.max_seconds):
            while True:
                line = await reader.readline()
                if not line:
                    break
                req = json.loads(line)
                if req.get("op") == "quit":
                    reply({"id": req.get("id"), "ok": True})
                    break
                t = loop.create_task(one(req))
                tasks.add(t)
                t.add_done_callback(tasks.discard)
    except TimeoutError:
        pass
    finally:
        gen.close()
        for t in tasks:
            t.cancel()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kbps", type=int, default=1000)
    ap.add_argument("--burst", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-seconds", type=float, default=3600)
    args = ap.parse_args()
    import uvloop

    uvloop.run(serve(args))


if __name__ == "__main__":
    main()
