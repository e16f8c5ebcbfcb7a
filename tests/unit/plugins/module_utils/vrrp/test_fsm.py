"""The state machine of one virtual router, checked against RFC 9568 §6 line by line."""

from __future__ import annotations

import itertools
from ipaddress import ip_address

import pytest

from vrrp.errors import StateError, VRRPError
from vrrp.fsm import (
    TRANSITIONS,
    AddAddresses,
    AdvertReceived,
    Announce,
    Anomaly,
    ArmTimer,
    CancelTimer,
    Drop,
    FaultCleared,
    FaultRaised,
    GroupBackup,
    GroupMaster,
    PriorityChanged,
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
    master_down_interval,
    skew_time,
)
from vrrp.packet import Advertisement

VIP = ip_address("192.0.2.100")
OURS = ip_address("192.0.2.10")
PEER_LOW = ip_address("192.0.2.5")
PEER_HIGH = ip_address("192.0.2.20")


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


def advert(
    priority: int, *, interval_cs: int = 100, version: int = 3, **kw: object
) -> Advertisement:
    fields: dict[str, object] = {
        "version": version,
        "vrid": 51,
        "priority": priority,
        "interval_cs": interval_cs,
        "addresses": (VIP,),
    }
    fields.update(kw)
    return Advertisement(**fields)  # type: ignore[arg-type]


def kinds(actions: list[object]) -> list[str]:
    return [type(a).__name__ for a in actions]


def started(router: VirtualRouter, now: float = 0.0) -> VirtualRouter:
    router.handle(Startup(), now)
    return router


def as_master(router: VirtualRouter, now: float = 0.0) -> VirtualRouter:
    started(router, now)
    router.handle(TimerExpired(Timer.MASTER_DOWN), router.timers[Timer.MASTER_DOWN])
    assert router.state is State.MASTER
    return router


# ------------------------------------------------------------- timing values


def test_skew_and_master_down_interval_v3_are_exact() -> None:
    # RFC 9568 §6.1: Skew_Time = ((256 - Priority) * Master_Adver_Interval) / 256
    assert skew_time(version=3, priority=100, master_adver_interval_cs=100) == 156 / 256
    assert master_down_interval(version=3, priority=100, master_adver_interval_cs=100) == (
        3 + 156 / 256
    )
    # Not rounded to centiseconds: 2 * 1 cs / 256 = 78.125 µs.
    assert skew_time(version=3, priority=254, master_adver_interval_cs=1) == pytest.approx(
        78.125e-6, abs=1e-12
    )


def test_skew_v2_ignores_interval() -> None:
    # RFC 3768 §6.1: Skew_Time = (256 - Priority) / 256 seconds
    assert skew_time(version=2, priority=200, master_adver_interval_cs=300) == 56 / 256
    assert master_down_interval(version=2, priority=200, master_adver_interval_cs=300) == (
        9 + 56 / 256
    )


# ------------------------------------------------------------------ startup


def test_startup_non_owner_goes_backup_with_master_down_timer() -> None:
    router = make_router()
    actions = router.handle(Startup(), 10.0)
    assert router.state is State.BACKUP
    assert actions == [
        Transition(State.INIT, State.BACKUP, "startup", 10.0),
        ArmTimer(Timer.MASTER_DOWN, 10.0 + 3 + 156 / 256),
    ]
    assert router.handle(Startup(), 11.0) == []  # already running


def test_startup_owner_goes_master_at_once() -> None:
    router = make_router(priority=255)
    actions = router.handle(Startup(), 5.0)
    assert router.state is State.MASTER
    assert kinds(actions) == ["Transition", "AddAddresses", "Announce", "SendAdvert", "ArmTimer"]
    send = actions[3]
    assert isinstance(send, SendAdvert) and send.advert.priority == 255
    assert actions[-1] == ArmTimer(Timer.ADVER, 6.0)
    assert router.master_address == OURS


def test_master_down_timer_makes_backup_master() -> None:
    router = started(make_router())
    deadline = router.timers[Timer.MASTER_DOWN]
    actions = router.handle(TimerExpired(Timer.MASTER_DOWN), deadline)
    assert router.state is State.MASTER
    assert kinds(actions) == ["Transition", "AddAddresses", "Announce", "SendAdvert", "ArmTimer"]
    assert isinstance(actions[0], Transition) and actions[0].cause == "master down timer expired"


