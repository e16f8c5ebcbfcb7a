"""When a MASTER counts as settled, and the group verdict that follows.

The failing run (issue 11): under load, ha_pair.yml's verdict combined each
host's "converged" snapshot, taken as soon as that host's own wait ended. One
host's snapshot said MASTER during the first election's transient (before it
had heard the higher-priority peer), the other's said MASTER later: two MASTERs.
A MASTER now counts as settled only after Master_Down_Interval (plus the preempt
delay when a peer could preempt it) in that state, an age the host computes,
and the playbook judges one fresh snapshot of every host taken after all waits.
"""

from __future__ import annotations

import time
from ipaddress import IPv4Address
from typing import Any

import pytest
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_runner import (
    read_state,
)
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_verdicts import (
    fleet_verdict,
    settled,
)
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.fsm import (
    RouterParams,
    State,
    VirtualRouter,
    master_down_interval,
)
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.simlan import SimLAN
from ansible_collections.failover.vrrp.plugins.modules import vrrp_state
from hypothesis import given, settings
from hypothesis import strategies as st
from modules_harness import Runner, instance_state, run_module

POLL = 0.2  # ansible_vrrp_runner.POLL_INTERVAL
VRID = 51


def master(age: float | None, **values: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "state": "MASTER",
        "effective_priority": 100,
        "preempt": False,
        "preempt_delay": 0.0,
        "advert_interval": 1.0,
        "version": 3,
    }
    if age is not None:
        base["state_age"] = age
    return {**base, **values}


def mdi(priority: int, *, version: int = 3, interval_cs: int = 100) -> float:
    return master_down_interval(
        version=version, priority=priority, master_adver_interval_cs=interval_cs
    )


def test_the_failing_runs_two_snapshots_are_one_unsettled_master() -> None:
    """The two snapshots the failing run combined: r1 MASTER for 0.05 s (the
    transient), r2 MASTER for 4 s. r1's wait must not end on the first."""
    transient = master(0.05, effective_priority=100, master="192.0.2.11")
    winner = master(4.0, effective_priority=150, master="192.0.2.12")
    why = settled("web", transient)
    assert why == (
        "is MASTER since 0.1 s, waiting until 3.6 s (Master_Down_Interval) with no MASTER above it"
    )
    assert settled("web", winner) is None


@pytest.mark.parametrize(
    ("inst", "waits"),
    [
        (master(mdi(100) - 0.01), True),
        (master(mdi(100)), False),
        (master(mdi(255), effective_priority=255), False),  # owner: 3 × interval + skew
        (master(mdi(100, version=2), version=2), False),
        (master(mdi(100, interval_cs=20) + 0.001, advert_interval=0.2), False),
        # A peer that delays its preemption waits itself; the MASTER does not.
        (master(mdi(100), preempt=True, preempt_delay=300.0), False),
        (master(mdi(255), effective_priority=255, preempt=True, preempt_delay=2.0), False),
        (master(None), True),  # no age: never taken for settled
    ],
)
def test_a_master_settles_after_master_down_interval(inst: dict[str, Any], waits: bool) -> None:
    why = settled("web", inst)
    assert (why is not None) is waits, why
    if waits and inst.get("state_age") is not None:
        assert why is not None and "waiting until" in why and "no MASTER above it" in why


# -- the age is the host's ------------------------------------------------------------


def test_the_age_is_computed_with_the_hosts_clock(runner: Runner) -> None:
    """``state_age`` = the host's wall time before the read - ``since``: the
    controller's clock never enters (conservative: never more than the age)."""
    runner.handler.instances = {"web": instance_state("web", since=1_000.0)}
    facts = read_state(runner.socket, wall_clock=lambda: 1_002.5)
    assert facts["instances"]["web"]["state_age"] == 2.5
    clock_behind = read_state(runner.socket, wall_clock=lambda: 999.0)
    assert clock_behind["instances"]["web"]["state_age"] == 0.0


def test_vrrp_state_waits_for_a_fresh_master(
    runner: Runner, capsys: pytest.CaptureFixture[str]
) -> None:
    runner.handler.instances = {"web": instance_state("web", since=time.time() - 0.5)}
    args = {"control_socket": runner.socket, "wait_for": "converged", "timeout": 0.3}
    young = run_module(vrrp_state.main, args, capsys=capsys)
    assert young["failed"] is True
    assert "web is MASTER since 0." in young["msg"], young["msg"]
    assert "(Master_Down_Interval) with no MASTER above it" in young["msg"]
    runner.handler.instances = {"web": instance_state("web", since=time.time() - 10)}
    old = run_module(vrrp_state.main, args, capsys=capsys)
    assert old["converged"] is True
    assert old["ansible_facts"]["vrrp"]["instances"]["web"]["state_age"] >= 10


# -- the playbook's procedure on a simulated pair --------------------------------------


def snapshot(lan: SimLAN, node: str) -> dict[str, Any]:
    """What vrrp_state reads on ``node`` at the LAN's now (the runner's fields)."""
    router = lan.router(node)
    p = router.params
    return {
        "state": router.state.value,
        "effective_priority": router.effective_priority,
        "master": None if router.master_address is None else str(router.master_address),
        "master_priority": router.master_priority,
        "preempt": p.preempt,
        "preempt_delay": p.preempt_delay_cs / 100,
        "advert_interval": p.advert_interval_cs / 100,
        "version": p.version,
        "state_age": lan.now - router.since,
    }


