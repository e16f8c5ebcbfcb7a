"""Two address owners on one LAN (a misconfiguration) still elect one Master.

RFC 9568 erratum 8298: an advertisement that reaches the address owner is
logged, not dropped; keepalived processes it. Two owners then tie on priority
255 and the higher primary address wins (RFC 9568 §6.4.3), as for any equal
priority.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address

from hypothesis import given, settings
from hypothesis import strategies as st

from support.simlan import SimLAN
from vrrp.fsm import RouterParams, State, VirtualRouter

LATENCY = 0.001
JITTER = 0.0005
DELAY = LATENCY + JITTER
VRID = 9
QUICK = settings(max_examples=max(10, settings().max_examples // 4))


def router(*, priority: int, index: int, version: int, family: int) -> VirtualRouter:
    primary: IPv4Address | IPv6Address = (
        IPv4Address(f"192.0.2.{10 + index}")
        if family == 4
        else IPv6Address(f"2001:db8::{10 + index:x}")
    )
    vip = ip_address("198.51.100.9" if family == 4 else "2001:db8:1::9")
    return VirtualRouter(
        RouterParams(
            vrid=VRID,
            version=version,
            priority=priority,
            advert_interval_cs=100,
            primary_address=primary,
            virtual_addresses=(vip,),
        )
    )


@given(
    version=st.sampled_from([2, 3]),
    slots=st.permutations(range(3)),
    starts=st.lists(st.integers(0, 2000), min_size=3, max_size=3),
    backup_priority=st.integers(1, 254),
)
@QUICK
def test_two_owners_elect_the_higher_address_at_once(
    version: int, slots: list[int], starts: list[int], backup_priority: int
) -> None:
    family = 4 if version == 2 else 6
    lan = SimLAN(latency=LATENCY, jitter=JITTER)
    lan.add("o1", router(priority=255, index=slots[0], version=version, family=family))
    lan.add("o2", router(priority=255, index=slots[1], version=version, family=family))
    lan.add("b", router(priority=backup_priority, index=slots[2], version=version, family=family))
    for name, start in zip(("o1", "o2", "b"), starts):
        lan.start(name, at=start / 1000)
    # Both owners are Master from their start; the later one's first advert,
    # or the answer to it, reaches the other within two one-way delays.
    both_up = max(starts[:2]) / 1000
    settled = both_up + 2 * DELAY + 1e-9
    lan.run_until(settled + 20)

    winner = "o1" if slots[0] > slots[1] else "o2"
    assert [node for node, _unused in lan.masters(VRID)] == [winner]
    assert lan.transitions(vrid=VRID, since=settled) == [
        r for r in lan.transitions(since=settled) if r.node == "b"
    ]
    assert all(r.new is not State.MASTER for r in lan.transitions(since=settled))
    assert lan.stats.anomalies["owner"] > 0
    assert lan.stats.drops["owner"] == 0
