"""Our runner on real kernels: preempt, nopreempt and preempt_delay (RFC 9568 §6.4.2).

In each test r2 (priority 100) is Master alone first; r1 (priority 200) starts
late, and what it does next is checked on its state, its history and the wire.
"""

from __future__ import annotations

import time
from typing import Any

from lab import Lab
from lab.capture import Capture
from lab.runner import (
    LATE,
    RunnerProc,
    adverts_of,
    check_our_adverts,
    largest_gap,
    master_down_interval,
    moves,
    runner_config,
    vrrp_instance,
    wait_state,
)

VIP = "192.0.2.100"
VRID = 51
INTERVAL = 0.1
R1, R2 = "192.0.2.11", "192.0.2.12"


def config(priority: int, **extra: Any) -> dict[str, Any]:
    return runner_config(
        vrrp_instance("vi", vrid=VRID, priority=priority, vips=[f"{VIP}/24"], **extra)
    )


def late_starter(lab: Lab, **r1_extra: Any) -> tuple[RunnerProc, RunnerProc, Capture]:
    """r2 (100) Master alone, a capture running, then r1 (200) started."""
    r1 = lab.add_router("r1", v4=f"{R1}/24")
    r2 = lab.add_router("r2", v4=f"{R2}/24")
    low = RunnerProc(lab, r2, config(100)).start()
    wait_state(low, "vi", "MASTER", timeout=5)
    lab.wait_for(lambda: lab.has_address(r2, VIP), timeout=2, what="VIP on r2")
    cap = Capture(lab).start()
    high = RunnerProc(lab, r1, config(200, **r1_extra)).start()
    return high, low, cap


def entered(proc: RunnerProc, instance: str, state: str) -> float:
    """Wall time of the first transition of ``instance`` into ``state``."""
    for entry in proc.result("history", limit=64)[instance]:
        if entry["to"] == state:
            return float(entry["time"])
    raise AssertionError(f"{instance} never entered {state}: {proc.result('history')}")


def test_preempt_higher_priority_started_late_takes_over(lab: Lab) -> None:
    high, low, cap = late_starter(lab)
    wait_state(high, "vi", "MASTER", timeout=3)
    wait_state(low, "vi", "BACKUP", timeout=2)
    lab.wait_for(lambda: lab.has_address(high.router, VIP), timeout=2, what="VIP on r1")
    lab.wait_for(lambda: not lab.has_address(low.router, VIP), timeout=2, what="VIP off r2")
    time.sleep(0.5)
    cap.stop()

    # r1 listened as Backup for Master_Down_Interval, discarding r2's
    # lower-priority adverts, then took over (RFC 9568 §6.4.2 with preempt).
    assert moves(high, "vi") == [("INIT", "BACKUP"), ("BACKUP", "MASTER")]
    waited = entered(high, "vi", "MASTER") - entered(high, "vi", "BACKUP")
    mdi = master_down_interval(200)
    assert mdi - 0.02 <= waited <= mdi + LATE, waited
    history = low.result("history")["vi"]
    assert (history[-1]["from"], history[-1]["to"]) == ("MASTER", "BACKUP")
    assert f"higher priority 200 from {R1}" in history[-1]["cause"]
    state = low.result("state")["instances"]["vi"]
    assert (state["master"], state["master_priority"]) == (R1, 200)

    packets = cap.packets()
    assert check_our_adverts(packets, sources={R1, R2}) > 0  # tshark: all good
    ours = adverts_of(packets, src=R1, vrid=VRID)
    theirs = adverts_of(packets, src=R2, vrid=VRID)
    assert ours and theirs
    assert {p["priority"] for p in ours} == {200}
    # r2 falls silent once it hears r1: nothing of its after r1's first advert
    # but what was in flight or sent before r2 got the CPU to read it.
    first_high = min(p["time"] for p in ours)
    assert max(p["time"] for p in theirs) < first_high + LATE
    # r2 kept its rhythm until the takeover: r1 saw a live Master, no gap.
    assert largest_gap([p for p in theirs if p["time"] < first_high]) < master_down_interval(200)
    assert largest_gap(ours) < master_down_interval(100)
    # Stepping back for a better Master sends one priority-0 advert as it
    # leaves (so that a winner that never heard it re-announces); no other.
    assert [p["priority"] for p in theirs if p["priority"] != 100] == [0]
    assert max(p["time"] for p in theirs) == max(p["time"] for p in theirs if p["priority"] == 0)


