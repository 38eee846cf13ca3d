"""Response headers set by class, not by endpoint: a new endpoint gets them without remembering to.

- Every API response (console API under ``/api/``, the cloud API on ``POST /``) carries
  ``Cache-Control: no-store``: many of them carry keys, tokens or UserSigs (application create and key
  reveal/rotate, credentials, sign-in, the UserSig tools), and no API answer is worth caching.
- Every HTML page gets ``X-Frame-Options: DENY`` and ``Referrer-Policy: no-referrer`` (no framing,
  no URL leaking to another origin), unless the page set its own.
- Every response gets ``X-Content-Type-Options: nosniff``.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def _is_api(scope: Scope) -> bool:
    path = str(scope.get("path", ""))
    return path.startswith("/api/") or (path == "/" and scope.get("method") == "POST")


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = _is_api(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if api:
                    headers["Cache-Control"] = "no-store"
                if headers.get("content-type", "").startswith("text/html"):
                    headers.setdefault("X-Frame-Options", "DENY")
                    headers.setdefault("Referrer-Policy", "no-referrer")
                headers.setdefault("X-Content-Type-Options", "nosniff")
            await send(message)

        await self.app(scope, receive, send_with_headers)
