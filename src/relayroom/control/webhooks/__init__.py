"""TRTC-compatible room and media event callbacks (webhooks)."""