def test_nopreempt_higher_priority_stays_backup(lab: Lab) -> None:
    high, low, cap = late_starter(lab, preempt=False)
    wait_state(high, "vi", "BACKUP", timeout=3)
    lab.wait_for(
        lambda: high.result("state")["instances"]["vi"]["master"] == R2,
        timeout=2,
        what="r1 hears r2",
    )
    time.sleep(1.5)  # 15 advert intervals, 4 Master_Down_Intervals
    cap.stop()
    assert moves(high, "vi") == [("INIT", "BACKUP")]
    assert high.state_of("vi") == "BACKUP"
    assert low.state_of("vi") == "MASTER"
    assert lab.has_address(low.router, VIP)
    assert not lab.has_address(high.router, VIP)
    state = high.result("state")["instances"]["vi"]
    assert (state["master"], state["master_priority"]) == (R2, 100)
    assert state["effective_priority"] == 200
    packets = cap.packets()
    assert check_our_adverts(packets, sources={R1, R2}) > 0  # tshark: all good
    assert adverts_of(packets, src=R1, vrid=VRID) == []  # a Backup never speaks
    theirs = adverts_of(packets, src=R2, vrid=VRID)
    assert len(theirs) >= 12
    assert largest_gap(theirs) < master_down_interval(200)

    # nopreempt is no reason to leave the VIP unserved: the Master dies, r1 takes over.
    low.kill()
    wait_state(high, "vi", "MASTER", timeout=2)
    lab.wait_for(lambda: lab.has_address(high.router, VIP), timeout=2, what="VIP on r1")


def test_preempt_delay_takes_over_only_after_the_delay(lab: Lab) -> None:
    delay = 1.0
    high, low, cap = late_starter(lab, preempt_delay=delay)
    wait_state(high, "vi", "BACKUP", timeout=3)
    # Within the delay r1 stays Backup although the Master_Down_Interval
    # (0.32 s) passes three times over: it hears a live, worse Master.
    time.sleep(delay * 0.7)
    assert high.state_of("vi") == "BACKUP"
    assert lab.has_address(low.router, VIP)
    wait_state(high, "vi", "MASTER", timeout=3)
    wait_state(low, "vi", "BACKUP", timeout=2)
    lab.wait_for(lambda: lab.has_address(high.router, VIP), timeout=2, what="VIP on r1")
    time.sleep(0.3)
    cap.stop()

    assert moves(high, "vi") == [("INIT", "BACKUP"), ("BACKUP", "MASTER")]
    assert "preempt delay" in high.result("history")["vi"][-1]["cause"]
    backup_at = entered(high, "vi", "BACKUP")
    master_at = entered(high, "vi", "MASTER")
    # The delay starts at the first lower-priority advert heard, at most one
    # interval after r1 became Backup.
    waited = master_at - backup_at
    assert delay <= waited <= delay + INTERVAL + LATE, waited

    packets = cap.packets()
    assert check_our_adverts(packets, sources={R1, R2}) > 0  # tshark: all good
    ours = adverts_of(packets, src=R1, vrid=VRID)
    theirs = adverts_of(packets, src=R2, vrid=VRID)
    first_high = min(p["time"] for p in ours)
    # On the wire: r1 silent for the whole delay, r2 advertising without a gap
    # until r1's first advert, which comes one delay after r1 came up.
    assert master_at - 0.05 < first_high < master_at + LATE
    before = [p for p in theirs if p["time"] < first_high]
    assert before and min(p["time"] for p in before) <= backup_at + INTERVAL + LATE
    assert largest_gap(before) < master_down_interval(200)
    assert first_high - backup_at >= delay
    assert max(p["time"] for p in theirs) < first_high + LATE
    assert {p["priority"] for p in ours} == {200}
