"""What a member's client says about itself at entry, and the address it connected from.

``device_type`` and ``sdk_version`` come from the signalling ``enter`` message (docs/signalling.md),
checked there (length, no control characters); ``client_ip`` is the peer address of the signalling
connection. They reach the call history (DescribeUserInfo's DeviceType, SdkVersion, ClientIp) in memory
through the enter event; the history stores the address cut to its network by :func:`client_ip` unless
the deployment keeps full addresses (``privacy.store_full_client_ip``). Nothing else uses them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

IPV4_PREFIX = 24
IPV6_PREFIX = 48


@dataclass(frozen=True)
class ClientInfo:
    device_type: str = ""
    sdk_version: str = ""
    client_ip: str = ""  # as seen on the connection; stored only through client_ip()


def client_ip(address: str | None, *, full: bool) -> str:
    """The address to keep: ``203.0.113.7`` -> ``203.0.113.0``, ``2001:db8:1:2::7`` -> ``2001:db8:1::``
    (or unchanged with ``full``); an IPv4-mapped IPv6 address counts as IPv4; anything that is not an
    IP address (a Unix socket, a test transport) -> ``""``."""
    if not address:
        return ""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return ""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if full:
        return str(ip)
    prefix = IPV4_PREFIX if ip.version == 4 else IPV6_PREFIX
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)
