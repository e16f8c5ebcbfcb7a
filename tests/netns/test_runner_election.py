"""Our runner on real kernels: election, failover, graceful handover."""

from __future__ import annotations

import time
from typing import Any

from lab import Lab
from lab.runner import LATE, RunnerProc, master_down_interval

VIP = "192.0.2.100"


def instance(name: str, priority: int, *, interval: float = 0.1, **extra: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "name": name,
        "interface": "eth0",
        "vrid": 51,
        "priority": priority,
        "advert_interval": interval,
        "virtual_addresses": [f"{VIP}/24"],
    }
    cfg.update(extra)
    return {"instances": [cfg], "sync_groups": []}


def pair(lab: Lab, p1: int, p2: int, **extra: Any) -> tuple[RunnerProc, RunnerProc]:
    r1 = lab.add_router("r1", v4="192.0.2.11/24")
    r2 = lab.add_router("r2", v4="192.0.2.12/24")
    a = RunnerProc(lab, r1, instance("vi", p1, **extra)).start()
    b = RunnerProc(lab, r2, instance("vi", p2, **extra)).start()
    return a, b


def test_higher_priority_wins_and_holds_the_vip(lab: Lab) -> None:
    a, b = pair(lab, 200, 100)
    lab.wait_for(lambda: a.state_of("vi") == "MASTER", timeout=5, what="r1 MASTER")
    lab.wait_for(lambda: b.state_of("vi") == "BACKUP", timeout=5, what="r2 BACKUP")
    lab.wait_for(
        lambda: b.result("state")["instances"]["vi"]["master"], timeout=2, what="r2 hears r1"
    )
    assert lab.has_address(a.router, VIP)
    assert not lab.has_address(b.router, VIP)
    state = b.result("state")["instances"]["vi"]
    assert state["master"] == "192.0.2.11"
    assert state["master_priority"] == 200
    assert state["effective_priority"] == 100
    # the Backup hears the Master's rhythm: 10 adverts a second
    # (counted against the time that really passed: a loaded box sleeps longer)
    started = time.monotonic()
    before = b.result("stats")["instances"]["vi"].get("adverts_received", 0)
    time.sleep(1.0)
    after = b.result("stats")["instances"]["vi"].get("adverts_received", 0)
    elapsed = time.monotonic() - started
    # at least one advert per Master_Down_Interval (else r2 would have taken
    # over), never more than the 0.1 s rhythm allows
    assert elapsed / master_down_interval(100) <= after - before <= elapsed / 0.1 + 3
    assert b.state_of("vi") == "BACKUP"


def test_equal_priority_higher_address_wins(lab: Lab) -> None:
    r1 = lab.add_router("r1", v4="192.0.2.11/24")
    r2 = lab.add_router("r2", v4="192.0.2.12/24")
    a = RunnerProc(lab, r1, instance("vi", 100)).start(wait=False)
    b = RunnerProc(lab, r2, instance("vi", 100)).start(wait=False)
    for r in (a, b):
        lab.wait_for(lambda r=r: __import__("os").path.exists(r.socket), timeout=10, what="socket")
    # Both start at about the same instant: if both reach Master, the higher
    # address must win when they hear each other (RFC 9568 §6.4.3).
    lab.wait_for(
        lambda: {a.state_of("vi"), b.state_of("vi")} == {"MASTER", "BACKUP"},
        timeout=5,
        what="one MASTER and one BACKUP",
    )
    history_a = a.result("history")["vi"]
    history_b = b.result("history")["vi"]
    if any(h["to"] == "MASTER" for h in history_a) and any(h["to"] == "MASTER" for h in history_b):
        assert b.state_of("vi") == "MASTER"


def test_sigkill_of_master_backup_takes_over(lab: Lab) -> None:
    a, b = pair(lab, 200, 100)
    lab.wait_for(lambda: lab.has_address(a.router, VIP), timeout=5, what="VIP on r1")
    lab.wait_for(lambda: b.state_of("vi") == "BACKUP", timeout=5, what="r2 BACKUP")
    killed = time.monotonic()
    a.kill()
    lab.wait_for(lambda: lab.has_address(b.router, VIP), timeout=3, what="VIP on r2")
    took = time.monotonic() - killed
    # Master_Down_Interval at 0.1 s and priority 100: 0.3 + 0.061 s
    assert took < master_down_interval(100) + LATE, took
    assert b.state_of("vi") == "MASTER"


