"""RelayRoom Python client SDK on aiortc (what bots and the tests use); API shaped like TRTC Web SDK v5."""

from relayroom.client.client import ClientEvent, RelayRoomClient, RelayRoomError, RemoteTrack
from relayroom.client.tracks import (
    ScaledVideoTrack,
    SineAudioTrack,
    TestPatternVideoTrack,
    audio_frequency,
    audio_rms,
    colour_close,
    dominant_rgb,
)

Room = RelayRoomClient  # TRTC calls the object a "room"-scoped client; both names work

__all__ = [
    "ClientEvent",
    "RelayRoomClient",
    "RelayRoomError",
    "RemoteTrack",
    "Room",
    "ScaledVideoTrack",
    "SineAudioTrack",
    "TestPatternVideoTrack",
    "audio_frequency",
    "audio_rms",
    "colour_close",
    "dominant_rgb",
]
