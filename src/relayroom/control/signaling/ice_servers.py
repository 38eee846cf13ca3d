"""The ``iceServers`` a client gets in the ``enter`` and ``resume`` responses: TURN, fresh credentials."""

from __future__ import annotations

from typing import Protocol

from relayroom.auth.turn_rest import ice_servers
from relayroom.clock import Clock
from relayroom.config import TurnSettings


class IceServers(Protocol):
    def for_user(self, user_id: str) -> list[dict[str, object]]: ...


class NoIceServers:
    """No TURN configured: clients reach the workers' candidates directly."""

    def for_user(self, user_id: str) -> list[dict[str, object]]:
        return []


class TurnIceServers:
    """The configured TURN URLs with TURN REST API credentials for one user, valid for the set lifetime."""

    def __init__(self, turn: TurnSettings, clock: Clock) -> None:
        if not turn.enabled or turn.secret is None:
            raise ValueError("TURN is not configured")
        self._urls = list(turn.urls)
        self._secret = turn.secret
        self._lifetime_s = turn.credential_lifetime_s
        self._clock = clock

    def for_user(self, user_id: str) -> list[dict[str, object]]:
        return ice_servers(
            self._urls, self._secret.get_secret_value(), user_id, self._clock.time(), self._lifetime_s
        )


def ice_servers_for(turn: TurnSettings, clock: Clock) -> IceServers:
    return TurnIceServers(turn, clock) if turn.enabled else NoIceServers()
