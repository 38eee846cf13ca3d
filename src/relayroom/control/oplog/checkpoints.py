"""Signed checkpoints of the operation log: written automatically, compared entry by entry.

A chain alone cannot show that its newest entries were cut off, nor a rewrite by someone holding the
key. A checkpoint held elsewhere can: it is the deployment's signed statement "entry ``seq`` had hash
``head_hash``", plus the hashes of the entries since the previous automatic checkpoint, so that a
comparison names the first entry that differs, not only "something changed".

:class:`CheckpointWriter` writes one every ``checkpoint_every_entries`` entries or
``checkpoint_interval_s`` seconds (if anything was appended), at start and at shutdown, into
``data_dir/oplog-checkpoints/`` (0600 files), and posts it to ``checkpoint_webhook_url`` when set.
Before it writes, it verifies the entries since the previous checkpoint (a checkpoint never vouches
for a broken tail).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from relayroom.config import OplogSettings
from relayroom.control.context import ControlContext
from relayroom.control.oplog import chain
from relayroom.control.oplog.service import OplogService
from relayroom.crypto.signing import verify_document
from relayroom.datadir import secure_dir, write_private
from relayroom.jsonlimits import loads as json_loads

log = logging.getLogger(__name__)

CHECKPOINT_TYPE = "relayroom.oplog.checkpoint"
CHECKPOINT_DIR = "oplog-checkpoints"
MAX_HASHES = 10_000  # per checkpoint document (≈ 650 KB); older entries are covered by earlier ones


def checkpoint_body(
    *,
    seq: int,
    head_hash: str,
    ts: datetime,
    scope: str = "deployment",
    entries: int | None = None,
    hashes: Mapping[int, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The document to sign. ``hashes``: seq -> hash of consecutive entries ending at ``seq``."""
    body: dict[str, Any] = {
        "type": CHECKPOINT_TYPE,
        "chain": chain.CHAIN_ALGORITHM,
        "scope": scope,
        "seq": seq,
        "head_hash": head_hash,
        "ts": ts.isoformat(),
    }
    if entries is not None:
        body["entries"] = entries
    if hashes:
        first = min(hashes)
        body["hashes_from"] = first
        body["hashes"] = [hashes[i] for i in range(first, seq + 1)]
    body.update(extra or {})
    return body


@dataclass(frozen=True)
class Difference:
    first_differing: int  # the first entry that is not as the checkpoint saw it
    exact: bool  # False: that entry or an earlier one (the checkpoint holds no hashes further back)
    message: str


def compare(
    report: chain.ChainReport, hashes: Mapping[int, str], checkpoint: Mapping[str, Any]
) -> Difference | None:
    """What differs between the log now (its verification report and seq -> hash) and a checkpoint;
    None when the log still holds every entry the checkpoint saw, unchanged."""
    seq = int(checkpoint["seq"])
    if seq <= 0:
        return None
    broken = report.broken_at
    if not report.ok and broken is not None and broken <= seq:
        return Difference(
            broken,
            True,
            f"entry {broken} differs from the log this checkpoint saw (up to entry {seq}): {report.problem}",
        )
    gone = next((i for i in range(1, seq + 1) if i not in hashes), None)
    if gone is not None:
        message = f"the log was truncated: entry {gone} is gone (the checkpoint saw entries up to {seq})"
        return Difference(gone, True, message)
    if hashes[seq] == checkpoint["head_hash"]:
        return None
    held: list[str] = list(checkpoint.get("hashes") or [])
    first = int(checkpoint.get("hashes_from", seq))
    if not held:
        held, first = [str(checkpoint["head_hash"])], seq
    for offset, h in enumerate(held):
        if hashes[first + offset] != h:
            exact = offset > 0 or first == 1
            where = f"entry {first + offset}" if exact else f"entry {first} or an earlier one"
            message = f"{where} differs from the checkpoint (the log was rewritten from there)"
            return Difference(first + offset, exact, message)
    return Difference(seq, True, f"entry {seq} differs from the checkpoint (the log was rewritten)")


def compare_all(
    report: chain.ChainReport, hashes: Mapping[int, str], checkpoints: Sequence[Mapping[str, Any]]
) -> Difference | None:
    """The earliest difference against any of ``checkpoints``. Each narrows where a change began: a
    checkpoint that still matches vouches for every entry up to its seq (each hash covers the ones
    before it), so a change found after it is named exactly, or within the entries between the two."""
    found: list[Difference] = []
    matched_upto = 0
    for cp in checkpoints:
        d = compare(report, hashes, cp)
        if d is None:
            matched_upto = max(matched_upto, int(cp["seq"]))
        else:
            found.append(d)
    if not found:
        return None
    first = min(found, key=lambda d: (d.first_differing, not d.exact))
    if first.exact or matched_upto < 1:
        return first
    if matched_upto + 1 >= first.first_differing:
        at = matched_upto + 1
        message = f"entry {at} differs from the checkpoint (the log was rewritten from there)"
        return Difference(at, True, message)
    return Difference(
        first.first_differing,
        False,
        f"an entry in {matched_upto + 1}..{first.first_differing} differs from the checkpoints "
        "(the log was rewritten from there)",
    )


