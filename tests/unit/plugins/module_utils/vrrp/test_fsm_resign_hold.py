"""A resigned Master keeps its addresses RESIGN_HOLD after its successor's advert (issue 13).

keepalived advertises before it takes the addresses and sends its gratuitous
ARP; a datagram the link still sends to us in that gap must find the address.
"""

from __future__ import annotations

from dataclasses import replace
from ipaddress import ip_address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_fsm import OURS, PEER_LOW, VIP, advert, as_master, make_router

from vrrp.config_build import load_instance
from vrrp.fsm import (
    RESIGN_HOLD,
    AddAddresses,
    AdvertReceived,
    CancelTimer,
    FaultCleared,
    FaultRaised,
    GroupBackup,
    GroupMaster,
    PriorityChanged,
    Reconfigure,
    RemoveAddresses,
    Resign,
    SendAdvert,
    Shutdown,
    Startup,
    State,
    Timer,
    TimerExpired,
    VirtualRouter,
)
from vrrp.instance import router_params

OTHER_VIP = ip_address("192.0.2.101")


def handed_over(now: float = 6.0) -> VirtualRouter:
    router = as_master(make_router(priority=200))
    router.handle(Resign(active=True), now - 1.0)
    actions = router.handle(AdvertReceived(advert(100), PEER_LOW), now)
    assert router.state is State.BACKUP
    assert not any(isinstance(a, (RemoveAddresses, SendAdvert)) for a in actions), actions
    assert router.timers[Timer.RELEASE] == now + RESIGN_HOLD
    return router


def test_the_successor_advert_makes_a_backup_that_holds_then_releases() -> None:
    router = handed_over(6.0)
    assert router.handle(TimerExpired(Timer.RELEASE), 6.0 + RESIGN_HOLD / 2) == []
    assert router.handle(TimerExpired(Timer.RELEASE), 6.0 + RESIGN_HOLD) == [RemoveAddresses()]
    assert Timer.RELEASE not in router.timers
    # Once only: a stale expiry later does nothing.
    assert router.handle(TimerExpired(Timer.RELEASE), 7.0) == []


def test_a_vmac_router_releases_at_once_on_its_successors_advert() -> None:
    """With a VMAC the frames for the addresses follow the virtual MAC, which the
    bridge moves to the successor on its first advert: a hold gains nothing, and
    an ARP answer we sent from the VMAC during it would pull the MAC back here
    (the old Master's answer cost a 1 s outage before, test_runner_vmac.py)."""
    router = as_master(make_router(priority=200, resign_hold=False))
    router.handle(Resign(active=True), 5.0)
    actions = router.handle(AdvertReceived(advert(100), PEER_LOW), 6.0)
    assert router.state is State.BACKUP
    assert RemoveAddresses() in actions
    assert Timer.RELEASE not in router.timers


def test_a_vmac_instance_does_not_hold() -> None:
    base = {
        "name": "web",
        "interface": "eth0",
        "vrid": 51,
        "priority": 200,
        "virtual_addresses": ["192.0.2.100/24"],
    }
    plain, vmac = (
        router_params(load_instance({**base, "vmac": on}), primary=OURS) for on in (False, True)
    )
    assert plain.resign_hold
    assert not vmac.resign_hold


def test_the_hold_is_bounded_against_the_arp_hazard() -> None:
    # Held without having heard the successor's gratuitous ARP, our kernel
    # still answers ARP for the address: the bound is short (the usual hold
    # ends at that ARP, test_fsm_successor_announced.py).
    assert 0 < RESIGN_HOLD <= 0.25


def test_a_stop_or_takeover_master_drops_at_once_as_before() -> None:
    router = as_master(make_router(priority=100))
    actions = router.handle(AdvertReceived(advert(200), PEER_LOW), 2.0)
    assert RemoveAddresses() in actions and Timer.RELEASE not in router.timers


@pytest.mark.parametrize("event", [Shutdown(), FaultRaised("link")], ids=["shutdown", "fault"])
def test_leaving_backup_while_holding_releases_at_once(event: object) -> None:
    router = handed_over(6.0)
    actions = router.handle(event, 6.01)  # type: ignore[arg-type]
    assert actions[:2] == [CancelTimer(Timer.RELEASE), RemoveAddresses()]
    assert actions.count(RemoveAddresses()) == 1
    assert Timer.RELEASE not in router.timers


def test_taking_over_again_while_holding_keeps_the_addresses() -> None:
    router = handed_over(6.0)
    router.handle(Resign(active=False), 6.001)
    router.handle(TimerExpired(Timer.MASTER_DOWN), router.timers[Timer.MASTER_DOWN])
    assert router.state is State.MASTER and Timer.RELEASE not in router.timers
    assert router.handle(TimerExpired(Timer.RELEASE), 6.0 + RESIGN_HOLD) == []