def test_stale_or_unarmed_timer_is_ignored() -> None:
    router = started(make_router())
    deadline = router.timers[Timer.MASTER_DOWN]
    assert router.handle(TimerExpired(Timer.MASTER_DOWN), deadline - 0.5) == []
    assert router.handle(TimerExpired(Timer.ADVER), deadline) == []
    assert router.state is State.BACKUP
    # within the tolerance of an early-firing loop timer it counts as on time
    router.handle(TimerExpired(Timer.MASTER_DOWN), deadline - 0.0005)
    assert router.state is State.MASTER


def test_adver_timer_sends_and_rearms() -> None:
    router = as_master(make_router())
    now = router.timers[Timer.ADVER]
    actions = router.handle(TimerExpired(Timer.ADVER), now)
    assert kinds(actions) == ["SendAdvert", "ArmTimer"]
    assert actions[1] == ArmTimer(Timer.ADVER, now + 1.0)


# ----------------------------------------------------------- backup receives


def test_backup_priority_zero_sets_timer_to_skew_time() -> None:
    router = started(make_router())
    actions = router.handle(AdvertReceived(advert(0), PEER_HIGH), 2.0)
    assert actions == [ArmTimer(Timer.MASTER_DOWN, 2.0 + 156 / 256)]


def test_backup_higher_priority_resets_timer_and_learns_interval_v3() -> None:
    router = started(make_router())
    actions = router.handle(AdvertReceived(advert(200, interval_cs=50), PEER_HIGH), 2.0)
    # RFC 9568 §6.4.2: Master_Adver_Interval := the advert's; Skew and MDI recomputed.
    assert router.master_adver_interval_cs == 50
    assert actions == [ArmTimer(Timer.MASTER_DOWN, 2.0 + 1.5 + 156 * 50 / 25600)]
    assert router.master_address == PEER_HIGH and router.master_priority == 200


def test_backup_equal_priority_is_accepted_whatever_the_address() -> None:
    router = started(make_router())
    actions = router.handle(AdvertReceived(advert(100), PEER_LOW), 1.0)
    assert kinds(actions) == ["ArmTimer"]
    assert router.master_address == PEER_LOW


def test_backup_lower_priority_is_discarded_when_preempting() -> None:
    router = started(make_router())
    first_deadline = router.timers[Timer.MASTER_DOWN]
    assert router.handle(AdvertReceived(advert(50), PEER_HIGH), 1.0) == []
    assert router.timers[Timer.MASTER_DOWN] == first_deadline
    router.handle(TimerExpired(Timer.MASTER_DOWN), first_deadline)
    assert router.state is State.MASTER


def test_nopreempt_backup_accepts_lower_priority_master() -> None:
    router = started(make_router(preempt=False))
    actions = router.handle(AdvertReceived(advert(50), PEER_HIGH), 1.0)
    assert kinds(actions) == ["ArmTimer"]
    assert router.master_priority == 50


def test_preempt_delay_accepts_lower_master_then_takes_over() -> None:
    router = started(make_router(preempt_delay_cs=500))
    actions = router.handle(AdvertReceived(advert(50), PEER_HIGH), 1.0)
    assert ArmTimer(Timer.PREEMPT_DELAY, 6.0) in actions
    assert router.preempt_deadline == 6.0
    # still inside the delay: the lower Master is accepted (timer reset)
    actions = router.handle(AdvertReceived(advert(50), PEER_HIGH), 2.0)
    assert actions == [ArmTimer(Timer.MASTER_DOWN, 2.0 + router.master_down_interval)]
    actions = router.handle(TimerExpired(Timer.PREEMPT_DELAY), 6.0)
    assert router.state is State.MASTER
    assert kinds(actions)[:2] == ["CancelTimer", "Transition"]
    assert Transition(State.BACKUP, State.MASTER, "preempt delay over", 6.0) in actions


def test_preempt_delay_is_cancelled_by_a_better_master() -> None:
    router = started(make_router(preempt_delay_cs=500))
    router.handle(AdvertReceived(advert(50), PEER_HIGH), 1.0)
    actions = router.handle(AdvertReceived(advert(150), PEER_HIGH), 2.0)
    assert CancelTimer(Timer.PREEMPT_DELAY) in actions
    assert router.preempt_deadline is None


