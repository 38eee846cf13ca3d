from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from relayroom.config import Settings, load_settings


def test_file_then_environment_then_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "relayroom.toml"
    cfg.write_text(
        'port = 9000\nregion = "eu"\nregions = ["eu", "us"]\nlog_level = "debug"\n[media]\nworkers = 3\n'
    )
    for k in list(os.environ):
        if k.startswith("RELAYROOM_"):
            monkeypatch.delenv(k)
    s = load_settings(cfg)
    assert (s.port, s.region, s.regions, s.log_level, s.media.workers) == (
        9000,
        "eu",
        ["eu", "us"],
        "debug",
        3,
    )
    monkeypatch.setenv("RELAYROOM_PORT", "9100")
    monkeypatch.setenv("RELAYROOM_MEDIA__WORKERS", "2")
    s = load_settings(cfg)
    assert (s.port, s.media.workers, s.region) == (9100, 2, "eu")  # environment wins over the file
    s = load_settings(cfg, port=9200, data_dir=tmp_path / "d")
    assert s.port == 9200 and s.data_dir == tmp_path / "d"  # flags win over both
    assert s.effective_database_url.startswith("sqlite+aiosqlite:///") and s.is_sqlite


def test_region_must_be_one_of_the_deployments() -> None:
    with pytest.raises(ValidationError, match="region 'mars'"):
        Settings(region="mars", regions=["eu"])
    assert Settings(region="eu", regions="eu, us").regions == ["eu", "us"]


def test_ice_tcp_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().media.tcp_enabled and Settings().media.tcp_ports == []  # same number as UDP
    monkeypatch.setenv("RELAYROOM_MEDIA__TCP_ENABLED", "false")
    monkeypatch.setenv("RELAYROOM_MEDIA__TCP_PORTS", "[41000, 41001]")
    monkeypatch.setenv("RELAYROOM_MEDIA__TCP_AUTH_TIMEOUT_S", "3")
    m = Settings().media
    assert (m.tcp_enabled, m.tcp_ports, m.tcp_auth_timeout_s) == (False, [41000, 41001], 3.0)
    monkeypatch.setenv("RELAYROOM_MEDIA__TCP_MAX_FRAME_BYTES", "70000")  # above RFC 4571's 65535
    with pytest.raises(ValidationError, match="tcp_max_frame_bytes"):
        Settings()


def test_unknown_settings_are_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("prot = 1\n")
    with pytest.raises(ValidationError, match="prot"):
        load_settings(cfg)


def test_turn_settings_are_checked_at_start() -> None:
    ok = Settings(turn={"urls": ["turn:127.0.0.1:3478?transport=tcp", "turns:[::1]"], "secret": "s" * 16})
    assert ok.turn.enabled and ok.turn.credential_lifetime_s == 86400
    assert "ssss" not in repr(ok) and "ssss" not in str(ok.model_dump())  # the secret never prints
    assert not Settings().turn.enabled
    for bad, message in [
        ({"urls": ["stun:127.0.0.1"], "secret": "s" * 16}, "not a TURN URI"),
        ({"urls": ["turn:127.0.0.1:3478?transport=sctp"], "secret": "s" * 16}, "not a TURN URI"),
        ({"urls": ["turn:127.0.0.1:70000"], "secret": "s" * 16}, "port out of range"),
        ({"urls": ["turns:127.0.0.1?transport=udp"], "secret": "s" * 16}, "turns: runs over TCP"),
        ({"urls": ["turn:127.0.0.1"]}, "turn.secret is not"),
        ({"secret": "s" * 16}, "turn.urls is empty"),
        ({"urls": ["turn:127.0.0.1"], "secret": "short"}, "at least 16"),
        (
            {"urls": ["turn:127.0.0.1"], "secret": "s" * 16, "credential_lifetime_s": 10},
            "greater than or equal",
        ),
        ({"url": ["turn:127.0.0.1"]}, "url"),
    ]:
        with pytest.raises(ValidationError, match=message):
            Settings(turn=bad)


