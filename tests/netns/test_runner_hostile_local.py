"""Our runner on real kernels against a hostile local user (issue 9).

- A FIFO put at a tracked file's path froze the runner (a blocking open() in
  its loop): no adverts, no control socket, SIGTERM ignored. Now r1 stays
  Master (r2 would take over one Master_Down_Interval after r1 fell silent),
  answers on its socket and stops on SIGTERM.
- A corrupt runtime.json started the runner with no demotions: a host
  demoted for maintenance took the VIP back. Now it starts demoted (resigning)
  until an operator restores it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from lab import Lab
from lab.runner import RunnerProc, moves, runner_config, vrrp_instance, wait_state

VIP = "192.0.2.100"
VRID = 51
R1, R2 = "192.0.2.11", "192.0.2.12"


def pair(lab: Lab, r1_instance: dict[str, object]) -> tuple[RunnerProc, RunnerProc]:
    r1 = lab.add_router("r1", v4=f"{R1}/24")
    r2 = lab.add_router("r2", v4=f"{R2}/24")
    a = RunnerProc(lab, r1, runner_config(r1_instance))
    b = RunnerProc(lab, r2, runner_config(vrrp_instance("vi", vrid=VRID, priority=150, vips=[VIP])))
    return a, b


def test_a_fifo_at_a_tracked_path_does_not_freeze_the_runner(lab: Lab) -> None:
    flag = Path(lab.tmpdir) / "tracked"
    flag.write_text("0\n")
    tracking = {"track_files": [{"path": str(flag), "weight": -150}]}
    a, b = pair(lab, vrrp_instance("vi", vrid=VRID, priority=200, vips=[VIP], **tracking))
    a.start()
    b.start()
    wait_state(a, "vi", "MASTER", timeout=5)
    wait_state(b, "vi", "BACKUP", timeout=5)
    flag.unlink()
    os.mkfifo(flag)
    time.sleep(3.5)  # three polls of the tracked files at least
    # The control socket answers, and r2 never took over: r1's adverts went on.
    assert a.state_of("vi") == "MASTER"
    assert moves(b, "vi") == [("INIT", "BACKUP")]
    assert "not a regular file" in a.log()
    assert a.log().count("not a regular file") == 1, "logged once"
    started = time.monotonic()
    assert a.stop() == 0
    assert time.monotonic() - started < 10


def test_a_corrupt_runtime_record_starts_demoted_until_restored(lab: Lab) -> None:
    a, b = pair(lab, vrrp_instance("vi", vrid=VRID, priority=200, vips=[VIP]))
    a.lib_dir.mkdir(parents=True, exist_ok=True)
    (a.lib_dir / "runtime.json").write_text('{"format": 1, "demotions": {"vi": 0')
    b.start()
    wait_state(b, "vi", "MASTER", timeout=5)
    a.start()
    time.sleep(1.5)  # well past r1's Master_Down_Interval: it would have preempted
    state = a.result("state")
    assert state["runtime_fail_safe"] and "fail safe" in state["runtime_fail_safe"]
    assert state["instances"]["vi"]["demoted"] == 0
    assert a.state_of("vi") == "BACKUP"
    assert moves(b, "vi")[-1] == ("BACKUP", "MASTER")
    assert "fail safe" in a.log()
    # A restart before the restore keeps the fail-safe.
    assert a.stop() == 0
    a.start()
    time.sleep(1.5)
    assert a.state_of("vi") == "BACKUP"
    assert a.result("state")["runtime_fail_safe"]
    # The operator restores: r1 (200) preempts r2 (150).
    assert a.result("restore") == {"restored": ["vi"]}
    wait_state(a, "vi", "MASTER", timeout=5)
    assert a.result("state")["runtime_fail_safe"] is None
    lab.wait_for(lambda: lab.has_address(a.router, VIP), timeout=3, what="VIP on r1")
