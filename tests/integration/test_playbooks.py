"""The collection's playbooks on the lab hosts, over SSH.

Run the way users run them: by FQCN (``failover.vrrp.ha_pair``) from the
collection installed from its built tarball (the ``pair`` fixture), never from
the checkout.

A module-scoped pair of its own (r1 priority 150, r2 priority 100, preempt off,
VIP 192.0.2.100 on VRID 51), independent of the role tests: ``ha_pair.yml``
provisions it from nothing and waits for the election, ``vrrp_facts.yml`` prints
the fleet table, ``rolling_maintenance.yml`` demotes, maintains and restores
each host in turn.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from integration.conftest import TIMINGS
from integration.hosts import HostLab, PlaybookRun, task_events
from integration.installed import playbook_fqcn
from integration.probeflow import probe_flow
from lab import wait_for

# The whole file on Debian 12; provisioning, the rolling maintenance under the
# flow and the kill -9 also on Debian 13 and on a mixed pair (r1 Debian 12, r2
# Debian 13: one election across the two releases' runners). The tests between
# them (an unwinnable instance, the facts table) judge the controller's side.
ON_EVERY_TREE = pytest.mark.debian("12", "13", "12+13")

HOOK = Path(__file__).resolve().parent / "playbooks" / "tasks" / "maintenance_hook.yml"
VIP = "192.0.2.100/24"
# Weight 0: FAULT while the file holds a number other than 0 (missing: 0).
# The plan's what-if test fails it on the MASTER; nothing else writes it.
TRACK_FILE = "/run/lab-plan-track"
UNIT = "failover-vrrp.service"

PAIR_VARS: dict[str, Any] = {
    "vrrp_hosts": "routers",
    "vrrp_exclusive": True,
    "vrrp_instances": [
        {
            "name": "web",
            "interface": "eth0",
            "vrid": 51,
            "priority": "{{ lab_priority | int }}",
            "preempt": "{{ lab_preempt | bool }}",
            "virtual_addresses": [VIP],
            "track_files": [{"path": TRACK_FILE, "weight": 0}],
        }
    ],
}

# The runs of each pair (one per Debian selection), by label.
_runs: dict[str, dict[str, PlaybookRun]] = {}


def play(lab: HostLab, name: str, label: str, **extra: Any) -> PlaybookRun:
    run = lab.playbook(playbook_fqcn(name), extra_vars={**PAIR_VARS, **extra})
    TIMINGS[f"playbook {name}, {label}"] = run.seconds
    return run


def ha_pair(lab: HostLab) -> PlaybookRun:
    runs = _runs.setdefault(lab.prefix, {})
    if "ha_pair" not in runs:
        runs["ha_pair"] = play(lab, "ha_pair.yml", "from nothing")
    return runs["ha_pair"]


def states(lab: HostLab) -> dict[str, str]:
    return {
        name: str(lab.runner_state(host)["instances"]["web"]["state"])
        for name, host in lab.hosts.items()
    }


def states_now(lab: HostLab) -> dict[str, str] | None:
    """:func:`states`, or ``None`` while a runner is not answering (restarting)."""
    try:
        return states(lab)
    except (AssertionError, KeyError, ValueError):
        return None


@ON_EVERY_TREE
def test_ha_pair_provisions_from_nothing_and_elects_one_master(pair: HostLab) -> None:
    for host in pair.hosts.values():
        assert pair.ssh(host, ["test", "!", "-e", "/usr/lib/failover-vrrp"]).returncode == 0
    run = ha_pair(pair)
    assert run.returncode == 0, run.output[-6000:]
    assert set(run.recap) == {"r1", "r2"}, run.output[-3000:]
    assert run.failed() == 0
    assert "instance web: MASTER is r1" in run.output, run.output[-4000:]
    assert sorted(states(pair).values()) == ["BACKUP", "MASTER"]


def test_ha_pair_names_the_instance_when_no_master_appears(pair: HostLab) -> None:
    """A VRID nobody can win (both hosts FAULT on a missing interface) fails the
    bounded wait with a message naming the instance and the hosts."""
    assert ha_pair(pair).returncode == 0
    broken = dict(PAIR_VARS["vrrp_instances"][0])
    broken.update(name="ghost", interface="eth9", vrid=61, virtual_addresses=["192.0.2.101/24"])
    run = pair.playbook(
        playbook_fqcn("ha_pair.yml"),
        extra_vars={
            **PAIR_VARS,
            "vrrp_instances": [*PAIR_VARS["vrrp_instances"], broken],
            "vrrp_pair_timeout": 4,
        },
    )
    TIMINGS["playbook ha_pair.yml, unwinnable instance"] = run.seconds
    assert run.returncode != 0, run.output[-4000:]
    assert (
        "instance ghost: 0 MASTER (none) among r1, r2; states: r1=FAULT, r2=FAULT"
        " (each host waited up to 4 s)"
    ) in run.output, run.output[-4000:]
    # Put the pair back as it was (vrrp_exclusive removes the ghost).
    again = play(pair, "ha_pair.yml", "ghost removed")
    assert again.returncode == 0, again.output[-4000:]
    assert sorted(states(pair).values()) == ["BACKUP", "MASTER"]


def test_vrrp_facts_prints_one_table_per_vrid_with_no_flag(pair: HostLab) -> None:
    assert ha_pair(pair).returncode == 0
    run = play(pair, "vrrp_facts.yml", "pair agrees", vrrp_facts_fail_on_mismatch=True)
    assert run.returncode == 0, run.output[-6000:]
    rows = re.findall(r'^\s+"(web\s+r[12]\s.*?)",?$', run.output, re.MULTILINE)
    assert len(rows) == 2, run.output[-4000:]
    by_host = {row.split()[1]: row.split() for row in rows}
    assert by_host["r1"][2] == "MASTER" and by_host["r2"][2] == "BACKUP", rows
    assert by_host["r1"][3] == "150/150" and by_host["r2"][3] == "100/100", rows
    assert "192.0.2.11 (150)" in rows[1] or "192.0.2.11 (150)" in rows[0], rows
    assert all(row.rstrip().endswith(VIP) for row in rows), rows
    assert "ok: one MASTER (r1), peers agree" in run.output
    assert "!! " not in run.output, run.output[-4000:]


def test_vrrp_facts_flags_a_mismatch(pair: HostLab) -> None:
    """A peer with another advert interval is flagged (the flag is not decoration)."""
    assert ha_pair(pair).returncode == 0
    r2 = pair.hosts["r2"]
    # Change r2's advert interval by hand in its instance file and reload.
    path = "/etc/failover-vrrp/instances.d/web.json"
    proc = pair.ssh(r2, ["cat", path])
    assert proc.returncode == 0, proc.stderr
    inst = json.loads(proc.stdout)
    inst["advert_interval"] = 2.0
    write = f"umask 077 && echo '{json.dumps(inst)}' > {path} && failover-vrrp-ctl reload"
    assert pair.ssh(r2, ["sh", "-c", write]).returncode == 0
    try:
        run = play(pair, "vrrp_facts.yml", "advert mismatch")
        assert run.returncode == 0, run.output[-4000:]
        assert "!! MISMATCH advert interval: 1.0 vs 2.0" in run.output, run.output[-4000:]
        strict = play(pair, "vrrp_facts.yml", "mismatch, strict", vrrp_facts_fail_on_mismatch=True)
        assert strict.returncode != 0
        assert "flagged: VRID 51: MISMATCH advert interval" in strict.output, strict.output[-4000:]
    finally:
        again = play(pair, "ha_pair.yml", "mismatch repaired")
        assert again.returncode == 0, again.output[-4000:]


@ON_EVERY_TREE
def test_rolling_maintenance_demotes_and_restores_each_host_in_turn(pair: HostLab) -> None:
    """Under a steady flow of 100 UDP datagrams/s to the VIP, answered by whichever
    host is MASTER: each host hands over in turn and not one datagram is lost."""
    assert ha_pair(pair).returncode == 0
    with probe_flow(pair, VIP.split("/", maxsplit=1)[0], rate=100.0) as flow:
        time.sleep(1.0)  # the flow is answered before the maintenance starts
        run = play(pair, "rolling_maintenance.yml", "r1 then r2", maintenance_tasks=str(HOOK))
        time.sleep(1.0)
        report = flow.stop()
    TIMINGS["rolling maintenance probe flow"] = report.summary()
    assert run.returncode == 0, run.output[-6000:]
    # The flow is measured, not assumed: r1 answered, then r2 while r1 was
    # demoted, then r1 again while r2 was; no datagram went unanswered.
    assert report.sent >= 100 * (run.seconds + 1.5), report.summary()
    assert report.handovers == ["r1", "r2", "r1"], report.summary()
    assert report.duplicates == 0, report.summary()
    assert report.lost_count == 0, report.summary()
    assert run.failed() == 0
    steps = [
        (task, host)
        for task, host, status in task_events(run.output)
        if status in ("ok", "changed")
        and task
        in (
            "Demote the host and wait for a peer to take over",
            "Report the maintenance window",
            "Restore the host's configured priorities",
            "Wait for the host's instances to converge",
        )
    ]
    order = [(host, task.split()[0]) for task, host in steps]
    assert order == [
        ("r1", "Demote"),
        ("r1", "Report"),
        ("r1", "Restore"),
        ("r1", "Wait"),
        ("r2", "Demote"),
        ("r2", "Report"),
        ("r2", "Restore"),
        ("r2", "Wait"),
    ], order
    # The master r1 handed over to r2 (make-before-break), r2 then handed back.
    assert "r1 demoted: instance web: MASTER is r2" in run.output, run.output[-6000:]
    assert "r2 demoted: instance web: MASTER is r1" in run.output, run.output[-6000:]
    assert "MAINTENANCE r1: all instances BACKUP and demoted" in run.output
    assert "MAINTENANCE r2: all instances BACKUP and demoted" in run.output
    # Demotion and restore changed something on each host.
    changed = {(t, h) for t, h, s in task_events(run.output) if s == "changed"}
    for host in ("r1", "r2"):
        assert ("Demote the host and wait for a peer to take over", host) in changed
        assert ("Restore the host's configured priorities", host) in changed
    final = states(pair)
    assert sorted(final.values()) == ["BACKUP", "MASTER"], final
    for node in pair.hosts.values():
        assert pair.runner_state(node)["instances"]["web"]["demoted"] is None


PLAN_PLAYBOOK = Path(__file__).resolve().parent / "playbooks" / "plan.yml"


def wait_states(lab: HostLab, wanted: dict[str, str], *, within: float = 30.0) -> dict[str, str]:
    """Poll until web's states are ``wanted`` (a generous bound, not a timing)."""
    deadline = time.monotonic() + within
    while True:
        now = states(lab)
        if now == wanted or time.monotonic() > deadline:
            return now
        time.sleep(0.3)


