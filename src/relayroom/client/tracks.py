"""Synthetic media sources (no devices, no numpy) and helpers to inspect decoded frames.

`SineAudioTrack` plays a tone; `TestPatternVideoTrack` paints a solid RGB colour with a moving white bar,
so a receiver can check both the colour (which publisher) and that the picture moves.
"""

from __future__ import annotations

import array
import asyncio
import fractions
import itertools
import math
import time

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import AUDIO_PTIME, VIDEO_CLOCK_RATE, VIDEO_TIME_BASE

RGB = tuple[int, int, int]


class SineAudioTrack(MediaStreamTrack):
    """A 48 kHz mono sine tone, paced in real time (20 ms frames)."""

    kind = "audio"

    def __init__(self, frequency: float = 440.0, amplitude: int = 8000, sample_rate: int = 48000) -> None:
        super().__init__()
        self.frequency = frequency
        self._amplitude = amplitude
        self._rate = sample_rate
        self._samples = int(AUDIO_PTIME * sample_rate)
        self._start: float | None = None
        self._pts = 0
        # One period table is enough for integer-sample frequencies; recompute phase otherwise.
        self._step = 2 * math.pi * frequency / sample_rate

    async def recv(self) -> av.AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._pts += self._samples
            wait = self._start + self._pts / self._rate - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        amp, step, base = self._amplitude, self._step, self._pts
        samples = array.array("h", (int(amp * math.sin(step * (base + i))) for i in range(self._samples)))
        frame = av.AudioFrame(format="s16", layout="mono", samples=self._samples)
        frame.planes[0].update(samples.tobytes())
        frame.pts = self._pts
        frame.sample_rate = self._rate
        frame.time_base = fractions.Fraction(1, self._rate)
        return frame


class TestPatternVideoTrack(MediaStreamTrack):
    """A solid RGB picture with a white vertical bar that moves one step per frame."""

    __test__ = False  # not a pytest test class despite the name
    kind = "video"

    def __init__(
        self,
        colour: RGB = (255, 0, 0),
        width: int = 160,
        height: int = 120,
        fps: int = 15,
        bar_width: int = 8,
    ) -> None:
        super().__init__()
        self.colour = colour
        self._w, self._h, self._fps = width, height, fps
        self._bar = bar_width
        self._start: float | None = None
        self._pts = 0
        self._index = 0
        self._row = bytes(colour) * width

    async def recv(self) -> av.VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._pts += int(VIDEO_CLOCK_RATE / self._fps)
            wait = self._start + self._pts / VIDEO_CLOCK_RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        x = (self._index * 4) % max(1, self._w - self._bar)
        self._index += 1
        row = bytearray(self._row)
        row[x * 3 : (x + self._bar) * 3] = b"\xff" * (self._bar * 3)
        rgb = av.VideoFrame(self._w, self._h, "rgb24")
        plane = rgb.planes[0]
        stride = plane.line_size
        pad = b"\x00" * (stride - self._w * 3)
        plane.update((bytes(row) + pad) * self._h)
        frame = rgb.reformat(format="yuv420p")
        frame.pts = self._pts
        frame.time_base = VIDEO_TIME_BASE
        return frame


class ScaledVideoTrack(MediaStreamTrack):
    """Another track's frames at a smaller size: the small stream (TRTC's dual stream) of a camera, for
    RTP stacks that cannot send simulcast (aiortc). Give it its own relay subscription of the camera."""

    kind = "video"

    def __init__(
        self, source: MediaStreamTrack, divisor: int = 2, width: int | None = None, height: int | None = None
    ) -> None:
        super().__init__()
        self._source = source
        self._divisor = max(1, divisor)
        self._size = (width, height) if width and height else None

    async def recv(self) -> av.VideoFrame:
        frame = await self._source.recv()
        if not isinstance(frame, av.VideoFrame):
            raise TypeError("the source of a scaled track must be video")
        w, h = self._size or (frame.width // self._divisor, frame.height // self._divisor)
        w, h = max(2, w - w % 2), max(2, h - h % 2)  # yuv420p needs even sizes
        small: av.VideoFrame = frame.reformat(width=w, height=h)
        small.pts = frame.pts
        small.time_base = frame.time_base
        return small

    def stop(self) -> None:
        self._source.stop()
        super().stop()


def dominant_rgb(frame: av.VideoFrame) -> RGB:
    """The median colour of a decoded frame, sampled on a grid (the moving bar is a small minority)."""
    rgb = frame.reformat(format="rgb24")
    plane = rgb.planes[0]
    data = bytes(plane)
    stride = plane.line_size
    samples: list[RGB] = []
    for y in range(0, rgb.height, max(1, rgb.height // 8)):
        for x in range(0, rgb.width, max(1, rgb.width // 16)):
            i = y * stride + x * 3
            samples.append((data[i], data[i + 1], data[i + 2]))
    return (
        sorted(s[0] for s in samples)[len(samples) // 2],
        sorted(s[1] for s in samples)[len(samples) // 2],
        sorted(s[2] for s in samples)[len(samples) // 2],
    )


def audio_rms(frame: av.AudioFrame) -> float:
    """Root mean square of a decoded frame's first plane, as signed 16-bit samples."""
    if frame.format.name != "s16":
        frame = av.AudioResampler(format="s16", layout=frame.layout.name, rate=frame.sample_rate).resample(
            frame
        )[0]
    # The plane's buffer can be larger than the samples it holds (decoder padding): count only those.
    count = frame.samples * (len(frame.layout.channels) if not frame.format.is_planar else 1)
    data = array.array("h", bytes(frame.planes[0])[: count * 2])
    if not data:
        return 0.0
    return math.sqrt(sum(s * s for s in data) / len(data))


def audio_frequency(frame: av.AudioFrame) -> float:
    """Estimate of a tone's frequency from the zero crossings of the first channel (tests tell apart
    publishers by their tone)."""
    if frame.format.name != "s16" or frame.samples == 0:
        return 0.0
    channels = 1 if frame.format.is_planar else len(frame.layout.channels)
    data = array.array("h", bytes(frame.planes[0])[: frame.samples * channels * 2])[::channels]
    crossings = sum(1 for a, b in itertools.pairwise(data) if (a < 0) != (b < 0))
    return crossings * frame.sample_rate / (2 * len(data))


def colour_close(a: RGB, b: RGB, tolerance: int = 40) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))
