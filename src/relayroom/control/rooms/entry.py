"""The entry check: may this UserId enter this room of this application on this node?

Order of checks (first failure wins, each with its own code): application known, application enabled,
region, UserSig against every active key, PrivateMapKey (when the app turns permission keys on), consent.
Room-dependent privileges (create vs enter) are applied by the manager, which knows whether the room exists.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from relayroom.auth.privatemapkey import Privilege, verify_privatemapkey
from relayroom.auth.usersig import verify_usersig
from relayroom.control.rooms.errors import ErrorCode, RoomError
from relayroom.control.rooms.ids import RoomRef
from relayroom.media.types import MediaKind, TrackSource

log = logging.getLogger(__name__)

AppStatus = Literal["enabled", "disabled", "terminated"]
ConsentPolicy = Literal["off", "attest", "enforce"]

ALL_PRIVILEGES = Privilege.ALL


@dataclass(frozen=True)
class AppEntryInfo:
    """What the entry check needs to know about an application (looked up by the app directory)."""

    sdkappid: int
    status: AppStatus
    region: str
    secret_keys: tuple[str, ...]  # active key first, then keys still in their rotation grace period
    permission_key_enabled: bool = False
    consent_policy: ConsentPolicy = "off"


class AppDirectory(Protocol):
    async def get_app(self, sdkappid: int) -> AppEntryInfo | None: ...


@dataclass(frozen=True)
class ConsentDecision:
    ok: bool
    code: int = 0
    message: str = ""


class ConsentCheck(Protocol):
    async def check(self, sdkappid: int, userid: str, consent_token: str | None) -> ConsentDecision: ...


class AllowAllConsent:
    """Used when no privacy engine is configured: the hook passes."""

    async def check(self, sdkappid: int, userid: str, consent_token: str | None) -> ConsentDecision:
        return ConsentDecision(ok=True)


@dataclass(frozen=True)
class EntryGrant:
    """A successful entry check. ``privileges`` is everything unless the app enforces PrivateMapKeys."""

    app: AppEntryInfo
    privileges: Privilege
    permission_key_enforced: bool


class EntryChecker:
    def __init__(
        self,
        directory: AppDirectory,
        node_region: str,
        consent: ConsentCheck | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._directory = directory
        self._node_region = node_region
        self._consent: ConsentCheck = consent or AllowAllConsent()
        self._wall_clock = wall_clock

    async def check(
        self,
        room: RoomRef,
        user_id: str,
        user_sig: str,
        private_map_key: str | None,
        consent_token: str | None,
    ) -> EntryGrant:
        app = await self._directory.get_app(room.sdkappid)
        if app is None:
            raise RoomError(ErrorCode.APP_NOT_FOUND, f"sdkAppId {room.sdkappid} is not an application")
        if app.status != "enabled":
            # TRTC shows suspended apps as -100013; terminated apps stop authenticating at once.
            raise RoomError(ErrorCode.SERVICE_SUSPENDED, f"application {room.sdkappid} is {app.status}")
        if app.region != self._node_region:
            raise RoomError(
                ErrorCode.REGION_MISMATCH,
                f"application {room.sdkappid} is pinned to region {app.region!r}; "
                f"this node serves {self._node_region!r}",
            )
        now = int(self._wall_clock())
        self._verify_usersig(app, user_id, user_sig, now)
        privileges = ALL_PRIVILEGES
        if app.permission_key_enabled:
            privileges = self.verify_private_map_key(app, room, user_id, private_map_key)
        decision = await self._consent.check(room.sdkappid, user_id, consent_token)
        if not decision.ok:
            raise RoomError(
                ErrorCode.CONSENT_REQUIRED,
                decision.message or "consent check failed",
                extra_code=decision.code,
            )
        return EntryGrant(app=app, privileges=privileges, permission_key_enforced=app.permission_key_enabled)

    def _verify_usersig(self, app: AppEntryInfo, user_id: str, user_sig: str, now: int) -> None:
        if not app.secret_keys:
            raise RoomError(ErrorCode.USERSIG_INVALID, "userSig verification failed: application has no key")
        result = verify_usersig(user_sig, sdkappid=app.sdkappid, userid=user_id, keys=_keys(app), now=now)
        if not result.ok:
            log.info("usersig refused", extra={"sdkappid": app.sdkappid, "reason": str(result.reason)})
            raise RoomError(ErrorCode.USERSIG_INVALID, f"userSig verification failed: {result.message}")

    def verify_private_map_key(
        self, app: AppEntryInfo, room: RoomRef, user_id: str, private_map_key: str | None
    ) -> Privilege:
        """Return the privilege bits of a valid PrivateMapKey for this room (also used by switchRole)."""
        if not private_map_key:
            raise RoomError(
                ErrorCode.PRIVATEMAPKEY_INVALID, "privateMapKey check failed: the application requires one"
            )
        result = verify_privatemapkey(
            private_map_key,
            sdkappid=app.sdkappid,
            userid=user_id,
            keys=_keys(app),
            now=int(self._wall_clock()),
            room_id=room.room_id,
            str_room_id=room.str_room_id,
        )
        if not result.ok:
            log.info("privatemapkey refused", extra={"sdkappid": app.sdkappid, "reason": str(result.reason)})
            raise RoomError(ErrorCode.PRIVATEMAPKEY_INVALID, f"privateMapKey check failed: {result.message}")
        return Privilege(int(result.privilege))


def _keys(app: AppEntryInfo) -> Sequence[str]:
    return app.secret_keys


class PrivilegeNeed(enum.Enum):
    """Why a privilege bit is needed, for the refusal message."""

    CREATE_ROOM = "create the room"
    ENTER_ROOM = "enter the room"
    SEND_AUDIO = "send audio"
    SEND_VIDEO = "send video"
    SEND_SUB = "send the sub stream"
    RECV_AUDIO = "receive audio"
    RECV_VIDEO = "receive video"
    RECV_SUB = "receive the sub stream"


# Which PrivateMapKey bit a track needs, by (kind, streamType). Sub-stream audio counts as audio.
SEND_PRIVILEGE: dict[tuple[MediaKind, TrackSource], tuple[Privilege, PrivilegeNeed]] = {
    ("audio", "main"): (Privilege.SEND_AUDIO, PrivilegeNeed.SEND_AUDIO),
    ("audio", "sub"): (Privilege.SEND_AUDIO, PrivilegeNeed.SEND_AUDIO),
    ("video", "main"): (Privilege.SEND_VIDEO, PrivilegeNeed.SEND_VIDEO),
    ("video", "sub"): (Privilege.SEND_SUB, PrivilegeNeed.SEND_SUB),
}
RECV_PRIVILEGE: dict[tuple[MediaKind, TrackSource], tuple[Privilege, PrivilegeNeed]] = {
    ("audio", "main"): (Privilege.RECV_AUDIO, PrivilegeNeed.RECV_AUDIO),
    ("audio", "sub"): (Privilege.RECV_AUDIO, PrivilegeNeed.RECV_AUDIO),
    ("video", "main"): (Privilege.RECV_VIDEO, PrivilegeNeed.RECV_VIDEO),
    ("video", "sub"): (Privilege.RECV_SUB, PrivilegeNeed.RECV_SUB),
}


def require_privilege(grant_privileges: Privilege, bit: Privilege, need: PrivilegeNeed) -> None:
    if not grant_privileges & bit:
        raise RoomError(
            ErrorCode.PRIVATEMAPKEY_INVALID,
            f"privateMapKey check failed: no privilege to {need.value}",
        )
