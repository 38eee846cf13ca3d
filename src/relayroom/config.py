"""Settings: environment (RELAYROOM_*), CLI flags and an optional TOML file, validated once at start."""

from __future__ import annotations

import itertools
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

LogLevel = Literal["debug", "info", "warning", "error"]
# auto: human-readable lines when stderr is a terminal, JSON lines otherwise (relayroom/logs.py)
LogFormat = Literal["auto", "human", "json"]


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
    # ICE-TCP (RFC 6544 passive candidate) for networks that block UDP: each worker also listens on
    # TCP, by default on its UDP port number; tcp_ports overrides it per worker (0 = OS picks).
    tcp_enabled: bool = True
    tcp_ports: list[int] = Field(default_factory=list)
    # Limits that keep junk, slow or flooding TCP connections cheap (per worker).
    tcp_max_frame_bytes: int = Field(default=4096, ge=1500, le=65535)
    tcp_auth_timeout_s: float = Field(default=10.0, gt=0)
    tcp_max_pending: int = Field(default=128, ge=1)
    tcp_max_connections: int = Field(default=1024, ge=1)
    tcp_send_buffer_bytes: int = Field(default=256 * 1024, ge=16 * 1024)
    # Spreading a room over workers: audience members, and other subscribers once the room's origin
    # worker carries pipe_threshold x worker_capacity consumers, get their downlink on the least-loaded
    # worker, which receives the published tracks through pipe transports. 0 = spread every subscriber.
    pipe_threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    worker_capacity: int = Field(default=1000, ge=1)  # consumers (outgoing tracks) a worker is sized for
    # The native fan-out (C extension, docs/decisions/0032-native-fanout.md); false forces the
    # pure-Python forwarding path (RELAYROOM_MEDIA__NATIVE=0).
    native: bool = True
    # A worker that falls behind drops video of non-key frames instead of forwarding it late
    # (docs/performance.md, "Load shedding"); DTLS handshake flights run per event-loop turn (0 = any).
    load_shedding: bool = True
    shed_queue_bytes: int = Field(default=64 * 1024, ge=4096)
    dtls_flights_per_turn: int = Field(default=2, ge=0)


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


class PrivacySettings(BaseModel):
    """What the control plane keeps of end users' connections (docs/privacy.md)."""

    # The client address of a stay (DescribeUserInfo ClientIp): by default only its network, IPv4 /24 and
    # IPv6 /48 (the host part zeroed); true keeps the full address.
    store_full_client_ip: bool = False


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


class OplogSettings(BaseModel):
    """Automatic signed checkpoints of the operation log (control/oplog/checkpoints.py)."""

    checkpoint_every_entries: int = Field(default=1000, ge=1)
    checkpoint_interval_s: float = Field(default=3600.0, gt=0)
    checkpoint_poll_s: float = Field(default=30.0, gt=0)
    checkpoint_webhook_url: str | None = None  # also POST each checkpoint there (JSON)
    checkpoint_webhook_timeout_s: float = Field(default=5.0, gt=0)


class LoginSettings(BaseModel):
    """Sign-in throttling (control/accounts/throttle.py): free attempts per key, then a doubling lock."""

    user_free_attempts: int = Field(default=5, ge=1)
    address_free_attempts: int = Field(default=20, ge=1)
    base_delay_s: float = Field(default=1.0, gt=0)
    max_delay_s: float = Field(default=900.0, gt=0)
    forget_after_s: float = Field(default=3600.0, gt=0)


# RFC 7065 TURN URIs as browsers and aiortc take them: turn:host[:port][?transport=udp|tcp], turns:...
_TURN_URI = re.compile(
    r"(?P<scheme>turns?):(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(?P<port>[0-9]{1,5}))?"
    r"(?:\?transport=(?P<transport>udp|tcp))?"
)


