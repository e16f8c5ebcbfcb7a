"""vrrp_maintenance: demote, wait for the peer, restore; idempotence and check mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ansible_collections.failover.vrrp.plugins.module_utils import ansible_vrrp_maintenance
from ansible_collections.failover.vrrp.plugins.modules import vrrp_maintenance
from modules_harness import Runner, instance_state, run_module


def run(args: dict[str, Any], capsys: pytest.CaptureFixture[str], **kw: Any) -> dict[str, Any]:
    return run_module(vrrp_maintenance.main, args, capsys=capsys, **kw)


def foreign_address() -> str:
    """A peer address that is not one of this host's (the test box may own 192.0.2.2)."""
    local = ansible_vrrp_maintenance.local_addresses()
    return next(f"198.51.100.{n}" for n in range(200, 255) if f"198.51.100.{n}" not in local)


@pytest.fixture
def pair(runner: Runner) -> Runner:
    runner.handler.peer = foreign_address()
    runner.handler.instances = {
        "web": instance_state("web"),
        "db": instance_state("db", vrid=52),
    }
    return runner


def test_demote_waits_for_the_peer(pair: Runner, capsys: pytest.CaptureFixture[str]) -> None:
    result = run({"control_socket": pair.socket, "state": "demoted", "timeout": 10}, capsys)
    assert result["changed"] is True
    assert result["instances"] == ["db", "web"]
    assert ("demote", "web", 0) in pair.handler.calls
    assert ("demote", "db", 0) in pair.handler.calls
    facts = result["ansible_facts"]["vrrp"]["instances"]
    for name in ("web", "db"):
        assert facts[name]["state"] == "BACKUP"
        assert facts[name]["master"] == pair.handler.peer
        assert facts[name]["demoted"] == 0
    # the handover took some polls: the module waited for it
    assert sum(1 for call in pair.handler.calls if call == ("state",)) >= 3


def test_demote_is_idempotent(pair: Runner, capsys: pytest.CaptureFixture[str]) -> None:
    args = {"control_socket": pair.socket, "state": "demoted", "instances": ["web"], "timeout": 10}
    assert run(args, capsys)["changed"] is True
    again = run(args, capsys, diff=True)
    assert again["changed"] is False
    assert again["diff"] == {"before": {"web": 0}, "after": {"web": 0}}
    assert pair.handler.calls.count(("demote", "web", 0)) == 1


def test_other_priority_is_a_change(pair: Runner, capsys: pytest.CaptureFixture[str]) -> None:
    base = {"control_socket": pair.socket, "state": "demoted", "instances": ["web"]}
    run({**base, "priority": 50, "wait": False}, capsys)
    result = run({**base, "priority": 60, "wait": False}, capsys, diff=True)
    assert result["changed"] is True
    assert result["diff"] == {"before": {"web": 50}, "after": {"web": 60}}
    assert "elapsed" not in result


def test_check_mode_touches_nothing(pair: Runner, capsys: pytest.CaptureFixture[str]) -> None:
    result = run(
        {"control_socket": pair.socket, "state": "demoted"}, capsys, check_mode=True, diff=True
    )
    assert result["changed"] is True
    assert result["diff"]["after"] == {"db": 0, "web": 0}
    assert not [c for c in pair.handler.calls if c[0] == "demote"]


def test_restore(pair: Runner, capsys: pytest.CaptureFixture[str]) -> None:
    run({"control_socket": pair.socket, "state": "demoted", "wait": False}, capsys)
    result = run({"control_socket": pair.socket, "state": "restored"}, capsys, diff=True)
    assert result["changed"] is True
    assert result["diff"] == {"before": {"db": 0, "web": 0}, "after": {"db": None, "web": None}}
    assert result["ansible_facts"]["vrrp"]["instances"]["web"]["demoted"] is None
    assert run({"control_socket": pair.socket, "state": "restored"}, capsys)["changed"] is False


def test_wait_times_out_when_no_peer_takes_over(
    pair: Runner, capsys: pytest.CaptureFixture[str]
) -> None:
    pair.handler.handover_polls = 10_000
    result = run(
        {"control_socket": pair.socket, "state": "demoted", "instances": ["web"], "timeout": 0.5},
        capsys,
    )
    assert result["failed"] is True
    assert "timed out after 0.5 s waiting for BACKUP under a peer master" in result["msg"]
    assert "web is MASTER" in result["msg"]
    # the demotion stays: the runner persisted it and the next run is idempotent
    assert pair.handler.instances["web"]["demoted"] == 0


def test_master_heard_is_this_host(pair: Runner, capsys: pytest.CaptureFixture[str]) -> None:
    pair.handler.peer = "127.0.0.1"  # an address of this host (lo)
    result = run(
        {"control_socket": pair.socket, "state": "demoted", "instances": ["web"], "timeout": 0.5},
        capsys,
    )
    assert result["failed"] is True
    assert "the master heard (127.0.0.1) is this host" in result["msg"]


def test_unknown_instance(pair: Runner, capsys: pytest.CaptureFixture[str]) -> None:
    result = run({"control_socket": pair.socket, "state": "demoted", "instances": ["mail"]}, capsys)
    assert result["failed"] is True
    assert "no instance named 'mail'" in result["msg"]


def test_bad_priority(pair: Runner, capsys: pytest.CaptureFixture[str]) -> None:
    result = run({"control_socket": pair.socket, "state": "demoted", "priority": 255}, capsys)
    assert result["failed"] is True
    assert result["msg"] == "demote: 'priority' must be from 0 to 254, not 255"


def test_state_is_required(pair: Runner, capsys: pytest.CaptureFixture[str]) -> None:
    result = run({"control_socket": pair.socket}, capsys)
    assert result["failed"] is True
    assert "state" in result["msg"]


def test_no_runner(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sock = str(tmp_path / "control.sock")
    result = run({"control_socket": sock, "state": "demoted"}, capsys)
    assert result["failed"] is True
    assert result["msg"] == f"no runner is listening on {sock}"


def test_the_result_says_whether_the_instances_have_converged(
    pair: Runner, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same verdict as vrrp_state's (Python, not Jinja): a demoted host under a
    peer MASTER has converged; one that hears no MASTER has not."""
    demoted = run({"control_socket": pair.socket, "state": "demoted"}, capsys)
    assert demoted["converged"] is True, demoted
    assert demoted["report"][0].startswith("db is BACKUP of MASTER 198.51.100.")
    pair.handler.instances["web"].update(state="BACKUP", master=None, master_priority=None)
    restored = run({"control_socket": pair.socket, "state": "restored"}, capsys)
    assert restored["converged"] is False
    assert restored["waiting"] == ["web is BACKUP and hears no MASTER, waiting for one"]


def test_a_backup_still_releasing_has_not_handed_over() -> None:
    """A resigned MASTER is BACKUP under its successor but keeps its addresses a
    moment (fsm.RESIGN_HOLD, ``releasing``): the demotion's wait goes on until
    they are gone, so the maintenance that follows finds them gone."""
    verdict = ansible_vrrp_maintenance.handed_over(set())
    inst = instance_state("web", state="BACKUP", master=foreign_address(), master_priority=100)
    assert verdict("web", {**inst, "releasing": False}) is None
    assert verdict("web", inst) is None  # a runner that does not report it
    why = verdict("web", {**inst, "releasing": True})
    assert why == "is BACKUP but still holds its addresses (releasing)"
