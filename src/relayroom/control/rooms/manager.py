"""RoomManager: TRTC's room rules on top of the media layer.

The manager owns every room and participant of this node. The signalling endpoint calls it for each
client request; the media layer reports producer/transport/worker events to it; the cloud API uses its
hooks (dismiss_room, remove_users, set_user_blocked, list_rooms, room_info). Time-based rules (idle
members, the live-room grace period) are applied by `sweep()`, which a background task calls and tests
call directly with a fake clock.

The class is assembled from one mixin per concern over a shared core (control/rooms/core.py):
entering.py (enter, exit, resume), media_requests.py (publish, mute, subscriptions, roles),
housekeeping.py (media events, the sweep, start and drain), hooks.py (cloud API and console).
"""

from __future__ import annotations

from relayroom.control.rooms.entering import Entering
from relayroom.control.rooms.events import RoomEvent, RoomEventType
from relayroom.control.rooms.hooks import CloudHooks
from relayroom.control.rooms.housekeeping import Housekeeping
from relayroom.control.rooms.media_requests import MediaRequests
from relayroom.control.rooms.params import DeclaredTrack, EnterParams, RoomLimits, RoomManagerParams

__all__ = [
    "DeclaredTrack",
    "EnterParams",
    "RoomEvent",
    "RoomEventType",
    "RoomLimits",
    "RoomManager",
    "RoomManagerParams",
]


class RoomManager(Entering, MediaRequests, Housekeeping, CloudHooks):
    """Every room and participant of this node (see the module docstring)."""
