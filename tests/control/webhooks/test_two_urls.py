"""Room events and media events to their own callback URLs (as TRTC configures them); one URL stays
valid for both; a group without a URL is not written; the console API validates both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from relayroom.control.webhooks import body as cb_body
from tests.control.cloudapi.server import Live, live_server, settings_for
from tests.control.webhooks.receiver import Receiver, receiver
from tests.control.webhooks.test_delivery import EXPECTED, FAST, KEY, _manager, _scripted_call
from tests.serving import eventually

pytestmark = pytest.mark.timeout(90)

ROOM_EVENTS = [e for e in EXPECTED if e[0] < 200]
MEDIA_EVENTS = [e for e in EXPECTED if e[0] >= 200]


async def _put(live: Live, body: dict[str, Any]) -> dict[str, Any]:
    assert live.first is not None
    r = await live.http.put(
        f"/api/v1/applications/{live.first.sdkappid}/callback", headers=live.admin, json=body
    )
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


async def _get(live: Live) -> dict[str, Any]:
    assert live.first is not None
    r = await live.http.get(f"/api/v1/applications/{live.first.sdkappid}/callback", headers=live.admin)
    out: dict[str, Any] = r.json()
    return out


def _events(rcv: Receiver) -> list[tuple[int, str | None]]:
    return [(r.json["EventType"], r.json["EventInfo"].get("UserId")) for r in rcv.acked()]


async def _run_call(live: Live) -> None:
    manager = _manager(live)
    await manager.start()
    try:
        await _scripted_call(manager, live)
    finally:
        await manager.close()


async def test_room_and_media_events_go_to_their_own_urls_and_one_url_serves_both(tmp_path: Path) -> None:
    async with (
        receiver() as rooms,
        receiver() as media,
        live_server(settings_for(tmp_path / "d"), state={"webhook_params": FAST}) as live,
    ):
        assert live.first is not None
        # one URL: both groups (as before)
        cfg = await _put(live, {"url": rooms.url, "key": KEY})
        assert cfg["url"] == cfg["media_url"] == rooms.url
        # then the media events apart
        cfg = await _put(live, {"media_url": media.url})
        assert cfg["url"] == rooms.url and cfg["media_url"] == media.url and cfg["key_set"] is True
        assert (await _get(live))["media_url"] == media.url
        await _run_call(live)
        await eventually(
            lambda: len(rooms.acked()) >= len(ROOM_EVENTS) and len(media.acked()) >= len(MEDIA_EVENTS)
        )
        assert _events(rooms) == ROOM_EVENTS
        assert _events(media) == MEDIA_EVENTS
        for r in rooms.acked() + media.acked():
            assert cb_body.verify(KEY, r.body, r.headers["sign"])
            assert r.json["EventGroupId"] == (1 if r.json["EventType"] < 200 else 2)

        # media events off: only room events are written (no outbox row for the other group)
        rooms.received.clear()
        media.received.clear()
        cfg = await _put(live, {"media_url": ""})
        assert cfg["url"] == rooms.url and cfg["media_url"] == ""
        assert (await _get(live))["media_url"] == ""
        before = len(
            (
                await live.http.get(
                    f"/api/v1/applications/{live.first.sdkappid}/callback/deliveries", headers=live.admin
                )
            ).json()
        )
        await _run_call(live)
        await eventually(lambda: len(rooms.acked()) >= len(ROOM_EVENTS))
        assert _events(rooms) == ROOM_EVENTS and media.received == []
        log = (
            await live.http.get(
                f"/api/v1/applications/{live.first.sdkappid}/callback/deliveries?limit=1000",
                headers=live.admin,
            )
        ).json()
        assert len(log) - before == len(ROOM_EVENTS) and all(
            d["event_group"] == 1 for d in log[: len(ROOM_EVENTS)]
        )

        # one URL again: valid for both
        cfg = await _put(live, {"url": media.url})
        assert cfg["url"] == cfg["media_url"] == media.url

        # the oplog records both URLs' changes
        oplog = await live.http.get(
            f"/api/v1/accounts/{live.first.account_id}/oplog?action=app.callback.update", headers=live.admin
        )
        assert oplog.status_code == 200, oplog.text
        changes = [e["content"] for e in oplog.json()]
        assert len(changes) == 4, changes
        latest = changes[0]
        assert latest["before"]["media_url"] == "" and latest["after"]["media_url"] == media.url, latest


async def test_both_urls_are_validated(tmp_path: Path) -> None:
    async with live_server(settings_for(tmp_path / "d")) as live:
        assert live.first is not None
        for bad in ("ftp://example.org/cb", "not a url", "http://" + "a" * 2100):
            for body in (
                {"media_url": bad},
                {"url": "http://127.0.0.1:9/cb", "media_url": bad},
                {"url": bad},
            ):
                r = await live.http.put(
                    f"/api/v1/applications/{live.first.sdkappid}/callback", headers=live.admin, json=body
                )
                assert r.status_code in (400, 422), (body, r.text)
        got = await _get(live)
        assert got["url"] == "" and got["media_url"] == ""
