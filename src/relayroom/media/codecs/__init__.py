"""Codec payload formats the SFU reads (and, for layer switching, rewrites) without decoding."""