class CheckpointStore:
    """Signed checkpoint files in the data dir, one per checkpoint, named by seq."""

    def __init__(self, data_dir: Path, public_key_b64: str) -> None:
        self.dir = data_dir / CHECKPOINT_DIR
        self._public_key = public_key_b64

    def write(self, doc: Mapping[str, Any]) -> Path:
        secure_dir(self.dir)
        return write_private(self.dir / f"{int(doc['seq']):012d}.json", json.dumps(doc, indent=1).encode())

    def load(self) -> tuple[list[dict[str, Any]], list[str]]:
        """(valid checkpoints by seq, problems with files that are not valid signed checkpoints)."""
        docs: list[dict[str, Any]] = []
        problems: list[str] = []
        if not self.dir.is_dir():
            return docs, problems
        for path in sorted(self.dir.glob("*.json")):
            try:
                doc = json_loads(path.read_bytes())  # a file others may have touched: depth-limited
            except (OSError, ValueError):
                problems.append(f"{path.name} is not readable JSON")
                continue
            if not isinstance(doc, dict) or not verify_document(doc, self._public_key):
                problems.append(f"{path.name} is not signed by this deployment")
                continue
            docs.append(doc)
        docs.sort(key=lambda d: int(d.get("seq", 0)))
        return docs, problems

    def latest(self) -> dict[str, Any] | None:
        docs, _ = self.load()
        return docs[-1] if docs else None

    def keyed_before(self) -> bool:
        """Whether this node ever checkpointed a keyed chain (a chain found unkeyed later was rewritten)."""
        docs, _ = self.load()
        return any(d.get("chain") == chain.CHAIN_ALGORITHM for d in docs)


class CheckpointWriter:
    """Writes automatic checkpoints while the server runs (see the module docstring)."""

    def __init__(
        self,
        ctx: ControlContext,
        oplog: OplogService,
        store: CheckpointStore,
        settings: OplogSettings,
        on_broken: Callable[[chain.ChainReport], None],
    ) -> None:
        self._ctx = ctx
        self._oplog = oplog
        self._store = store
        self._settings = settings
        self._on_broken = on_broken
        self._task: asyncio.Task[None] | None = None
        self._last: dict[str, Any] | None = None
        self.closed = False

    async def start(self) -> None:
        self._last = self._store.latest()
        await self.write_if_due(force=True)  # a baseline at start
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="oplog-checkpoints")

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self.write_if_due(force=True)  # the state at shutdown

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._settings.checkpoint_poll_s)
            try:
                await self.write_if_due()
            except Exception:
                log.exception("automatic oplog checkpoint failed; retried at the next tick")

    def _due(self, head_seq: int, force: bool) -> bool:
        last_seq = int(self._last["seq"]) if self._last else 0
        if head_seq <= last_seq:
            return False
        if force or self._last is None:
            return True
        if head_seq - last_seq >= self._settings.checkpoint_every_entries:
            return True
        age = self._ctx.clock.time() - datetime.fromisoformat(str(self._last["ts"])).timestamp()
        return age >= self._settings.checkpoint_interval_s

    async def write_if_due(self, *, force: bool = False) -> Path | None:
        async with self._ctx.db.read() as session:
            head_seq, head_hash = await self._oplog.head(session)
            if not self._due(head_seq, force):
                return None
            last_seq = int(self._last["seq"]) if self._last else 0
            if self._last is not None:
                report = await self._oplog.verify_since(session, last_seq, str(self._last["head_hash"]))
            else:
                report = await self._oplog.verify(session)
            if not report.ok:
                self._on_broken(report)
                return None  # never vouch for a broken chain
            first = max(last_seq + 1, head_seq - MAX_HASHES + 1)
            hashes = await self._oplog.hashes(session, first, head_seq)
        doc = self._ctx.signer.sign_document(
            checkpoint_body(seq=head_seq, head_hash=head_hash, ts=self._ctx.clock.now(), hashes=hashes)
        )
        path = self._store.write(doc)
        self._last = doc
        log.info("oplog checkpoint written", extra={"seq": head_seq, "path": str(path)})
        if self._settings.checkpoint_webhook_url:
            await self._post(doc)
        return path

    async def _post(self, doc: Mapping[str, Any]) -> None:
        url = self._settings.checkpoint_webhook_url
        assert url is not None
        try:
            async with httpx.AsyncClient(timeout=self._settings.checkpoint_webhook_timeout_s) as client:
                r = await client.post(url, json=dict(doc))
            if r.status_code >= 300:
                log.warning("oplog checkpoint webhook refused", extra={"status": r.status_code})
        except httpx.HTTPError as exc:
            log.warning("oplog checkpoint webhook failed", extra={"error": type(exc).__name__})
