"""Rooms: TRTC's room rules (entry, roles, limits, events) over the media layer."""
