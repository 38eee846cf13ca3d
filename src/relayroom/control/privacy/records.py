"""Records of processing, generated from the running configuration: a live version of the module's tables."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from relayroom import __version__
from relayroom.control.context import ControlContext


async def processing_records(ctx: ControlContext, webhook_targets: list[str] | None = None) -> dict[str, Any]:
    s = ctx.settings
    r = s.retention
    storage = (
        f"SQLite file in {s.data_dir.resolve()} (WAL, secure_delete=ON)"
        if s.is_sqlite
        else "PostgreSQL (secrets sealed per account; crypto-shredded on purge)"
    )
    retention = (
        f"kept while the customer uses the service; purged {r.purge_target_hours:g} h after the account is "
        f"deleted or the application terminated (hard deadline {r.purge_deadline_days:g} days, "
        "also after downtime)"
    )
    targets = webhook_targets
    if targets is None:
        targets = await _webhook_targets(ctx)
    return {
        "controller_role": "the customer (account owner) is the controller; this deployment is a processor",
        "generated_from": {"version": __version__, "node_region": s.region, "regions": s.regions},
        "categories": [
            {
                "data": "Audio and video content of end users",
                "purpose": "delivery of audio-visual content between room members (SFU relay)",
                "storage": "none: relayed in memory only; never written to disk or logs",
                "in_memory": "a per-track retransmission buffer of at most "
                "2 s of packets for NACK, freed when the track ends",
                "retention": "not stored",
                "where": f"media workers of region {s.region!r}",
            },
            {
                "data": "Customer temporary key information: SDKAppID, UserID (username), secret keys",
                "purpose": "identify the customer's use of the service (UserSig/PrivateMapKey verification)",
                "storage": storage,
                "retention": retention,
                "where": f"region {s.region!r}",
            },
            {
                "data": "Customer log data relating to applications: SDKAppID, name, tags, service status, "
                "creation time, operations",
                "purpose": "records of the applications the customer created (operation log)",
                "storage": storage + "; operation-log content is purgeable, its hash chain is not personal",
                "retention": retention,
                "where": f"region {s.region!r}",
            },
            {
                "data": "End users' call records: UserID, room, join and leave times, room and stream "
                "events, quality samples, usage; the device type and SDK version the client reports at "
                "entry; the client's IP address "
                + (
                    "in full (privacy.store_full_client_ip is on)"
                    if s.privacy.store_full_client_ip
                    else "truncated to its network: IPv4 /24, IPv6 /48 (the host part is not stored)"
                ),
                "purpose": "the customer's server API (DescribeRoomInfo, DescribeUserInfo, "
                "DescribeCallDetailInfo, usage) and event callbacks",
                "storage": storage,
                "retention": retention + "; deleted with a data-subject deletion request",
                "where": f"region {s.region!r}",
            },
            {
                "data": "Consent records (pseudonymous subject ref, jurisdiction, notice version, "
                "evidence reference)",
                "purpose": "demonstrate end-user consent for the customer (GDPR art 7(1))",
                "storage": storage,
                "retention": retention + "; deleted with a data-subject deletion request",
                "where": f"region {s.region!r}",
            },
        ],
        "recipients": {
            "webhook_targets": targets,
            "turn_servers": list(s.turn.urls),
            "sub_processors": [],
            "note": "no data leaves the deployment except webhook callbacks configured by the customer"
            + (
                "; the TURN servers listed relay media of clients that use them and receive those clients' "
                "IP addresses and UserIDs (in the TURN username)"
                if s.turn.enabled
                else ""
            ),
        },
        "security": [
            "secrets sealed with AES-256-GCM under a per-account data key wrapped by the master key",
            "console passwords hashed with argon2id; tokens stored as SHA-256",
            "operation log hash-chained with salted commitments and signed checkpoints",
            "media workers run with core dumps disabled",
        ],
        "retention_settings": {
            "purge_target_hours": r.purge_target_hours,
            "purge_deadline_days": r.purge_deadline_days,
            "schedule_minutes": r.schedule_minutes,
        },
    }


async def _webhook_targets(ctx: ControlContext) -> list[str]:
    """Origins of the customers' callback URLs: the only external recipients of any data."""
    from urllib.parse import urlsplit

    from relayroom.storage.models.webhooks import CallbackConfig

    async with ctx.db.read() as s:
        rows = await s.execute(select(CallbackConfig.url, CallbackConfig.media_url))
        urls = [u for row in rows for u in row if u]
    return sorted({f"{urlsplit(u).scheme}://{urlsplit(u).netloc}" for u in urls})
