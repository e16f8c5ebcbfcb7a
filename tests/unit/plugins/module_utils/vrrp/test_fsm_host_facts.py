"""What the host tells the core: Startup's facts and PrimaryAddressChanged.

Only the core changes its state: the runner gives the faults, the source
address, the effective priority and a persisted resignation with Startup, and
a renumbered interface's new source with PrimaryAddressChanged.
"""

from __future__ import annotations

from ipaddress import ip_address

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_fsm import OURS, PEER_HIGH, advert, as_master, make_router, started

from vrrp.errors import VRRPError
from vrrp.fsm import (
    AdvertReceived,
    ArmTimer,
    FaultCleared,
    FaultRaised,
    PrimaryAddressChanged,
    SendAdvert,
    Startup,
    State,
    Timer,
    TimerExpired,
    VirtualRouter,
)

NEW = ip_address("192.0.2.11")


def test_startup_carries_faults_primary_priority_and_resignation() -> None:
    router = make_router(primary_address=ip_address("0.0.0.0"))
    actions = router.handle(
        Startup(faults=frozenset({"link", "socket"}), primary_address=OURS, priority=50), 1.0
    )
    assert router.state is State.FAULT
    assert router.faults == {"link", "socket"}
    assert router.params.primary_address == OURS
    assert router.effective_priority == 50
    assert "fault: link, socket" in actions[-1].cause  # type: ignore[union-attr]
    router.handle(FaultCleared("link"), 2.0)
    assert router.state is State.FAULT
    router.handle(FaultCleared("socket"), 3.0)
    assert router.state is State.BACKUP


def test_startup_resigned_master_advertises_priority_zero() -> None:
    router = make_router(priority=255)
    actions = router.handle(Startup(resigning=True), 0.0)
    assert router.state is State.MASTER and router.resigning
    sent = [a for a in actions if isinstance(a, SendAdvert)]
    assert sent and sent[0].advert.priority == 0


def test_startup_without_facts_keeps_the_configuration() -> None:
    router = started(make_router())
    assert router.params.primary_address == OURS
    assert router.effective_priority == 100 and not router.faults and not router.resigning


@pytest.mark.parametrize("bad", [0, 256, -1])
def test_startup_refuses_a_priority_out_of_range(bad: int) -> None:
    router = make_router()
    with pytest.raises(VRRPError, match="priority"):
        router.handle(Startup(priority=bad), 0.0)
    assert not router.enabled


def test_startup_refuses_a_primary_of_the_other_family() -> None:
    with pytest.raises(VRRPError, match="family"):
        make_router().handle(Startup(primary_address=ip_address("fe80::1")), 0.0)


def test_master_advertises_from_the_new_primary_at_once_and_rearms() -> None:
    router = as_master(make_router())
    actions = router.handle(PrimaryAddressChanged(NEW), 10.0)
    assert router.params.primary_address == NEW
    assert router.master_address == NEW
    assert [type(a) for a in actions] == [SendAdvert, ArmTimer]
    assert actions[1] == ArmTimer(Timer.ADVER, 11.0)
    # Its own adverts from the new source are not taken for a peer's.
    assert router.handle(AdvertReceived(advert(100), NEW), 10.5)[0].reason == "own_address"  # type: ignore[union-attr]


def test_backup_records_the_new_primary_silently() -> None:
    router = started(make_router())
    assert router.handle(PrimaryAddressChanged(NEW), 1.0) == []
    assert router.params.primary_address == NEW and router.state is State.BACKUP
    # A later takeover advertises from it.
    router.handle(TimerExpired(Timer.MASTER_DOWN), router.timers[Timer.MASTER_DOWN])
    assert router.master_address == NEW


def test_unchanged_primary_is_a_no_op() -> None:
    router = as_master(make_router())
    assert router.handle(PrimaryAddressChanged(OURS), 5.0) == []


def test_fault_and_init_record_the_new_primary() -> None:
    router = make_router()
    router.handle(PrimaryAddressChanged(NEW), 0.0)
    assert router.params.primary_address == NEW and router.state is State.INIT
    router.handle(Startup(faults=frozenset({"address"})), 0.0)
    router.handle(PrimaryAddressChanged(OURS), 1.0)
    assert router.params.primary_address == OURS and router.state is State.FAULT


def test_equal_priority_tie_break_uses_the_new_primary() -> None:
    router = as_master(make_router())
    router.handle(PrimaryAddressChanged(ip_address("192.0.2.30")), 1.0)
    # 192.0.2.20 < 192.0.2.30: the Master keeps Mastership on a tie.
    router.handle(AdvertReceived(advert(100), PEER_HIGH), 1.5)
    assert router.state is State.MASTER


@given(
    events=st.lists(
        st.sampled_from(["primary_a", "primary_b", "fault", "clear", "master_down"]),
        max_size=30,
    )
)
def test_primary_is_always_the_last_one_given(events: list[str]) -> None:
    router: VirtualRouter = started(make_router())
    last = OURS
    now = 0.0
    for name in events:
        now += 1.0
        if name.startswith("primary"):
            last = NEW if name == "primary_b" else OURS
            router.handle(PrimaryAddressChanged(last), now)
        elif name == "fault":
            router.handle(FaultRaised("address"), now)
        elif name == "clear":
            router.handle(FaultCleared("address"), now)
        elif Timer.MASTER_DOWN in router.timers:
            router.handle(TimerExpired(Timer.MASTER_DOWN), router.timers[Timer.MASTER_DOWN])
        assert router.params.primary_address == last
        if router.state is State.MASTER:
            assert router.master_address == last
