"""Room shapes. Each step is a fresh room: who publishes what, and who subscribes to whom."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Participant:
    name: str
    audio: bool = False
    video: bool = False
    subscribes: tuple[str, ...] = ()
    simulcast: bool = False  # publishes its camera as three simulcast encodings
    layer: int | None = None  # subscriber: the encoding it asks for (0 lowest … 2 highest)

    @property
    def publishes(self) -> bool:
        return self.audio or self.video


@dataclass(frozen=True)
class Step:
    scenario: str
    load: int  # the x axis: subscribers (fan-out, live audience) or room size (meeting, audio)
    participants: tuple[Participant, ...]
    label: str = ""

    @property
    def publishers(self) -> list[Participant]:
        return [p for p in self.participants if p.publishes]

    @property
    def subscribers(self) -> list[Participant]:
        return [p for p in self.participants if p.subscribes]


def fanout(n: int) -> Step:
    """1 publisher (audio + video) → n subscribers."""
    pub = Participant("p0", audio=True, video=True)
    subs = tuple(Participant(f"s{i}", subscribes=("p0",)) for i in range(n))
    return Step("fanout", n, (pub, *subs), f"1→{n}")


def meeting(n: int) -> Step:
    """n participants, each publishing audio + video and seeing all others."""
    names = [f"m{i}" for i in range(n)]
    ps = tuple(
        Participant(nm, audio=True, video=True, subscribes=tuple(o for o in names if o != nm)) for nm in names
    )
    return Step("meeting", n, ps, f"{n}×{n - 1}")


def audio_room(n: int) -> Step:
    """n participants, each publishing audio only and hearing all others."""
    names = [f"a{i}" for i in range(n)]
    ps = tuple(Participant(nm, audio=True, subscribes=tuple(o for o in names if o != nm)) for nm in names)
    return Step("audio", n, ps, f"{n}×{n - 1}")


def live(anchors: int, audience: int) -> Step:
    """a few anchors (audio + video, seeing each other) and a watching audience."""
    names = [f"h{i}" for i in range(anchors)]
    hosts = tuple(
        Participant(nm, audio=True, video=True, subscribes=tuple(o for o in names if o != nm)) for nm in names
    )
    aud = tuple(Participant(f"v{i}", subscribes=tuple(names)) for i in range(audience))
    return Step("live", audience, (*hosts, *aud), f"{anchors}+{audience}")


def simulcast(n: int) -> Step:
    """1 publisher (audio + a 3-encoding simulcast camera) → n subscribers, a third on each encoding."""
    pub = Participant("p0", audio=True, video=True, simulcast=True)
    subs = tuple(Participant(f"s{i}", subscribes=("p0",), layer=i % 3) for i in range(n))
    return Step("simulcast", n, (pub, *subs), f"1→{n} sim")


@dataclass(frozen=True)
class Plan:
    steps: list[Step] = field(default_factory=list)
    window_s: float = 4.0


def quick_plan() -> Plan:
    return Plan([fanout(n) for n in (10, 20, 30)], window_s=2.5)


def full_plan() -> Plan:
    steps = [fanout(n) for n in (10, 30, 60, 100, 150, 200, 250, 300, 400)]
    steps += [meeting(n) for n in (4, 8, 12, 16)]
    steps += [audio_room(n) for n in (10, 20, 30, 40)]
    steps += [live(3, n) for n in (20, 40, 80, 120)]
    steps += [simulcast(n) for n in (30, 90, 150)]
    return Plan(steps, window_s=5.0)
