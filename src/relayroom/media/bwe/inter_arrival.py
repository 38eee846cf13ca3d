"""InterArrival: packets grouped by send time, and the deltas between consecutive groups.

A video frame leaves the sender as a burst, so single-packet delays are noise; the delay-gradient
filter looks at groups instead (libwebrtc's InterArrivalDelta). A group is every packet sent within
GROUP_LENGTH_MS of the group's first packet, plus packets that arrive in a burst right after it (the
network bunched them: arrival delta <= BURST_DELTA_MS with a negative propagation delta, within
MAX_BURST_MS). When a packet opens a new group, the previous group is complete and we return

    send_delta    = last send time of this group - last send time of the previous group
    arrival_delta = last arrival time of this group - last arrival time of the previous group

whose difference (arrival - send) is how much the queue on the path grew between the two groups.
Times are milliseconds; arrival times come from the receiver's clock, only their differences matter.
"""

from __future__ import annotations

GROUP_LENGTH_MS = 5.0
BURST_DELTA_MS = 5.0
MAX_BURST_MS = 100.0
ARRIVAL_OFFSET_THRESHOLD_MS = 3000.0  # the receiver's clock jumped: start over
REORDERED_RESET = 3  # consecutive groups that arrived before their predecessor: start over


class InterArrival:
    __slots__ = (
        "_cur_arrival",
        "_cur_first_arrival",
        "_cur_first_send",
        "_cur_local",
        "_cur_send",
        "_cur_size",
        "_prev_arrival",
        "_prev_local",
        "_prev_send",
        "_prev_size",
        "_reordered",
    )

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._cur_first_send = -1.0  # < 0: no current group
        self._cur_send = 0.0
        self._cur_first_arrival = 0.0
        self._cur_arrival = 0.0
        self._cur_local = 0.0
        self._cur_size = 0
        self._prev_send = -1.0  # < 0: no complete group yet
        self._prev_arrival = 0.0
        self._prev_local = 0.0
        self._prev_size = 0
        self._reordered = 0

    def compute(
        self, send_ms: float, arrival_ms: float, local_ms: float, size: int
    ) -> tuple[float, float, int] | None:
        """Feed one packet (in arrival order); returns (send_delta, arrival_delta, size_delta) when it
        completed a group. ``local_ms`` is our clock when the feedback came in."""
        result = None
        if self._cur_first_send < 0:
            self._cur_first_send = send_ms
            self._cur_send = send_ms
            self._cur_first_arrival = arrival_ms
        elif send_ms < self._cur_first_send:
            return None  # sent before the current group began: reordered on the path
        elif self._new_group(send_ms, arrival_ms):
            if self._prev_send >= 0:
                send_delta = self._cur_send - self._prev_send
                arrival_delta = self._cur_arrival - self._prev_arrival
                local_delta = self._cur_local - self._prev_local
                if arrival_delta - local_delta >= ARRIVAL_OFFSET_THRESHOLD_MS:
                    self.reset()
                    return None
                if arrival_delta < 0:
                    self._reordered += 1
                    if self._reordered >= REORDERED_RESET:
                        self.reset()
                    return None
                self._reordered = 0
                result = (send_delta, arrival_delta, self._cur_size - self._prev_size)
            self._prev_send = self._cur_send
            self._prev_arrival = self._cur_arrival
            self._prev_local = self._cur_local
            self._prev_size = self._cur_size
            self._cur_first_send = send_ms
            self._cur_send = send_ms
            self._cur_first_arrival = arrival_ms
            self._cur_size = 0
        elif send_ms > self._cur_send:
            self._cur_send = send_ms
        self._cur_size += size
        self._cur_arrival = arrival_ms
        self._cur_local = local_ms
        return result

    def compute_many(
        self, sends_ms: list[float], arrivals_ms: list[float], sizes: list[int], local_ms: float
    ) -> list[tuple[float, float, float]]:
        """``compute`` for the packets of one feedback (in arrival order): the completed groups as
        (send_delta, arrival_delta, arrival time of the packet that completed them). Packets that
        join the current group take a fast path."""
        out: list[tuple[float, float, float]] = []
        compute = self.compute
        for send_ms, arrival_ms, size in zip(sends_ms, arrivals_ms, sizes, strict=True):
            first = self._cur_first_send
            if 0 <= first <= send_ms and send_ms - first <= GROUP_LENGTH_MS:
                # Inside the current group's send window: it cannot start a new group.
                if send_ms > self._cur_send:
                    self._cur_send = send_ms
                self._cur_size += size
                self._cur_arrival = arrival_ms
                self._cur_local = local_ms
                continue
            deltas = compute(send_ms, arrival_ms, local_ms, size)
            if deltas is not None:
                out.append((deltas[0], deltas[1], arrival_ms))
        return out

    def _new_group(self, send_ms: float, arrival_ms: float) -> bool:
        arrival_delta = arrival_ms - self._cur_arrival
        send_delta = send_ms - self._cur_send
        if send_delta == 0:
            return False
        if (
            arrival_delta - send_delta < 0
            and arrival_delta <= BURST_DELTA_MS
            and arrival_ms - self._cur_first_arrival < MAX_BURST_MS
        ):
            return False  # a burst: the path delivered it faster than it was sent
        return send_ms - self._cur_first_send > GROUP_LENGTH_MS
