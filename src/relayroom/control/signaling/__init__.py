"""Signalling: the client WebSocket protocol (docs/signalling.md)."""
