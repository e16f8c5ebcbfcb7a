"""A resigned Master's hold ends at its successor's gratuitous ARP / NA (issue 13).

The hold (fsm.RESIGN_HOLD) covers keepalived's gap between its first advert
and its gratuitous ARP. The runner hears that ARP (or the unsolicited NA) on
the instance's interface and feeds :class:`SuccessorAnnounced`: once EVERY
advertised VIP was announced by another node the hold ends at once; an
announcement heard before the successor's advert (our own runner announces
first, then advertises) is remembered, so the hold ends at the advert. The
fixed bound stays the upper limit (a GARP lost or never sent).
"""

from __future__ import annotations

from dataclasses import replace
from ipaddress import ip_address

from hypothesis import given, settings
from hypothesis import strategies as st
from test_fsm import PEER_LOW, VIP, advert, as_master, make_router

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
    Shutdown,
    Startup,
    State,
    SuccessorAnnounced,
    Timer,
    TimerExpired,
    VirtualRouter,
)

OTHER_VIP = ip_address("192.0.2.101")
STRANGER = ip_address("192.0.2.77")


def resigned(*vips: object, now: float = 5.0) -> VirtualRouter:
    router = as_master(make_router(priority=200, virtual_addresses=vips or (VIP,)))
    router.handle(Resign(active=True), now)
    assert router.awaits_successor
    return router


def hand_over(router: VirtualRouter, now: float = 6.0) -> list[object]:
    vips = router.params.virtual_addresses
    return router.handle(AdvertReceived(advert(100, addresses=vips), PEER_LOW), now)  # type: ignore[return-value]


def test_the_successors_garp_ends_the_hold_at_once() -> None:
    router = resigned()
    hand_over(router, 6.0)
    assert router.releasing and router.awaits_successor
    actions = router.handle(SuccessorAnnounced((VIP,)), 6.002)
    assert actions == [CancelTimer(Timer.RELEASE), RemoveAddresses()]
    assert not router.releasing and not router.awaits_successor
    # Once: the bound's expiry later, or another GARP, does nothing.
    assert router.handle(TimerExpired(Timer.RELEASE), 6.0 + RESIGN_HOLD) == []
    assert router.handle(SuccessorAnnounced((VIP,)), 6.003) == []


def test_every_vip_must_be_announced_not_just_one() -> None:
    router = resigned(VIP, OTHER_VIP)
    hand_over(router, 6.0)
    assert router.handle(SuccessorAnnounced((VIP,)), 6.001) == []
    assert router.handle(SuccessorAnnounced((STRANGER,)), 6.001) == []
    assert router.releasing
    assert router.handle(SuccessorAnnounced((OTHER_VIP,)), 6.002) == [
        CancelTimer(Timer.RELEASE),
        RemoveAddresses(),
    ]


def test_an_announcement_before_the_advert_ends_the_hold_at_the_advert() -> None:
    """Our own runner as successor takes the VIPs and announces them, then advertises."""
    router = resigned()
    assert router.handle(SuccessorAnnounced((VIP,)), 5.999) == []
    assert router.state is State.MASTER  # an announcement alone moves nothing
    actions = hand_over(router, 6.0)
    assert router.state is State.BACKUP
    assert RemoveAddresses() in actions and Timer.RELEASE not in router.timers
    assert not any(a == CancelTimer(Timer.RELEASE) for a in actions)


def test_an_old_announcement_before_the_advert_is_not_the_successors() -> None:
    router = resigned()
    router.handle(SuccessorAnnounced((VIP,)), 5.0)
    hand_over(router, 5.0 + RESIGN_HOLD + 1.0)
    assert router.releasing


def test_announcements_count_only_while_the_hold_can_begin() -> None:
    router = as_master(make_router(priority=200))
    assert not router.awaits_successor  # not resigning: nothing to wait for
    router.handle(SuccessorAnnounced((VIP,)), 4.0)
    router.handle(Resign(active=True), 5.0)
    hand_over(router, 5.01)
    assert router.releasing  # heard before the resignation: forgotten


