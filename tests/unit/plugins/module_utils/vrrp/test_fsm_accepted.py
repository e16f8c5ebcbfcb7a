"""The core recognises an advert event it already checked (the runner reuses the
event object of an equal datagram): whatever happens between two arrivals of
the same event object (a new source address, a reload in place, a new
priority, other adverts, timers), the router does exactly what it does with
a fresh, equal event each time."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import ip_address
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from vrrp.fsm import (
    AdvertReceived,
    Event,
    PrimaryAddressChanged,
    PriorityChanged,
    Reconfigure,
    RouterParams,
    Startup,
    Timer,
    TimerExpired,
    VirtualRouter,
)
from vrrp.packet import Advertisement

VIP, VIP2 = ip_address("192.0.2.100"), ip_address("192.0.2.101")
OURS, MASTER, OTHER = ip_address("192.0.2.10"), ip_address("192.0.2.20"), ip_address("192.0.2.30")
PARAMS = RouterParams(
    vrid=51,
    version=3,
    priority=100,
    advert_interval_cs=100,
    primary_address=OURS,
    virtual_addresses=(VIP,),
    preempt=True,
)


def advert(priority: int, addresses: tuple[Any, ...] = (VIP,)) -> Advertisement:
    return Advertisement(
        version=3, vrid=51, priority=priority, interval_cs=100, addresses=addresses
    )


# The objects a runner would hand over again and again.
SHARED: list[Event] = [
    AdvertReceived(advert(200), MASTER),
    AdvertReceived(advert(200), OTHER),
    AdvertReceived(advert(50), MASTER),
    AdvertReceived(advert(0), MASTER),
    AdvertReceived(advert(200, (VIP2,)), MASTER),
    AdvertReceived(advert(200, (VIP, VIP2)), MASTER),
]
OTHERS: list[Event] = [
    PrimaryAddressChanged(MASTER),  # the shared adverts now come from "our own" address
    PrimaryAddressChanged(OURS),
    Reconfigure(replace(PARAMS, virtual_addresses=(VIP2,))),
    Reconfigure(replace(PARAMS, virtual_addresses=(VIP, VIP2))),
    Reconfigure(PARAMS),
    Reconfigure(replace(PARAMS, unicast_peers=(OTHER,))),
    PriorityChanged(255),  # the owner: every advert is an anomaly too
    PriorityChanged(100),
    TimerExpired(Timer.MASTER_DOWN),
    TimerExpired(Timer.ADVER),
]
STEP = st.tuples(st.booleans(), st.integers(min_value=0, max_value=len(SHARED) + len(OTHERS) - 1))


def fresh(event: Event) -> Event:
    """An equal event, another object (and another advert object)."""
    if isinstance(event, AdvertReceived):
        return AdvertReceived(replace(event.advert), event.src)
    return event


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.lists(STEP, max_size=40))
def test_a_reused_advert_event_acts_as_a_fresh_one(steps: list[tuple[bool, int]]) -> None:
    reused, oracle = VirtualRouter(PARAMS), VirtualRouter(PARAMS)
    now = 0.0
    assert reused.handle(Startup(), now) == oracle.handle(Startup(), now)
    pool = SHARED + OTHERS
    for late, index in steps:
        now += 4.0 if late else 0.3  # late: past Master_Down_Interval, timers due
        event = pool[index]
        assert reused.handle(event, now) == oracle.handle(fresh(event), now)
        assert reused == oracle
