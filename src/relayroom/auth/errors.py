"""Named errors of the pure auth modules.

Verification functions never raise these to their callers (they return a result with a
reason); the decoders and builders do, so tools and tests can see exactly what was wrong.
"""

from __future__ import annotations


class AuthError(ValueError):
    """Base of every auth parsing error; a ValueError so generic callers can catch it."""


class UserSigDecodeError(AuthError):
    """The UserSig is not URL-ish base64 of a zlib stream of the expected JSON object."""


class UserBufError(AuthError):
    """A PrivateMapKey userbuf is truncated, inconsistent, or its fields are out of range."""
