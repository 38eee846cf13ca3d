"""The load-shedding counters of ``worker.metrics`` as Prometheus metrics (docs/observability.md)."""

from __future__ import annotations

from relayroom.media.metrics import shedding_metrics


def test_each_worker_counter_becomes_a_labelled_sample() -> None:
    workers = {
        0: {"shedPackets": 12, "shedBytes": 14400, "shedTurns": 3, "shedKeyframeRequests": 1},
        1: {"dtlsFlightsDeferred": 250},
    }
    samples = {
        (s.name, s.labels["worker"]): s.value for family in shedding_metrics(workers) for s in family.samples
    }
    assert samples[("relayroom_worker_shed_packets_total", "0")] == 12
    assert samples[("relayroom_worker_shed_bytes_total", "0")] == 14400
    assert samples[("relayroom_worker_shed_turns_total", "0")] == 3
    assert samples[("relayroom_worker_shed_keyframe_requests_total", "0")] == 1
    assert samples[("relayroom_worker_dtls_flights_deferred_total", "1")] == 250
    assert samples[("relayroom_worker_shed_packets_total", "1")] == 0
