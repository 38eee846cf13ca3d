"""The workers' ICE-TCP counts on the control plane's /metrics (Prometheus)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from relayroom.config import Settings
from relayroom.control.app import create_app
from relayroom.media.metrics import MediaCollector
from relayroom.media.service import MediaService
from tests.serving import served

pytestmark = pytest.mark.timeout(60)


def test_collector_exposes_counts_per_worker_and_close_reason() -> None:
    registry = CollectorRegistry()
    stats = {
        0: {"accepted": 7, "pending": 2, "bound": 1, "sendDropped": 3, "closed": {"oversized": 4, "idle": 0}},
        1: {"accepted": 1, "pending": 0, "bound": 1, "sendDropped": 0, "closed": {}},
    }
    registry.register(MediaCollector(lambda: stats))
    text = generate_latest(registry).decode()
    assert 'relayroom_media_tcp_connections_total{worker="0"} 7.0' in text
    assert 'relayroom_media_tcp_closed_total{reason="oversized",worker="0"} 4.0' in text
    assert 'relayroom_media_tcp_open{state="pending",worker="0"} 2.0' in text
    assert 'relayroom_media_tcp_open{state="bound",worker="1"} 1.0' in text
    assert 'relayroom_media_tcp_send_dropped_total{worker="0"} 3.0' in text


def test_collector_exposes_pipes_per_worker_producers_packets_and_bytes() -> None:
    registry = CollectorRegistry()
    pipes = {
        0: [{"id": "p0", "producersPiped": 2, "pipeProducers": 0, "txPackets": 900, "txBytes": 9e5}],
        1: [{"id": "p1", "producersPiped": 0, "pipeProducers": 2, "rxPackets": 898, "rxBytes": 8.9e5}],
    }
    registry.register(MediaCollector(dict, lambda: pipes))
    text = generate_latest(registry).decode()
    assert 'relayroom_media_pipe_producers{direction="out",worker="0"} 2.0' in text
    assert 'relayroom_media_pipe_producers{direction="in",worker="1"} 2.0' in text
    assert 'relayroom_media_pipe_packets_total{direction="tx",pipe="p0",worker="0"} 900.0' in text
    assert 'relayroom_media_pipe_bytes_total{direction="rx",pipe="p1",worker="1"} 890000.0' in text


async def test_junk_on_a_worker_tcp_port_is_counted_on_metrics(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", media={"workers": 1, "ports": [0], "loopback_only": True})
    app = create_app(settings)
    async with served(app) as port, httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        media = app.state.media
        assert isinstance(media, MediaService)
        tcp_port = (await media.dump())["workers"][0]["tcp"]["port"]
        for payload in (b"GET / HTTP/1.1\r\n\r\n", b"\x00\x00"):  # oversized, then an empty frame
            reader, writer = await asyncio.open_connection("127.0.0.1", tcp_port)
            writer.write(payload)
            with contextlib.suppress(ConnectionResetError):  # closed with a reset: nothing owed
                async with asyncio.timeout(10):
                    while await reader.read(100):
                        pass
            writer.close()

        async def counted() -> bool:
            text = (await http.get("/metrics")).text
            return (
                'relayroom_media_tcp_closed_total{reason="oversized",worker="0"} 1.0' in text
                and 'relayroom_media_tcp_closed_total{reason="bad_framing",worker="0"} 1.0' in text
                and 'relayroom_media_tcp_connections_total{worker="0"} 2.0' in text
            )

        deadline = asyncio.get_running_loop().time() + 20
        while not await counted():
            assert asyncio.get_running_loop().time() < deadline, (await http.get("/metrics")).text
            await asyncio.sleep(0.3)
