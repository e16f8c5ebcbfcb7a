"""Maintenance demotions on a lossless LAN: one Master, never a gap.

Any sequence of demotions (to 1..254), resignations (demotion to 0: priority
1 and priority-0 adverts, make before break) and restores, on 2 or 3 routers:

- once a router holds the virtual addresses, some router holds them at every
  instant (no stop, crash or loss here, so nobody may break before make);
- two routers hold them together only while adverts cross the wire: the old
  Master hears the new one's first advert (one delay D), or a lower Master's
  advert draws the higher one's answer at once (2 D); two resigning Masters
  settle their tie the same way (the higher address answers, the lower steps
  down). The bound checked is 3 D;
- after the last event has settled there is exactly one Master, and no move
  any more: a non-resigning router of the top priority when there is one.
  Settled: the slowest move is a Backup that preempts at its
  Master_Down_Interval (at most that of priority 1) counted from the last
  advert it heard, no later than the event; the interval added covers a
  resigning Backup's extra wait (one interval + Skew_Time) for a silent
  sender. Measured over 2000 examples: the last move came at most 0.998 ×
  Master_Down_Interval(1) after the last event, and no two Masters for more
  than 2.8 ms (D = 1.5 ms).
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address

from hypothesis import given, settings
from hypothesis import strategies as st

from support.simlan import SimLAN
from vrrp.fsm import RouterParams, VirtualRouter, master_down_interval

LATENCY = 0.001
JITTER = 0.0005
DELAY = LATENCY + JITTER
VRID = 3
MEDIUM = settings(max_examples=max(10, settings().max_examples // 2))


def router(
    *, priority: int, index: int, version: int, family: int, interval_cs: int
) -> VirtualRouter:
    primary: IPv4Address | IPv6Address = (
        IPv4Address(f"192.0.2.{10 + index}")
        if family == 4
        else IPv6Address(f"2001:db8::{10 + index:x}")
    )
    vip = ip_address("198.51.100.3" if family == 4 else "2001:db8:1::3")
    return VirtualRouter(
        RouterParams(
            vrid=VRID,
            version=version,
            priority=priority,
            advert_interval_cs=interval_cs,
            primary_address=primary,
            virtual_addresses=(vip,),
        )
    )


@dataclass(frozen=True)
class Step:
    gap_ms: int  # after the previous step, in thousandths of an interval
    node: int
    demotion: int | None  # 0 resigns, 1..254 runs at it, None restores


steps = st.builds(
    Step,
    gap_ms=st.one_of(st.integers(0, 50), st.integers(0, 4000)),
    node=st.integers(0, 2),
    demotion=st.one_of(st.none(), st.just(0), st.integers(1, 254)),
)


def gaps_and_overlaps(lan: SimLAN, end: float) -> tuple[float | None, list[tuple[float, float]]]:
    """The first instant with no Master after one existed, and each stretch with two."""
    timeline = lan.master_timeline(VRID)
    gap = None
    overlaps: list[tuple[float, float]] = []
    seen = False
    for i, (at, masters) in enumerate(timeline):
        until = timeline[i + 1][0] if i + 1 < len(timeline) else end
        if masters:
            seen = True
        elif seen and gap is None:
            gap = at
        if len(masters) > 1:
            overlaps.append((at, until - at))
    return gap, overlaps


@given(
    size=st.integers(2, 3),
    priorities=st.lists(st.integers(1, 254), min_size=3, max_size=3),
    slots=st.permutations(range(3)),
    version=st.sampled_from([2, 3]),
    interval_cs=st.sampled_from([20, 100]),
    script=st.lists(steps, min_size=1, max_size=8),
)
@MEDIUM
def test_demotions_restores_and_resignations_keep_one_master_and_no_gap(  # noqa: PLR0917
    size: int,
    priorities: list[int],
    slots: list[int],
    version: int,
    interval_cs: int,
    script: list[Step],
) -> None:
    if version == 2:
        interval_cs = 100
    family = 4 if version == 2 else 6
    interval = interval_cs / 100
    lan = SimLAN(latency=LATENCY, jitter=JITTER)
    names = [f"r{i}" for i in range(size)]
    for i, name in enumerate(names):
        lan.add(
            name,
            router(
                priority=priorities[i],
                index=slots[i],
                version=version,
                family=family,
                interval_cs=interval_cs,
            ),
        )
        lan.start(name, at=0.0)
    mdi = master_down_interval(version=version, priority=1, master_adver_interval_cs=interval_cs)
    at = mdi + 2 * interval
    for step in script:
        at += step.gap_ms * interval / 1000
        lan.demote(names[step.node % size], step.demotion, at=at)
    settled = at + mdi + interval + 4 * DELAY
    end = settled + 10 * interval
    lan.run_until(end)

    gap, overlaps = gaps_and_overlaps(lan, end)
    assert gap is None, f"nobody held the addresses at {gap:.4f}: {lan.history}"
    settle = 3 * DELAY
    long = [(t, d) for t, d in overlaps if d > settle]
    assert long == [], f"two Masters for longer than {settle}: {long}"
    masters = lan.masters(VRID)
    assert len(masters) == 1, masters
    assert lan.transitions(since=settled) == []
    ((master, _unused),) = masters
    serving = [n for n in names if not lan.router(n).resigning]
    if serving:
        top = max(lan.router(n).effective_priority for n in serving)
        assert master in serving
        assert lan.router(master).effective_priority == top


def test_two_resigning_routers_keep_one_master() -> None:
    """The review's case: both demoted to 0, one after the other."""
    lan = SimLAN(latency=LATENCY, jitter=JITTER)
    lan.add("a", router(priority=200, index=1, version=3, family=4, interval_cs=100))
    lan.add("b", router(priority=100, index=2, version=3, family=4, interval_cs=100))
    lan.start("a", at=0.0)
    lan.start("b", at=0.0)
    lan.demote("a", 0, at=10.0)
    lan.demote("b", 0, at=10.0 + 0.1)
    lan.run_until(40.0)
    assert len(lan.masters(VRID)) == 1
    gap, overlaps = gaps_and_overlaps(lan, 40.0)
    assert gap is None
    assert all(d <= 3 * DELAY for _unused, d in overlaps)
