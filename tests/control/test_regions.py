"""Regions as separate clusters (control/regions.py): the static region map, and two real regions on
loopback, each a `relayroom serve` process on its own PostgreSQL database.

An application of region B reached through region A's node, by signalling entry or by the cloud API
(official SDK), is refused with the wrong-region error and B's URL, and no row of it is written in A's
database; the same requests at B's node work."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import inspect, text

from relayroom.auth.usersig import gen_usersig
from relayroom.client import RelayRoomClient, RelayRoomError
from relayroom.config import Settings
from relayroom.control.regions import RegionMap, cloud_api_region_error
from relayroom.control.rooms.errors import ErrorCode
from relayroom.storage.db import Database
from tests.conftest import PG_ADMIN_DSN, pg_problem
from tests.control.cloudapi.server import call, trtc_client
from tests.processes import free_port, start_server, stop, wait_ready

EU = (1_400_000_000, 1_499_999_999)
US = (1_500_000_000, 1_599_999_999)


def region_map(eu_url: str = "http://eu.example", us_url: str = "https://us.example") -> dict[str, Any]:
    return {
        "eu": {"url": eu_url, "sdkappids": f"{EU[0]}-{EU[1]}"},
        "us": {"url": us_url, "sdkappids": list(US)},
    }


# ------------------------------------------------------------------------------ the region map


def test_an_sdkappid_is_placed_by_its_range_and_only_other_regions_are_elsewhere() -> None:
    regions = RegionMap.from_settings(Settings(region="eu", region_map=region_map()))
    assert regions.enabled
    assert regions.elsewhere(EU[0]) is None and regions.elsewhere(EU[1]) is None  # this region's
    us = regions.elsewhere(US[0])
    assert us is not None and (us.name, us.url) == ("us", "https://us.example")
    assert regions.elsewhere(US[1] + 1) is None  # in no range: this node's database decides
    assert not RegionMap.from_settings(Settings()).enabled


def test_region_map_settings_are_checked() -> None:
    s = Settings(region="eu", region_map=region_map())
    assert s.regions == ["eu"]  # without `regions`: this database holds the node's region only
    assert s.region_map["us"].sdkappids == US
    with pytest.raises(ValidationError, match="no entry for this node's region"):
        Settings(region="local", regions=["local"], region_map=region_map())
    with pytest.raises(ValidationError, match="overlap"):
        Settings(
            region="eu",
            region_map={**region_map(), "ap": {"url": "http://ap", "sdkappids": "1499999999-1500000001"}},
        )
    with pytest.raises(ValidationError, match="one or the other"):
        Settings(region="eu", regions=["eu", "us"], region_map=region_map())
    with pytest.raises(ValidationError, match="FIRST-LAST"):
        Settings(region="eu", region_map={"eu": {"url": "http://eu", "sdkappids": "14e8"}})
    with pytest.raises(ValidationError, match="first <= last"):
        Settings(region="eu", region_map={"eu": {"url": "http://eu", "sdkappids": [5, 4]}})
    with pytest.raises(ValidationError, match="http"):
        Settings(region="eu", region_map={"eu": {"url": "eu.example", "sdkappids": [1, 2]}})


def test_region_map_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from relayroom.config import load_settings

    monkeypatch.setenv("RELAYROOM_REGION", "us")
    monkeypatch.setenv("RELAYROOM_REGION_MAP", json.dumps(region_map()))
    s = load_settings()
    assert s.region == "us" and s.regions == ["us"] and s.region_map["eu"].url == "http://eu.example"


@pytest.mark.parametrize(
    ("body", "query", "refused"),
    [
        (json.dumps({"SdkAppId": US[0], "RoomId": 1}).encode(), {}, True),
        (json.dumps({"SdkAppId": EU[0], "RoomId": 1}).encode(), {}, False),
        (b"Action=DismissRoom&SdkAppId=" + str(US[1]).encode(), {}, True),  # v1 form body
        (b"", {"SdkAppId": str(US[0])}, True),  # GET
        (json.dumps({"SdkAppId": True}).encode(), {}, False),
        (json.dumps({"SdkAppId": "x"}).encode(), {}, False),
        (json.dumps([US[0]]).encode(), {}, False),
        (b"[" * 10_000, {}, False),  # too deep: left to the normal checks
        (b"\xff\xfe", {}, False),
    ],
)
def test_the_cloud_api_region_check_reads_the_sdkappid_as_sent(
    body: bytes, query: dict[str, str], refused: bool
) -> None:
    regions = RegionMap.from_settings(Settings(region="eu", region_map=region_map()))
    err = cloud_api_region_error(regions, body, query)
    assert (err is not None) == refused
    if err is not None:
        assert err.code == "UnsupportedRegion" and err.details["RegionUrl"] == "https://us.example"


# ------------------------------------------------------------------------------ two regions, two processes


@pytest.fixture
def two_databases() -> Iterator[tuple[str, str]]:
    """Two fresh PostgreSQL databases on 127.0.0.1:5432 (one per region), dropped afterwards."""
    import asyncpg

    problem = pg_problem()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)
    names = [f"relayroom_region_{r}_{uuid.uuid4().hex[:10]}" for r in ("eu", "us")]

    async def admin(*sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            for statement in sql:
                await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(admin(*(f'CREATE DATABASE "{n}"' for n in names)))
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    try:
        yield f"{base}/{names[0]}", f"{base}/{names[1]}"
    finally:
        asyncio.run(admin(*(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)' for n in names)))


def _first_start(data_dir: Path) -> dict[str, str]:
    text_ = (data_dir / "first-start.txt").read_text()
    return {
        "password": text_.split("password:")[1].split()[0],
        "sdkappid": text_.split("SDKAppID:")[1].split()[0],
        "key": text_.split("SDKSecretKey:")[1].split()[0],
    }


async def _rows_of(db_url: str, sdkappid: int) -> dict[str, int]:
    """Rows that name ``sdkappid`` in any table of the database (a column ``sdkappid``, or the text of
    an operation-log entry)."""
    db = Database(db_url)
    try:
        async with db.engine.connect() as conn:
            tables = await conn.run_sync(
                lambda c: {
                    t: [col["name"] for col in inspect(c).get_columns(t)]
                    for t in inspect(c).get_table_names()
                }
            )
            found: dict[str, int] = {}
            for table, columns in tables.items():
                if "sdkappid" in columns:
                    n = (
                        await conn.execute(
                            text(f"SELECT count(*) FROM {table} WHERE sdkappid = :a"), {"a": sdkappid}
                        )
                    ).scalar_one()
                    found[table] = int(n)
            n = (
                await conn.execute(
                    text("SELECT count(*) FROM oplog_entries WHERE payload LIKE :p"), {"p": f"%{sdkappid}%"}
                )
            ).scalar_one()
            found["oplog_entries(payload)"] = int(n)
            return found
    finally:
        await db.engine.dispose()


@pytest.mark.postgres
@pytest.mark.slow  # two server processes (about 25 s on a loaded machine)
async def test_two_regions_refuse_each_others_apps_with_the_right_url_and_keep_no_row_of_them(
    tmp_path: Path, two_databases: tuple[str, str]
) -> None:
    eu_db, us_db = two_databases
    eu_port, us_port = free_port(), free_port()
    eu_url, us_url = f"http://127.0.0.1:{eu_port}", f"http://127.0.0.1:{us_port}"
    table = json.dumps(region_map(eu_url, us_url))
    procs = {
        "eu": start_server(
            tmp_path / "eu",
            eu_port,
            env={"RELAYROOM_DATABASE_URL": eu_db, "RELAYROOM_REGION": "eu", "RELAYROOM_REGION_MAP": table},
        ),
        "us": start_server(
            tmp_path / "us",
            us_port,
            env={"RELAYROOM_DATABASE_URL": us_db, "RELAYROOM_REGION": "us", "RELAYROOM_REGION_MAP": table},
        ),
    }
    try:
        wait_ready(eu_port, procs["eu"])
        wait_ready(us_port, procs["us"])
        eu, us = _first_start(tmp_path / "eu"), _first_start(tmp_path / "us")
        eu_app, us_app = int(eu["sdkappid"]), int(us["sdkappid"])
        # each region allocates its applications in its own range
        assert EU[0] <= eu_app <= EU[1] and US[0] <= us_app <= US[1]
        us_sig = gen_usersig(us_app, us["key"], "alice")

        # signalling entry: region A refuses with B's URL; B lets the same user in
        async with RelayRoomClient(f"ws://127.0.0.1:{eu_port}/signal") as client:
            with pytest.raises(RelayRoomError) as refused:
                await client.enter_room(sdk_app_id=us_app, user_id="alice", user_sig=us_sig, room_id=7)
        assert refused.value.code == ErrorCode.REGION_MISMATCH
        assert refused.value.details == {"regionUrl": us_url, "region": "us"}
        assert us_url in refused.value.message
        async with RelayRoomClient(f"ws://127.0.0.1:{us_port}/signal") as client:
            await client.enter_room(sdk_app_id=us_app, user_id="alice", user_sig=us_sig, room_id=7)
            await client.exit_room()
        async with RelayRoomClient(f"ws://127.0.0.1:{eu_port}/signal") as client:  # A's own app: fine
            eu_sig = gen_usersig(eu_app, eu["key"], "bob")
            await client.enter_room(sdk_app_id=eu_app, user_id="bob", user_sig=eu_sig, room_id=7)
            await client.exit_room()

        # cloud API with the official SDK and B's credential: A answers UnsupportedRegion, B answers
        async with httpx.AsyncClient(base_url=us_url, trust_env=False) as http:
            login = await http.post(
                "/api/v1/auth/login", json={"username": "admin", "password": us["password"]}
            )
            headers = {"Authorization": f"Bearer {login.json()['token']}"}
            me = (await http.get("/api/v1/me", headers=headers)).json()
            account_id = me.get("account_id") or me["accounts"][0]["id"]
            r = await http.post(f"/api/v1/accounts/{account_id}/credentials", headers=headers)
            assert r.status_code == 201, r.text
            secret_id, secret_key = r.json()["secret_id"], r.json()["secret_key"]
        from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

        params = {"SdkAppId": us_app, "RoomId": 7, "UserIds": ["alice"]}
        with pytest.raises(TencentCloudSDKException) as wrong:
            await call(trtc_client(f"127.0.0.1:{eu_port}", secret_id, secret_key), "RemoveUser", params)
        assert wrong.value.get_code() == "UnsupportedRegion" and us_url in wrong.value.get_message()
        with pytest.raises(TencentCloudSDKException) as right:  # B knows the app: the room is gone
            await call(trtc_client(f"127.0.0.1:{us_port}", secret_id, secret_key), "RemoveUser", params)
        assert right.value.get_code() != "UnsupportedRegion"
        async with httpx.AsyncClient(base_url=eu_url, trust_env=False) as http:
            headers = {"X-TC-Action": "RemoveUser"}  # unsigned: the region is told before authentication
            raw = await http.post("/", content=json.dumps(params), headers=headers)
        assert raw.json()["Response"]["Error"]["RegionUrl"] == us_url

        # no row of B's application in A's database; B's database has it
        assert not any((await _rows_of(eu_db, us_app)).values()), await _rows_of(eu_db, us_app)
        assert (await _rows_of(us_db, us_app))["applications"] == 1
    finally:
        for proc in procs.values():
            stop(proc)
