"""A WHIP publisher / WHEP player that is not RelayRoom code: GStreamer's webrtcbin driven from Python.

Runs under Debian's /usr/bin/python3 (python3-gst-1.0 lives there, not in the project's venv); the tests
start it as a subprocess. The WHIP/WHEP HTTP exchange is done here with urllib, as any client would.

    /usr/bin/python3 gst_client.py whip URL TOKEN [--codec vp8|h264] [--colour RRGGBB] [--tone HZ]
    /usr/bin/python3 gst_client.py whep URL TOKEN

Prints JSON lines on stdout: {"event": "answered", "location": ...} after the 201, and for `whep`
{"event": "video", "rgb": [r, g, b], "frames": n} / {"event": "audio", "rms": x, "buffers": n} as media
is decoded. Reads stdin: on EOF (or "stop") it DELETEs the session and exits.

libnice gathers no loopback candidates by default; RelayRoom's candidate is on 127.0.0.1, so the agent
is given 127.0.0.1 as its only local address (nice_agent_add_local_address through ctypes: Debian ships
no GObject introspection data for libnice).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("GstWebRTC", "1.0")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC  # noqa: E402

VIDEO = {
    "vp8": "vp8enc deadline=1 keyframe-max-dist=30 target-bitrate=400000 cpu-used=8 ! rtpvp8pay pt=96 ! "
    "application/x-rtp,media=video,encoding-name=VP8,payload=96,clock-rate=90000",
    "h264": "openh264enc gop-size=30 ! h264parse config-interval=-1 ! "
    "rtph264pay pt=102 aggregate-mode=zero-latency config-interval=-1 ! "
    "application/x-rtp,media=video,encoding-name=H264,payload=102,clock-rate=90000,packetization-mode=(string)1",
}


SINK = "appsink name=sink emit-signals=true"


def emit(event: str, **data: Any) -> None:
    print(json.dumps({"event": event, **data}), flush=True)


def loopback_only(webrtc: Gst.Element) -> None:
    """Make libnice gather on 127.0.0.1 only. The ICE objects are fetched in C (g_object_get): through
    PyGObject the ice-agent wrapper drops a reference it does not own (and NiceAgent has no typelib).
    The two references taken here are kept for the life of the process."""
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype = ctypes.c_void_p
    get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    gobject = ctypes.CDLL("libgobject-2.0.so.0")
    gobject.g_object_get.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p]
    ice = ctypes.c_void_p()
    gobject.g_object_get(get_pointer(webrtc.__gpointer__, None), b"ice-agent", ctypes.byref(ice), None)
    agent = ctypes.c_void_p()
    gobject.g_object_get(ice, b"agent", ctypes.byref(agent), None)
    nice = ctypes.CDLL("libnice.so.10")
    nice.nice_address_new.restype = ctypes.c_void_p
    nice.nice_address_set_from_string.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    nice.nice_agent_add_local_address.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    nice.nice_address_free.argtypes = [ctypes.c_void_p]
    addr = nice.nice_address_new()
    nice.nice_address_set_from_string(addr, b"127.0.0.1")
    if not nice.nice_agent_add_local_address(agent, addr):
        raise RuntimeError("libnice refused 127.0.0.1 as a local address")
    nice.nice_address_free(addr)


class Client:
    def __init__(self, mode: str, url: str, token: str, codec: str, colour: str, tone: float) -> None:
        self.mode, self.url, self.token = mode, url, token
        self.location: str | None = None
        self.loop = GLib.MainLoop()
        if mode == "whip":
            desc = (
                "webrtcbin name=webrtc bundle-policy=max-bundle "
                f"videotestsrc is-live=true pattern=solid-color foreground-color=0xff{colour} ! "
                "video/x-raw,width=320,height=240,framerate=15/1 ! videoconvert ! queue ! "
                f"{VIDEO[codec]} ! webrtc. "
                f"audiotestsrc is-live=true wave=sine freq={tone} volume=0.25 ! "
                "audioconvert ! audioresample ! "
                "opusenc ! rtpopuspay pt=111 ! "
                "application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000 ! webrtc."
            )
            self.pipeline = Gst.parse_launch(desc)
            self.webrtc = self.pipeline.get_by_name("webrtc")
        else:
            self.pipeline = Gst.Pipeline.new("whep")
            self.webrtc = Gst.ElementFactory.make("webrtcbin", "webrtc")
            self.webrtc.set_property("bundle-policy", GstWebRTC.WebRTCBundlePolicy.MAX_BUNDLE)
            self.pipeline.add(self.webrtc)
        loopback_only(self.webrtc)
        if mode == "whep":
            for caps in (
                "application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000",
                "application/x-rtp,media=video,encoding-name=VP8,payload=96,clock-rate=90000; "
                "application/x-rtp,media=video,encoding-name=H264,payload=102,clock-rate=90000,"
                "packetization-mode=(string)1,profile-level-id=(string)42e01f",
            ):
                self.webrtc.emit(
                    "add-transceiver",
                    GstWebRTC.WebRTCRTPTransceiverDirection.RECVONLY,
                    Gst.Caps.from_string(caps),
                )
            self.webrtc.connect("pad-added", self.on_pad)
            self.video_frames = 0
            self.audio_buffers = 0
        self.webrtc.connect("on-negotiation-needed", self.on_negotiation_needed)
        self.webrtc.connect("notify::ice-connection-state", self.on_state)
        self.webrtc.connect("notify::connection-state", self.on_state)
        bus = self.pipeline.get_bus()
        bus.add_signal_watch()
        bus.connect("message::error", self.on_error)

    def run(self) -> None:
        self.pipeline.set_state(Gst.State.PLAYING)
        if self.mode == "whip":
            for i in range(2):  # the video and audio transceivers the pipeline created
                t = self.webrtc.emit("get-transceiver", i)
                if t is not None:
                    t.set_property("direction", GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY)
        threading.Thread(target=self.watch_stdin, daemon=True).start()
        self.loop.run()
        self.pipeline.set_state(Gst.State.NULL)

    def watch_stdin(self) -> None:
        for line in sys.stdin:
            if line.strip() == "stop":
                break
        GLib.idle_add(self.stop)

    def stop(self) -> bool:
        if self.location:
            req = urllib.request.Request(
                self.location, method="DELETE", headers={"Authorization": f"Bearer {self.token}"}
            )
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    emit("deleted", status=r.status)
            except urllib.error.HTTPError as exc:
                emit("deleted", status=exc.code)
        self.loop.quit()
        return False

    def on_error(self, _bus: Gst.Bus, msg: Gst.Message) -> None:
        err, debug = msg.parse_error()
        emit("error", message=str(err), debug=str(debug)[:500])
        self.loop.quit()

    def on_negotiation_needed(self, _element: Gst.Element) -> None:
        promise = Gst.Promise.new_with_change_func(self.on_offer, None)
        self.webrtc.emit("create-offer", None, promise)

    def on_offer(self, promise: Gst.Promise, _data: object) -> None:
        reply = promise.get_reply()
        offer = reply.get_value("offer")
        self.webrtc.emit("set-local-description", offer, Gst.Promise.new())
        text = offer.sdp.as_text()
        if "--dump" in sys.argv:
            sys.stderr.write(text)
            sys.stderr.flush()
        req = urllib.request.Request(
            self.url,
            data=text.encode(),
            method="POST",
            headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {self.token}"},
        )
        try:
            with urllib.request.urlopen(req, timeout=20) as r:
                answer = r.read().decode()
                self.location = urllib.parse.urljoin(self.url, r.headers["Location"])
                emit("answered", status=r.status, location=self.location, etag=r.headers.get("ETag"))
        except urllib.error.HTTPError as exc:
            emit("refused", status=exc.code, body=exc.read().decode(errors="replace")[:1000])
            GLib.idle_add(self.loop.quit)
            return
        except OSError as exc:
            emit("error", message=f"POST failed: {exc}")
            GLib.idle_add(self.loop.quit)
            return
        _, msg = GstSdp.SDPMessage.new_from_text(answer)
        desc = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, msg)
        done = Gst.Promise.new_with_change_func(self.on_remote_set, None)
        self.webrtc.emit("set-remote-description", desc, done)

    def on_remote_set(self, promise: Gst.Promise, _data: object) -> None:
        reply = promise.get_reply()
        error = reply.get_value("error") if reply is not None and reply.has_field("error") else None
        emit("remote-set", error=str(error) if error else None)

    def on_state(self, element: Gst.Element, pspec: Any) -> None:
        emit(pspec.name, state=str(element.get_property(pspec.name).value_nick))

    # -- WHEP: decode what arrives and report it --------------------------------------------------
    def on_pad(self, _element: Gst.Element, pad: Gst.Pad) -> None:
        if pad.direction != Gst.PadDirection.SRC:
            return
        caps = pad.get_current_caps() or pad.query_caps(None)
        media = caps.get_structure(0).get_string("media")
        enc = caps.get_structure(0).get_string("encoding-name")
        if media == "video":
            depay = {"VP8": "rtpvp8depay ! vp8dec", "H264": "rtph264depay ! h264parse ! openh264dec"}[enc]
            chain = f"queue ! {depay} ! videoconvert ! video/x-raw,format=RGB ! {SINK}"
        else:
            chain = f"queue ! rtpopusdepay ! opusdec ! audioconvert ! audio/x-raw,format=S16LE ! {SINK}"
        bin_ = Gst.parse_bin_from_description(chain, True)
        self.pipeline.add(bin_)
        bin_.sync_state_with_parent()
        pad.link(bin_.get_static_pad("sink"))
        sink = bin_.get_by_name("sink")
        sink.connect("new-sample", self.on_video if media == "video" else self.on_audio)

    def on_video(self, sink: Gst.Element) -> Gst.FlowReturn:
        sample = sink.emit("pull-sample")
        self.video_frames += 1
        if self.video_frames % 5 == 1:
            s = sample.get_caps().get_structure(0)
            width, height = s.get_value("width"), s.get_value("height")
            buf = sample.get_buffer()
            ok, info = buf.map(Gst.MapFlags.READ)
            if ok:
                stride = (width * 3 + 3) & ~3
                off = (height // 2) * stride + (width // 2) * 3
                rgb = list(info.data[off : off + 3])
                buf.unmap(info)
                emit("video", rgb=rgb, frames=self.video_frames)
        return Gst.FlowReturn.OK

    def on_audio(self, sink: Gst.Element) -> Gst.FlowReturn:
        sample = sink.emit("pull-sample")
        self.audio_buffers += 1
        if self.audio_buffers % 25 == 1:
            buf = sample.get_buffer()
            ok, info = buf.map(Gst.MapFlags.READ)
            if ok:
                data = bytes(info.data)
                buf.unmap(info)
                samples = memoryview(data).cast("h")
                rms = (sum(x * x for x in samples) / max(1, len(samples))) ** 0.5
                emit("audio", rms=rms, buffers=self.audio_buffers)
        return Gst.FlowReturn.OK


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["whip", "whep"])
    ap.add_argument("url")
    ap.add_argument("token")
    ap.add_argument("--codec", choices=sorted(VIDEO), default="vp8")
    ap.add_argument("--colour", default="1ec81e")  # RRGGBB
    ap.add_argument("--tone", type=float, default=440.0)
    ap.add_argument("--dump", action="store_true", help="print the offer on stderr")
    args = ap.parse_args()
    Gst.init(None)
    Client(args.mode, args.url, args.token, args.codec, args.colour, args.tone).run()


if __name__ == "__main__":
    main()
