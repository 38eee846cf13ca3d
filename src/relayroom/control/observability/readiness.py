"""GET /readyz: can this node take new rooms now? (/healthz only says the process is up and started.)

Ready when the lifespan has finished starting, the node is not draining (shutdown under way), at least
one media worker is running, and the database answers ``SELECT 1`` within two seconds. A load balancer
routes new rooms by /readyz and restarts by /healthz (the split LiveKit makes).
"""

from __future__ import annotations

from typing import Any

from relayroom.control.observability.metrics import database_up


async def readiness(state: Any) -> tuple[bool, dict[str, Any]]:
    """(ready, what was checked) from the app's state."""
    reasons: list[str] = []
    checks: dict[str, Any] = {"started": bool(getattr(state, "ready", False))}
    if not checks["started"]:
        reasons.append("starting or stopping")
    connections = getattr(state, "signal_connections", None)
    checks["draining"] = bool(getattr(connections, "closing", False))
    if checks["draining"]:
        reasons.append("draining: shutdown under way")
    media = getattr(state, "media", None)
    if media is None:
        checks["workers"] = None
        reasons.append("media is disabled on this node")
    else:
        running, configured = media.workers_running()
        checks["workers"] = {"running": running, "configured": configured}
        if running == 0:
            reasons.append("no media worker running")
    services = getattr(state, "services", None)
    checks["database"] = await database_up(services.ctx.db) if services is not None else False
    if not checks["database"]:
        reasons.append("database unreachable")
    return not reasons, {"checks": checks, "reasons": reasons}
