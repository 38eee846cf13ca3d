"""The browser SDK (`/sdk/relayroom.js`), the demo call page (`/demo/`) and the dev-only UserSig endpoint."""

from relayroom.control.web.endpoints import router

__all__ = ["router"]
