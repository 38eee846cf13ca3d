"""Records of processing follow the running configuration: a configured TURN server is a recipient."""

from __future__ import annotations

from pathlib import Path

from relayroom.config import Settings
from tests.control.helpers import running


async def test_a_configured_turn_server_is_listed_as_a_recipient_of_client_addresses(tmp_path: Path) -> None:
    urls = ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349"]
    with_turn = Settings(
        data_dir=tmp_path / "a",
        media={"enabled": False},
        turn={"urls": urls, "secret": "a-turn-secret-of-32-characters!!"},
    )
    async with running(with_turn) as rt:
        rec = (await rt.client.get("/api/v1/privacy/processing-records", headers=await rt.admin())).json()
    assert rec["recipients"]["turn_servers"] == urls
    assert "IP addresses" in rec["recipients"]["note"]
    assert "a-turn-secret" not in str(rec)

    without = Settings(data_dir=tmp_path / "b", media={"enabled": False})
    async with running(without) as rt:
        rec = (await rt.client.get("/api/v1/privacy/processing-records", headers=await rt.admin())).json()
    assert rec["recipients"]["turn_servers"] == []
    assert "TURN" not in rec["recipients"]["note"]
