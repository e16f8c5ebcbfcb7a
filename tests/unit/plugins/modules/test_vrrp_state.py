"""vrrp_state: facts from the runner, waiting for a state, no runner."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.failover.vrrp.plugins.modules import vrrp_state
from modules_harness import Runner, instance_state, run_module


def run(args: dict[str, Any], capsys: pytest.CaptureFixture[str], **kw: Any) -> dict[str, Any]:
    return run_module(vrrp_state.main, args, capsys=capsys, **kw)


@pytest.fixture
def two(runner: Runner) -> Runner:
    runner.handler.instances = {
        "web": instance_state("web"),
        "db": instance_state("db", state="BACKUP", vrid=52, master="192.0.2.2"),
    }
    return runner


def test_facts(two: Runner, capsys: pytest.CaptureFixture[str]) -> None:
    result = run({"control_socket": two.socket}, capsys)
    assert result["changed"] is False
    vrrp = result["ansible_facts"]["vrrp"]
    assert vrrp["version"] == "0.1.0"
    assert vrrp["pid"] == 4242
    assert vrrp["uptime"] == 12.5
    assert set(vrrp["instances"]) == {"web", "db"}
    web = vrrp["instances"]["web"]
    for key in (
        "state",
        "priority",
        "effective_priority",
        "master",
        "master_priority",
        "preempt",
        "preempt_delay",
        "since",
    ):
        assert key in web
    assert web["state"] == "MASTER"
    assert web["demoted"] is None
    assert [h["to"] for h in web["history"]] == ["BACKUP", "MASTER"]
    assert ("history", None, 5) in two.handler.calls


def test_history_limit_and_none(two: Runner, capsys: pytest.CaptureFixture[str]) -> None:
    one = run({"control_socket": two.socket, "history": 1}, capsys)
    assert len(one["ansible_facts"]["vrrp"]["instances"]["web"]["history"]) == 1
    two.handler.calls.clear()
    none = run({"control_socket": two.socket, "history": 0}, capsys)
    assert none["ansible_facts"]["vrrp"]["instances"]["web"]["history"] == []
    assert not [c for c in two.handler.calls if c[0] == "history"]


def test_check_mode_reads_too(two: Runner, capsys: pytest.CaptureFixture[str]) -> None:
    result = run({"control_socket": two.socket}, capsys, check_mode=True)
    assert result["ansible_facts"]["vrrp"]["instances"]["db"]["state"] == "BACKUP"


def test_no_runner_is_a_clear_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sock = str(tmp_path / "control.sock")
    result = run({"control_socket": sock}, capsys)
    assert result["failed"] is True
    assert result["msg"] == f"no runner is listening on {sock}"
    assert "exception" not in result or "Traceback" not in result.get("msg", "")


def test_wait_for_satisfied_at_once(two: Runner, capsys: pytest.CaptureFixture[str]) -> None:
    result = run({"control_socket": two.socket, "wait_for": "MASTER", "instances": ["web"]}, capsys)
    assert result["elapsed"] < 1


def test_wait_for_polls_until_the_state(two: Runner, capsys: pytest.CaptureFixture[str]) -> None:
    def promote() -> None:
        time.sleep(0.5)
        two.handler.instances["db"].update(state="MASTER", master="192.0.2.1")

    thread = threading.Thread(target=promote)
    thread.start()
    result = run({"control_socket": two.socket, "wait_for": "MASTER", "timeout": 5}, capsys)
    thread.join()
    assert result["elapsed"] >= 0.4
    assert result["ansible_facts"]["vrrp"]["instances"]["db"]["state"] == "MASTER"


def test_wait_for_timeout_names_the_laggards(
    two: Runner, capsys: pytest.CaptureFixture[str]
) -> None:
    start = time.monotonic()
    result = run({"control_socket": two.socket, "wait_for": "MASTER", "timeout": 0.6}, capsys)
    assert 0.5 <= time.monotonic() - start < 3
    assert result["failed"] is True
    assert result["msg"].startswith("timed out after 0.6 s waiting for MASTER: db is BACKUP")
    assert "master 192.0.2.2" in result["msg"]
    assert "web" not in result["msg"].split(":", 1)[1]
    assert result["ansible_facts"]["vrrp"]["instances"]["db"]["state"] == "BACKUP"


def test_wait_for_an_unknown_instance(two: Runner, capsys: pytest.CaptureFixture[str]) -> None:
    result = run(
        {"control_socket": two.socket, "wait_for": "BACKUP", "instances": ["mail"]}, capsys
    )
    assert result["failed"] is True
    assert result["msg"] == "the runner has no instance named 'mail' (it runs: db, web)"


def test_wait_for_with_no_instances(runner: Runner, capsys: pytest.CaptureFixture[str]) -> None:
    result = run({"control_socket": runner.socket, "wait_for": "BACKUP"}, capsys)
    assert result["failed"] is True
    assert "runs no instances" in result["msg"]


def test_bad_wait_for(two: Runner, capsys: pytest.CaptureFixture[str]) -> None:
    result = run({"control_socket": two.socket, "wait_for": "master"}, capsys)
    assert result["failed"] is True
    assert "wait_for" in result["msg"]
    assert "MASTER" in result["msg"]


def test_drift_from_this_host_s_kernel_and_config_dir(
    runner: Runner, config_dir: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Drift judged on the real loopback (no root needed to read addresses) and a config dir."""
    runner.handler.instances = {
        "web": instance_state("web", virtual_addresses=["127.0.0.2/8"]),
        "db": instance_state("db", state="BACKUP", vrid=52, virtual_addresses=["127.0.0.1/8"]),
    }
    result = run({"control_socket": runner.socket, "config_dir": config_dir}, capsys)
    vrrp = result["ansible_facts"]["vrrp"]
    web, db = vrrp["instances"]["web"]["drift"], vrrp["instances"]["db"]["drift"]
    assert [d["kind"] for d in web] == ["vip_missing", "config_not_running"]
    assert "127.0.0.2/8 is not on lo (nor on any other interface)" in web[0]["message"]
    assert [d["kind"] for d in db] == ["vip_held", "config_not_running"]
    assert "127.0.0.1/8 on lo" in db[0]["message"]
    assert vrrp["drift"] == []
    assert vrrp["drift_count"] == 4


def test_drift_names_an_unreadable_config_dir(
    runner: Runner, config_dir: str, capsys: pytest.CaptureFixture[str]
) -> None:
    runner.handler.instances = {"web": instance_state("web", virtual_addresses=["127.0.0.1/8"])}
    Path(config_dir, "instances.d", "web.json").write_text("{not json")
    vrrp = run({"control_socket": runner.socket, "config_dir": config_dir}, capsys)[
        "ansible_facts"
    ]["vrrp"]
    assert [d["kind"] for d in vrrp["drift"]] == ["config_unreadable"]
    assert "web.json" in vrrp["drift"][0]["message"]
    assert vrrp["drift_count"] == 1
