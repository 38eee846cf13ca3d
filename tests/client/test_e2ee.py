"""Keys of end-to-end encryption (relayroom.client.e2ee): derivation, rotation, the ratchet window,
and what a receiver does with frames it cannot decrypt."""

from __future__ import annotations

import pytest

from relayroom.client import e2ee, sframe

VP8_DELTA = bytes.fromhex("b10400") + bytes(range(80))
KEY_A = b"A" * 32
KEY_B = b"B" * 32


class Reports:
    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []
        self.now = 0.0

    def __call__(self, reason: str, message: str) -> None:
        self.items.append((reason, message))

    def clock(self) -> float:
        return self.now


def receiver(keys: e2ee.KeyRing) -> tuple[e2ee.FrameDecryptor, Reports]:
    reports = Reports()
    return e2ee.FrameDecryptor(keys, reports, clock=reports.clock), reports


def test_the_salt_differs_per_application_and_room_and_tells_numeric_from_string_rooms() -> None:
    salts = {
        e2ee.room_salt(1400000001, 1234),
        e2ee.room_salt(1400000001, None, "1234"),
        e2ee.room_salt(1400000001, 1235),
        e2ee.room_salt(1400000002, 1234),
    }
    assert len(salts) == 4
    with pytest.raises(ValueError):
        e2ee.room_salt(1400000001)


def test_keys_that_are_empty_short_or_of_another_type_are_refused() -> None:
    salt = e2ee.room_salt(1, 1)
    with pytest.raises(ValueError):
        e2ee.base_key_from("", salt)
    with pytest.raises(ValueError):
        e2ee.base_key_from(b"x" * 15, salt)
    with pytest.raises(TypeError):
        e2ee.base_key_from(1234, salt)  # type: ignore[arg-type]


def test_members_with_the_same_key_decrypt_each_other_and_a_member_with_another_key_does_not() -> None:
    sender = e2ee.FrameEncryptor(e2ee.KeyRing(KEY_A))
    same, _ = receiver(e2ee.KeyRing(KEY_A))
    other, reports = receiver(e2ee.KeyRing(KEY_B))
    for _ in range(3):
        frame = sender.encrypt("vp8", VP8_DELTA)
        assert same.decrypt("vp8", frame) == VP8_DELTA
        assert other.decrypt("vp8", frame) is None
    assert other.failed == 3 and other.decrypted == 0
    assert [r for r, _ in reports.items] == [e2ee.NO_KEY]  # reported once, not per frame


def test_each_stream_has_its_own_key_id_and_counters_never_repeat_within_one() -> None:
    keys = e2ee.KeyRing(KEY_A)
    a, b = e2ee.FrameEncryptor(keys), e2ee.FrameEncryptor(keys)
    headers = set()
    for _ in range(20):
        for enc in (a, b):
            frame = enc.encrypt("opus", b"\x78" + b"\x00" * 30)
            kid, ctr, _ = sframe.decode_header(frame, 1)
            headers.add((kid, ctr))
    assert len(headers) == 40
    assert len({kid for kid, _ in headers}) == 2


def test_a_receiver_follows_a_senders_ratchet_within_the_window_without_being_told() -> None:
    send_keys = e2ee.KeyRing(KEY_A)
    sender = e2ee.FrameEncryptor(send_keys)
    recv, reports = receiver(e2ee.KeyRing(KEY_A))
    assert recv.decrypt("vp8", sender.encrypt("vp8", VP8_DELTA)) == VP8_DELTA
    for _ in range(e2ee.RATCHET_WINDOW):
        send_keys.ratchet()
    frame = sender.encrypt("vp8", VP8_DELTA)
    assert sframe.decode_header(frame, 3)[0] & 0xFF == e2ee.RATCHET_WINDOW
    assert recv.decrypt("vp8", frame) == VP8_DELTA
    assert recv.decrypt("vp8", sender.encrypt("vp8", VP8_DELTA)) == VP8_DELTA
    assert reports.items == []


def test_a_ratchet_beyond_the_window_is_not_followed() -> None:
    send_keys = e2ee.KeyRing(KEY_A)
    sender = e2ee.FrameEncryptor(send_keys)
    recv, reports = receiver(e2ee.KeyRing(KEY_A))
    for _ in range(e2ee.RATCHET_WINDOW + 1):
        send_keys.ratchet()
    assert recv.decrypt("vp8", sender.encrypt("vp8", VP8_DELTA)) is None
    assert reports.items[0][0] == e2ee.NO_KEY


def test_frames_of_the_previous_key_still_decrypt_after_a_rotation_and_of_the_new_one_at_once() -> None:
    old_sender = e2ee.FrameEncryptor(e2ee.KeyRing(KEY_A))
    new_keys = e2ee.KeyRing(KEY_A)
    new_keys.set_key(KEY_B)
    new_sender = e2ee.FrameEncryptor(new_keys)
    recv_keys = e2ee.KeyRing(KEY_A)
    recv, reports = receiver(recv_keys)
    assert recv.decrypt("vp8", new_sender.encrypt("vp8", VP8_DELTA)) is None  # B not given yet
    recv_keys.set_key(KEY_B)
    assert recv.decrypt("vp8", new_sender.encrypt("vp8", VP8_DELTA)) == VP8_DELTA
    assert recv.decrypt("vp8", old_sender.encrypt("vp8", VP8_DELTA)) == VP8_DELTA  # late sender on A
    for _ in range(e2ee.MAX_GENERATIONS):
        recv_keys.set_key(bytes([len(reports.items)]) * 32 + b"x")
    assert recv.decrypt("vp8", old_sender.encrypt("vp8", VP8_DELTA)) is None  # A forgotten by now


def test_a_failing_stream_is_reported_again_after_the_interval_and_clear_frames_are_malformed() -> None:
    recv, reports = receiver(e2ee.KeyRing(KEY_A))
    recv.decrypt("vp8", b"\xb1\x04")  # a clear delta frame too short for an encrypted one
    assert reports.items[-1][0] == e2ee.MALFORMED
    other = e2ee.FrameEncryptor(e2ee.KeyRing(KEY_B))
    recv.decrypt("vp8", other.encrypt("vp8", VP8_DELTA))
    assert len(reports.items) == 1  # still failing: within the interval
    reports.now = e2ee.ERROR_INTERVAL_S
    recv.decrypt("vp8", other.encrypt("vp8", VP8_DELTA))
    assert len(reports.items) == 2


def test_a_frame_whose_key_tag_matches_but_which_does_not_authenticate_is_auth_failed() -> None:
    sender = e2ee.FrameEncryptor(e2ee.KeyRing(KEY_A))
    recv, reports = receiver(e2ee.KeyRing(KEY_A))
    frame = bytearray(sender.encrypt("vp8", VP8_DELTA))
    frame[-1] ^= 1
    assert recv.decrypt("vp8", bytes(frame)) is None
    assert reports.items[0][0] == e2ee.AUTH_FAILED
