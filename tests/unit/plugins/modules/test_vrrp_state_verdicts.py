"""vrrp_state's verdicts: "converged" per host and "exactly one MASTER" across a group,
computed in Python for the playbooks (which only report them)."""

from __future__ import annotations

from typing import Any

import pytest
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_verdicts import (
    fleet_verdict,
    settled,
)
from ansible_collections.failover.vrrp.plugins.modules import vrrp_state
from hypothesis import given, settings
from hypothesis import strategies as st
from modules_harness import Runner, instance_state, run_module


def run(args: dict[str, Any], capsys: pytest.CaptureFixture[str], **kw: Any) -> dict[str, Any]:
    return run_module(vrrp_state.main, args, capsys=capsys, **kw)


def backup(**values: Any) -> dict[str, Any]:
    base = {
        "state": "BACKUP",
        "effective_priority": 100,
        "master": "192.0.2.11",
        "master_priority": 150,
        "preempt": False,
    }
    return {**base, **values}


@pytest.mark.parametrize(
    ("inst", "waits_for"),
    [
        ({"state": "MASTER", "state_age": 60.0}, None),  # a MASTER for a minute
        (backup(), None),
        (backup(preempt=True), None),  # the master's priority is higher
        (backup(preempt=True, master_priority=100), None),  # a tie is not preempted
        (backup(preempt=True, master_priority=90), "waiting for it to preempt"),
        (backup(effective_priority=255, preempt=False), "address owner"),
        (backup(master_priority=0), "resigned (priority 0)"),
        (backup(master=None, master_priority=None), "hears no MASTER"),
        ({"state": "FAULT"}, "is FAULT, waiting"),
        ({"state": "INIT"}, "is INIT, waiting"),
    ],
)
def test_settled_follows_the_preempt_rules(inst: dict[str, Any], waits_for: str | None) -> None:
    why = settled("web", inst)
    if waits_for is None:
        assert why is None
    else:
        assert why is not None and waits_for in why


def test_wait_for_converged_and_the_report(
    runner: Runner, capsys: pytest.CaptureFixture[str]
) -> None:
    runner.handler.instances = {
        "web": instance_state("web"),
        "db": instance_state("db", state="BACKUP", vrid=52, master="192.0.2.2", preempt=False),
    }
    result = run({"control_socket": runner.socket, "wait_for": "converged"}, capsys)
    assert result["converged"] is True and result["waiting"] == []
    assert result["report"][0].startswith("db is BACKUP of MASTER 192.0.2.2")
    assert result["report"][1] == "web is MASTER"
    runner.handler.instances["db"].update(master=None, master_priority=None)
    late = run({"control_socket": runner.socket, "wait_for": "converged", "timeout": 0.3}, capsys)
    assert late["failed"] is True
    assert "waiting for converged instances" in late["msg"]
    assert "db is BACKUP and hears no MASTER" in late["msg"], late["msg"]
    plain = run({"control_socket": runner.socket}, capsys)
    assert plain["converged"] is False
    assert plain["waiting"] == ["db is BACKUP and hears no MASTER, waiting for one"]


def facts(**instances: dict[str, Any]) -> dict[str, Any]:
    return {"instances": instances}


def test_fleet_counts_masters_across_hosts_and_a_backups_view(
    capsys: pytest.CaptureFixture[str],
) -> None:
    one = {"r1": facts(web={"state": "MASTER"}), "r2": facts(web=backup())}
    result = run({"fleet": one}, capsys)
    assert "ansible_facts" not in result
    assert result["fleet"]["one_master"] is True
    assert result["fleet"]["instances"]["web"]["detail"] == "instance web: MASTER is r1"
    # --limit r2: only the BACKUP answered; the master it hears counts.
    limited = run({"fleet": {"r2": facts(web=backup())}}, capsys)["fleet"]
    assert limited["one_master"] is True
    assert "192.0.2.11 (heard by the BACKUPs" in limited["instances"]["web"]["detail"]
    two = {"r1": facts(web={"state": "MASTER"}), "r2": facts(web={"state": "MASTER"})}
    split = run({"fleet": two}, capsys)["fleet"]
    assert split["one_master"] is False
    assert split["problems"] == [
        "instance web: 2 MASTER (r1, r2) among r1, r2; states: r1=MASTER, r2=MASTER"
    ]
    # The results of a looped, delegated vrrp_state task work as they are.
    looped = [
        {"item": "r1", "ansible_facts": {"vrrp": facts(web={"state": "FAULT"})}},
        {"item": "r2", "failed": True, "msg": "no runner"},
    ]
    none = run({"fleet": looped}, capsys)["fleet"]
    assert none["one_master"] is False and none["silent"] == ["r2"]
    assert none["problems"] == ["instance web: 0 MASTER (none) among r1, r2; states: r1=FAULT"]