def test_a_reload_while_holding_releases_the_old_addresses() -> None:
    router = handed_over(6.0)
    new = router.params.__class__(**{**router.params.__dict__, "virtual_addresses": (OTHER_VIP,)})
    actions = router.handle(Reconfigure(new, in_sync_group=False), 6.01)
    assert actions[:2] == [CancelTimer(Timer.RELEASE), RemoveAddresses((VIP,))]
    assert not any(isinstance(a, AddAddresses) for a in actions)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(["release", "shutdown", "fault", "unresign", "down", "advert"]),
        max_size=6,
    ),
    st.integers(0, 2**16),
)
def test_whatever_follows_the_addresses_leave_exactly_once_unless_master_again(
    steps: list[str], seed: int
) -> None:
    router = handed_over(6.0)
    now = 6.0 + (seed % 100) / 10000
    removed = 0
    for step in steps:
        now += 0.01
        event: object = {
            "release": TimerExpired(Timer.RELEASE),
            "shutdown": Shutdown(),
            "fault": FaultRaised("link"),
            "unresign": Resign(active=False),
            "down": TimerExpired(Timer.MASTER_DOWN),
            "advert": AdvertReceived(advert(100), PEER_LOW),
        }[step]
        if step == "down":
            now = max(now, router.timers.get(Timer.MASTER_DOWN, now))
        if step == "release":
            now = max(now, router.timers.get(Timer.RELEASE, now))
        actions = router.handle(event, now)  # type: ignore[arg-type]
        removed += sum(isinstance(a, RemoveAddresses) for a in actions)
        if router.state is State.MASTER:
            removed = 0  # it holds them again, as Master
            assert Timer.RELEASE not in router.timers
    if router.state is not State.MASTER:
        # Held (timer still armed) or released exactly once.
        assert (Timer.RELEASE in router.timers) == (removed == 0), (steps, removed)
        assert removed <= 1


def _holding(router: VirtualRouter, held: set[object], actions: list[object]) -> None:
    """The addresses the router holds, as its actions say (the kernel's view)."""
    for action in actions:
        if isinstance(action, AddAddresses):
            held.update(
                router.params.virtual_addresses if action.addresses is None else action.addresses
            )
        elif isinstance(action, RemoveAddresses):
            # None: the VIPs of the definition of now (the runner's view).
            gone = router.params.virtual_addresses if action.addresses is None else action.addresses
            held.difference_update(gone)


_STEPS = [
    "release",
    "shutdown",
    "fault",
    "clear",
    "startup",
    "resign",
    "unresign",
    "down",
    "advert",
    "stop_advert",
    "higher_advert",
    "reload",
    "reload_same",
    "priority",
    "group_backup",
    "group_master",
    "wait",
]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_STEPS), max_size=10), st.integers(0, 2**16))
def test_after_the_hold_no_address_stays_on_a_router_that_is_not_master(
    steps: list[str], seed: int
) -> None:
    """Whatever arrives during or after the hold: once every due timer fired,
    a router that is not MASTER holds no address, and each hold ends in at
    most one RemoveAddresses (none if it became MASTER again)."""
    router = handed_over(6.0)
    held: set[object] = set(router.params.virtual_addresses)
    now = 6.0 + (seed % 100) / 10000
    removes_in_hold = 0
    for step in steps:
        now += 0.01 + (seed % 7) / 1000
        params = router.params
        event: object = {
            "release": TimerExpired(Timer.RELEASE),
            "shutdown": Shutdown(),
            "fault": FaultRaised("link"),
            "clear": FaultCleared("link"),
            "startup": Startup(),
            "resign": Resign(active=True),
            "unresign": Resign(active=False),
            "down": TimerExpired(Timer.MASTER_DOWN),
            "advert": AdvertReceived(advert(100), PEER_LOW),
            "stop_advert": AdvertReceived(advert(0), PEER_LOW),
            "higher_advert": AdvertReceived(advert(250), PEER_LOW),
            "reload": Reconfigure(
                replace(params, virtual_addresses=(OTHER_VIP,)), in_sync_group=False
            ),
            "reload_same": Reconfigure(replace(params, priority=150), in_sync_group=False),
            "priority": PriorityChanged(1 + seed % 254),
            "group_backup": GroupBackup("pulled"),
            "group_master": GroupMaster("pushed"),
            "wait": TimerExpired(Timer.ADVER),
        }[step]
        timer = {"down": Timer.MASTER_DOWN, "release": Timer.RELEASE}.get(step)
        if timer is not None:
            now = max(now, router.timers.get(timer, now))
        holding = Timer.RELEASE in router.timers
        actions = router.handle(event, now)  # type: ignore[arg-type]
        _holding(router, held, actions)  # type: ignore[arg-type]
        if holding:
            removes_in_hold += sum(isinstance(a, RemoveAddresses) for a in actions)
            if Timer.RELEASE not in router.timers:
                expected = 0 if router.state is State.MASTER else 1
                assert removes_in_hold == expected, (steps, actions)
                removes_in_hold = 0
        if router.state is State.MASTER:
            assert Timer.RELEASE not in router.timers
    due = router.timers.get(Timer.RELEASE)
    if due is not None:
        _holding(router, held, router.handle(TimerExpired(Timer.RELEASE), due))  # type: ignore[arg-type]
    assert Timer.RELEASE not in router.timers
    if router.state is not State.MASTER:
        assert held == set(), (steps, held)
