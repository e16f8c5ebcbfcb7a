"""The shipped playbooks the way users drive them: a login that is not root (sudo),
``--check`` on bare and provisioned hosts, ``--limit`` on each host of the pair,
settings from the inventory, a group that matches nothing, maintenance inputs
checked before anything is demoted, a failing maintenance task.

A module-scoped pair of its own (r1 priority 150, r2 100, preempt off, VIP
192.0.2.100 on VRID 51), reached as the user ``lab`` with password-less sudo;
the inventory sets ``vrrp_pair_timeout`` and ``vrrp_maintenance_timeout`` for
the group, as group_vars would (never ``-e``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from integration.conftest import TIMINGS
from integration.hosts import HostLab, PlaybookRun, task_events
from integration.rootfs import Rootfs
from lab import REPO_ROOT, unique_prefix

PLAYBOOKS = REPO_ROOT / "playbooks"
FAILING = Path(__file__).resolve().parent / "playbooks" / "tasks" / "maintenance_fails.yml"
HOOK = Path(__file__).resolve().parent / "playbooks" / "tasks" / "maintenance_hook.yml"
DEMOTE = "Demote the host and wait for a peer to take over"
# Set in the inventory; a play default (60) must not override it. It must hold
# a new instance's first election and its settling: Master_Down_Interval of r1
# at 1 s adverts is 3 x 1 + (256 - 150) / 256 = 3.41 s from the change set to
# MASTER, and a MASTER counts as converged after as long again as MASTER
# (6.8 s in all), and the wait may begin at once (3 s failed in CI: both
# BACKUP when the wait ended).
GROUP_TIMEOUT = 12

INSTANCE: dict[str, Any] = {
    "name": "web",
    "interface": "eth0",
    "vrid": 51,
    "priority": "{{ lab_priority | int }}",
    # Preempt on: these tests are about the user, --limit and the inventory,
    # not the first election (with preempt off the role's first-election
    # staging makes r1 the first MASTER: test_first_election.py).
    "preempt": True,
    "virtual_addresses": ["192.0.2.100/24"],
}
VARS: dict[str, Any] = {
    "vrrp_hosts": "routers",
    "vrrp_exclusive": True,
    "vrrp_instances": [INSTANCE],
}


@pytest.fixture(scope="module")
def users_pair(rootfs: Rootfs) -> Iterator[HostLab]:
    with HostLab(prefix=unique_prefix(), rootfs=rootfs.path) as lab:
        lab.add_hosts({"r1": "192.0.2.11/24", "r2": "192.0.2.12/24"})
        lab.add_sudo_user("lab")
        lab.write_inventory(
            host_vars={"r1": {"lab_priority": 150}, "r2": {"lab_priority": 100}},
            group_vars={
                "vrrp_pair_timeout": GROUP_TIMEOUT,
                "vrrp_maintenance_timeout": 30,
            },
            user="lab",
        )
        yield lab


def play(lab: HostLab, name: str, label: str, *args: str, **extra: Any) -> PlaybookRun:
    run = lab.playbook(PLAYBOOKS / name, extra_vars={**VARS, **extra}, args=args)
    TIMINGS[f"users: {name}, {label}"] = run.seconds
    return run


_provisioned: set[str] = set()


def provisioned(lab: HostLab) -> None:
    """The pair provisioned by ha_pair.yml as lab (once per module's pair)."""
    if lab.prefix not in _provisioned:
        run = play(lab, "ha_pair.yml", "from nothing as lab")
        assert run.returncode == 0, run.output[-6000:]
        assert "instance web: MASTER is r1" in run.output, run.output[-4000:]
        # The verdict judges a read of every host after all waits (issue 11).
        assert "TASK [Read every host's state once all waits are over]" in run.output
        _provisioned.add(lab.prefix)


def web(lab: HostLab, host: str) -> dict[str, Any]:
    return dict(lab.runner_state(lab.hosts[host])["instances"]["web"])


def test_check_on_bare_hosts_runs_through_and_installs_nothing(users_pair: HostLab) -> None:
    run = play(users_pair, "ha_pair.yml", "--check bare", "--check")
    assert run.returncode == 0, run.output[-6000:]
    assert run.changed() > 0  # it predicts the install
    assert "check mode applied nothing, so there is no election to wait for" in run.output
    for host in users_pair.hosts.values():
        assert users_pair.ssh(host, ["test", "!", "-e", "/usr/lib/failover-vrrp"]).returncode == 0


def test_a_group_that_matches_no_host_fails_saying_so(users_pair: HostLab) -> None:
    for name in ("ha_pair.yml", "vrrp_facts.yml", "rolling_maintenance.yml"):
        run = play(users_pair, name, "no such group", vrrp_hosts="nosuch")
        assert run.returncode != 0, run.output[-3000:]
        assert "no inventory host matches 'nosuch'" in run.output, run.output[-3000:]


def test_ha_pair_as_a_sudo_user_then_check_changes_nothing(users_pair: HostLab) -> None:
    provisioned(users_pair)
    check = play(users_pair, "ha_pair.yml", "--check provisioned", "--check")
    assert check.returncode == 0, check.output[-6000:]
    assert check.changed() == 0, check.output[-6000:]


@pytest.mark.parametrize("limit", ["r1", "r2"])
def test_limit_to_either_host_judges_the_whole_group(users_pair: HostLab, limit: str) -> None:
    """Under --limit r2 (the BACKUP) the MASTER r1 still counts: the group is
    asked, not the play's hosts."""
    provisioned(users_pair)
    run = play(users_pair, "ha_pair.yml", f"--limit {limit}", "--limit", limit)
    assert run.returncode == 0, run.output[-6000:]
    assert set(run.recap) == {limit}, run.recap
    assert "instance web: MASTER is r1" in run.output, run.output[-4000:]
    assert "TASK [Read every host of the group's state once all waits are over]" in run.output


def test_the_wait_bound_comes_from_the_inventory(users_pair: HostLab) -> None:
    """An instance nobody can win: the wait is the inventory's 12 s, not a play's 60."""
    provisioned(users_pair)
    ghost = {**INSTANCE, "name": "ghost", "interface": "eth9", "vrid": 61,
             "virtual_addresses": ["192.0.2.101/24"]}  # fmt: skip
    run = play(users_pair, "ha_pair.yml", "ghost", vrrp_instances=[INSTANCE, ghost])
    assert run.returncode != 0, run.output[-4000:]
    assert f"(each host waited up to {GROUP_TIMEOUT} s)" in run.output, run.output[-4000:]
    assert "instance ghost: 0 MASTER (none)" in run.output, run.output[-4000:]
    again = play(users_pair, "ha_pair.yml", "ghost removed")
    assert again.returncode == 0, again.output[-4000:]


def test_vrrp_facts_as_a_sudo_user(users_pair: HostLab) -> None:
    provisioned(users_pair)
    run = play(users_pair, "vrrp_facts.yml", "as lab", vrrp_facts_fail_on_mismatch=True)
    assert run.returncode == 0, run.output[-6000:]
    assert "ok: one MASTER (r1), peers agree" in run.output, run.output[-4000:]


def test_maintenance_inputs_are_checked_before_any_demotion(users_pair: HostLab) -> None:
    provisioned(users_pair)
    run = play(
        users_pair, "rolling_maintenance.yml", "missing tasks file",
        maintenance_tasks="no/such/tasks.yml",
    )  # fmt: skip
    assert run.returncode != 0
    assert "maintenance_tasks: no file" in run.output, run.output[-4000:]
    assert not [e for e in task_events(run.output) if e[0] == DEMOTE], run.output[-4000:]
    alone = play(users_pair, "rolling_maintenance.yml", "one host", vrrp_hosts="r1")
    assert alone.returncode != 0
    assert "nothing could take over while it is maintained" in alone.output
    assert web(users_pair, "r1")["demoted"] is None


def test_a_failing_maintenance_task_leaves_the_host_restored(users_pair: HostLab) -> None:
    provisioned(users_pair)
    run = play(
        users_pair, "rolling_maintenance.yml", "failing task", maintenance_tasks=str(FAILING)
    )
    assert run.returncode != 0, run.output[-4000:]
    assert (
        "maintenance of r1 failed at 'Fail on purpose': the maintenance went wrong."
        " Its configured priorities are restored; the hosts after it are left alone."
    ) in run.output, run.output[-4000:]
    assert (DEMOTE, "r1") in {(t, h) for t, h, _s in task_events(run.output)}
    assert (DEMOTE, "r2") not in {(t, h) for t, h, _s in task_events(run.output)}
    for host in ("r1", "r2"):
        assert web(users_pair, host)["demoted"] is None
        assert web(users_pair, host)["effective_priority"] == (150 if host == "r1" else 100)


def test_rolling_maintenance_as_a_sudo_user(users_pair: HostLab) -> None:
    provisioned(users_pair)
    run = play(users_pair, "rolling_maintenance.yml", "as lab", maintenance_tasks=str(HOOK))
    assert run.returncode == 0, run.output[-6000:]
    assert "r1 demoted: instance web: MASTER is r2" in run.output, run.output[-6000:]
    assert "r2 restored: instance web: MASTER is r1" in run.output, run.output[-6000:]


def test_link_probe_without_become_says_it_needs_root(users_pair: HostLab) -> None:
    """As lab without become, the MII probe meets EPERM on eth0 (veth): the
    module says it needs root and to use become, not that MII is unsupported;
    with -b the same probe is truly unsupported (veth answers EOPNOTSUPP)."""
    args = {"interfaces": ["eth0"], "required": ["mii"]}
    run = users_pair.adhoc("r1", "failover.vrrp.vrrp_link_probe", args)
    TIMINGS["users: vrrp_link_probe without become"] = run.seconds
    assert run.status.get("r1") == "FAILED", run.output[-3000:]
    msg = run.results["r1"]["msg"]
    assert "interface eth0: link probe 'mii' needs root" in msg, msg
    assert "become: true" in msg and "unsupported" not in msg, msg
    assert run.results["r1"]["interfaces"]["eth0"]["methods"]["mii"]["result"] == "denied"
    root = users_pair.adhoc("r1", "failover.vrrp.vrrp_link_probe", args, options=["-b"])
    assert root.status.get("r1") == "FAILED", root.output[-3000:]
    assert "link probe 'mii' is unsupported (EOPNOTSUPP)" in root.results["r1"]["msg"]