def test_sigterm_hands_over_after_skew_time(lab: Lab) -> None:
    a, b = pair(lab, 200, 100, advert_interval=1)
    lab.wait_for(lambda: lab.has_address(a.router, VIP), timeout=6, what="VIP on r1")
    lab.wait_for(lambda: b.state_of("vi") == "BACKUP", timeout=6, what="r2 BACKUP")
    stopped = time.monotonic()
    assert a.stop() == 0
    lab.wait_for(lambda: lab.has_address(b.router, VIP), timeout=3, what="VIP on r2")
    took = time.monotonic() - stopped
    # A priority-0 advert: Skew_Time = 156/256 s, far below Master_Down_Interval (3.6 s).
    assert took < master_down_interval(100, 1.0), took
    assert not lab.has_address(a.router, VIP)
    stats = b.result("stats")["instances"]["vi"]
    assert stats.get("became_master") == 1


def test_link_down_on_master_gives_fault_and_failover(lab: Lab) -> None:
    a, b = pair(lab, 200, 100)
    lab.wait_for(lambda: lab.has_address(a.router, VIP), timeout=5, what="VIP on r1")
    lab.wait_for(lambda: b.state_of("vi") == "BACKUP", timeout=5, what="r2 BACKUP")
    lab.set_port(a.router, up=False)
    lab.wait_for(lambda: a.state_of("vi") == "FAULT", timeout=2, what="r1 FAULT")
    lab.wait_for(lambda: lab.has_address(b.router, VIP), timeout=3, what="VIP on r2")
    assert not lab.has_address(a.router, VIP)
    assert "link" in a.result("state")["instances"]["vi"]["faults"]
    lab.set_port(a.router, up=True)
    # back: Initialize -> Backup -> preempts as the higher priority
    lab.wait_for(lambda: a.state_of("vi") == "MASTER", timeout=5, what="r1 MASTER again")
    lab.wait_for(lambda: b.state_of("vi") == "BACKUP", timeout=5, what="r2 BACKUP again")
    moves = [(h["from"], h["to"]) for h in a.result("history")["vi"]]
    assert ("MASTER", "FAULT") in moves and ("FAULT", "INIT") in moves


def test_demote_resigns_without_a_gap_and_restore_takes_back(lab: Lab) -> None:
    a, b = pair(lab, 200, 100, preempt=False)  # resigning works even without preempt
    lab.wait_for(lambda: lab.has_address(a.router, VIP), timeout=5, what="VIP on r1")
    lab.wait_for(lambda: b.state_of("vi") == "BACKUP", timeout=5, what="r2 BACKUP")
    assert a.result("demote", instance="vi") == {"demoted": {"vi": 0}}
    # make before break: the VIP is always somewhere while it moves
    deadline = time.monotonic() + 3
    while b.state_of("vi") != "MASTER":
        assert lab.has_address(a.router, VIP) or lab.has_address(b.router, VIP)
        assert time.monotonic() < deadline, "r2 did not take over"
    lab.wait_for(lambda: a.state_of("vi") == "BACKUP", timeout=2, what="r1 steps down")
    state = a.result("state")["instances"]["vi"]
    assert state["demoted"] == 0 and state["effective_priority"] == 1
    # persisted: a restarted runner stays demoted
    a.stop()
    a.start()
    time.sleep(1.0)
    assert a.state_of("vi") == "BACKUP"
    assert b.state_of("vi") == "MASTER"
    assert a.result("restore", instance="vi") == {"restored": ["vi"]}
    # nopreempt: the restored router does not take over by itself
    time.sleep(0.5)
    assert b.state_of("vi") == "MASTER"
    assert a.result("state")["instances"]["vi"]["effective_priority"] == 200
