"""The browser tests' Chromium (tests/web/conftest.py) for the WHEP page test."""

from tests.web.conftest import chromium  # noqa: F401 (a fixture, used by name)
