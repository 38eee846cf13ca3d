"""WHIP ingest (RFC 9725) and WHEP playback mapped onto TRTC rooms and identities (docs/whip-whep.md)."""
