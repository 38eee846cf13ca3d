"""Operational views of the control plane: /readyz, the /metrics collectors, the debug introspection.

Kept apart from the app factory: ``install`` is the one call create_app makes; what it reads from the
running services goes through small typed calls (see metrics.py).
"""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from relayroom.config import Settings


def install(app: FastAPI, settings: Settings, registry: CollectorRegistry) -> None:
    from relayroom.control.observability import introspect

    if settings.debug_introspection:
        introspect.install(app)
