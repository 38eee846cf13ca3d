"""The web console: a static single-page app served at ``/console/`` (a browser's ``GET /``, one without
cloud-API parameters, redirects there: cloudapi/endpoints.py, which owns ``/``).

The files are package data (``relayroom/web/console``), read with ``importlib.resources`` so an
editable install and a wheel serve the same bytes; the repository's ``web/console`` is a link to them.
The app is native ES modules: ``console.js`` (the entry and router) imports ``lib/*.js`` and
``pages/*.js``.
The console talks to the public console API only (``/api/v1``) with the signed-in user's bearer token;
this router serves files and nothing else. A strict CSP allows only same-origin scripts, styles and
requests (no CDN, no inline script).
"""

from __future__ import annotations

import re
from importlib import resources
from importlib.resources.abc import Traversable

from fastapi import APIRouter, HTTPException
from fastapi.responses import RedirectResponse, Response

router = APIRouter()

_FILES = {
    "index.html": "text/html; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
# The modules under lib/ and pages/ (lower-case names only, so no path can leave the folder).
_MODULE = re.compile(r"(?:lib|pages)/[a-z0-9][a-z0-9-]*\.js")
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def console_root() -> Traversable:
    return resources.files("relayroom").joinpath("web", "console")


def _serve(name: str) -> Response:
    media_type = _FILES.get(name) or (_FILES["console.js"] if _MODULE.fullmatch(name) else None)
    path = console_root().joinpath(*name.split("/"))
    if media_type is None or not path.is_file():
        raise HTTPException(status_code=404, detail="not found")
    headers = {
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Content-Security-Policy": CSP,
        "X-Frame-Options": "DENY",
    }
    return Response(path.read_bytes(), media_type=media_type, headers=headers)


@router.get("/console", include_in_schema=False)
async def console_redirect() -> RedirectResponse:
    return RedirectResponse("/console/", status_code=307)


@router.get("/console/", include_in_schema=False)
async def console_index() -> Response:
    return _serve("index.html")


@router.get("/console/{name:path}", include_in_schema=False)
async def console_file(name: str) -> Response:
    return _serve(name)
