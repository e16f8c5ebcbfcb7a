"""A sync group's own notify programs, run by a real runner: once per group change.

One router, a group of two instances and no peer: both members come up,
then become MASTER; the group's programs (a shell script appending its
arguments to a file) run once for BACKUP, once for MASTER and, on the
runner's graceful stop, once for STOP, with keepalived's ``GROUP name STATE
0``. The members' own hooks run once per member.
"""

from __future__ import annotations

from pathlib import Path

from lab import Lab
from lab.runner import RunnerProc, runner_config, vrrp_instance


def test_group_hooks_run_once_per_group_state(lab: Lab) -> None:
    r1 = lab.add_router("r1", v4="192.0.2.11/24")
    log = Path(lab.tmpdir) / "hooks.log"
    hook = Path(lab.tmpdir) / "hook.sh"
    hook.write_text(f'#!/bin/sh\necho "$*" >> {log}\n')
    hook.chmod(0o755)
    notify = {word: [str(hook), word] for word in ("master", "backup", "fault", "stop")}
    config = runner_config(
        vrrp_instance("a", vrid=31, priority=100, vips=["192.0.2.131/24"], notify=notify),
        vrrp_instance("b", vrid=32, priority=100, vips=["192.0.2.132/24"], notify=notify),
        sync_groups=[{"name": "edge", "members": ["a", "b"], "notify": notify}],
    )
    runner = RunnerProc(lab, r1, config).start()
    lab.wait_for(
        lambda: runner.state_of("a") == runner.state_of("b") == "MASTER",
        timeout=10,
        what="both members MASTER",
    )

    def lines() -> list[str]:
        return log.read_text().splitlines() if log.exists() else []

    lab.wait_for(lambda: "master GROUP edge MASTER 0" in lines(), timeout=10, what="group hook")
    assert runner.stop() == 0
    got = lines()
    group = [line for line in got if " GROUP " in line]
    assert group == [
        "backup GROUP edge BACKUP 0",
        "master GROUP edge MASTER 0",
        "stop GROUP edge STOP 0",
    ], got
    for name in ("a", "b"):
        mine = [line.split()[0] for line in got if f" INSTANCE {name} " in line]
        assert mine == ["backup", "master", "stop"], got
