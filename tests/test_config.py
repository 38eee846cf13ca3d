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


def test_unknown_settings_are_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("prot = 1\n")
    with pytest.raises(ValidationError, match="prot"):
        load_settings(cfg)
