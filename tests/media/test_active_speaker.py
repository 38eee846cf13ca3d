"""ActiveSpeakerDetector: volumes per interval, loudest first, dominant speaker with hysteresis."""

from __future__ import annotations

from relayroom.media.active_speaker import (
    DOMINANT_HOLD_MS,
    DOMINANT_SILENCE_MS,
    ActiveSpeakerDetector,
    SpeakerReport,
)


def _talk(
    det: ActiveSpeakerDetector, levels: dict[str, int], start_ms: float, ms: float
) -> list[SpeakerReport]:
    """Each producer sends a packet every 20 ms at its level (-dBov); poll every 100 ms."""
    reports = []
    t = start_ms
    while t < start_ms + ms:
        t += 20
        for pid, level in levels.items():
            det.on_level(pid, level)
        if t % 100 == 0:
            r = det.poll(t)
            if r is not None:
                reports.append(r)
    return reports


def _detector(*pids: str) -> ActiveSpeakerDetector:
    det = ActiveSpeakerDetector()
    for pid in pids:
        det.add_producer(pid)
    return det


def test_volumes_come_at_most_every_200_ms_loudest_first() -> None:
    det = _detector("a", "b", "c")
    reports = _talk(det, {"a": 40, "b": 10, "c": 20}, 0, 1000)
    assert len(reports) == 5  # polled every 100 ms, reported every 200 ms
    last = reports[-1]
    assert [pid for pid, _ in last.volumes] == ["b", "c", "a"]
    assert dict(last.volumes) == {"b": 32, "c": 10, "a": 1}  # 100 * 10^(-dBov/20)
    assert last.dominant == "b"


def test_a_producer_without_packets_has_volume_zero() -> None:
    det = _detector("a", "b")
    (report, *_) = _talk(det, {"a": 30}, 0, 200)
    assert dict(report.volumes) == {"a": 3, "b": 0}


def test_silence_is_reported_once_then_nothing() -> None:
    det = _detector("a")
    _talk(det, {"a": 10}, 0, 1000)
    reports = _talk(det, {"a": 127}, 1000, 2000)
    silent = [r for r in reports if all(v == 0 for _, v in r.volumes)]
    assert len(silent) == 1 and silent[0] is reports[-1]  # the first may still hold the last words


def test_the_dominant_speaker_changes_only_after_the_challenger_is_louder_for_a_while() -> None:
    det = _detector("a", "b")
    first = _talk(det, {"a": 20, "b": 60}, 0, 1000)
    assert first[-1].dominant == "a"
    # b becomes much louder: not at once, but within the hold time plus the 1 s smoothing
    reports = _talk(det, {"a": 20, "b": 5}, 1000, 3000)
    switched = [i for i, r in enumerate(reports) if r.dominant_changed]
    assert len(switched) == 1 and reports[switched[0]].dominant == "b"
    assert switched[0] * 200 >= DOMINANT_HOLD_MS - 200
    assert reports[-1].dominant == "b"


def test_two_people_at_similar_levels_do_not_make_the_dominant_speaker_flicker() -> None:
    det = _detector("a", "b")
    _talk(det, {"a": 20, "b": 60}, 0, 1000)
    changes = 0
    for i in range(20):  # alternate who is 2 dB louder every 300 ms
        levels = {"a": 20, "b": 18} if i % 2 else {"a": 18, "b": 20}
        changes += sum(r.dominant_changed for r in _talk(det, levels, 1000 + 300 * i, 300))
    assert changes == 0 and det.dominant == "a"


def test_a_quiet_dominant_speaker_hands_over_to_whoever_speaks() -> None:
    det = _detector("a", "b")
    _talk(det, {"a": 20, "b": 127}, 0, 1000)
    reports = _talk(det, {"a": 127, "b": 35}, 1000, 3000)
    changed = [r for r in reports if r.dominant_changed]
    assert changed and changed[0].dominant == "b"
    assert DOMINANT_SILENCE_MS <= 3000


def test_nobody_speaking_keeps_the_last_dominant_speaker_and_removal_clears_it() -> None:
    det = _detector("a", "b")
    _talk(det, {"a": 20}, 0, 1000)
    _talk(det, {}, 1000, 3000)
    assert det.dominant == "a"
    det.remove_producer("a")
    assert det.dominant is None
    det.on_level("a", 0)  # a removed producer is ignored
    reports = _talk(det, {"b": 30}, 4000, 400)
    assert reports[-1].dominant == "b" and [p for p, _ in reports[-1].volumes] == ["b"]
