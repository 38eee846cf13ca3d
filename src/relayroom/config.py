"""Settings: environment (RELAYROOM_*), CLI flags and an optional TOML file, validated once at start."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["debug", "info", "warning", "error"]


class MediaSettings(BaseModel):
    """Media workers: one process and one UDP port each."""

    enabled: bool = True  # off: control plane only (API tests)
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=64)
    host: str = "127.0.0.1"
    # One port per worker; 0 lets the OS pick (tests). Default: a fixed dev range.
    ports: list[int] = Field(default_factory=lambda: [40000 + i for i in range(64)])
    announced_ip: str | None = None
    loopback_only: bool = False
    consent_timeout_s: float = Field(default=30.0, gt=0)


class RoomSettings(BaseModel):
    """TRTC's room rules, configurable where TRTC's are product limits."""

    rtc_max_members: int = Field(default=300, ge=1)
    live_max_anchors: int = Field(default=50, ge=1)
    live_max_audience: int = Field(default=100_000, ge=0)
    idle_timeout_s: float = Field(default=90.0, gt=0)  # abnormal disconnect → removed (TRTC: 90 s)


class RetentionSettings(BaseModel):
    """When data of a terminated account/application is purged (module: 7 days at most)."""

    purge_target_hours: float = Field(default=24.0, gt=0, le=168)
    purge_deadline_days: float = Field(default=7.0, gt=0, le=7)
    schedule_minutes: float = Field(default=60.0, gt=0)


class WebhookSettings(BaseModel):
    """Event callbacks: TRTC retries at once, then every 10 s until 1 min after the first try."""

    retry_interval_s: float = Field(default=10.0, gt=0)
    retry_window_s: float = Field(default=60.0, ge=0)
    timeout_s: float = Field(default=5.0, gt=0)  # TRTC: the receiver answers within 5 s
    poll_interval_s: float = Field(default=1.0, gt=0)


class UsageSettings(BaseModel):
    """Usage metering: how often forwarded tracks are sampled and buckets written."""

    tick_s: float = Field(default=5.0, gt=0)
    flush_s: float = Field(default=30.0, gt=0)


class LoginSettings(BaseModel):
    """Sign-in throttling (control/accounts/throttle.py): free attempts per key, then a doubling lock."""

    user_free_attempts: int = Field(default=5, ge=1)
    address_free_attempts: int = Field(default=20, ge=1)
    base_delay_s: float = Field(default=1.0, gt=0)
    max_delay_s: float = Field(default=900.0, gt=0)
    forget_after_s: float = Field(default=3600.0, gt=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RELAYROOM_", env_nested_delimiter="__", extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    data_dir: Path = Path("./data")
    database_url: str | None = None  # default: sqlite in data_dir
    region: str = "local"  # this node's region
    regions: list[str] = Field(default_factory=lambda: ["local"])  # the deployment's regions
    log_level: LogLevel = "info"
    dev: bool = False  # dev-only conveniences (demo UserSig endpoint); never in production
    master_key: str | None = None  # base64 32 bytes; default: data_dir/master.key (created 0600)
    max_apps_per_account: int = Field(default=300, ge=1)
    session_ttl_hours: float = Field(default=12.0, gt=0)
    media: MediaSettings = Field(default_factory=MediaSettings)
    rooms: RoomSettings = Field(default_factory=RoomSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    usage: UsageSettings = Field(default_factory=UsageSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    login: LoginSettings = Field(default_factory=LoginSettings)

    @field_validator("regions", mode="before")
    @classmethod
    def _split_regions(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [r.strip() for r in v.split(",") if r.strip()]
        return v

    @model_validator(mode="after")
    def _region_known(self) -> Settings:
        if self.region not in self.regions:
            raise ValueError(f"region {self.region!r} is not one of the deployment's regions {self.regions}")
        return self

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'relayroom.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """File values are the base; environment wins over the file; explicit flags win over both."""
    file_values: dict[str, Any] = {}
    path = config_file or (
        Path(os.environ["RELAYROOM_CONFIG"]) if os.environ.get("RELAYROOM_CONFIG") else None
    )
    if path is not None:
        with path.open("rb") as fh:
            file_values = tomllib.load(fh)
    env = Settings()  # environment + defaults
    merged: dict[str, Any] = {**file_values}
    for name in env.model_fields_set:
        merged[name] = getattr(env, name)
    merged.update({k: v for k, v in overrides.items() if v is not None})
    return Settings.model_validate({**Settings.model_construct().model_dump(), **merged})
