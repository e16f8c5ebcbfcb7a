"""The simulated LAN itself: clock, wire, partitions, crashes, codec, history."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from support.simlan import SimLAN
from vrrp.fsm import RouterParams, State, Timer, VirtualRouter, master_down_interval

VIP = ip_address("192.0.2.100")


def vr(priority: int, host: int, *, version: int = 3) -> VirtualRouter:
    return VirtualRouter(
        RouterParams(
            vrid=7,
            version=version,
            priority=priority,
            advert_interval_cs=100,
            primary_address=ip_address(f"192.0.2.{host}"),
            virtual_addresses=(VIP,),
        )
    )


def lan_of(*priorities: int, **kw: object) -> SimLAN:
    lan = SimLAN(**kw)  # type: ignore[arg-type]
    for i, priority in enumerate(priorities):
        lan.add(f"r{i}", vr(priority, 10 + i))
        lan.start(f"r{i}", at=0.0)
    return lan


MDI_200 = master_down_interval(version=3, priority=200, master_adver_interval_cs=100)


def test_the_highest_priority_becomes_master_at_its_master_down_interval() -> None:
    lan = lan_of(100, 200)
    lan.run_until(10.0)
    assert lan.masters(7) == [("r1", "r1")]
    (took_over,) = [r for r in lan.history if r.new is State.MASTER]
    assert took_over.at == pytest.approx(MDI_200)
    assert took_over.priority == 200
    # One advert per second from the Master, each heard by the Backup.
    assert lan.stats.sent == lan.stats.delivered == 7
    assert lan.now == 10.0


def test_codec_mode_passes_adverts_through_the_wire_format() -> None:
    plain, wired = lan_of(100, 200), lan_of(100, 200, codec=True)
    plain.run_until(10.0)
    wired.run_until(10.0)
    assert [(r.at, r.node, r.new) for r in plain.history] == [
        (r.at, r.node, r.new) for r in wired.history
    ]
    assert wired.stats.delivered == plain.stats.delivered
    assert wired.stats.codec_errors == {}


def test_a_partition_makes_two_masters_and_the_heal_one() -> None:
    lan = lan_of(100, 200)
    lan.partition([["r0"]], at=5.0)
    lan.heal(at=15.0)
    lan.run_until(14.0)
    assert lan.master_count(7) == 2
    assert lan.stats.blocked > 0
    lan.run_until(20.0)
    assert lan.masters(7) == [("r1", "r1")]
    assert [len(m) for _unused, m in lan.master_timeline(7)][-3:] == [1, 2, 1]


def test_total_loss_on_one_link_is_a_one_way_partition() -> None:
    lan = lan_of(100, 200)
    lan.set_loss(1.0, src="r1", dst="r0")
    lan.run_until(20.0)
    assert lan.master_count(7) == 2  # r0 never hears r1; r1 answers but is not heard
    assert lan.stats.lost > 0
    with pytest.raises(ValueError, match="both src and dst"):
        lan.set_loss(0.5, src="r1")


def test_crash_is_silent_and_restart_starts_afresh() -> None:
    lan = lan_of(100, 200)
    lan.set_priority("r1", 210, at=5.0)
    lan.crash("r1", at=6.0)
    lan.run_until(6.0)
    assert lan.masters(7) == []
    assert lan.history[-1].cause == "crash"
    assert lan.router("r1").effective_priority == 210
    lan.run_until(12.0)  # r0 takes over after its Master_Down_Interval, no priority-0 advert
    assert lan.masters(7) == [("r0", "r0")]
    lan.restart("r1", at=12.0)
    lan.run_until(30.0)
    assert lan.masters(7) == [("r1", "r1")]
    assert lan.router("r1").effective_priority == 200  # configured, not the runtime change


def test_graceful_stop_hands_over_after_skew_time() -> None:
    lan = lan_of(100, 200)
    lan.stop("r1", at=8.0)
    lan.run_until(10.0)
    (took_over,) = [r for r in lan.transitions(since=8.0) if r.new is State.MASTER]
    assert took_over.node == "r0"
    assert took_over.at - 8.0 < 1.0  # Skew_Time, not Master_Down_Interval


def test_faults_reach_the_router() -> None:
    lan = lan_of(100, 200)
    lan.fault("r1", "link", at=5.0)
    lan.clear_fault("r1", "link", at=6.0)
    lan.run_until(6.0)
    assert [r.new for r in lan.transitions(vrid=7, since=5.0) if r.node == "r1"] == [
        State.FAULT,
        State.INIT,
        State.BACKUP,
    ]


def test_cancelled_and_crashed_timers_never_fire() -> None:
    lan = lan_of(200)
    lan.run_until(1.0)
    lan.crash("r0", at=1.0)
    lan.run_until(10.0)
    assert lan.masters(7) == []
    assert lan.router("r0").timers[Timer.MASTER_DOWN] < 10.0  # it was armed, never fed


def test_the_clock_cannot_go_back() -> None:
    lan = lan_of(100)
    lan.run_until(5.0)
    with pytest.raises(ValueError, match="before now"):
        lan.start("r0", at=1.0)
    with pytest.raises(ValueError, match="exists"):
        lan.add("r0", vr(1, 99))


def test_master_throughout() -> None:
    lan = lan_of(100, 200)
    lan.crash("r1", at=8.0)
    lan.run_until(9.0)
    assert lan.master_throughout("r1", "r1", MDI_200, 8.0 - 1e-9)
    assert not lan.master_throughout("r1", "r1", MDI_200, 8.5)
    assert not lan.master_throughout("r1", "r1", 1.0, 2.0)  # still a Backup then
    assert not lan.master_throughout("r0", "r0", 0.0, 9.0)


def test_version_mismatch_is_dropped_by_the_receiver() -> None:
    lan = SimLAN()
    lan.add("v2", vr(100, 10, version=2))
    lan.add("v3", vr(200, 11))
    lan.start("v2")
    lan.start("v3")
    lan.run_until(10.0)
    assert lan.master_count(7) == 2
    assert lan.stats.drops["version"] > 0


def test_demote_as_the_runner_does_and_who_announced_last() -> None:
    lan = lan_of(100, 200)
    lan.run_until(5.0)
    assert lan.announcer(7, 5.0) == "r1"
    lan.demote("r1", 0, at=5.0)  # resign: priority 1, priority-0 adverts
    lan.run_until(7.0)
    r1 = lan.router("r1")
    assert (r1.effective_priority, r1.resigning) == (1, True)
    assert lan.masters(7) == [("r0", "r0")]
    assert lan.announcer(7, 7.0) == "r0"
    lan.demote("r1", None, at=7.0)  # restore: configured priority, preempts back
    lan.run_until(12.0)
    assert (r1.effective_priority, r1.resigning) == (200, False)
    assert lan.masters(7) == [("r1", "r1")]
    assert lan.announcer(7, 12.0) == "r1"
    assert [a.node for a in lan.announcements if a.refresh] != []
