"""The enter message's deviceType / sdkVersion (checked: length, no control characters) and the client
address as the call history keeps it (IPv4 /24, IPv6 /48 unless full addresses are kept)."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relayroom.control.rooms.client_info import client_ip
from relayroom.control.signaling.protocol import BadMessage, EnterData, parse_request


def _enter(**extra: Any) -> str:
    data = {"sdkAppId": 1400000001, "userId": "u", "userSig": "s", "roomId": 1, **extra}
    return json.dumps({"v": 1, "id": 1, "type": "enter", "data": data})


def test_device_type_and_sdk_version_are_read_and_optional() -> None:
    req = parse_request(_enter(deviceType="Web Chrome 120 (Linux)", sdkVersion="relayroom-web/0.1.0"))
    assert isinstance(req.data, EnterData)
    assert (req.data.device_type, req.data.sdk_version) == ("Web Chrome 120 (Linux)", "relayroom-web/0.1.0")
    plain = parse_request(_enter())
    assert isinstance(plain.data, EnterData) and (plain.data.device_type, plain.data.sdk_version) == ("", "")
    long = parse_request(_enter(deviceType="é" * 64)).data
    assert isinstance(long, EnterData) and long.device_type == "é" * 64


@pytest.mark.parametrize(
    "extra",
    [
        {"deviceType": "x" * 65},
        {"sdkVersion": "1" * 65},
        {"deviceType": "a\nb"},
        {"sdkVersion": "\x00"},
        {"deviceType": "\x7f"},
        {"deviceType": 5},
        {"sdkVersion": None},
    ],
)
def test_bad_client_fields_are_a_clear_invalid_fields_error(extra: dict[str, Any]) -> None:
    with pytest.raises(BadMessage) as info:
        parse_request(_enter(**extra))
    name = "deviceType" if "deviceType" in extra else "sdkVersion"
    assert f"({name}:" in info.value.message, info.value.message


def test_addresses_are_cut_to_their_network_unless_kept_in_full() -> None:
    assert client_ip("203.0.113.77", full=False) == "203.0.113.0"
    assert client_ip("203.0.113.77", full=True) == "203.0.113.77"
    assert client_ip("2001:db8:abcd:12:1:2:3:4", full=False) == "2001:db8:abcd::"
    assert client_ip("2001:db8:abcd:12:1:2:3:4", full=True) == "2001:db8:abcd:12:1:2:3:4"
    assert client_ip("::ffff:198.51.100.9", full=False) == "198.51.100.0"
    assert client_ip("fe80::1%eth0", full=False) == "fe80::"
    for nothing in ("", None, "testclient", "unix:/run/x.sock"):
        assert client_ip(nothing, full=False) == "" and client_ip(nothing, full=True) == ""


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)))
def test_a_truncated_address_keeps_exactly_the_network(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    kept = ipaddress.ip_address(client_ip(str(ip), full=False))
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    assert kept == ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address
    assert int(kept) & ((1 << (ip.max_prefixlen - prefix)) - 1) == 0  # no host bits survive
