from tests.media.conftest import loopback, media

__all__ = ["loopback", "media"]