def test_preempt_delay_over_discards_lower_adverts() -> None:
    router = started(make_router(preempt_delay_cs=100))
    router.handle(AdvertReceived(advert(50), PEER_HIGH), 1.0)
    router.timers.pop(Timer.PREEMPT_DELAY)  # as if the expiry were lost
    assert router.handle(AdvertReceived(advert(50), PEER_HIGH), 2.5) == []


def test_preempt_delay_over_in_a_refusing_group_keeps_discarding_lower_adverts() -> None:
    # keepalived keeps the expired preempt time: a refused request must not
    # start the delay again, or two members' wishes never meet.
    router = started(make_router(preempt_delay_cs=100))
    router.in_sync_group = True
    router.handle(AdvertReceived(advert(50), PEER_HIGH), 1.0)
    actions = router.handle(TimerExpired(Timer.PREEMPT_DELAY), 2.0)
    assert RequestMaster("preempt delay over") in actions
    assert router.wants_master and router.preempt_deadline == 2.0
    assert router.handle(AdvertReceived(advert(50), PEER_HIGH), 2.3) == []
    assert router.wants_master
    assert Timer.PREEMPT_DELAY not in router.timers
    # A Master at least as good ends the wait for good.
    actions = router.handle(AdvertReceived(advert(150), PEER_HIGH), 2.6)
    assert router.preempt_deadline is None and not router.wants_master
    router.handle(AdvertReceived(advert(50), PEER_HIGH), 3.0)
    assert router.preempt_deadline == 4.0


def test_preempt_delay_expiry_with_better_master_stays_backup() -> None:
    router = started(make_router(preempt_delay_cs=100))
    router.handle(AdvertReceived(advert(50), PEER_HIGH), 1.0)
    router.handle(PriorityChanged(40), 1.5)  # tracking: we are worse now
    assert router.preempt_deadline is None
    assert router.handle(TimerExpired(Timer.PREEMPT_DELAY), 2.0) == []
    assert router.state is State.BACKUP


def test_v2_does_not_learn_the_interval() -> None:
    router = started(make_router(version=2, advert_interval_cs=100, primary_address=OURS))
    router.handle(AdvertReceived(advert(200, version=2), PEER_HIGH), 0.5)
    assert router.master_adver_interval_cs == 100


# ----------------------------------------------------------- master receives


def test_master_steps_down_for_higher_priority() -> None:
    router = as_master(make_router())
    actions = router.handle(AdvertReceived(advert(200, interval_cs=200), PEER_LOW), 10.0)
    assert router.state is State.BACKUP
    assert kinds(actions) == [
        "SendAdvert",
        "CancelTimer",
        "Transition",
        "RemoveAddresses",
        "ArmTimer",
    ]
    # A split brain, not a handover we asked for: one priority-0 advert as we
    # leave, so that the winner re-announces even if it never heard us.
    assert actions[0] == SendAdvert(router.advertisement(0))
    assert actions[-1] == ArmTimer(Timer.MASTER_DOWN, 10.0 + 6 + 156 * 200 / 25600)
    assert isinstance(actions[2], Transition) and "higher priority 200" in actions[2].cause


def test_master_equal_priority_higher_address_wins() -> None:
    router = as_master(make_router())
    router.handle(AdvertReceived(advert(100), PEER_HIGH), 10.0)
    assert router.state is State.BACKUP
    assert router.master_address == PEER_HIGH


def test_master_equal_priority_lower_address_answers_at_once() -> None:
    router = as_master(make_router())
    actions = router.handle(AdvertReceived(advert(100), PEER_LOW), 10.0)
    assert router.state is State.MASTER
    assert kinds(actions) == ["Anomaly", "SendAdvert", "Announce", "ArmTimer"]
    assert Announce(refresh=True) in actions


def test_master_lower_priority_answers_and_reannounces() -> None:
    router = as_master(make_router())
    actions = router.handle(AdvertReceived(advert(20), PEER_HIGH), 10.0)
    assert router.state is State.MASTER
    assert actions[0] == Anomaly("lower_priority_master", f"priority 20 from {PEER_HIGH}")
    assert actions[-1] == ArmTimer(Timer.ADVER, 11.0)