class TurnSettings(BaseModel):
    """A TURN server (coturn with ``use-auth-secret``) that clients may relay their media through.

    At room entry a client gets ``iceServers`` with credentials of the TURN REST API that expire after
    ``credential_lifetime_s``. Empty ``urls``: no TURN (clients reach the workers directly).
    """

    model_config = ConfigDict(extra="forbid")

    urls: list[str] = Field(default_factory=list, max_length=8)
    secret: SecretStr | None = None  # coturn's static-auth-secret
    credential_lifetime_s: int = Field(default=86_400, ge=60, le=7 * 86_400)

    @field_validator("urls")
    @classmethod
    def _turn_uris(cls, urls: list[str]) -> list[str]:
        for url in urls:
            m = _TURN_URI.fullmatch(url)
            if m is None:
                raise ValueError(
                    f"{url!r} is not a TURN URI: "
                    "use turn:HOST[:PORT][?transport=udp|tcp] or turns:HOST[:PORT]"
                )
            if m["port"] is not None and not 0 < int(m["port"]) < 65536:
                raise ValueError(f"{url!r}: port out of range")
            if m["scheme"] == "turns" and m["transport"] == "udp":
                raise ValueError(f"{url!r}: turns: runs over TCP (TLS); use transport=tcp or leave it out")
        return urls

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, secret: SecretStr | None) -> SecretStr | None:
        if secret is not None and len(secret.get_secret_value()) < 16:
            raise ValueError("the TURN secret must be at least 16 characters (e.g. `openssl rand -hex 32`)")
        return secret

    @model_validator(mode="after")
    def _both_or_neither(self) -> TurnSettings:
        if self.urls and self.secret is None:
            raise ValueError("turn.urls is set but turn.secret is not (coturn's static-auth-secret)")
        if self.secret is not None and not self.urls:
            raise ValueError("turn.secret is set but turn.urls is empty")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.urls)


_MAX_SDKAPPID = 0xFFFFFFFF  # SDKAppIDs are unsigned 32-bit (control/rooms/ids.py)


class RegionSettings(BaseModel):
    """One region of a deployment whose regions are separate clusters (docs/cluster.md, "Regions"):
    where its clients and API callers go, and the SDKAppIDs its applications are given."""

    model_config = ConfigDict(extra="forbid")

    url: str  # the region's public URL (its nodes' load balancer), http(s)://
    # first and last SDKAppID of the region (inclusive): "1400000000-1499999999" or [first, last]
    sdkappids: tuple[int, int]

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        if not v.startswith(("http://", "https://")):
            raise ValueError("a region's url must start with http:// or https://")
        return v

    @field_validator("sdkappids", mode="before")
    @classmethod
    def _range(cls, v: Any) -> Any:
        if isinstance(v, str):
            first, sep, last = v.partition("-")
            if not sep or not first.strip().isdigit() or not last.strip().isdigit():
                raise ValueError("sdkappids must be 'FIRST-LAST', e.g. '1400000000-1499999999'")
            return (int(first), int(last))
        return v

    @field_validator("sdkappids")
    @classmethod
    def _in_range(cls, v: tuple[int, int]) -> tuple[int, int]:
        first, last = v
        if not 1 <= first <= last <= _MAX_SDKAPPID:
            raise ValueError(f"sdkappids must satisfy 1 <= first <= last <= {_MAX_SDKAPPID}")
        return v


