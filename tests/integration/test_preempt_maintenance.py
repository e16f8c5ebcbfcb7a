"""Rolling maintenance on a pair whose higher-priority host preempts after a delay.

A module-scoped pair of its own: r1 (192.0.2.11, priority 150) and r2 (.12,
priority 100), both with preempt on and a ``preempt_delay`` of 2 s on VRID 51.
When r1 is restored after its maintenance it is BACKUP of r2 for a while and
then takes MASTER back: ``rolling_maintenance.yml`` must wait for that before it
calls r1 converged and moves on to r2, not report "r1 restored: web MASTER is
r2" in the middle of the race. A second test shrinks the wait below the delay:
the play fails, naming the instance and what it waits for.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from integration.conftest import TIMINGS
from integration.hosts import HostLab, PlaybookRun, task_events
from integration.installed import InstalledCollection, playbook_fqcn
from integration.rootfs import Rootfs
from lab import REPO_ROOT, unique_prefix
from lab.netns import wait_for

HOOK = REPO_ROOT / "tests" / "integration" / "playbooks" / "tasks" / "maintenance_hook.yml"
VIP = "192.0.2.100/24"
PREEMPT_DELAY = 2.0
INSTANCE: dict[str, Any] = {
    "name": "web",
    "interface": "eth0",
    "vrid": 51,
    "priority": "{{ lab_priority | int }}",
    "preempt": "{{ lab_preempt | bool }}",
    "preempt_delay": PREEMPT_DELAY,
    "virtual_addresses": [VIP],
}
PAIR_VARS: dict[str, Any] = {
    "vrrp_hosts": "routers",
    "vrrp_exclusive": True,
    "vrrp_instances": [INSTANCE],
}
WAIT = "Wait for the host's instances to converge"
CONVERGED = "Check that the host's instances have converged"
DEMOTE = "Demote the host and wait for a peer to take over"


@pytest.fixture(scope="module")
def preempt_pair(rootfs: Rootfs, installed_collection: InstalledCollection) -> Iterator[HostLab]:
    """Two booted hosts r1 (priority 150) and r2 (100), preempt on, provisioned
    by ``failover.vrrp.ha_pair`` from the collection installed from its tarball."""
    with HostLab(
        prefix=unique_prefix(),
        rootfs=rootfs.path,
        collections_path=installed_collection.collections_path,
    ) as lab:
        lab.add_hosts({"r1": "192.0.2.11/24", "r2": "192.0.2.12/24"})
        lab.write_inventory(
            host_vars={
                "r1": {"lab_priority": 150, "lab_preempt": "true"},
                "r2": {"lab_priority": 100, "lab_preempt": "true"},
            }
        )
        run = play(lab, "ha_pair.yml", "preempt pair from nothing")
        assert run.returncode == 0, run.output[-6000:]
        settle(lab)
        yield lab


def settle(lab: HostLab, *, timeout: float = 20.0) -> None:
    """Wait until r1 is MASTER and r2 BACKUP of it.

    ha_pair.yml waits for one MASTER, which may be r2 for a moment while r1
    (started later, or its instance re-created by a reload) sits out its
    preempt delay.
    """
    wait_for(
        lambda: (
            facts(lab, "r1")["state"] == "MASTER" and facts(lab, "r2")["master"] == "192.0.2.11"
        ),
        timeout=timeout,
        interval=0.5,
        what="r1 MASTER and r2 its BACKUP",
    )


def play(lab: HostLab, name: str, label: str, **extra: Any) -> PlaybookRun:
    run = lab.playbook(playbook_fqcn(name), extra_vars={**PAIR_VARS, **extra})
    TIMINGS[f"playbook {name}, {label}"] = run.seconds
    return run


def facts(lab: HostLab, name: str) -> dict[str, Any]:
    return dict(lab.runner_state(lab.hosts[name])["instances"]["web"])


def last_cause_to_master(lab: HostLab, name: str) -> str:
    proc = lab.ssh(lab.hosts[name], ["failover-vrrp-ctl", "history", "--json", "--instance", "web"])
    assert proc.returncode == 0, proc.stderr
    to_master = [h for h in json.loads(proc.stdout)["web"] if h["to"] == "MASTER"]
    assert to_master, proc.stdout
    return str(to_master[-1]["cause"])


def test_restored_preempting_host_is_waited_for_until_it_is_master(
    preempt_pair: HostLab,
) -> None:
    lab = preempt_pair
    r1 = facts(lab, "r1")
    assert (r1["state"], r1["preempt"], r1["preempt_delay"]) == ("MASTER", True, PREEMPT_DELAY)
    assert facts(lab, "r2")["state"] == "BACKUP"

    run = play(lab, "rolling_maintenance.yml", "preempt r1 then r2", maintenance_tasks=str(HOOK))
    assert run.returncode == 0, run.output[-6000:]
    assert run.failed() == 0, run.output[-6000:]
    out = run.output

    # r1 demoted: r2 took over (make-before-break).
    assert "r1 demoted: instance web: MASTER is r2" in out, out[-6000:]
    # r1 restored: right after the restore it was BACKUP of the lower r2 with
    # preempt on, and the wait went on (in vrrp_state, wait_for=converged)
    # until r1 had taken MASTER back through its preempt delay.
    waited = re.search(r"r1 converged: web is MASTER \(after ([\d.]+) s\)", out)
    assert waited is not None, out[-6000:]
    assert float(waited.group(1)) >= PREEMPT_DELAY / 2, waited.group(0)
    assert "r1 restored: instance web: MASTER is r1" in out, out[-6000:]
    assert "r1 restored: instance web: MASTER is r2" not in out, out[-6000:]

    # r1 was converged (MASTER) before r2's turn started.
    steps = [
        (task, host)
        for task, host, status in task_events(out)
        if status in ("ok", "changed") and task in (DEMOTE, WAIT, CONVERGED)
    ]
    assert steps == [
        (DEMOTE, "r1"),
        (WAIT, "r1"),
        (CONVERGED, "r1"),
        (DEMOTE, "r2"),
        (WAIT, "r2"),
        (CONVERGED, "r2"),
    ], steps

    # r2's turn keeps r1 MASTER: r2 (lower priority) stays BACKUP and will not preempt.
    assert "r2 demoted: instance web: MASTER is r1" in out, out[-6000:]
    assert (
        "r2 converged: web is BACKUP of MASTER 192.0.2.11 (priority 150), which it will not"
        " preempt (its own priority 100 is not higher)"
    ) in out, out[-6000:]
    assert "r2 restored: instance web: MASTER is r1" in out, out[-6000:]

    final = {name: facts(lab, name) for name in ("r1", "r2")}
    assert final["r1"]["state"] == "MASTER" and final["r2"]["state"] == "BACKUP", final
    assert final["r1"]["demoted"] is None and final["r2"]["demoted"] is None, final
    assert final["r1"]["effective_priority"] == 150, final
    # r1 took MASTER back by preempting r2 once its delay was over.
    assert last_cause_to_master(lab, "r1") == "preempt delay over"


def test_a_wait_shorter_than_the_preempt_delay_names_the_instance(
    preempt_pair: HostLab,
) -> None:
    """A preempt delay longer than the wait: the play stops after r1, saying
    that web is BACKUP with preempt on and waiting to become MASTER."""
    lab = preempt_pair
    slow = {**PAIR_VARS, "vrrp_instances": [{**INSTANCE, "preempt_delay": 20.0}]}
    run = lab.playbook(playbook_fqcn("ha_pair.yml"), extra_vars=slow)
    TIMINGS["playbook ha_pair.yml, preempt delay 20 s"] = run.seconds
    assert run.returncode == 0, run.output[-6000:]
    try:
        # The changed instance was re-created on both hosts: r1 may have to
        # sit out its new delay before it is MASTER again.
        settle(lab, timeout=40.0)
        assert facts(lab, "r1")["preempt_delay"] == 20.0
        run = lab.playbook(
            playbook_fqcn("rolling_maintenance.yml"),
            extra_vars={**slow, "vrrp_maintenance_timeout": 4},
        )
        TIMINGS["playbook rolling_maintenance.yml, wait below the delay"] = run.seconds
        assert run.returncode != 0, run.output[-6000:]
        assert re.search(
            r"maintenance of r1 failed at 'Wait for the host's instances to converge':"
            r" timed out after 4 s waiting for converged instances: web is BACKUP at"
            r" priority 150 with preempt on \(delay 20\.0 s\) hearing the lower MASTER"
            r" 192\.0\.2\.12 \(priority 100\), waiting for it to preempt\."
            r" Its configured priorities are restored",
            run.output,
        ), run.output[-6000:]
        # The play stopped there: r2 was left alone.
        assert (DEMOTE, "r2") not in {(t, h) for t, h, _s in task_events(run.output)}
    finally:
        # r1 takes MASTER back once its 20 s are over; then the short delay again.
        settle(lab, timeout=40.0)
        again = play(lab, "ha_pair.yml", "preempt delay back to 2 s")
        assert again.returncode == 0, again.output[-6000:]
        settle(lab)
    assert facts(lab, "r1")["preempt_delay"] == PREEMPT_DELAY
    assert facts(lab, "r1")["demoted"] is None
