"""The cluster-wide job lock: one holder across nodes on PostgreSQL, always granted on SQLite."""

from __future__ import annotations

from relayroom.config import Settings
from relayroom.storage.db import Database


async def test_one_node_at_a_time_runs_a_periodic_job(settings: Settings) -> None:
    a, b = Database(settings.effective_database_url), Database(settings.effective_database_url)
    try:
        await a.migrate()
        async with a.try_advisory_lock("retention.schedule") as got_a:
            assert got_a
            async with b.try_advisory_lock("retention.schedule") as got_b:
                # PostgreSQL: the other node skips this tick; SQLite: one node by design, no lock
                assert got_b == settings.is_sqlite
            async with b.try_advisory_lock("usage.other-job") as other:
                assert other  # another job's lock is another lock
        async with b.try_advisory_lock("retention.schedule") as again:
            assert again  # released when a's block ended
    finally:
        await a.dispose()
        await b.dispose()
