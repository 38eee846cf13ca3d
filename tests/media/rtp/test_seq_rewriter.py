"""SeqRewriter (rtp/seq.py): continuous output numbering across stream switches and deliberate drops."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from relayroom.media.rtp.seq import SeqRewriter, seq_diff, ts_at


def test_first_sync_starts_the_output_at_the_chosen_start() -> None:
    rw = SeqRewriter(16, start=65534)
    assert rw.rewrite(100) is None  # nothing before a sync
    rw.sync(100)
    assert [rw.rewrite(s) for s in (100, 101, 102, 103)] == [65534, 65535, 0, 1]


def test_a_sync_continues_after_the_highest_output_and_refuses_the_old_space() -> None:
    rw = SeqRewriter(16, start=10)
    rw.sync(5000)
    assert [rw.rewrite(s) for s in (5000, 5001, 5002)] == [10, 11, 12]
    rw.sync(60000)  # another encoding: unrelated numbers
    assert rw.rewrite(60000) == 13
    assert rw.rewrite(59999) is None  # from before the switch point
    assert rw.rewrite(65535) == 13 + 5535
    assert rw.rewrite(0) == 13 + 5536  # the input wraps, the output follows


def test_dropped_inputs_leave_no_gap_and_reordering_is_kept() -> None:
    rw = SeqRewriter(16, start=0)
    rw.sync(1)
    assert rw.rewrite(1) == 0
    rw.drop(2)
    rw.drop(3)
    assert rw.rewrite(5) == 2  # 4 not seen yet: reordered
    assert rw.rewrite(4) == 1
    assert rw.rewrite(2) is None  # a dropped input stays dropped
    assert rw.rewrite(6) == 3
    assert rw.rewrite(5) == 2  # a duplicate gets the same number
    assert rw.late_drops == 0


def test_a_drop_after_a_newer_output_stays_a_gap_and_is_counted() -> None:
    rw = SeqRewriter(16, start=0)
    rw.sync(10)
    assert rw.rewrite(10) == 0
    assert rw.rewrite(12) == 2
    rw.drop(11)  # too late: 12 already went out as 2
    assert rw.late_drops == 1
    assert rw.rewrite(13) == 3


def test_seven_bit_space_wraps_at_128() -> None:
    rw = SeqRewriter(7, start=126)
    rw.sync(3)
    assert [rw.rewrite(i) for i in (3, 4, 5)] == [126, 127, 0]


def test_old_drops_fold_into_the_offset() -> None:
    rw = SeqRewriter(16, start=0)
    rw.sync(0)
    out = [rw.rewrite(0)]
    for s in range(1, 70000):
        if s % 3 == 0:
            rw.drop(s)
        else:
            out.append(rw.rewrite(s))
    assert out == [i & 0xFFFF for i in range(len(out))]


def test_ts_at_maps_wallclock_through_a_sender_report() -> None:
    assert ts_at(10.5, 10.0, 1000, 90000) == 1000 + 45000
    assert ts_at(9.0, 10.0, 10, 90000) == (10 - 90000) & 0xFFFFFFFF


@st.composite
def _arrivals(draw: st.DrawFn) -> tuple[int, list[tuple[int, bool]], int]:
    """(first input, [(input, drop?) in arrival order], window): inputs shuffled inside small windows."""
    first = draw(st.integers(0, 0xFFFF))
    n = draw(st.integers(1, 300))
    drops = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    window = draw(st.integers(1, 5))
    order = list(range(n))
    rnd = draw(st.randoms(use_true_random=False))
    for i in range(0, n, window):
        chunk = order[i : i + window]
        rnd.shuffle(chunk)
        order[i : i + window] = chunk
    return first, [((first + i) & 0xFFFF, drops[i]) for i in order], window


@settings(max_examples=200, deadline=None)
@given(_arrivals(), st.integers(0, 0xFFFF))
def test_output_is_unique_ordered_like_the_input_and_gapless_except_late_drops(
    case: tuple[int, list[tuple[int, bool]], int], start: int
) -> None:
    first, arrivals, window = case
    rw = SeqRewriter(16, start=start)
    rw.sync(first)
    sent: dict[int, int] = {}  # input offset -> output
    late: list[int] = []  # drops that came after a newer input was sent
    highest = None
    for value, drop in arrivals:
        offset = (value - first) & 0xFFFF
        if drop:
            if sent and offset < max(sent):
                late.append(offset)
            rw.drop(value)
            continue
        out = rw.rewrite(value)
        assert out is not None
        if highest is None or seq_diff(out, highest) > 0:
            highest = out
        assert seq_diff(out, highest) >= -window  # never further back than the reordering
        sent[offset] = out
    assert rw.late_drops == len(late)
    ordered = [sent[k] for k in sorted(sent)]
    assert len(set(ordered)) == len(ordered)
    assert all(seq_diff(b, a) == 1 + _between(late, x, y) for (x, a), (y, b) in _pairs(sent))
    if ordered:
        assert ordered[0] == start or min(sent) > 0


def _pairs(sent: dict[int, int]) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    items = sorted(sent.items())
    return list(itertools.pairwise(items))


def _between(late: list[int], lo: int, hi: int) -> int:
    """Late drops between two consecutive outputs: each leaves one gap."""
    return sum(1 for x in late if lo < x < hi)