class ClusterSettings(BaseModel):
    """A cluster node's timings and its keys' namespace in Redis (used only with ``redis_url``)."""

    # Every key this deployment writes to Redis starts with it: several deployments (or test runs)
    # can share one Redis.
    key_prefix: str = Field(default="relayroom:", pattern=r"^[A-Za-z0-9:._-]{1,64}$")
    # A node that stops heartbeating is gone from the node list after node_ttl_s; a room whose owner
    # stops renewing its lease can start on another node after lease_ttl_s.
    node_ttl_s: float = Field(default=5.0, ge=0.5, le=300)
    lease_ttl_s: float = Field(default=5.0, ge=0.5, le=300)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RELAYROOM_", env_nested_delimiter="__", extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    data_dir: Path = Path("./data")
    database_url: str | None = None  # default: sqlite in data_dir
    region: str = "local"  # this node's region
    regions: list[str] = Field(default_factory=lambda: ["local"])  # the regions of this database
    # Regions as separate clusters, each its own database: region -> its URL and SDKAppID range. The
    # same table on every node of every region; this node's `region` must be in it (docs/cluster.md).
    region_map: dict[str, RegionSettings] = Field(default_factory=dict)
    log_level: LogLevel = "info"
    log_format: LogFormat = "auto"
    dev: bool = False  # dev-only conveniences (demo UserSig endpoint); never in production
    master_key: str | None = None  # base64 32 bytes; default: data_dir/master.key (created 0600)
    # The Ed25519 key that signs receipts and checkpoints (PEM); default: data_dir/signing.key. A
    # cluster's nodes all mount the same file (and share master_key): see docs/cluster.md.
    signing_key_file: Path | None = None
    # Cluster (docs/cluster.md). node_id: default hostname + a short random suffix, kept in
    # data_dir/node-id. redis_url absent: a single node. public_url: where clients and other nodes
    # reach this node's HTTP/WebSocket (default: http(s)://host:port).
    node_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
    redis_url: str | None = None
    public_url: str | None = None
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)
    # HTTPS without a proxy: PEM certificate chain and private key (uvicorn's TLS); both or neither
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # SIGTERM or `relayroom node drain`: members are told to move (signalling redirect, reason "drain")
    # and the node waits up to this long for them to leave before it stops (docs/cluster.md).
    drain_timeout_s: float = Field(default=15.0, ge=0, le=3600)
    max_apps_per_account: int = Field(default=300, ge=1)
    session_ttl_hours: float = Field(default=12.0, gt=0)
    media: MediaSettings = Field(default_factory=MediaSettings)
    rooms: RoomSettings = Field(default_factory=RoomSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    usage: UsageSettings = Field(default_factory=UsageSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    login: LoginSettings = Field(default_factory=LoginSettings)
    oplog: OplogSettings = Field(default_factory=OplogSettings)
    turn: TurnSettings = Field(default_factory=TurnSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    # GET /debug/introspect (loopback clients only): process RSS, fds, asyncio tasks, objects by type,
    # tracemalloc diff, DB pool, worker counters. For soak/leak runs; tracemalloc costs CPU: never in prod.
    debug_introspection: bool = False

    @field_validator("regions", mode="before")
    @classmethod
    def _split_regions(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [r.strip() for r in v.split(",") if r.strip()]
        return v

    @model_validator(mode="after")
    def _region_map(self) -> Settings:
        if not self.region_map:
            return self
        if self.region not in self.region_map:
            raise ValueError(
                f"region_map is set but has no entry for this node's region {self.region!r}: every node "
                "needs its own region's url and SDKAppID range in it"
            )
        if "regions" not in self.model_fields_set:
            self.regions = [self.region]
        elsewhere = sorted(set(self.regions) & set(self.region_map) - {self.region})
        if elsewhere:
            raise ValueError(
                f"region(s) {elsewhere} are in region_map (a cluster with its own database) and in regions "
                "(this database's regions): a region is one or the other"
            )
        ranges = sorted((r.sdkappids, name) for name, r in self.region_map.items())
        for (a, name_a), (b, name_b) in itertools.pairwise(ranges):
            if b[0] <= a[1]:
                raise ValueError(f"the SDKAppID ranges of regions {name_a!r} and {name_b!r} overlap")
        return self

    @model_validator(mode="after")
    def _region_known(self) -> Settings:
        if self.region not in self.regions:
            raise ValueError(f"region {self.region!r} is not one of the deployment's regions {self.regions}")
        return self

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: give both (or neither)")
        return self

    @model_validator(mode="after")
    def _cluster_needs_postgres(self) -> Settings:
        if self.redis_url and self.is_sqlite:
            raise ValueError(
                "redis_url is set (a cluster node) but the database is SQLite: every node of a cluster "
                "shares one PostgreSQL database; set database_url (RELAYROOM_DATABASE_URL) to a "
                "postgresql+asyncpg:// URL, or unset redis_url for a single node"
            )
        return self

    @field_validator("redis_url", "public_url")
    @classmethod
    def _url_shape(cls, v: str | None, info: Any) -> str | None:
        if v is None or not v.strip():
            return None
        v = v.strip()
        schemes = (
            ("redis://", "rediss://", "unix://")
            if info.field_name == "redis_url"
            else ("http://", "https://")
        )
        if not v.startswith(schemes):
            raise ValueError(f"{info.field_name} must start with one of {', '.join(schemes)}")
        return v.rstrip("/") if info.field_name == "public_url" else v

    @property
    def clustered(self) -> bool:
        return self.redis_url is not None

    @property
    def effective_public_url(self) -> str:
        if self.public_url:
            return self.public_url
        return f"{self.http_scheme}://{self.host}:{self.port}"

    @property
    def http_scheme(self) -> str:
        return "https" if self.tls_cert is not None else "http"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'relayroom.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``top`` wins, key by key inside sections too ([turn] urls from a file, its secret from the env)."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """File values are the base; environment wins over the file; explicit flags win over both."""
    file_values: dict[str, Any] = {}
    path = config_file or (
        Path(os.environ["RELAYROOM_CONFIG"]) if os.environ.get("RELAYROOM_CONFIG") else None
    )
    if path is not None:
        with path.open("rb") as fh:
            file_values = tomllib.load(fh)
    env_values = EnvSettingsSource(Settings)()  # RELAYROOM_* parsed, not yet validated
    merged = _merge(_merge(file_values, env_values), {k: v for k, v in overrides.items() if v is not None})
    return Settings.model_validate(merged)
