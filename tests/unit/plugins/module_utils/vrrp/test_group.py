"""Sync groups: every rule of vrrp.group, one member event at a time."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from vrrp.errors import StateError, VRRPError
from vrrp.fsm import (
    Action,
    AddAddresses,
    AdvertReceived,
    ArmTimer,
    Event,
    FaultCleared,
    FaultRaised,
    GroupMaster,
    RemoveAddresses,
    RequestMaster,
    Resign,
    RouterParams,
    SendAdvert,
    Shutdown,
    Startup,
    State,
    Timer,
    TimerExpired,
    Transition,
    VirtualRouter,
)
from vrrp.group import SyncGroup, TaggedAction
from vrrp.packet import Advertisement

OURS = ip_address("192.0.2.10")
PEER_HIGH = ip_address("192.0.2.20")
VIPS = {1: ip_address("192.0.2.101"), 2: ip_address("198.51.100.102")}
EXPIRE = TimerExpired(Timer.MASTER_DOWN)


def router(vrid: int, *, priority: int = 100) -> VirtualRouter:
    return VirtualRouter(
        RouterParams(
            vrid=vrid,
            version=3,
            priority=priority,
            advert_interval_cs=100,
            primary_address=OURS,
            virtual_addresses=(VIPS[vrid],),
        )
    )


def pair(*, a_priority: int = 100, b_priority: int = 100) -> SyncGroup:
    return SyncGroup(
        "g", {"a": router(1, priority=a_priority), "b": router(2, priority=b_priority)}
    )


def started(group: SyncGroup, now: float = 0.0) -> SyncGroup:
    for name in group.routers:
        group.handle(name, Startup(), now)
    return group


def states(group: SyncGroup) -> dict[str, State]:
    return {name: r.state for name, r in group.routers.items()}


def moves(out: list[TaggedAction]) -> list[tuple[str, State, State]]:
    return [(m, a.old, a.new) for m, a in out if isinstance(a, Transition)]


def of(out: list[TaggedAction], member: str, kind: type) -> list[Action]:
    return [a for m, a in out if m == member and isinstance(a, kind)]


def better_master(vrid: int) -> AdvertReceived:
    advert = Advertisement(
        version=3, vrid=vrid, priority=200, interval_cs=100, addresses=(VIPS[vrid],)
    )
    return AdvertReceived(advert, PEER_HIGH)


def expire_due(group: SyncGroup, member: str) -> list[TaggedAction]:
    """Fire the member's Master_Down_Timer at its deadline."""
    at = group.routers[member].timers[Timer.MASTER_DOWN]
    return group.handle(member, EXPIRE, at)


def both_master() -> SyncGroup:
    group = started(pair())
    expire_due(group, "a")
    expire_due(group, "b")
    assert group.state is State.MASTER
    return group


# --------------------------------------------------------------- construction


def test_members_learn_they_are_in_a_sync_group() -> None:
    group = pair()
    assert all(r.in_sync_group for r in group.routers.values())
    assert group.fault_reason == "group:g"
    assert group.state is State.INIT


@pytest.mark.parametrize(
    ("name", "routers", "message"),
    [
        ("", {"a": router(1)}, "needs a name"),
        ("g", {}, "no members"),
    ],
)
def test_bad_groups_are_refused(name: str, routers: dict[str, VirtualRouter], message: str) -> None:
    with pytest.raises(VRRPError, match=message):
        SyncGroup(name, routers)


def test_one_router_cannot_be_two_members() -> None:
    shared = router(1)
    with pytest.raises(VRRPError, match="listed twice"):
        SyncGroup("g", {"a": shared, "b": shared})


def test_unknown_member_is_an_error() -> None:
    group = pair()
    with pytest.raises(VRRPError, match="no member 'c'"):
        group.handle("c", Startup(), 0.0)
    with pytest.raises(VRRPError, match="no member 'c'"):
        group.can_go_master("c")


def test_startup_of_each_member_makes_a_backup_group() -> None:
    group = pair()
    out = group.handle("a", Startup(), 0.0)
    assert moves(out) == [("a", State.INIT, State.BACKUP)]
    assert group.state is None  # b still in Initialize
    started(group)
    assert group.state is State.BACKUP


# ---------------------------------------------------------------------- fault


def test_a_member_fault_pulls_the_others_into_fault() -> None:
    group = both_master()
    out = group.handle("a", FaultRaised("link"), 5.0)
    assert moves(out) == [("a", State.MASTER, State.FAULT), ("b", State.MASTER, State.FAULT)]
    # Each Master leaves with its own priority-0 advert and withdraws its addresses.
    for member in "ab":
        (send,) = of(out, member, SendAdvert)
        assert isinstance(send, SendAdvert)
        assert send.advert.priority == 0
        assert send.advert.vrid == group.routers[member].params.vrid
        assert of(out, member, RemoveAddresses)
    assert group.routers["b"].faults == {"group:g"}
    assert group.real_faults("a") == {"link"}
    assert group.real_faults("b") == frozenset()


