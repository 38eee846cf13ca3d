"""The operation log's integrity while the server runs: checked at start, watched by the automatic
checkpoints, visible in the log, in ``/metrics`` and in the console.

At start: a chain written before the chain was keyed gets its marker entry (its unkeyed prefix is then
covered by the key, and checkpoints taken of it still match), the whole chain is verified under the
key and compared with the signed checkpoints in the data dir (truncation, rewrites). A broken chain
does not stop the server (the log is evidence, and the operator needs the console to look into it):
it is logged at CRITICAL level, ``relayroom_oplog_chain_ok`` drops to 0, and the console says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from relayroom.control.oplog import chain
from relayroom.control.oplog.checkpoints import CheckpointStore, CheckpointWriter, compare_all
from relayroom.control.principal import SYSTEM
from relayroom.control.services import Services

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChainStatus:
    ok: bool | None  # None: not checked yet
    checked_at: datetime | None = None
    entries: int = 0
    broken_at: int | None = None
    problem: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked_at": self.checked_at.isoformat() if self.checked_at else None,
            "entries": self.entries,
            "broken_at": self.broken_at,
            "problem": self.problem,
        }


class OplogIntegrity:
    def __init__(self, services: Services) -> None:
        ctx = services.ctx
        self._services = services
        self.store = CheckpointStore(ctx.settings.data_dir, ctx.signer.public_key_b64)
        self.status = ChainStatus(ok=None)
        self.writer = CheckpointWriter(ctx, services.oplog, self.store, ctx.settings.oplog, self._broken)

    async def start(self) -> ChainStatus:
        """Key a legacy chain, verify, compare with the checkpoints; then start automatic checkpoints."""
        await self.key_legacy_chain()
        status = await self.check()
        if status.ok:
            await self.writer.start()
        return status

    async def close(self) -> None:
        if self.status.ok:
            await self.writer.close()

    async def key_legacy_chain(self) -> bool:
        """Close an unkeyed chain (from before keying) with the keyed marker entry; True if it did.

        Refused when this node's checkpoints show the chain was keyed before: an unkeyed chain then
        means entries were rewritten by someone without the key, and keying it would hide that.
        """
        services = self._services
        async with services.ctx.db.read() as session:
            report = await services.oplog.verify(session)
        if report.keyed or report.broken_at is not None:
            return False
        if self.store.keyed_before():
            return False  # check() reports it
        async with services.ctx.db.write() as session:
            await services.oplog.append(
                session,
                principal=SYSTEM,
                action=chain.KEYED_ACTION,
                account_id=None,
                extra={"legacy_entries": report.entries, "legacy_head": report.head_hash},
            )
        log.warning(
            "operation log keyed: the entries written before are now covered by the chain key",
            extra={"legacy_entries": report.entries},
        )
        return True

    async def check(self) -> ChainStatus:
        services = self._services
        async with services.ctx.db.read() as session:
            report = await services.oplog.verify(session)
            hashes = await services.oplog.hashes(session)
        checkpoints, bad_files = self.store.load()
        difference = compare_all(report, hashes, checkpoints)
        now = services.ctx.clock.now()
        if difference is not None:
            status = ChainStatus(False, now, report.entries, difference.first_differing, difference.message)
        elif not report.ok:
            problem = report.problem
            if not report.keyed and self.store.keyed_before():
                problem = "the chain is no longer keyed, though this node checkpointed it keyed: rewritten"
            status = ChainStatus(False, now, report.entries, report.broken_at, problem)
        else:
            status = ChainStatus(True, now, report.entries)
        for problem in bad_files:
            log.warning("oplog checkpoint file ignored", extra={"problem": problem})
        self._set(status)
        return status

    def _broken(self, report: chain.ChainReport) -> None:
        now = self._services.ctx.clock.now()
        self._set(ChainStatus(False, now, report.entries, report.broken_at, report.problem))

    def _set(self, status: ChainStatus) -> None:
        self.status = status
        if status.ok is False:
            log.critical(
                "THE OPERATION LOG DOES NOT VERIFY: it was tampered with or damaged. Keep a copy of the "
                "database and the data dir's oplog-checkpoints, then compare with `relayroom oplog verify`.",
                extra={"broken_at": status.broken_at, "problem": status.problem},
            )


def register_metrics(registry: CollectorRegistry, integrity: Callable[[], OplogIntegrity | None]) -> None:
    """``relayroom_oplog_chain_ok``: 1 verified, 0 broken, -1 not checked yet (or before start)."""

    def ok() -> float:
        current = integrity()
        if current is None or current.status.ok is None:
            return -1.0
        return 1.0 if current.status.ok else 0.0

    g = Gauge(
        "relayroom_oplog_chain_ok",
        "Operation log chain: 1 verified, 0 broken (see the log), -1 not checked yet",
        registry=registry,
    )
    g.set_function(ok)