def test_the_plan_predicts_the_election_and_what_a_failure_does(pair: HostLab) -> None:
    """Before the kill -9 test (which starts from whichever host is MASTER): it
    leaves r2 MASTER.

    The plan that ha_pair.yml printed before provisioning named r1, which was
    elected. web tracks a file with weight 0: the plan's what-if for that file
    failing on r1 names the MASTER that the pair then elects. A --check run
    of a priority change reports would_transition and changes nothing.
    """
    first = ha_pair(pair)
    assert first.returncode == 0, first.output[-4000:]
    assert "VRID 51 on eth0 (IPv4): r1 (r1 has the higher priority 150 (next: 100))" in (
        first.output
    ), first.output[-6000:]
    assert states(pair)["r1"] == "MASTER"
    tracked = PAIR_VARS["vrrp_instances"]
    out = pair.workdir / "plan.json"
    started = time.monotonic()
    run = pair.playbook(PLAN_PLAYBOOK, extra_vars={**PAIR_VARS, "plan_out": str(out)})
    TIMINGS["playbook plan.yml (setup, vrrp_state, vrrp_plan)"] = time.monotonic() - started
    assert run.returncode == 0, run.output[-4000:]
    plan = json.loads(out.read_text())
    assert plan["changed"] is False
    (vr,) = plan["vrids"]
    assert (vr["predicted_master"], vr["current_master"]) == ("r1", "r1"), vr
    assert [m["address"] for m in vr["members"]] == ["192.0.2.11", "192.0.2.12"], vr
    (what_if,) = [w for w in vr["what_if"] if w["kind"] == "file" and w["host"] == "r1"]
    assert what_if["master"] == "r2", what_if

    started = time.monotonic()
    assert pair.ssh(pair.hosts["r1"], ["sh", "-c", f"echo 1 > {TRACK_FILE}"]).returncode == 0
    after = wait_states(pair, {"r1": "FAULT", what_if["master"]: "MASTER"})
    TIMINGS["tracked file failed -> what_if master"] = time.monotonic() - started
    assert after == {"r1": "FAULT", "r2": "MASTER"}, after
    assert pair.ssh(pair.hosts["r1"], ["sh", "-c", f"echo 0 > {TRACK_FILE}"]).returncode == 0
    # Preempt off: r1 comes back as BACKUP.
    assert wait_states(pair, {"r1": "BACKUP", "r2": "MASTER"}) == {"r1": "BACKUP", "r2": "MASTER"}

    # r2 is MASTER now; raising r1 (preempt on) would move Mastership back.
    before = {
        h: pair.on(node, "cat", "/etc/failover-vrrp/instances.d/web.json")
        for h, node in pair.hosts.items()
    }
    raised = [
        {
            **tracked[0],
            "priority": "{{ 200 if inventory_hostname == 'r1' else 100 }}",
            "preempt": True,
        }
    ]
    check = pair.playbook(
        playbook_fqcn("ha_pair.yml"),
        extra_vars={**PAIR_VARS, "vrrp_instances": raised},
        args=["--check"],
    )
    TIMINGS["playbook ha_pair.yml --check, priority change"] = check.seconds
    assert check.returncode == 0, check.output[-4000:]
    assert (
        "VRID 51 on eth0 (IPv4): r1 (r1 has the higher priority 200 (next: 100)); "
        "MASTER now: r2, would move" in check.output
    ), check.output[-6000:]
    after_check = {
        h: pair.on(node, "cat", "/etc/failover-vrrp/instances.d/web.json")
        for h, node in pair.hosts.items()
    }
    assert after_check == before
    assert states(pair) == {"r1": "BACKUP", "r2": "MASTER"}