def test_the_group_fault_clears_with_the_last_real_fault() -> None:
    group = started(pair())
    group.handle("a", FaultRaised("link"), 1.0)
    group.handle("b", FaultRaised("track:script:chk"), 2.0)
    # Each now holds the other's group fault as well.
    assert group.routers["a"].faults == {"link", "group:g"}
    assert group.routers["b"].faults == {"track:script:chk", "group:g"}

    out = group.handle("a", FaultCleared("link"), 3.0)
    assert moves(out) == []  # a is held by b's fault; b's own fault remains
    assert states(group) == {"a": State.FAULT, "b": State.FAULT}
    assert group.routers["a"].faults == {"group:g"}
    assert group.routers["b"].faults == {"track:script:chk"}

    out = group.handle("b", FaultCleared("track:script:chk"), 4.0)
    assert moves(out) == [
        ("b", State.FAULT, State.INIT),
        ("b", State.INIT, State.BACKUP),
        ("a", State.FAULT, State.INIT),
        ("a", State.INIT, State.BACKUP),
    ]
    assert all(not r.faults for r in group.routers.values())


def test_a_fault_reported_before_startup_holds_the_whole_group() -> None:
    group = pair()
    out = group.handle("a", FaultRaised("link"), 0.0)
    assert out == []  # nobody runs yet: nothing to carry out
    assert group.routers["b"].faults == {"group:g"}
    started(group)
    assert group.state is State.FAULT
    out = group.handle("a", FaultCleared("link"), 1.0)
    assert group.state is State.BACKUP
    assert ("b", State.FAULT, State.INIT) in moves(out)


def test_a_group_fault_on_a_backup_wanting_master_keeps_it_from_asking() -> None:
    group = started(pair())
    expire_due(group, "a")  # a asks, b does not want yet: refused
    assert group.routers["a"].wants_master
    group.handle("b", FaultRaised("link"), 4.0)
    assert states(group) == {"a": State.FAULT, "b": State.FAULT}
    group.handle("b", FaultCleared("link"), 5.0)
    assert group.state is State.BACKUP
    assert not group.routers["a"].wants_master


def test_sync_applies_the_fault_rule_to_running_routers() -> None:
    a, b = router(1), router(2)
    a.handle(Startup(), 0.0)
    b.handle(Startup(), 0.0)
    a.handle(FaultRaised("link"), 1.0)
    group = SyncGroup("g", {"a": a, "b": b})
    out = group.sync(2.0)
    assert moves(out) == [("b", State.BACKUP, State.FAULT)]
    assert group.sync(2.0) == []  # settled


# ------------------------------------------------------------ master by request


def test_a_request_is_refused_until_every_member_wants_master() -> None:
    group = started(pair())
    out = expire_due(group, "a")
    assert of(out, "a", RequestMaster)
    assert moves(out) == []
    assert states(group) == {"a": State.BACKUP, "b": State.BACKUP}
    # The FSM re-armed a's timer: it keeps watching and asks again later.
    assert of(out, "a", ArmTimer)
    assert group.routers["a"].wants_master

    out = expire_due(group, "b")
    assert moves(out) == [("a", State.BACKUP, State.MASTER), ("b", State.BACKUP, State.MASTER)]
    for member in "ab":
        assert of(out, member, AddAddresses)
        (send,) = of(out, member, SendAdvert)
        assert isinstance(send, SendAdvert)
        assert send.advert.vrid == group.routers[member].params.vrid
    # Each tagged action belongs to its member: no master-down timer left anywhere.
    assert all(Timer.MASTER_DOWN not in r.timers for r in group.routers.values())


def test_a_member_that_hears_its_master_does_not_want_it() -> None:
    group = started(pair())
    group.handle("b", better_master(2), 1.0)
    assert not group.routers["b"].wants_master
    for _unused in range(3):  # a keeps asking; b keeps hearing its Master
        out = expire_due(group, "a")
        assert of(out, "a", RequestMaster)
        now = group.routers["a"].timers[Timer.MASTER_DOWN] - 1.0
        group.handle("b", better_master(2), now)
    assert states(group) == {"a": State.BACKUP, "b": State.BACKUP}
    assert not group.can_go_master("a")


def test_a_member_in_initialize_blocks_the_group() -> None:
    group = pair()
    group.handle("a", Startup(), 0.0)
    out = expire_due(group, "a")
    assert of(out, "a", RequestMaster)
    assert group.routers["a"].state is State.BACKUP
    assert not group.can_go_master("a")


def test_a_request_is_granted_when_the_others_are_already_master() -> None:
    group = SyncGroup("g", {"a": router(1, priority=255), "b": router(2)})
    started(group)
    assert states(group) == {"a": State.MASTER, "b": State.BACKUP}
    assert group.can_go_master("b")
    out = expire_due(group, "b")
    assert moves(out) == [("b", State.BACKUP, State.MASTER)]


