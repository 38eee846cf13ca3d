"""Properties of the RTCP parser and builders (hypothesis): every type the worker parses (SR, RR, generic
NACK, PLI, FIR, REMB) round-trips alone and in compound packets; any other input raises only ValueError."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relayroom.media.rtp import rtcp

PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
U32 = st.integers(0, 0xFFFFFFFF)

blocks = st.builds(
    rtcp.ReportBlock,
    ssrc=U32,
    fraction_lost=st.integers(0, 255),
    packets_lost=st.integers(-(1 << 23), (1 << 23) - 1),
    highest_seq=U32,
    jitter=U32,
    lsr=U32,
    dlsr=U32,
)
report_lists = st.lists(blocks, max_size=31)
sender_reports = st.builds(
    rtcp.SenderReport,
    ssrc=U32,
    ntp_timestamp=st.integers(0, (1 << 64) - 1),
    rtp_timestamp=U32,
    packet_count=U32,
    octet_count=U32,
    reports=report_lists,
)
receiver_reports = st.builds(rtcp.ReceiverReport, ssrc=U32, reports=report_lists)
plis = st.builds(rtcp.Pli, sender_ssrc=U32, media_ssrc=U32)
remb_bitrates = st.builds(lambda m, e: m << e, st.integers(0, 0x3FFFF), st.integers(0, 63))
rembs = st.builds(rtcp.Remb, sender_ssrc=U32, bitrate=remb_bitrates, ssrcs=st.lists(U32, max_size=255))


def build(item: rtcp.RtcpItem) -> bytes:
    if isinstance(item, rtcp.SenderReport):
        return rtcp.build_sr(item)
    if isinstance(item, rtcp.ReceiverReport):
        return rtcp.build_rr(item.ssrc, item.reports)
    if isinstance(item, rtcp.Pli):
        return rtcp.build_pli(item.sender_ssrc, item.media_ssrc)
    if isinstance(item, rtcp.Remb):
        return rtcp.build_remb(item.sender_ssrc, item.bitrate, item.ssrcs)
    if isinstance(item, rtcp.Fir):
        ((ssrc, seq),) = item.entries
        return rtcp.build_fir(item.sender_ssrc, ssrc, seq)
    raise AssertionError(item)


firs = st.builds(lambda s, m, n: rtcp.Fir(s, [(m, n)]), U32, U32, st.integers(0, 255))
items = st.one_of(sender_reports, receiver_reports, plis, rembs, firs)


@PROPS
@given(st.lists(items, min_size=1, max_size=6))
def test_a_compound_of_built_packets_parses_back_to_the_same_items_in_order(
    built: list[rtcp.RtcpItem],
) -> None:
    assert rtcp.parse(b"".join(build(i) for i in built)) == built


@PROPS
@given(U32, U32, st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=200))
def test_a_nack_gives_back_every_lost_sequence_number(sender: int, media: int, lost: list[int]) -> None:
    (nack,) = rtcp.parse(rtcp.build_nack(sender, media, lost))
    assert isinstance(nack, rtcp.Nack)
    assert (nack.sender_ssrc, nack.media_ssrc) == (sender, media)
    assert set(nack.lost) == set(lost)


@PROPS
@given(st.lists(items, min_size=1, max_size=4), st.data())
def test_a_truncated_compound_raises_valueerror_or_parses_to_a_prefix(
    built: list[rtcp.RtcpItem], data: st.DataObject
) -> None:
    raw = b"".join(build(i) for i in built)
    cut = data.draw(st.integers(0, len(raw) - 1))
    try:
        got = rtcp.parse(raw[:cut])
    except ValueError:
        return
    assert got == built[: len(got)]


@PROPS
@given(st.binary(max_size=400))
def test_arbitrary_bytes_raise_only_valueerror(data: bytes) -> None:
    try:
        parsed = rtcp.parse(data)
    except ValueError:
        return
    for item in parsed:
        if isinstance(item, rtcp.Nack):
            assert all(0 <= s <= 0xFFFF for s in item.lost)
        if isinstance(item, rtcp.Fir):
            assert all(0 <= n <= 255 for _, n in item.entries)