def test_master_answers_priority_zero_and_reannounces() -> None:
    # RFC 9568 §6.4.3 answer; the re-announcement moves neighbour caches that
    # still point at the router that sent priority 0.
    router = as_master(make_router())
    actions = router.handle(AdvertReceived(advert(0), PEER_HIGH), 10.0)
    assert kinds(actions) == ["SendAdvert", "Announce", "ArmTimer"]
    assert Announce(refresh=True) in actions
    assert router.state is State.MASTER


def test_priority_zero_never_delays_a_takeover_that_is_due_sooner() -> None:
    backup = started(make_router())
    due = backup.timers[Timer.MASTER_DOWN]
    assert backup.handle(AdvertReceived(advert(0), PEER_HIGH), due - 0.1) == []
    assert backup.timers[Timer.MASTER_DOWN] == due


def test_backup_ignores_priority_zero_from_a_rival_of_its_live_master() -> None:
    backup = started(make_router())
    backup.handle(AdvertReceived(advert(200), PEER_HIGH), 1.0)
    assert backup.handle(AdvertReceived(advert(0), PEER_LOW), 1.5) == []
    assert backup.timers[Timer.MASTER_DOWN] == 1.0 + backup.master_down_interval
    # its own Master's priority 0 still counts (RFC 9568 §6.4.2)
    actions = backup.handle(AdvertReceived(advert(0), PEER_HIGH), 2.0)
    assert actions == [ArmTimer(Timer.MASTER_DOWN, 2.0 + backup.skew_time)]


def test_adverts_ignored_in_init_and_fault() -> None:
    router = make_router()
    assert router.handle(AdvertReceived(advert(200), PEER_HIGH), 0.0) == []
    router.handle(FaultRaised("link"), 0.0)
    router.handle(Startup(), 0.0)
    assert router.state is State.FAULT
    assert router.handle(AdvertReceived(advert(200), PEER_HIGH), 1.0) == []


# ----------------------------------------------------------- receive checks


@pytest.mark.parametrize(
    ("overrides", "ad", "src", "reason"),
    [
        ({}, advert(200, vrid=52), PEER_HIGH, "vrid"),
        ({}, advert(200, version=2), PEER_HIGH, "version"),
        ({"unicast_peers": (PEER_LOW,)}, advert(255), PEER_HIGH, "peer"),
        ({}, advert(200), OURS, "own_address"),
        (
            {"version": 2, "auth_type": 1, "auth_data": b"secret"},
            advert(200, version=2),
            PEER_HIGH,
            "auth",
        ),
        (
            {"version": 2, "auth_type": 1, "auth_data": b"secret"},
            advert(200, version=2, auth_type=1, auth_data=b"wrong\0\0\0"),
            PEER_HIGH,
            "auth",
        ),
        ({"version": 2}, advert(200, version=2, interval_cs=200), PEER_HIGH, "interval"),
    ],
)
def test_configured_instance_checks_drop(
    overrides: dict[str, object], ad: Advertisement, src: object, reason: str
) -> None:
    router = started(make_router(**overrides))
    before = router.state
    actions = router.handle(AdvertReceived(ad, src), 1.0)  # type: ignore[arg-type]
    assert len(actions) == 1
    assert isinstance(actions[0], Drop) and actions[0].reason == reason
    assert router.state is before


def test_v2_good_password_is_accepted() -> None:
    router = started(make_router(version=2, auth_type=1, auth_data=b"secret"))
    ad = advert(200, version=2, auth_type=1, auth_data=b"secret\0\0")
    assert kinds(router.handle(AdvertReceived(ad, PEER_HIGH), 1.0)) == ["ArmTimer"]


def test_address_list_mismatch_is_counted_not_dropped() -> None:
    router = started(make_router())
    ad = advert(200, addresses=(ip_address("192.0.2.101"),))
    actions = router.handle(AdvertReceived(ad, PEER_HIGH), 1.0)
    assert kinds(actions) == ["Anomaly", "ArmTimer"]
    assert isinstance(actions[0], Anomaly) and actions[0].kind == "address_mismatch"
    # the same set in another order is no mismatch
    router2 = started(make_router(virtual_addresses=(VIP, ip_address("192.0.2.101"))))
    ad2 = advert(200, addresses=(ip_address("192.0.2.101"), VIP))
    assert kinds(router2.handle(AdvertReceived(ad2, PEER_HIGH), 1.0)) == ["ArmTimer"]


