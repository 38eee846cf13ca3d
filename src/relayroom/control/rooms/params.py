"""What a room manager is built with (limits, collaborators) and what a client asks for at entry."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from relayroom.control.rooms.backend import MediaBackend
from relayroom.control.rooms.client_info import ClientInfo
from relayroom.control.rooms.entry import AppDirectory, ConsentCheck
from relayroom.control.rooms.events import RoomEvent
from relayroom.control.rooms.registry import (
    EntryPlacement,
    LocalPresence,
    LocalRoomRegistry,
    Presence,
    RoomRegistry,
    UserBlocks,
)
from relayroom.media.types import MediaKind, TrackSource

# The manager's default logger: its name is the one log filters and tests know.
log = logging.getLogger("relayroom.control.rooms.manager")


@dataclass(frozen=True)
class RoomLimits:
    rtc_max_members: int = 300
    live_max_anchors: int = 50
    live_max_audience: int = 100_000
    idle_timeout_s: float = 90.0  # TRTC drops abnormally disconnected users after 90 s
    live_audience_close_delay_s: float = 600.0  # live room whose last leaver was audience: 10 min
    heartbeat_interval_s: float = 10.0  # told to clients at enter
    answer_timeout_s: float = 10.0  # a subscriber offer unanswered this long: the client is told
    offer_resend_s: float = 2.0  # first re-send of an unanswered offer (doubles, up to 30 s)
    subscribe_retry_s: float = 1.0  # first retry of a consumer that failed (doubles, up to 60 s)
    sweep_interval_s: float = 1.0


@dataclass(frozen=True)
class RoomManagerParams:
    media: MediaBackend
    directory: AppDirectory
    node_region: str
    consent: ConsentCheck | None = None
    limits: RoomLimits = field(default_factory=RoomLimits)
    clock: Callable[[], float] = time.monotonic  # timers
    wall_clock: Callable[[], float] = time.time  # UserSig expiry, event timestamps
    observer: Callable[[RoomEvent], None] | None = None
    logger: logging.Logger = log
    # Shared state of a cluster (control/rooms/registry.py); in process by default.
    registry: RoomRegistry = field(default_factory=LocalRoomRegistry)
    presence: Presence = field(default_factory=LocalPresence)
    node_id: str = "local"
    # App-wide blocks kept outside this node (the database: every node and the CLI write them); None:
    # blocks live in this node's memory only.
    blocks: UserBlocks | None = None
    # A cluster's placement: an entry for a room this node does not run is redirected (None: one node)
    placement: EntryPlacement | None = None


@dataclass(frozen=True)
class EnterParams:
    sdkappid: int
    user_id: str
    user_sig: str
    room_id: int | None = None
    str_room_id: str | None = None
    scene: str = "rtc"
    role: str = "anchor"
    private_map_key: str | None = None
    auto_receive_audio: bool = True
    auto_receive_video: bool = False  # TRTC v5.6+ default
    consent_token: str | None = None
    e2ee: bool = False  # the member declares end-to-end encrypted media
    # device type, SDK version, address: for the call history only
    client: ClientInfo = field(default_factory=ClientInfo)
    redirects: int = 0  # cluster: redirects the client followed to get here


@dataclass(frozen=True)
class DeclaredTrack:
    kind: MediaKind
    source: TrackSource
    mid: str | None = None
    small: bool = False  # the small stream of the main camera, sent as a track of its own
