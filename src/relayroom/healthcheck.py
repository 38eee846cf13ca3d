"""``python -m relayroom.healthcheck``: exit 0 when this machine's RelayRoom answers ``/healthz`` with 200.

For container health checks (the image's HEALTHCHECK). Reads the same settings as ``relayroom serve``
(environment, ``RELAYROOM_CONFIG``), so it follows the port and TLS of the server it checks.
"""

from __future__ import annotations

import sys

import httpx

from relayroom.config import load_settings


def main() -> int:
    settings = load_settings()
    # A wildcard bind is reached over loopback; TLS is checked without verification (the certificate is
    # for the public name, and this only asks the local process whether it is up).
    host = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(settings.host, settings.host)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    url = f"{settings.http_scheme}://{host}:{settings.port}/healthz"
    try:
        r = httpx.get(url, timeout=4, verify=settings.tls_cert is None)
    except httpx.HTTPError as exc:
        print(f"unhealthy: {url}: {type(exc).__name__}", file=sys.stderr)
        return 1
    if r.status_code != 200:
        print(f"unhealthy: {url}: HTTP {r.status_code}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