# ----------------------------------------------------------------- shutdown


def test_master_shutdown_sends_priority_zero_and_releases() -> None:
    router = as_master(make_router())
    actions = router.handle(Shutdown(), 20.0)
    assert kinds(actions) == ["CancelTimer", "SendAdvert", "RemoveAddresses", "Transition"]
    send = actions[1]
    assert isinstance(send, SendAdvert) and send.advert.priority == 0
    assert router.state is State.INIT and router.timers == {}
    assert router.handle(Shutdown(), 21.0) == []


def test_backup_shutdown_cancels_timer() -> None:
    router = started(make_router())
    actions = router.handle(Shutdown(), 1.0)
    assert actions == [
        CancelTimer(Timer.MASTER_DOWN),
        Transition(State.BACKUP, State.INIT, "shutdown", 1.0),
    ]
    router.handle(Startup(), 2.0)
    assert router.state is State.BACKUP


# ------------------------------------------------------------------- faults


def test_fault_from_master_releases_and_recovers_through_init() -> None:
    router = as_master(make_router())
    actions = router.handle(FaultRaised("link"), 5.0)
    assert router.state is State.FAULT
    assert kinds(actions) == ["CancelTimer", "SendAdvert", "RemoveAddresses", "Transition"]
    assert router.handle(FaultRaised("track:script:chk"), 5.5) == []
    assert router.handle(FaultCleared("link"), 6.0) == []
    assert router.state is State.FAULT
    assert router.handle(FaultCleared("unknown"), 6.0) == []
    actions = router.handle(FaultCleared("track:script:chk"), 7.0)
    assert [(t.old, t.new) for t in actions if isinstance(t, Transition)] == [
        (State.FAULT, State.INIT),
        (State.INIT, State.BACKUP),
    ]
    assert router.state is State.BACKUP


def test_fault_from_backup() -> None:
    router = started(make_router())
    actions = router.handle(FaultRaised("link"), 1.0)
    assert actions == [
        CancelTimer(Timer.MASTER_DOWN),
        Transition(State.BACKUP, State.FAULT, "fault: link", 1.0),
    ]


def test_fault_before_startup_starts_in_fault_and_owner_recovers_to_master() -> None:
    router = make_router(priority=255)
    assert router.handle(FaultRaised("link"), 0.0) == []
    router.handle(Startup(), 0.0)
    assert router.state is State.FAULT
    router.handle(FaultCleared("link"), 1.0)
    assert router.state is State.MASTER


def test_shutdown_from_fault() -> None:
    router = started(make_router())
    router.handle(FaultRaised("link"), 1.0)
    actions = router.handle(Shutdown(), 2.0)
    assert actions == [Transition(State.FAULT, State.INIT, "shutdown", 2.0)]


# ----------------------------------------------------------------- priority


def test_priority_change_in_master_advertises_at_once() -> None:
    router = as_master(make_router())
    actions = router.handle(PriorityChanged(80), 5.0)
    assert kinds(actions) == ["SendAdvert", "ArmTimer"]
    send = actions[0]
    assert isinstance(send, SendAdvert) and send.advert.priority == 80
    assert router.handle(PriorityChanged(80), 5.1) == []


def test_priority_change_changes_skew() -> None:
    router = started(make_router())
    router.handle(PriorityChanged(200), 0.0)
    assert router.skew_time == 56 / 256
    with pytest.raises(VRRPError):
        router.handle(PriorityChanged(0), 0.0)


def test_demoted_master_loses_to_backup() -> None:
    router = as_master(make_router())
    router.handle(PriorityChanged(50), 5.0)
    router.handle(AdvertReceived(advert(100), PEER_LOW), 5.1)
    assert router.state is State.BACKUP


# -------------------------------------------------------------- sync groups


def test_group_member_requests_master_instead_of_taking_it() -> None:
    router = started(make_router())
    router.in_sync_group = True
    deadline = router.timers[Timer.MASTER_DOWN]
    actions = router.handle(TimerExpired(Timer.MASTER_DOWN), deadline)
    assert router.state is State.BACKUP and router.wants_master
    assert actions == [
        RequestMaster("master down timer expired"),
        ArmTimer(Timer.MASTER_DOWN, deadline + router.master_down_interval),
    ]
    actions = router.handle(GroupMaster("all members ready"), deadline + 0.1)
    assert router.state is State.MASTER
    assert CancelTimer(Timer.MASTER_DOWN) in actions