STATES = st.sampled_from(["MASTER", "BACKUP", "FAULT", "INIT", None])
HEARD = st.sampled_from([None, "192.0.2.11", "192.0.2.12"])


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["r1", "r2", "r3"]), st.tuples(STATES, HEARD), min_size=1))
def test_fleet_verdict_is_one_master_exactly_when_one_is_seen(
    hosts: dict[str, tuple[str | None, str | None]],
) -> None:
    fleet: dict[str, Any] = {}
    for host, (state, heard) in hosts.items():
        if state is None:
            fleet[host] = facts()
        else:
            fleet[host] = facts(web=backup(state=state, master=heard))
    verdict = fleet_verdict(fleet, ["web"])
    masters = [h for h, (s, _m) in hosts.items() if s == "MASTER"]
    heard = {m for s, m in hosts.values() if s == "BACKUP" and m is not None}
    expected = len(masters) == 1 or (not masters and len(heard) == 1)
    assert verdict["one_master"] is expected
    assert verdict["instances"]["web"]["masters"] == sorted(masters)


def row(state: str, **values: Any) -> dict[str, Any]:
    """One instance as vrrp_state's facts carry it (the fields vrrp_facts.yml prints)."""
    base = {
        "vrid": 51,
        "state": state,
        "priority": 100,
        "effective_priority": 100,
        "demoted": None,
        "master": None if state == "MASTER" else "192.0.2.11",
        "master_priority": None if state == "MASTER" else 150,
        "advert_interval": 1.0,
        "virtual_addresses": ["192.0.2.100"],
        "version": 3,
    }
    return {**base, **values}


def test_vrid_report_flags_mismatches_and_the_master_count() -> None:
    """vrrp_facts.yml's table per VRID and its flags come from Python."""
    fleet = {
        "r1": facts(web=row("MASTER", priority=150, effective_priority=150)),
        "r2": facts(web=row("BACKUP", advert_interval=2.0, version=2)),
    }
    report = fleet_verdict(fleet)["vrids"]
    web = report["51"]
    assert web["flags"] == [
        "MISMATCH advert interval: 1.0 vs 2.0",
        "MISMATCH version: 2 vs 3",
    ]
    assert web["lines"][0].split() == [
        "instance", "host", "state", "prio/eff", "master", "heard", "advert", "ver", "VIPs",
    ]  # fmt: skip
    assert web["lines"][1].split()[:4] == ["web", "r1", "MASTER", "150/150"]
    assert web["lines"][-1] == "!! MISMATCH version: 2 vs 3"
    two = fleet_verdict({"r1": facts(web=row("MASTER")), "r2": facts(web=row("MASTER"))})
    assert two["vrids"]["51"]["flags"] == ["MASTER COUNT 2: r1, r2"]
    assert two["flagged"] == ["VRID 51: MASTER COUNT 2: r1, r2"]


def test_vrid_report_counts_the_master_a_backup_hears() -> None:
    """--limit to the BACKUP: the master it hears is the one MASTER (the Jinja
    that counted MASTER rows flagged "MASTER COUNT 0: none" here)."""
    limited = fleet_verdict({"r2": facts(web=row("BACKUP"))})
    assert limited["vrids"]["51"]["flags"] == []
    assert limited["vrids"]["51"]["lines"][-1] == (
        "ok: one MASTER (192.0.2.11, heard by the BACKUPs), peers agree"
    )
    assert limited["flagged"] == []
    ok = fleet_verdict({"r1": facts(web=row("MASTER")), "r2": facts(web=row("BACKUP"))})
    assert ok["vrids"]["51"]["lines"][-1] == "ok: one MASTER (r1), peers agree"


def test_the_fleet_verdict_filter_is_the_modules_verdict() -> None:
    from ansible_collections.failover.vrrp.plugins.filter.fleet_verdict import FilterModule

    verdict = FilterModule().filters()["fleet_verdict"]
    fleet = {"r1": facts(web=row("MASTER")), "r2": facts(web=row("BACKUP"))}
    assert verdict(fleet) == fleet_verdict(fleet)
    assert verdict(fleet, ["web"])["one_master"] is True
    # Each host's registered vrrp_state result, as ha_pair.yml collects them
    # from hostvars; a host that failed (or is absent: {}) is silent.
    registered = {
        "r1": {"changed": False, "ansible_facts": {"vrrp": facts(web=row("MASTER"))}},
        "r2": {"failed": True, "msg": "no runner is listening"},
        "r3": {},
    }
    judged = verdict(registered)
    assert judged["one_master"] is True and judged["silent"] == ["r2", "r3"]


def test_no_playbook_decides_a_verdict_in_jinja() -> None:
    """The playbooks report Python's verdicts; none counts MASTERs or compares
    peers' settings in a template."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[4]
    for path in [*root.glob("playbooks/*.yml"), *root.glob("roles/*/tasks/*.yml")]:
        text = path.read_text()
        for smell in ("'MASTER'", '"MASTER"', "MISMATCH", "unique | list"):
            assert smell not in text, f"{path.relative_to(root)} decides in Jinja: {smell}"
