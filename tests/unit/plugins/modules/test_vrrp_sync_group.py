"""vrrp_sync_group: the same flow as vrrp_instance, for sync_groups.d."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.failover.vrrp.plugins.modules import vrrp_instance, vrrp_sync_group
from modules_harness import ConfigError, Runner, run_module


def run(args: dict[str, Any], capsys: pytest.CaptureFixture[str], **kw: Any) -> dict[str, Any]:
    return run_module(vrrp_sync_group.main, args, capsys=capsys, **kw)


def where(runner: Runner) -> dict[str, Any]:
    return {"config_dir": runner.handler.config_dir, "control_socket": runner.socket}


@pytest.fixture
def members(runner: Runner, capsys: pytest.CaptureFixture[str]) -> list[str]:
    for vrid, name in ((51, "web"), (52, "db")):
        instance = {
            "name": name,
            "interface": "eth0",
            "vrid": vrid,
            "virtual_addresses": [f"192.0.2.{vrid}/24"],
        }
        run_module(vrrp_instance.main, {**where(runner), **instance}, capsys=capsys)
    return ["web", "db"]


def group_file(runner: Runner) -> Path:
    return Path(runner.handler.config_dir, "sync_groups.d", "front.json")


def test_create_idempotent_change_absent(
    runner: Runner, members: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    args = {**where(runner), "name": "front", "members": members}
    result = run(args, capsys)
    assert result["changed"] is True
    assert result["reloaded"] is True
    assert result["sync_group"] == {
        "name": "front",
        "description": "",
        "members": ["web", "db"],
        "notify": {"timeout": 10},
    }
    assert json.loads(group_file(runner).read_text()) == result["sync_group"]
    assert run(args, capsys)["changed"] is False

    changed = run({**args, "notify": {"master": ["/bin/true"]}}, capsys, diff=True)
    assert changed["changed"] is True
    assert '"master": [' in changed["diff"]["after"]
    assert '"master"' not in changed["diff"]["before"]

    gone = run({**where(runner), "name": "front", "state": "absent"}, capsys)
    assert gone["changed"] is True
    assert not group_file(runner).exists()


def test_check_mode(runner: Runner, members: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    reloads = runner.handler.calls.count(("reload",))
    result = run({**where(runner), "name": "front", "members": members}, capsys, check_mode=True)
    assert result["changed"] is True
    assert not group_file(runner).exists()
    assert runner.handler.calls.count(("reload",)) == reloads


def test_unknown_member_fails_before_writing(
    runner: Runner, members: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    result = run({**where(runner), "name": "front", "members": ["web", "dbb"]}, capsys)
    assert result["failed"] is True
    assert result["path"] == "members[1]"
    assert 'did you mean "db"?' in result["rule"]
    assert result["file"] == str(group_file(runner))
    assert not group_file(runner).exists()


def test_refused_reload_restores(
    runner: Runner, members: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    args = {**where(runner), "name": "front", "members": members}
    run(args, capsys)
    old = group_file(runner).read_text()
    runner.handler.refuse = ConfigError("sync_groups[0]", "refused by the runner")
    result = run({**args, "members": ["web"]}, capsys)
    assert result["failed"] is True
    assert "refused by the runner" in result["msg"]
    assert group_file(runner).read_text() == old


def test_members_required_when_present(runner: Runner, capsys: pytest.CaptureFixture[str]) -> None:
    result = run({**where(runner), "name": "front"}, capsys)
    assert result["failed"] is True
    assert "members" in result["msg"]


def test_empty_members_is_a_schema_error(
    runner: Runner, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run({**where(runner), "name": "front", "members": []}, capsys)
    assert result["failed"] is True
    assert result["path"] == "members"
    assert "at least 1" in result["rule"]