def test_group_backup_pulls_master_down_and_clears_wish() -> None:
    router = as_master(make_router())
    actions = router.handle(GroupBackup("partner heard a better master"), 9.0)
    assert router.state is State.BACKUP
    assert RemoveAddresses() in actions
    # the peer's member hears priority 0: it re-announces, or takes over soon
    assert actions[0] == SendAdvert(router.advertisement(0))
    assert router.master_address is None
    actions = router.handle(GroupMaster("x"), 9.5)
    assert Transition(State.BACKUP, State.MASTER, "sync group: x", 9.5) in actions
    backup = started(make_router())
    backup.wants_master = True
    assert backup.handle(GroupBackup("y"), 1.0) == []
    assert not backup.wants_master
    assert make_router().handle(GroupMaster("z"), 0.0) == []


# ---------------------------------------------------------------- the table


def test_transition_table_is_enforced() -> None:
    router = make_router()
    for old, new in itertools.product(State, State):
        router.state = old
        if (old, new) in TRANSITIONS:
            router._move(new, "test", 0.0, [])
            assert router.state is new
        else:
            with pytest.raises(StateError):
                router._move(new, "test", 0.0, [])


def test_unknown_event_raises() -> None:
    with pytest.raises(StateError):
        make_router().handle("bogus", 0.0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "overrides",
    [
        {"version": 4},
        {"vrid": 0},
        {"priority": 0},
        {"advert_interval_cs": 0},
        {"virtual_addresses": ()},
    ],
)
def test_bad_params_raise(overrides: dict[str, object]) -> None:
    with pytest.raises(VRRPError):
        make_router(**overrides)


def test_owner_sends_with_configured_auth_and_interval() -> None:
    router = make_router(version=2, priority=255, auth_type=1, auth_data=b"pw")
    actions = router.handle(Startup(), 0.0)
    send = next(a for a in actions if isinstance(a, SendAdvert))
    assert send.advert == Advertisement(
        version=2,
        vrid=51,
        priority=255,
        interval_cs=100,
        addresses=(VIP,),
        auth_type=1,
        auth_data=b"pw\0\0\0\0\0\0",
    )
    assert AddAddresses() in actions


# ------------------------------------------------------------- address owner
# RFC 9568 erratum 8298: an advert reaching the owner is logged, not dropped
# (keepalived processes it), so that two owners elect one Master.


def test_owner_counts_an_advert_and_answers_a_lower_one() -> None:
    router = started(make_router(priority=255))
    actions = router.handle(AdvertReceived(advert(200), PEER_HIGH), 1.0)
    assert router.state is State.MASTER
    assert isinstance(actions[0], Anomaly) and actions[0].kind == "owner"
    assert str(PEER_HIGH) in actions[0].detail
    assert not any(isinstance(a, Drop) for a in actions)
    send = next(a for a in actions if isinstance(a, SendAdvert))
    assert send.advert.priority == 255
    assert Announce(refresh=True) in actions
    assert actions[-1] == ArmTimer(Timer.ADVER, 2.0)


def test_owner_answers_a_priority_zero_advert_at_once() -> None:
    router = started(make_router(priority=255))
    actions = router.handle(AdvertReceived(advert(0), PEER_HIGH), 1.0)
    assert router.state is State.MASTER
    assert Anomaly("owner", f"we own the addresses; priority 0 from {PEER_HIGH}") in actions
    send = next(a for a in actions if isinstance(a, SendAdvert))
    assert send.advert.priority == 255
    assert actions[-1] == ArmTimer(Timer.ADVER, 2.0)


def test_two_owners_keep_the_higher_primary_address() -> None:
    low = started(make_router(priority=255))
    actions = low.handle(AdvertReceived(advert(255), PEER_HIGH), 1.0)
    assert low.state is State.BACKUP
    assert RemoveAddresses() in actions
    assert low.master_address == PEER_HIGH
    high = started(make_router(priority=255))
    high.handle(AdvertReceived(advert(255), PEER_LOW), 1.0)
    assert high.state is State.MASTER


# -------------------------------------------------------------- maintenance