# ------------------------------------------------------ master by another path


def test_an_owner_starting_as_master_leaves_a_backup_that_hears_its_master() -> None:
    group = SyncGroup("g", {"a": router(1, priority=255), "b": router(2)})
    group.handle("b", Startup(), 0.0)
    group.handle("b", better_master(2), 0.5)
    out = group.handle("a", Startup(), 1.0)
    assert moves(out) == [("a", State.INIT, State.MASTER)]
    assert group.routers["b"].state is State.BACKUP


def test_an_owner_starting_as_master_pulls_a_backup_that_wants_master() -> None:
    group = SyncGroup("g", {"a": router(1, priority=255), "b": router(2)})
    group.handle("b", Startup(), 0.0)
    expire_due(group, "b")  # refused: a is not running
    assert group.routers["b"].wants_master
    out = group.handle("a", Startup(), 4.0)
    assert moves(out) == [("a", State.INIT, State.MASTER), ("b", State.BACKUP, State.MASTER)]
    assert group.state is State.MASTER


def test_an_owner_recovering_from_a_group_fault_is_master_again() -> None:
    group = SyncGroup("g", {"a": router(1, priority=255), "b": router(2)})
    started(group)
    group.handle("b", FaultRaised("link"), 1.0)
    assert group.state is State.FAULT
    out = group.handle("b", FaultCleared("link"), 2.0)
    assert ("a", State.INIT, State.MASTER) in moves(out)
    assert states(group) == {"a": State.MASTER, "b": State.BACKUP}


# ----------------------------------------------------------------- backup pull


def test_a_master_that_hears_a_better_master_pulls_the_others_back() -> None:
    group = both_master()
    out = group.handle("a", better_master(1), 5.0)
    assert moves(out) == [("a", State.MASTER, State.BACKUP), ("b", State.MASTER, State.BACKUP)]
    assert of(out, "b", RemoveAddresses)
    assert group.state is State.BACKUP
    # Pulled back without a better Master of its own, b watches with its timer.
    assert Timer.MASTER_DOWN in group.routers["b"].timers


def test_resigning_masters_each_hand_over_on_their_own_new_masters_advert() -> None:
    """Maintenance (every member resigns): the peer host's group takes over all
    at once, but its members' first adverts arrive one by one. A resigning
    member that hears its new Master steps down alone; the others keep their
    addresses until their own new Master is heard (make before break: pulled
    at the first one, b's VIP would be served by nobody until its peer's
    gratuitous ARP lands, and a datagram in flight is lost)."""
    group = both_master()
    for name in group.routers:
        group.handle(name, Resign(active=True), 5.0)
    out = group.handle("a", better_master(1), 6.0)
    assert moves(out) == [("a", State.MASTER, State.BACKUP)]
    assert group.routers["b"].state is State.MASTER
    assert not of(out, "b", RemoveAddresses)
    out = group.handle("b", better_master(2), 6.001)
    assert moves(out) == [("b", State.MASTER, State.BACKUP)]
    assert group.state is State.BACKUP


def test_a_resigning_master_still_pulls_a_member_that_does_not_resign() -> None:
    group = both_master()
    group.handle("a", Resign(active=True), 5.0)
    out = group.handle("a", better_master(1), 6.0)
    assert moves(out) == [("a", State.MASTER, State.BACKUP), ("b", State.MASTER, State.BACKUP)]


def test_shutting_one_member_down_hands_the_whole_group_over() -> None:
    group = both_master()
    out = group.handle("a", Shutdown(), 5.0)
    assert moves(out) == [("a", State.MASTER, State.INIT), ("b", State.MASTER, State.BACKUP)]
    # b cannot come back while a is down.
    out = expire_due(group, "b")
    assert moves(out) == []


def test_stop_sends_every_masters_priority_zero_advert() -> None:
    group = both_master()
    out = group.stop(5.0)
    assert moves(out) == [("a", State.MASTER, State.INIT), ("b", State.MASTER, State.INIT)]
    for member in "ab":
        (send,) = of(out, member, SendAdvert)
        assert isinstance(send, SendAdvert)
        assert send.advert.priority == 0
    assert group.state is State.INIT


# ---------------------------------------------------------------------- guard


class _Insistent(VirtualRouter):
    """A broken member that asks for Master on every event, forever."""

    def handle(self, event: Event, now: float) -> list[Action]:
        return [RequestMaster("again")]


def test_rules_that_never_settle_raise_a_state_error() -> None:
    rogues = {
        name: _Insistent(router(vrid).params, state=State.BACKUP, wants_master=True)
        for name, vrid in (("a", 1), ("b", 2))
    }
    group = SyncGroup("g", rogues)
    with pytest.raises(StateError, match="do not settle"):
        group.handle("a", GroupMaster("x"), 0.0)