def facts(inst: dict[str, Any]) -> dict[str, Any]:
    return {"instances": {"web": inst}}


def play(lan: SimLAN, waits_from: dict[str, float], *, bound: float = 120.0) -> dict[str, Any]:
    """ha_pair.yml on the LAN: each host polls its own runner from
    ``waits_from[host]`` until its instance is settled; then one fresh read of
    every host, one after the other (the --limit path's loop). Returns the
    wait results, when each wait ended and the fresh snapshots."""
    results: dict[str, dict[str, Any]] = {}
    ended: dict[str, float] = {}
    t = 0.0
    while len(results) < len(waits_from) and t < bound:
        lan.run_until(t)
        for host, start in waits_from.items():
            if host not in results and t >= start:
                snap = snapshot(lan, host)
                if settled("web", snap) is None:
                    results[host], ended[host] = snap, t
        t = round(t + POLL / 4, 6)
    assert len(results) == len(waits_from), f"no convergence by {bound} s"
    fresh: dict[str, dict[str, Any]] = {}
    t = max(ended.values())
    for host in sorted(waits_from):
        t += POLL
        lan.run_until(t)
        fresh[host] = snapshot(lan, host)
    return {"waits": results, "ended": ended, "fresh": fresh}


def pair(
    *,
    priorities: tuple[int, int],
    latency: float,
    version: int = 3,
    interval_cs: int = 100,
    preempt: tuple[bool, bool] = (False, False),
    preempt_delay_cs: int = 0,
    starts: tuple[float, float] = (0.0, 0.0),
) -> SimLAN:
    lan = SimLAN(latency=latency)
    for i, name in enumerate(("r1", "r2")):
        params = RouterParams(
            vrid=VRID,
            version=version,
            priority=priorities[i],
            advert_interval_cs=interval_cs,
            primary_address=IPv4Address(f"192.0.2.{11 + i}"),
            virtual_addresses=(IPv4Address("198.51.100.51"),),
            preempt=preempt[i],
            preempt_delay_cs=preempt_delay_cs,
        )
        lan.add(name, VirtualRouter(params))
        lan.start(name, at=starts[i])
    return lan


def test_the_failing_run_replayed_on_a_simulated_pair() -> None:
    """A loaded host: r2's first advert reaches r1 0.25 s late, after r1's own
    Master_Down_Interval ran out, so r1 is MASTER for 0.05 s. r1's wait used to
    end on that snapshot and the verdict saw two MASTERs; now it does not."""
    lan = pair(priorities=(100, 150), latency=0.25)
    lan.run_until(mdi(100) + 0.01)
    transient = snapshot(lan, "r1")
    assert transient["state"] == "MASTER" and snapshot(lan, "r2")["state"] == "MASTER"
    assert settled("web", transient) is not None  # the old rule: None, the wait ended
    lan = pair(priorities=(100, 150), latency=0.25)
    out = play(lan, {"r1": mdi(100) + 0.01, "r2": mdi(100) + 0.01})
    assert out["waits"]["r1"]["state"] == "BACKUP"
    assert fleet_verdict({h: facts(i) for h, i in out["waits"].items()})["one_master"]
    assert fleet_verdict({h: facts(i) for h, i in out["fresh"].items()})["one_master"]


@settings(deadline=None)
@given(
    priorities=st.tuples(st.integers(1, 255), st.integers(1, 254)),
    version=st.sampled_from([2, 3]),
    interval_cs=st.sampled_from([20, 50, 100]),
    latency_ms=st.integers(1, 150),
    preempt=st.tuples(st.booleans(), st.booleans()),
    preempt_delay_cs=st.sampled_from([0, 50, 200]),
    start_ms=st.tuples(st.integers(0, 3000), st.integers(0, 3000)),
    wait_ms=st.tuples(st.integers(0, 6000), st.integers(0, 6000)),
)
def test_a_pair_never_shows_two_settled_masters_younger_than_mdi(
    *,
    priorities: tuple[int, int],
    version: int,
    interval_cs: int,
    latency_ms: int,
    preempt: tuple[bool, bool],
    preempt_delay_cs: int,
    start_ms: tuple[int, int],
    wait_ms: tuple[int, int],
) -> None:
    """Any timeline of a pair (priorities, the owner, preempt and its delay,
    start times, a wire slow up to 150 ms, waits starting at any time): a
    wait's MASTER has been MASTER at least its Master_Down_Interval, and the
    fresh snapshots after every wait show exactly one MASTER."""
    interval_cs = 100 if version == 2 else interval_cs
    starts = (start_ms[0] / 1000, start_ms[1] / 1000)
    lan = pair(
        priorities=priorities,
        latency=latency_ms / 1000,
        version=version,
        interval_cs=interval_cs,
        preempt=preempt,
        preempt_delay_cs=preempt_delay_cs,
        starts=starts,
    )
    out = play(lan, {"r1": starts[0] + wait_ms[0] / 1000, "r2": starts[1] + wait_ms[1] / 1000})
    for snap in out["waits"].values():
        if snap["state"] == State.MASTER.value:
            floor = mdi(snap["effective_priority"], version=version, interval_cs=interval_cs)
            assert snap["state_age"] >= floor - 1e-9
    verdict = fleet_verdict({h: facts(i) for h, i in out["fresh"].items()})
    assert verdict["one_master"], verdict["problems"]
    assert len(verdict["instances"]["web"]["masters"]) == 1