def test_resigning_master_advertises_zero_and_hands_over_on_first_advert() -> None:
    router = as_master(make_router(priority=200))
    actions = router.handle(Resign(active=True), 5.0)
    assert kinds(actions) == ["SendAdvert", "ArmTimer"]
    first = actions[0]
    assert isinstance(first, SendAdvert) and first.advert.priority == 0
    tick = router.handle(TimerExpired(Timer.ADVER), 6.0)
    assert isinstance(tick[0], SendAdvert) and tick[0].advert.priority == 0
    assert router.state is State.MASTER  # still serving: make before break
    # the Backup took over (even with a lower priority): step down
    actions = router.handle(AdvertReceived(advert(100), PEER_LOW), 6.6)
    assert router.state is State.BACKUP
    assert Transition(State.MASTER, State.BACKUP, f"resigned to {PEER_LOW}", 6.6) in actions
    # It keeps the addresses a moment (test_fsm_resign_hold.py), then lets go.
    assert RemoveAddresses() not in actions
    assert router.handle(TimerExpired(Timer.RELEASE), router.timers[Timer.RELEASE]) == [
        RemoveAddresses()
    ]


def test_backup_takes_over_after_skew_from_a_resigning_master_even_without_preempt() -> None:
    backup = started(make_router(preempt=False))
    resigner = advert(0)
    actions = backup.handle(AdvertReceived(resigner, PEER_HIGH), 1.0)
    assert actions == [ArmTimer(Timer.MASTER_DOWN, 1.0 + backup.skew_time)]
    backup.handle(TimerExpired(Timer.MASTER_DOWN), 1.0 + backup.skew_time)
    assert backup.state is State.MASTER


def test_two_resigning_masters_keep_the_higher_address() -> None:
    # Every Master resigns, yet one must serve: the higher address keeps the
    # addresses and answers; the lower one steps down.
    high = as_master(make_router())
    high.handle(Resign(active=True), 1.0)
    actions = high.handle(AdvertReceived(advert(0), PEER_LOW), 1.1)
    assert high.state is State.MASTER
    assert kinds(actions) == ["SendAdvert", "Announce", "ArmTimer"]
    assert isinstance(actions[0], SendAdvert) and actions[0].advert.priority == 0
    low = as_master(make_router())
    low.handle(Resign(active=True), 1.0)
    actions = low.handle(AdvertReceived(advert(0), PEER_HIGH), 1.1)
    assert low.state is State.BACKUP and RemoveAddresses() in actions
    assert actions[0] == SendAdvert(low.advertisement(0))
    # It now follows the resigning winner without taking over from it.
    assert low.timers[Timer.MASTER_DOWN] == 1.1 + 1.0 + low.skew_time
    assert low.handle(Resign(active=True), 1.2) == []
    backup = started(make_router())
    assert backup.handle(Resign(active=True), 0.0) == []
    assert backup.resigning


def test_resign_can_be_taken_back() -> None:
    router = as_master(make_router())
    router.handle(Resign(active=True), 1.0)
    actions = router.handle(Resign(active=False), 1.3)
    assert isinstance(actions[0], SendAdvert) and actions[0].advert.priority == 100


def test_a_resigning_backup_gives_a_resigning_master_one_more_interval() -> None:
    backup = started(make_router())
    backup.handle(Resign(active=True), 0.5)
    actions = backup.handle(AdvertReceived(advert(0), PEER_HIGH), 1.0)
    assert actions == [ArmTimer(Timer.MASTER_DOWN, 1.0 + 1.0 + backup.skew_time)]
    # the Master's next priority-0 advert (one interval later) re-arms it
    backup.handle(AdvertReceived(advert(0), PEER_HIGH), 2.0)
    assert backup.timers[Timer.MASTER_DOWN] == 2.0 + 1.0 + backup.skew_time
    # silence (it stopped): take over, someone must serve
    backup.handle(TimerExpired(Timer.MASTER_DOWN), backup.timers[Timer.MASTER_DOWN])
    assert backup.state is State.MASTER


def test_a_resigning_backup_does_not_preempt() -> None:
    backup = started(make_router(priority=200))
    backup.handle(Resign(active=True), 0.5)
    actions = backup.handle(AdvertReceived(advert(50), PEER_HIGH), 1.0)
    assert actions == [ArmTimer(Timer.MASTER_DOWN, 1.0 + backup.master_down_interval)]
    assert backup.master_address == PEER_HIGH