def test_an_unresign_forgets_what_was_heard() -> None:
    router = resigned()
    router.handle(SuccessorAnnounced((VIP,)), 5.99)
    router.handle(Resign(active=False), 5.995)
    router.handle(Resign(active=True), 5.996)
    hand_over(router, 6.0)
    assert router.releasing


def test_a_vmac_router_does_not_wait_for_announcements() -> None:
    router = as_master(make_router(priority=200, resign_hold=False))
    router.handle(Resign(active=True), 5.0)
    assert not router.awaits_successor


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["announce", "announce_one", "announce_stranger", "release", "shutdown", "fault",
             "clear", "startup", "resign", "unresign", "down", "advert", "stop_advert",
             "higher_advert", "reload", "reload_same", "priority", "group_backup",
             "group_master", "wait"]
        ),
        max_size=12,
    ),
    st.integers(0, 2**16),
    st.booleans(),
)  # fmt: skip
def test_whatever_arrives_no_address_stays_and_each_hold_removes_once(
    steps: list[str], seed: int, early: bool
) -> None:
    """Over every event, announcements included: once the due timers fired a
    router that is not MASTER holds no address, each hold ends in exactly one
    RemoveAddresses (none if it became MASTER again), and a router that does
    not await its successor remembers nothing."""
    router = resigned(VIP, OTHER_VIP)
    if early:
        router.handle(SuccessorAnnounced((VIP, OTHER_VIP)), 5.999)
    held: set[object] = set(router.params.virtual_addresses)
    actions = hand_over(router, 6.0)
    _holding(router, held, actions)
    now = 6.0 + (seed % 100) / 10000
    removes_in_hold = 0
    for step in steps:
        now += 0.001 + (seed % 7) / 1000
        params = router.params
        event: object = {
            "announce": SuccessorAnnounced(params.virtual_addresses),
            "announce_one": SuccessorAnnounced(params.virtual_addresses[:1]),
            "announce_stranger": SuccessorAnnounced((STRANGER,)),
            "release": TimerExpired(Timer.RELEASE),
            "shutdown": Shutdown(),
            "fault": FaultRaised("link"),
            "clear": FaultCleared("link"),
            "startup": Startup(),
            "resign": Resign(active=True),
            "unresign": Resign(active=False),
            "down": TimerExpired(Timer.MASTER_DOWN),
            "advert": AdvertReceived(advert(100, addresses=params.virtual_addresses), PEER_LOW),
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
        holding = router.releasing
        actions = router.handle(event, now)  # type: ignore[arg-type]
        _holding(router, held, actions)
        if holding:
            removes_in_hold += sum(isinstance(a, RemoveAddresses) for a in actions)
            if not router.releasing:
                expected = 0 if router.state is State.MASTER else 1
                assert removes_in_hold == expected, (steps, actions)
                removes_in_hold = 0
        if router.state is State.MASTER:
            assert not router.releasing
        if not router.awaits_successor:
            assert not router.announced, (steps, router.announced)
    due = router.timers.get(Timer.RELEASE)
    if due is not None:
        _holding(router, held, router.handle(TimerExpired(Timer.RELEASE), due))
    assert not router.releasing
    if router.state is not State.MASTER:
        assert held == set(), (steps, held)


def _holding(router: VirtualRouter, held: set[object], actions: list[object]) -> None:
    """The addresses the router holds, as its actions say (the kernel's view)."""
    for action in actions:
        if isinstance(action, AddAddresses):
            held.update(
                router.params.virtual_addresses if action.addresses is None else action.addresses
            )
        elif isinstance(action, RemoveAddresses):
            gone = router.params.virtual_addresses if action.addresses is None else action.addresses
            held.difference_update(gone)
