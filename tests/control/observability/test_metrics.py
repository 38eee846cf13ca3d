"""/metrics during a real call, /readyz against /healthz, and the Grafana dashboard's expressions."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import promql_parser
import pytest

from relayroom.control.deps import container_of
from relayroom.control.observability import readiness
from tests.control.observability.live import Live, live_call

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

DASHBOARD = Path(__file__).resolve().parents[3] / "deploy" / "grafana" / "relayroom.json"
DOCS = Path(__file__).resolve().parents[3] / "docs" / "observability.md"


def value(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    return sum(v for lab, v in samples.get(name, []) if labels.items() <= lab.items())


async def _until_metric(live: Live, check: Any, within: float = 15.0) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        samples = await live.scrape()
        if check(samples) or loop.time() > deadline:
            return samples
        await asyncio.sleep(0.5)


def metric_names(expr: str) -> set[str]:
    """Every metric a PromQL expression selects (parsed, not pattern-matched)."""
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            assert node.name, f"selector without a metric name in {expr!r}"
            names.add(node.name)
        elif isinstance(node, promql_parser.MatrixSelector):
            walk(node.vector_selector)
        elif isinstance(node, promql_parser.BinaryExpr):
            walk(node.lhs)
            walk(node.rhs)
        elif isinstance(node, promql_parser.AggregateExpr):
            walk(node.expr)
            if node.param is not None:
                walk(node.param)
        elif isinstance(node, promql_parser.Call):
            for a in node.args:
                walk(a)
        elif isinstance(node, promql_parser.ParenExpr | promql_parser.UnaryExpr | promql_parser.SubqueryExpr):
            walk(node.expr)

    walk(promql_parser.parse(expr))
    return names


def dashboard_expressions() -> list[str]:
    dash = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]


def test_metric_names_are_read_from_parsed_expressions() -> None:
    assert metric_names('sum by (le) (rate(a_bucket{x="y"}[5m])) / on() group_left b + -c') == {
        "a_bucket",
        "b",
        "c",
    }
    with pytest.raises(ValueError):
        metric_names("sum(rate(a[5m])")


async def test_metrics_during_a_call_and_the_dashboard_reads_only_names_that_exist(tmp_path: Path) -> None:
    async with live_call(tmp_path) as live:
        samples = await _until_metric(
            live,
            # received too: sent counts the estimator's padding probes as well, which start early
            lambda s: (
                min(
                    value(s, "relayroom_worker_sent_packets_total"),
                    value(s, "relayroom_worker_received_packets_total"),
                )
                > 100
            ),
        )
        assert value(samples, "relayroom_rooms", scene="live") == 1
        assert value(samples, "relayroom_members", role="anchor") == 1
        assert value(samples, "relayroom_members", role="audience") == 1
        assert value(samples, "relayroom_media_producers") == 2
        assert value(samples, "relayroom_media_consumers") == 2
        assert value(samples, "relayroom_media_workers", state="running") == 1
        assert value(samples, "relayroom_worker_cpu_seconds_total", worker="0") > 0
        assert value(samples, "relayroom_worker_resident_memory_bytes", worker="0") > 10_000_000
        assert (
            value(samples, "relayroom_worker_received_bytes_total")
            > value(samples, "relayroom_worker_received_packets_total")
            > 100
        )
        assert value(samples, "relayroom_worker_dropped_packets_total", where="kernel") == 0
        # feedback counters are there for every type (their counting: tests/media/test_worker_metrics.py)
        types = {lab["type"] for lab, _ in samples["relayroom_worker_rtcp_feedback_received_total"]}
        assert types == {"nack", "pli", "fir"}
        assert value(samples, "relayroom_join_seconds_count") == 2
        assert value(samples, "relayroom_entry_refusals_total", reason="usersig_invalid") == 1
        assert value(samples, "relayroom_oplog_chain_ok") == 1
        # the node: its id, healthy database, no Redis (a single node), not draining, nothing redirected
        [(info, one)] = samples["relayroom_node_info"]
        assert info["node"] == container_of(live.app).history.node_id and info["region"] == "local"
        assert one == 1
        assert value(samples, "relayroom_database_up") == 1
        assert value(samples, "relayroom_redis_up") == -1
        assert value(samples, "relayroom_node_draining") == 0
        assert value(samples, "relayroom_cluster_nodes", state="live") == 1
        assert value(samples, "relayroom_entry_redirects_total") == 0
        assert 0 < value(samples, "relayroom_worker_load", worker="0") < 1  # two consumers of the capacity
        assert "process_resident_memory_bytes" in samples
        for name in (
            "relayroom_webhook_queue_depth",
            "relayroom_purge_jobs_due",
            "relayroom_purge_jobs_overdue",
        ):
            assert value(samples, name) == 0, name

        # every expression of the dashboard parses and selects metrics this server exposes
        exposed = set(samples)
        missing = {n for e in dashboard_expressions() for n in metric_names(e)} - exposed
        assert not missing, f"the dashboard reads metrics /metrics does not have: {sorted(missing)}"
        # and every family the dashboard reads is documented
        documented = DOCS.read_text()
        for expr in dashboard_expressions():
            for name in metric_names(expr):
                base = name.removesuffix("_bucket").removesuffix("_count").removesuffix("_total")
                assert f"`{base}" in documented, f"{name} is not in docs/observability.md"

        # after the call: no room, no member, counters keep their totals
        ready = await live.http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ready", ready.text


async def test_readyz_says_not_ready_while_draining_or_without_database_and_healthz_stays_up(
    tmp_path: Path,
) -> None:
    async with live_call(tmp_path) as live:
        r = await live.http.get("/readyz")
        assert r.status_code == 200
        assert r.json()["checks"]["workers"] == {"running": 1, "configured": 1}
        # draining (shutdown under way): not ready for new rooms, still alive
        container_of(live.app).signal_connections.closing = True
        r = await live.http.get("/readyz")
        assert r.status_code == 503 and r.json()["reasons"] == ["draining: shutdown under way"]
        assert (await live.http.get("/healthz")).status_code == 200
        container_of(live.app).signal_connections.closing = False
        # no media worker: the one there is is killed and not yet restarted
        media = container_of(live.app).media
        assert media is not None
        real = media.workers_running
        media.workers_running = lambda: (0, 1)  # type: ignore[method-assign]
        try:
            r = await live.http.get("/readyz")
            assert r.status_code == 503 and "no media worker running" in r.json()["reasons"]
        finally:
            media.workers_running = real  # type: ignore[method-assign]


class _BrokenDb:
    def read(self) -> Any:
        raise ConnectionRefusedError("database down")


class _State:
    ready = True
    media = None
    signal_connections = None

    class services:
        class ctx:
            db = _BrokenDb()


async def test_readiness_reports_an_unreachable_database_and_a_node_without_media() -> None:
    ready, detail = await readiness.readiness(_State())
    assert not ready
    assert detail["reasons"] == ["media is disabled on this node", "database unreachable"]
