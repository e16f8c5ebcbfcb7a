"""``VirtualRouter.heard_again`` (the runner's path for the advert a Backup hears
every interval) does exactly what ``handle`` does: over seeded sequences of
adverts (reused event objects, as the runner hands them over), reloads,
priorities, preemption and its delay, resigning and timers, a router fed
through ``heard_again`` first (``handle`` when it says None) ends in the same
state as one fed only through ``handle`` with fresh, equal events, and each
deadline it returns is the one ``ArmTimer`` that ``handle`` gives."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import ip_address
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from vrrp.fsm import (
    AdvertReceived,
    ArmTimer,
    Event,
    PrimaryAddressChanged,
    PriorityChanged,
    Reconfigure,
    Resign,
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


def advert(priority: int, addresses: tuple[Any, ...] = (VIP,), interval_cs: int = 100) -> Any:
    return Advertisement(
        version=3, vrid=51, priority=priority, interval_cs=interval_cs, addresses=addresses
    )


# The objects a runner hands over again and again (one per equal datagram).
SHARED: list[AdvertReceived] = [
    AdvertReceived(advert(200), MASTER),
    AdvertReceived(advert(200, interval_cs=50), MASTER),
    AdvertReceived(advert(200), OTHER),
    AdvertReceived(advert(100), OTHER),
    AdvertReceived(advert(50), MASTER),
    AdvertReceived(advert(0), MASTER),
    AdvertReceived(advert(255), MASTER),
    AdvertReceived(advert(200, (VIP2,)), MASTER),
]
OTHERS: list[Event] = [
    PrimaryAddressChanged(MASTER),
    PrimaryAddressChanged(OURS),
    Reconfigure(replace(PARAMS, preempt=False)),
    Reconfigure(replace(PARAMS, preempt_delay_cs=150)),
    Reconfigure(replace(PARAMS, virtual_addresses=(VIP2,))),
    Reconfigure(PARAMS),
    PriorityChanged(255),
    PriorityChanged(150),
    PriorityChanged(40),
    PriorityChanged(100),
    Resign(active=True),
    Resign(active=False),
    TimerExpired(Timer.MASTER_DOWN),
    TimerExpired(Timer.PREEMPT_DELAY),
    TimerExpired(Timer.ADVER),
]
POOL: list[Event] = [*SHARED, *OTHERS]
STEP = st.tuples(st.sampled_from((0.3, 1.0, 4.0)), st.integers(0, len(POOL) - 1))


def fresh(event: Event) -> Event:
    if isinstance(event, AdvertReceived):
        return AdvertReceived(replace(event.advert), event.src)
    return event


@settings(max_examples=500, deadline=None, derandomize=True)
@given(st.lists(STEP, max_size=60))
def test_heard_again_does_what_handle_does(steps: list[tuple[float, int]]) -> None:
    fast, oracle = VirtualRouter(PARAMS), VirtualRouter(PARAMS)
    now = 0.0
    assert fast.handle(Startup(), now) == oracle.handle(Startup(), now)
    taken = 0
    for gap, index in steps:
        now += gap  # 4.0: past Master_Down_Interval, timers due
        event = POOL[index]
        expected = oracle.handle(fresh(event), now)
        at = fast.heard_again(event, now) if isinstance(event, AdvertReceived) else None
        if at is None:
            assert fast.handle(event, now) == expected
        else:
            taken += 1
            assert expected == [ArmTimer(Timer.MASTER_DOWN, at)]
        assert fast == oracle
    # The fast path must be the common one for a Backup's Master advert.
    if steps and all(POOL[i] is SHARED[0] for _gap, i in steps) and len(steps) > 2:
        assert taken >= len(steps) - 2


def test_a_backup_hears_its_master_through_heard_again() -> None:
    router = VirtualRouter(PARAMS)
    router.handle(Startup(), 0.0)
    event = SHARED[0]
    assert router.heard_again(event, 0.5) is None  # not checked yet: handle() first
    router.handle(event, 0.5)
    at = router.heard_again(event, 1.5)
    assert at == 1.5 + router.master_down_interval
    assert router.timers[Timer.MASTER_DOWN] == at
    assert router.heard_again(SHARED[5], 2.5) is None  # priority 0: handle() decides
