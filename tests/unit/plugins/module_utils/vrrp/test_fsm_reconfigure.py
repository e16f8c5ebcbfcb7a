"""Reconfigure: a reload that changes a virtual router in place keeps its state."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import ip_address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vrrp.errors import StateError, VRRPError
from vrrp.fsm import (
    AddAddresses,
    AdvertReceived,
    Announce,
    ArmTimer,
    CancelTimer,
    PriorityChanged,
    Reconfigure,
    RemoveAddresses,
    RouterParams,
    SendAdvert,
    Startup,
    State,
    Timer,
    TimerExpired,
    Transition,
    VirtualRouter,
)
from vrrp.group import SyncGroup
from vrrp.packet import Advertisement
from vrrp.tracking import Tracker, Tracking, TrackKind

VIP, VIP2 = ip_address("192.0.2.100"), ip_address("192.0.2.101")
OURS = ip_address("192.0.2.10")
PEER_LOW, PEER_HIGH = ip_address("192.0.2.5"), ip_address("192.0.2.20")


def make_router(**overrides: object) -> VirtualRouter:
    params: dict[str, object] = {
        "vrid": 51,
        "version": 3,
        "priority": 100,
        "advert_interval_cs": 100,
        "primary_address": OURS,
        "virtual_addresses": (VIP,),
    }
    params.update(overrides)
    return VirtualRouter(RouterParams(**params))  # type: ignore[arg-type]


def advert(priority: int, *, interval_cs: int = 100, **kw: object) -> Advertisement:
    fields: dict[str, object] = {
        "version": 3,
        "vrid": 51,
        "priority": priority,
        "interval_cs": interval_cs,
        "addresses": (VIP,),
    }
    fields.update(kw)
    return Advertisement(**fields)  # type: ignore[arg-type]


def started(router: VirtualRouter, now: float = 0.0) -> VirtualRouter:
    router.handle(Startup(), now)
    return router


def as_master(router: VirtualRouter, now: float = 0.0) -> VirtualRouter:
    started(router, now)
    router.handle(TimerExpired(Timer.MASTER_DOWN), router.timers[Timer.MASTER_DOWN])
    assert router.state is State.MASTER
    return router


def reconfigure(router: VirtualRouter, now: float = 1.0, **changes: object) -> list[object]:
    params = replace(router.params, **changes)  # type: ignore[arg-type]
    return list(router.handle(Reconfigure(params), now))


def test_master_keeps_state_and_timers_for_what_is_not_on_the_wire() -> None:
    router = as_master(make_router())
    timers, since = dict(router.timers), router.since
    assert reconfigure(router, preempt=False, accept=True) == []
    assert router.state is State.MASTER and router.timers == timers and router.since == since
    assert router.params.accept is True


def test_master_with_new_addresses_adds_removes_announces_and_advertises() -> None:
    router = as_master(make_router())
    actions = reconfigure(router, 2.0, virtual_addresses=(VIP2,))
    assert actions[:3] == [RemoveAddresses((VIP,)), AddAddresses((VIP2,)), Announce()]
    assert isinstance(actions[3], SendAdvert) and actions[3].advert.addresses == (VIP2,)
    assert actions[4] == ArmTimer(Timer.ADVER, 3.0)
    assert router.state is State.MASTER
    # The new address set is what it checks adverts against from now on.
    heard = router.handle(AdvertReceived(advert(50, addresses=(VIP2,)), PEER_LOW), 2.5)
    assert not any(getattr(a, "kind", "") == "address_mismatch" for a in heard)


def test_master_puts_a_readdressed_vip_in_again() -> None:
    router = as_master(make_router(virtual_addresses=(VIP, VIP2)))
    params = router.params
    actions = router.handle(Reconfigure(params, readdress=(VIP2,)), 1.0)
    assert actions == [RemoveAddresses((VIP2,)), AddAddresses((VIP2,)), Announce()]


def test_backup_takes_new_addresses_without_touching_the_kernel() -> None:
    router = started(make_router())
    assert reconfigure(router, virtual_addresses=(VIP2,)) == []
    assert router.state is State.BACKUP


def test_new_interval_on_a_master_is_sent_at_once_and_rearmed() -> None:
    router = as_master(make_router())
    actions = reconfigure(router, 2.0, advert_interval_cs=50)
    assert isinstance(actions[0], SendAdvert) and actions[0].advert.interval_cs == 50
    assert actions[1] == ArmTimer(Timer.ADVER, 2.5)


def test_a_pending_preempt_delay_ends_with_new_preempt_settings() -> None:
    for change in ({"preempt": False}, {"preempt_delay_cs": 500}):
        router = started(make_router(priority=150, preempt_delay_cs=200))
        router.handle(AdvertReceived(advert(100), PEER_LOW), 0.5)
        assert router.preempt_deadline == 2.5
        actions = reconfigure(router, **change)
        assert actions == [CancelTimer(Timer.PREEMPT_DELAY)], change
        assert router.preempt_deadline is None and router.state is State.BACKUP


def test_vrid_or_version_change_is_no_change_in_place() -> None:
    router = as_master(make_router())
    with pytest.raises(StateError, match="another virtual router"):
        reconfigure(router, vrid=52)
    with pytest.raises(StateError, match="another virtual router"):
        reconfigure(router, version=2)
    assert router.params.vrid == 51 and router.state is State.MASTER


def test_the_source_address_is_kept_and_the_priority_is_not_taken() -> None:
    router = as_master(make_router())
    reconfigure(router, primary_address=ip_address("192.0.2.99"), priority=10)
    assert router.params.primary_address == OURS
    assert router.effective_priority == 100  # only PriorityChanged sets it


def test_leaving_a_group_stops_asking_it() -> None:
    a, b = make_router(), make_router(vrid=52)
    SyncGroup("g", {"a": a, "b": b})
    started(a)
    actions = a.handle(TimerExpired(Timer.MASTER_DOWN), a.timers[Timer.MASTER_DOWN])
    assert a.wants_master and a.state is State.BACKUP
    assert not any(isinstance(x, Transition) for x in actions)
    a.handle(Reconfigure(a.params, in_sync_group=False), 10.0)
    assert not a.in_sync_group and not a.wants_master
    a.handle(TimerExpired(Timer.MASTER_DOWN), a.timers[Timer.MASTER_DOWN])
    assert a.state is State.MASTER  # on its own now: the timer decides


@given(
    priority=st.integers(101, 254),
    interval_cs=st.integers(1, 400),
    preempt=st.booleans(),
    preempt_delay_cs=st.integers(0, 1000),
    vips=st.lists(st.sampled_from([VIP, VIP2]), min_size=1, max_size=2, unique=True),
)
def test_a_master_that_stays_the_best_never_moves(
    priority: int, interval_cs: int, preempt: bool, preempt_delay_cs: int, vips: list[object]
) -> None:
    """Whatever is changed in place, a Master still above its Backup stays Master
    with its addresses: no Transition, no RemoveAddresses of what it keeps, no
    priority-0 advert."""
    router = as_master(make_router(priority=200))
    tracking = Tracking(base_priority=200, trackers=[])
    router.handle(AdvertReceived(advert(100), PEER_LOW), 0.5)  # a Backup that talks
    params = replace(
        router.params,
        advert_interval_cs=interval_cs,
        preempt=preempt,
        preempt_delay_cs=preempt_delay_cs,
        virtual_addresses=tuple(vips),  # type: ignore[arg-type]
    )
    actions = router.handle(Reconfigure(params), 1.0)
    result = tracking.reconfigure(base_priority=priority, trackers=[])
    actions += router.handle(PriorityChanged(result.effective_priority), 1.0)
    assert router.state is State.MASTER
    assert not any(isinstance(a, Transition) for a in actions)
    for action in actions:
        if isinstance(action, RemoveAddresses):
            assert action.addresses is not None and not set(action.addresses) & set(vips)
    sent = [a.advert.priority for a in actions if isinstance(a, SendAdvert)]
    assert set(sent) <= {200, priority}  # never a priority-0 advert
    assert priority == 200 or sent[-1] == priority
    # And the Backup's next advert does not unseat it.
    later = router.handle(AdvertReceived(advert(100, interval_cs=interval_cs), PEER_LOW), 1.5)
    assert router.state is State.MASTER and not any(isinstance(a, Transition) for a in later)


def test_a_master_made_worse_than_its_peer_steps_down_only_when_the_peer_speaks() -> None:
    """Make before break: the lower priority is advertised, the addresses stay
    until the new Master's advert arrives."""
    router = as_master(make_router(priority=200))
    tracking = Tracking(base_priority=200, trackers=[])
    result = tracking.reconfigure(base_priority=50, trackers=[])
    actions = router.handle(PriorityChanged(result.effective_priority), 1.0)
    assert [type(a).__name__ for a in actions] == ["SendAdvert", "ArmTimer"]
    assert router.state is State.MASTER
    step = router.handle(AdvertReceived(advert(100), PEER_HIGH), 2.0)
    assert router.state is State.BACKUP and RemoveAddresses() in step


def test_tracking_reconfigure_keeps_results_and_the_override() -> None:
    eth1 = Tracker(TrackKind.INTERFACE, "eth1", -50)
    tracking = Tracking(base_priority=200, trackers=[eth1])
    assert tracking.set_interface("eth1", up=False).effective_priority == 150
    result = tracking.reconfigure(
        base_priority=180, trackers=[Tracker(TrackKind.INTERFACE, "eth1", -30)]
    )
    assert result.effective_priority == 150  # 180 - 30: still down, new weight
    script = Tracker(TrackKind.SCRIPT, "chk", 0)
    assert tracking.reconfigure(base_priority=180, trackers=[script]).effective_priority == 180
    assert tracking.set_override(20).effective_priority == 20
    assert tracking.reconfigure(base_priority=100, trackers=[]).effective_priority == 20
    with pytest.raises(VRRPError, match=r"not in 1\.\.255"):
        tracking.reconfigure(base_priority=0, trackers=[])
    assert tracking.base_priority == 100  # a refused change changes nothing