@ON_EVERY_TREE
def test_kill_9_of_the_master_runner_under_the_flow(pair: HostLab) -> None:
    """The flow to the VIP moves to the peer when the MASTER's runner is SIGKILLed
    (no goodbye advert: the peer waits out its Master_Down_Interval); systemd
    restarts the killed runner and it rejoins as BACKUP (preempt off)."""
    assert ha_pair(pair).returncode == 0
    before = states(pair)
    assert sorted(before.values()) == ["BACKUP", "MASTER"], before
    master = next(name for name, state in before.items() if state == "MASTER")
    peer = next(name for name in before if name != master)
    pid = pair.on(pair.hosts[master], "systemctl", "show", "--value", "--property=MainPID", UNIT)
    with probe_flow(pair, VIP.split("/", maxsplit=1)[0], rate=100.0) as flow:
        time.sleep(1.0)  # the flow is answered before the kill
        pair.on(pair.hosts[master], "kill", "-9", pid.strip())
        wait_for(
            lambda: states_now(pair) == {master: "BACKUP", peer: "MASTER"},
            timeout=30,
            interval=0.3,
            what=f"{peer} MASTER and {master}'s restarted runner BACKUP",
        )
        time.sleep(1.0)
        report = flow.stop()
    TIMINGS["kill -9 probe flow"] = report.summary()
    assert report.handovers == [master, peer], report.summary()
    assert report.duplicates == 0, report.summary()
    # The outage is the peer's Master_Down_Interval (3.6 s at 1 s adverts) and
    # its gratuitous ARP, with slack for a loaded machine; never the whole run.
    assert report.longest_outage_ms < 8000, report.summary()
    assert report.answered > report.lost_count, report.summary()
    restarted = pair.on(
        pair.hosts[master], "systemctl", "show", "--value", "--property=MainPID", UNIT
    )
    assert restarted.strip() not in ("0", pid.strip())
