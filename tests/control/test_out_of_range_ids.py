"""Numbers bigger than the database's integers are invalid input (422), never a 500 (found by
schemathesis: an SDKAppID of 2**64 in the path overflowed SQLite's INTEGER)."""

from __future__ import annotations

from relayroom.config import Settings
from tests.control.helpers import running


async def test_an_sdkappid_out_of_range_is_invalid_input_on_every_route(settings: Settings) -> None:
    async with running(settings) as rt:
        admin = await rt.admin()
        paths = rt.app.openapi()["paths"]
        routes = [(m.upper(), p) for p, ops in paths.items() if "{sdkappid}" in p for m in ops]
        assert len(routes) > 15
        for value in (2**64, 2**63, 0x1_0000_0000, 0, -1):
            for method, path in routes:
                url = path.replace("{sdkappid}", str(value)).replace("{room_key}", "1:n:1")
                r = await rt.client.request(method, url, headers=admin, json={})
                assert r.status_code == 422, (method, url, r.status_code, r.text)
                assert r.json()["error"]["code"] == "invalid_input"
        acc = rt.first.account_id
        r = await rt.client.post(
            f"/api/v1/accounts/{acc}/privacy/requests",
            headers=admin,
            json={"kind": "access", "subject_kind": "end_user", "sdkappid": 2**64, "userid": "alice"},
        )
        assert r.status_code == 422, r.text


async def test_query_numbers_and_dates_at_the_edges_are_invalid_input_or_served(settings: Settings) -> None:
    # the same class as the SDKAppID overflow: page cursors beyond BIGINT and usage windows ending in
    # year 1 or 9999 (found probing after it), oplog times without a zone or at the ends of the calendar
    # (found by the API fuzzer's boundary values) were 500s
    async with running(settings) as rt:
        admin = await rt.admin()
        acc, app = rt.first.account_id, rt.first.sdkappid
        for url, status in [
            (f"/api/v1/accounts/{acc}/oplog?before_seq={2**63}", 422),
            (f"/api/v1/accounts/{acc}/oplog?since=1970-01-01T00:00:00", 200),  # no zone: UTC
            (f"/api/v1/accounts/{acc}/oplog?until=2026-01-01T00:00:00", 200),
            (f"/api/v1/accounts/{acc}/oplog?since=0001-01-01T00:00:00%2B14:00", 422),
            (f"/api/v1/accounts/{acc}/oplog?until=9999-12-31T23:59:59-14:00", 422),
            (f"/api/v1/applications/{app}/callback/deliveries?before_id={2**63}", 422),
            (f"/api/v1/applications/{app}/callback/deliveries?before_id=-{2**70}", 422),
            (f"/api/v1/applications/{app}/usage?end=0001-01-01T00:00:00Z", 422),
            (f"/api/v1/applications/{app}/usage?granularity=5min&end=0001-01-01T00:00:00Z", 422),
            (f"/api/v1/applications/{app}/usage/export?end=0001-01-01T00:00:00Z", 422),
            (f"/api/v1/applications/{app}/usage?end=9999-12-31T23:59:59Z", 422),
            (f"/api/v1/applications/{app}/usage/export?end=9999-12-31T23:59:59Z", 422),
            (f"/api/v1/applications/{app}/usage?start=0001-01-01T00:00:00Z&end=0001-01-02T00:00:00Z", 422),
            (f"/api/v1/applications/{app}/usage?start=2026-01-01T00:00:00&end=2026-01-02T00:00:00Z", 200),
        ]:
            r = await rt.client.get(url, headers=admin)
            assert r.status_code == status, (url, r.status_code, r.text)
