"""A call the way the end-to-end tests check one: a publisher's test pattern decoded by a subscriber."""

from __future__ import annotations

from relayroom.client import RelayRoomClient, RemoteTrack, TestPatternVideoTrack, colour_close


async def video_reaches(
    publisher: RelayRoomClient, subscriber: RelayRoomClient, rgb: tuple[int, int, int], within: float = 30
) -> RemoteTrack:
    """Publish a test pattern of colour ``rgb``; return the subscriber's track once it decoded it."""
    assert publisher.user_id is not None
    await publisher.publish(video_track=TestPatternVideoTrack(rgb))
    track = await subscriber.wait_remote_track(publisher.user_id, "video", within=within)
    await track.wait_frames(3, within=within)
    colour = track.colour()
    assert colour is not None and colour_close(colour, rgb), colour
    return track
