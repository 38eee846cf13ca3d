"""Static browser files and the demo app's dev-only UserSig endpoint.

The files are package data (``relayroom/web/sdk`` and ``relayroom/web/demo``, covered by the
``web/**/*`` package-data pattern), read with ``importlib.resources`` so an installed wheel serves them
as well as a checkout; the repository's ``sdk/js/`` and ``web/demo/`` are links to them. The SDK is
native ES modules: the entry ``/sdk/relayroom.js`` imports its parts from ``/sdk/lib/*.js``.

``POST /api/dev/usersig`` exists only when ``settings.dev`` is true (``relayroom serve --dev``): it signs
a UserSig for the demo application so that a newcomer can open two tabs and talk. It signs for that one
application only, the one first start created (its SDKAppID is kept in the database), and only while it
and its account are enabled: never for another application, whatever the state of the demo one. It
never returns or logs the key, and never logs the UserSig.
"""

from __future__ import annotations

import logging
import re
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from relayroom.control.applications.service import DemoUnavailable
from relayroom.control.deps import ServicesDep

log = logging.getLogger(__name__)

router = APIRouter()

DEMO_USERSIG_EXPIRE_S = 24 * 3600
_USER_ID = re.compile(r"[A-Za-z0-9_\-]{1,32}")
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".ts": "application/typescript; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
}
# The SDK's files: the entry and its declarations, and the modules under lib/ (lower-case names only, so
# no path can leave the folder).
_SDK_PATH = re.compile(r"relayroom\.js|relayroom\.d\.ts|lib/[a-z0-9][a-z0-9-]*\.js")
_DEMO_FILES = ("index.html", "demo.js", "layout.js", "demo.css")
# The demo page loads only same-origin files; camera, microphone and screen capture for this origin.
_DEMO_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self' blob: mediastream:; connect-src 'self' ws: wss:; frame-ancestors 'none'"
)


def static_root() -> Traversable:
    return resources.files("relayroom").joinpath("web")


def _file(folder: str, name: str, *, csp: bool = False) -> Response:
    path = static_root().joinpath(folder, *name.split("/"))
    if not path.is_file():
        raise HTTPException(status_code=404, detail="not found")
    suffix = "." + name.rsplit(".", 1)[-1]
    headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    if folder == "sdk":
        headers["Access-Control-Allow-Origin"] = "*"  # an ES module another origin may import
    if csp:
        headers["Content-Security-Policy"] = _DEMO_CSP
    media_type = _TYPES.get(suffix, "application/octet-stream")
    return Response(path.read_bytes(), media_type=media_type, headers=headers)


@router.get("/sdk/{name:path}", tags=["browser"], include_in_schema=False)
async def sdk_file(name: str) -> Response:
    if not _SDK_PATH.fullmatch(name):
        raise HTTPException(status_code=404, detail="not found")
    return _file("sdk", name)


@router.get("/demo", tags=["browser"], include_in_schema=False)
async def demo_redirect() -> RedirectResponse:
    return RedirectResponse("/demo/", status_code=307)


@router.get("/demo/", tags=["browser"], include_in_schema=False)
async def demo_index() -> Response:
    return _file("demo", "index.html", csp=True)


@router.get("/demo/{name}", tags=["browser"], include_in_schema=False)
async def demo_file(name: str) -> Response:
    if name not in _DEMO_FILES:
        raise HTTPException(status_code=404, detail="not found")
    return _file("demo", name, csp=name == "index.html")


class DevUserSigRequest(BaseModel):
    user_id: str = Field(alias="userId", min_length=1, max_length=32)


@router.post("/api/dev/usersig", tags=["dev"], include_in_schema=False)
async def dev_usersig(body: DevUserSigRequest, services: ServicesDep) -> dict[str, Any]:
    """Dev mode only (404 otherwise): a UserSig of the demo application for ``userId``."""
    if not services.ctx.settings.dev:
        raise HTTPException(status_code=404, detail="not found")
    if not _USER_ID.fullmatch(body.user_id):
        raise HTTPException(status_code=422, detail="userId must be 1..32 characters of [a-zA-Z0-9_-]")
    try:
        async with services.ctx.db.read() as session:
            sdkappid, sig = await services.apps.demo_usersig(session, body.user_id, DEMO_USERSIG_EXPIRE_S)
    except DemoUnavailable as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    log.info("dev usersig issued", extra={"sdkappid": sdkappid})
    return {"sdkAppId": sdkappid, "userSig": sig, "expire": DEMO_USERSIG_EXPIRE_S}