def test_a_section_can_come_half_from_the_file_and_half_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k in list(os.environ):
        if k.startswith("RELAYROOM_"):
            monkeypatch.delenv(k)
    cfg = tmp_path / "relayroom.toml"
    cfg.write_text('[turn]\nurls = ["turn:127.0.0.1:3478"]\n[media]\nworkers = 3\nhost = "127.0.0.1"\n')
    monkeypatch.setenv("RELAYROOM_TURN__SECRET", "0123456789abcdef0123")  # the secret from the environment
    monkeypatch.setenv("RELAYROOM_MEDIA__WORKERS", "2")
    s = load_settings(cfg)
    assert s.turn.urls == ["turn:127.0.0.1:3478"] and s.turn.secret is not None
    assert s.turn.secret.get_secret_value() == "0123456789abcdef0123"
    assert (s.media.workers, s.media.host) == (2, "127.0.0.1")


def test_tls_needs_both_the_certificate_and_the_key(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="tls_cert and tls_key go together"):
        Settings(tls_cert=tmp_path / "cert.pem")
    s = Settings(tls_cert=tmp_path / "cert.pem", tls_key=tmp_path / "key.pem")
    assert s.http_scheme == "https" and Settings().http_scheme == "http"


def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in list(os.environ):
        if k.startswith("RELAYROOM_"):
            monkeypatch.delenv(k)


def test_precedence_is_per_setting_inside_a_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file's [media] keys the environment does not name survive it; the same for flags."""
    _clean_environment(monkeypatch)
    cfg = tmp_path / "relayroom.toml"
    cfg.write_text('[media]\nworkers = 3\nannounced_ip = "203.0.113.7"\n[rooms]\nrtc_max_members = 12\n')
    monkeypatch.setenv("RELAYROOM_MEDIA__HOST", "0.0.0.0")
    s = load_settings(cfg)
    assert (s.media.workers, s.media.announced_ip, s.media.host) == (3, "203.0.113.7", "0.0.0.0")
    assert s.rooms.rtc_max_members == 12 and s.rooms.live_max_anchors == 50  # untouched: its default

    # one key from each source in the same section; the highest source wins key by key
    monkeypatch.setenv("RELAYROOM_MEDIA__WORKERS", "2")
    monkeypatch.setenv("RELAYROOM_MEDIA__TCP_ENABLED", "false")
    s = load_settings(cfg, media={"tcp_enabled": True, "ports": [0]})
    m = s.media
    assert (m.workers, m.announced_ip, m.host) == (2, "203.0.113.7", "0.0.0.0")  # env > file
    assert (m.tcp_enabled, m.ports) == (True, [0])  # flags > env, flags alone
    assert m.consent_timeout_s == 30.0  # named by no source


def test_a_json_section_in_the_environment_merges_with_its_nested_variables_and_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _clean_environment(monkeypatch)
    cfg = tmp_path / "relayroom.toml"
    cfg.write_text('[media]\nworkers = 3\nannounced_ip = "203.0.113.7"\n')
    monkeypatch.setenv("RELAYROOM_MEDIA", '{"host": "0.0.0.0", "workers": 4}')
    monkeypatch.setenv("RELAYROOM_MEDIA__LOOPBACK_ONLY", "true")
    m = load_settings(cfg).media
    assert (m.workers, m.announced_ip, m.host, m.loopback_only) == (4, "203.0.113.7", "0.0.0.0", True)


def test_the_log_format_comes_from_any_source_and_is_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _clean_environment(monkeypatch)
    cfg = tmp_path / "relayroom.toml"
    cfg.write_text('log_format = "json"\n')
    assert load_settings().log_format == "auto"
    assert load_settings(cfg).log_format == "json"
    monkeypatch.setenv("RELAYROOM_LOG_FORMAT", "human")
    assert load_settings(cfg).log_format == "human"
    assert load_settings(cfg, log_format="json").log_format == "json"
    with pytest.raises(ValidationError, match="log_format"):
        load_settings(cfg, log_format="xml")
