"""Our runner on real kernels: tracked files and scripts move the Master.

r1 (priority 200) tracks an object, r2 (priority 150) does not. A negative
weight of -150 takes r1 to 50 while its object is down: r1 tells the LAN at
once with a priority-50 advert, r2 preempts it, and when the object is back
r1 (200 again) preempts r2. A weight-0 tracker puts r1 in FAULT instead
(priority-0 advert, r2 takes over after Skew_Time).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

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
    skew_time,
    vrrp_instance,
    wait_state,
)

VIP = "192.0.2.100"
VRID = 51
INTERVAL = 0.1
R1, R2 = "192.0.2.11", "192.0.2.12"


def start_pair(lab: Lab, **tracking: Any) -> tuple[RunnerProc, RunnerProc]:
    r1 = lab.add_router("r1", v4=f"{R1}/24")
    r2 = lab.add_router("r2", v4=f"{R2}/24")
    a = RunnerProc(
        lab, r1, runner_config(vrrp_instance("vi", vrid=VRID, priority=200, vips=[VIP], **tracking))
    ).start()
    b = RunnerProc(
        lab, r2, runner_config(vrrp_instance("vi", vrid=VRID, priority=150, vips=[VIP]))
    ).start()
    wait_state(a, "vi", "MASTER", timeout=5)
    wait_state(b, "vi", "BACKUP", timeout=5)
    lab.wait_for(lambda: lab.has_address(a.router, VIP), timeout=2, what="VIP on r1")
    return a, b


def effective(proc: RunnerProc) -> int:
    return int(proc.result("state")["instances"]["vi"]["effective_priority"])


def check_failover_and_back(
    lab: Lab, a: RunnerProc, b: RunnerProc, *, down: Any, up: Any, cause: str
) -> None:
    """Take the tracked object down, see r2 take over; bring it up, see r1 back."""
    cap = Capture(lab).start()
    time.sleep(0.2)
    went_down = time.time()
    down()
    lab.wait_for(lambda: effective(a) == 50, timeout=3, what="r1 at priority 50")
    wait_state(b, "vi", "MASTER", timeout=2)
    wait_state(a, "vi", "BACKUP", timeout=2)
    lab.wait_for(lambda: lab.has_address(b.router, VIP), timeout=2, what="VIP on r2")
    lab.wait_for(lambda: not lab.has_address(a.router, VIP), timeout=2, what="VIP off r1")
    assert a.result("state")["instances"]["vi"]["faults"] == []  # a weight moves, not faults
    time.sleep(0.3)
    came_up = time.time()
    up()
    lab.wait_for(lambda: effective(a) == 200, timeout=3, what="r1 at priority 200")
    wait_state(a, "vi", "MASTER", timeout=2)
    wait_state(b, "vi", "BACKUP", timeout=2)
    lab.wait_for(lambda: lab.has_address(a.router, VIP), timeout=2, what="VIP back on r1")
    time.sleep(0.3)
    cap.stop()

    assert moves(a, "vi") == [
        ("INIT", "BACKUP"),
        ("BACKUP", "MASTER"),
        ("MASTER", "BACKUP"),
        ("BACKUP", "MASTER"),
    ]
    history = a.result("history")["vi"]
    assert history[2]["cause"] == f"higher priority 150 from {R2}"
    assert moves(b, "vi")[-2:] == [("BACKUP", "MASTER"), ("MASTER", "BACKUP")]
    assert b.result("history")["vi"][-1]["cause"] == f"higher priority 200 from {R1}"

    packets = cap.packets()
    assert check_our_adverts(packets, sources={R1, R2}) > 0  # tshark: all good
    ours = adverts_of(packets, src=R1, vrid=VRID)
    theirs = adverts_of(packets, src=R2, vrid=VRID)
    # r1 announced its demotion with a priority-50 advert (not priority 0:
    # it did not give up, it got worse) before r2 said anything.
    demoted = [p for p in ours if p["priority"] == 50]
    assert demoted, cause
    assert went_down < demoted[0]["time"] < min(p["time"] for p in theirs)
    assert {p["priority"] for p in ours} <= {200, 50, 0}
    # Each steps back for the other's first advert with one priority-0 advert
    # as it leaves (a Master that hears it re-announces: a healed split brain).
    (ours_zero,) = [p for p in ours if p["priority"] == 0]
    assert ours_zero["time"] > min(p["time"] for p in theirs)
    # r2 discarded the worse adverts without resetting its Master_Down_Timer
    # (RFC 9568 §6.4.2, preempt): it took over one Master_Down_Interval
    # (0.3 + 0.041 s) after the last priority-200 advert it heard.
    last_good = max(p["time"] for p in ours if p["time"] < demoted[0]["time"])
    took = min(p["time"] for p in theirs) - last_good
    assert master_down_interval(150) - 0.02 <= took <= master_down_interval(150) + LATE, took
    back = min(p["time"] for p in ours if p["priority"] == 200 and p["time"] > came_up)
    assert largest_gap([p for p in theirs if p["time"] < back]) < master_down_interval(200)
    assert {p["priority"] for p in theirs} == {150, 0}
    (theirs_zero,) = [p for p in theirs if p["priority"] == 0]
    assert theirs_zero["time"] > back
    # and r2 fell silent once r1 was back at 200
    assert max(p["time"] for p in theirs) < back + LATE


def test_track_file_negative_weight_moves_the_master_and_back(lab: Lab) -> None:
    flag = Path(lab.tmpdir) / "demote"
    flag.write_text("0\n")
    a, b = start_pair(lab, track_files=[{"path": str(flag), "weight": -150}])
    assert effective(a) == 200
    check_failover_and_back(
        lab,
        a,
        b,
        down=lambda: flag.write_text("1\n"),
        up=lambda: flag.write_text("0\n"),
        cause="file",
    )


def test_track_script_negative_weight_moves_the_master_and_back(lab: Lab) -> None:
    flag = Path(lab.tmpdir) / "healthy"
    flag.touch()
    script = {
        "name": "health",
        "argv": ["/bin/sh", "-c", f"test -e {flag}"],
        "interval": 0.05,
        "weight": -150,
    }
    a, b = start_pair(lab, track_scripts=[script])
    assert effective(a) == 200
    check_failover_and_back(lab, a, b, down=flag.unlink, up=flag.touch, cause="script")


@pytest.mark.parametrize("kind", ["script", "file"])
def test_weight_zero_tracker_puts_the_master_in_fault(lab: Lab, kind: str) -> None:
    flag = Path(lab.tmpdir) / "flag"
    tracking: dict[str, Any]
    if kind == "script":
        # up while the file exists
        flag.touch()
        tracking = {
            "track_scripts": [
                {
                    "name": "health",
                    "argv": ["/bin/sh", "-c", f"test -e {flag}"],
                    "interval": 0.05,
                    "weight": 0,
                }
            ]
        }
        reason = "track:script:health"
        fault_text, heal_text = None, ""
    else:
        # a weight-0 file is down (FAULT) while it holds a number other than 0
        flag.write_text("0\n")
        tracking = {"track_files": [{"path": str(flag), "weight": 0}]}
        reason = f"track:file:{flag}"
        fault_text, heal_text = "7\n", "0\n"

    def fault() -> None:
        if fault_text is None:
            flag.unlink()
        else:
            flag.write_text(fault_text)

    def heal() -> None:
        flag.write_text(heal_text)

    a, b = start_pair(lab, **tracking)
    cap = Capture(lab).start()
    time.sleep(0.2)
    fault()
    wait_state(a, "vi", "FAULT", timeout=3)
    wait_state(b, "vi", "MASTER", timeout=2)
    lab.wait_for(lambda: lab.has_address(b.router, VIP), timeout=2, what="VIP on r2")
    assert not lab.has_address(a.router, VIP)
    state = a.result("state")["instances"]["vi"]
    assert state["faults"] == [reason]
    assert a.result("history")["vi"][-1]["cause"] == f"fault: {reason}"
    time.sleep(0.5)
    assert a.state_of("vi") == "FAULT"  # it stays down while the tracker is
    healed = time.time()
    heal()
    wait_state(a, "vi", "MASTER", timeout=4)
    wait_state(b, "vi", "BACKUP", timeout=2)
    lab.wait_for(lambda: lab.has_address(a.router, VIP), timeout=2, what="VIP back on r1")
    time.sleep(0.2)
    cap.stop()
    assert moves(a, "vi")[1:] == [
        ("BACKUP", "MASTER"),
        ("MASTER", "FAULT"),
        ("FAULT", "INIT"),
        ("INIT", "BACKUP"),
        ("BACKUP", "MASTER"),
    ]
    assert a.result("state")["instances"]["vi"]["faults"] == []

    packets = cap.packets()
    assert check_our_adverts(packets, sources={R1, R2}) > 0  # tshark: all good
    ours = adverts_of(packets, src=R1, vrid=VRID)
    theirs = adverts_of(packets, src=R2, vrid=VRID)
    zero = [p for p in ours if p["priority"] == 0]
    assert len(zero) == 1
    # A priority-0 advert: r2 takes over after Skew_Time (0.041 s), not after
    # its Master_Down_Interval (0.341 s).
    took = min(p["time"] for p in theirs) - zero[0]["time"]
    assert skew_time(150) - 0.01 <= took < master_down_interval(150), took
    # Nothing from r1 between its priority-0 advert and the heal
    assert [p for p in ours if zero[0]["time"] < p["time"] < healed] == []
    assert {p["priority"] for p in ours if p is not zero[0]} == {200}
