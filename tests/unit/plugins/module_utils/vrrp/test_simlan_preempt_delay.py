"""A sync group with ``preempt_delay`` preempts once the delay has passed for
every member, however far apart the members' delays run out.

The members of the better host hear the other host's two VRIDs at different
phases of the Advertisement_Interval, so their delays end at different times.
The first one's request is refused (the second still accepts its Master); it
must keep wanting Master (discard lower adverts, as keepalived keeps the expired
preempt time) until the second one's delay ends, or the two never agree.
"""

from __future__ import annotations

from ipaddress import ip_address

from hypothesis import given, settings
from hypothesis import strategies as st

from support.simlan import SimLAN
from vrrp.fsm import RouterParams, State, VirtualRouter
from vrrp.group import SyncGroup

LATENCY = 0.001
JITTER = 0.0005
DELAY = LATENCY + JITTER
QUICK = settings(max_examples=max(10, settings().max_examples // 4))


def host(name: str, *, slot: int, priority: int, preempt_delay_cs: int) -> SyncGroup:
    members = {
        member: VirtualRouter(
            RouterParams(
                vrid=vrid,
                version=3,
                priority=priority,
                advert_interval_cs=100,
                primary_address=ip_address(f"192.0.2.{slot}"),
                virtual_addresses=(ip_address(f"198.51.100.{vrid}"),),
                preempt_delay_cs=preempt_delay_cs,
            )
        )
        for member, vrid in (("a", 1), ("b", 2))
    }
    return SyncGroup(name, members)


@given(
    phase_ms=st.integers(50, 950),
    delay_cs=st.integers(101, 600),
    start_ms=st.integers(0, 1000),
)
@QUICK
def test_a_group_preempts_once_every_members_delay_is_over(
    phase_ms: int, delay_cs: int, start_ms: int
) -> None:
    lan = SimLAN(latency=LATENCY, jitter=JITTER)
    lan.add("low", host("low", slot=20, priority=100, preempt_delay_cs=0))
    lan.add("high", host("high", slot=10, priority=200, preempt_delay_cs=delay_cs))
    lan.start("low", at=0.0)
    lan.run_until(5.0)
    assert lan.masters(1) == [("low", "a")] and lan.masters(2) == [("low", "b")]
    # Shift VRID 2's adverts by phase_ms against VRID 1's (a Master sends at
    # once on a priority change and re-arms its Adver_Timer).
    lan.set_priority("low", 101, member="b", at=5.0 + phase_ms / 1000)
    start = 7.0 + start_ms / 1000
    lan.start("high", at=start)
    # Each member hears its first lower advert within an interval of its start;
    # its delay ends preempt_delay later; then the group agrees at once.
    deadline = start + 1.0 + delay_cs / 100 + 3 * DELAY
    lan.run_until(deadline)
    assert lan.masters(1) == [("high", "a")]
    assert lan.masters(2) == [("high", "b")]
    lan.run_until(deadline + 30)
    assert lan.transitions(since=deadline + 2 * DELAY) == []
    # Both members moved at one instant: the group was never split.
    takeovers = {r.at for r in lan.history if r.node == "high" and r.new is State.MASTER}
    assert len(takeovers) == 1
