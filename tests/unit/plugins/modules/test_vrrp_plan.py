"""The vrrp_plan action plugin: run() with fake task variables, no host contacted."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from unittest import mock

import modules_harness  # noqa: F401  # pylint: disable=unused-import  # the collection importable
import pytest
from ansible.errors import AnsibleActionFail
from ansible.module_utils import _internal
from ansible.playbook.play_context import PlayContext
from ansible_collections.failover.vrrp.plugins.action.vrrp_plan import ActionModule
from ansible_collections.failover.vrrp.plugins.modules import vrrp_plan

# Importing controller code (the action plugin, ansible.playbook) marks this
# process as the controller for good (ansible._internal sets is_controller),
# and module-side warnings then go to the display instead of the result: the
# other module tests of the session would lose theirs. Module side by default,
# controller side only while these tests run.
_internal.is_controller = False


@pytest.fixture(autouse=True)
def controller_side() -> Iterator[None]:
    _internal.is_controller = True
    try:
        yield
    finally:
        _internal.is_controller = False


def inst(priority: int, **kw: Any) -> dict[str, Any]:
    return {
        "name": "web",
        "interface": "eth0",
        "vrid": 51,
        "priority": priority,
        "virtual_addresses": ["192.0.2.100/24"],
        **kw,
    }


def facts(address: str, *, state: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "interfaces": ["lo", "eth0"],
        "eth0": {
            "ipv4": {"address": address},
            "ipv6": [{"address": "fe80::1", "scope": "link"}],
        },
        "lo": {"ipv4": {"address": "127.0.0.1"}},
    }
    if state:
        out["vrrp"] = {"instances": {"web": {"state": state}}}
    return out


def action(args: dict[str, Any], *, check_mode: bool = False) -> ActionModule:
    task = mock.MagicMock()
    task.args = args
    task.async_val = 0
    task.check_mode = check_mode
    task.action = "failover.vrrp.vrrp_plan"
    connection = mock.MagicMock()
    connection._shell.tmpdir = "/nonexistent"
    return ActionModule(
        task, connection, PlayContext(), loader=None, templar=None, shared_loader_obj=None
    )


def task_vars(hostvars: dict[str, Any], play: list[str] | None = None) -> dict[str, Any]:
    return {"hostvars": hostvars, "ansible_play_hosts_all": play or list(hostvars)}


def test_plans_the_play_hosts_from_hostvars_and_facts() -> None:
    hostvars = {
        "r1": {"vrrp_instances": [inst(100)], "ansible_facts": facts("192.0.2.1")},
        "r2": {"vrrp_instances": [inst(100)], "ansible_facts": facts("192.0.2.2")},
        "other": {},
    }
    result = action({}).run(task_vars=task_vars(hostvars, ["r1", "r2"]))
    assert result["changed"] is False
    assert not result.get("failed")
    (vr,) = result["vrids"]
    assert (vr["predicted_master"], vr["decided_by"]) == ("r2", "address")
    assert [m["address"] for m in vr["members"]] == ["192.0.2.1", "192.0.2.2"]
    assert result["summary"][0].startswith("VRID 51 on eth0 (IPv4): r2 (tie at priority 100")


def test_live_facts_give_current_master_and_would_transition_in_check_mode() -> None:
    hostvars = {
        "r1": {"vrrp_instances": [inst(150)], "ansible_facts": facts("192.0.2.1", state="MASTER")},
        "r2": {"vrrp_instances": [inst(200)], "ansible_facts": facts("192.0.2.2", state="BACKUP")},
    }
    result = action({}, check_mode=True).run(task_vars=task_vars(hostvars))
    (vr,) = result["vrids"]
    assert (vr["current_master"], vr["predicted_master"], vr["would_transition"]) == (
        "r1",
        "r2",
        True,
    )
    assert result["summary"][0].endswith("MASTER now: r1, would move")
    result = action({"live": False}).run(task_vars=task_vars(hostvars))
    assert "current_master" not in result["vrids"][0]


def test_errors_fail_the_task_and_fail_on_selects() -> None:
    hostvars = {
        "r1": {"my_vrs": [inst(150)]},
        "r2": {"my_vrs": [inst(100, version=2)]},
    }
    result = action({"instances_var": "my_vrs"}).run(task_vars=task_vars(hostvars))
    assert result["failed"] is True
    assert "version_mismatch" in result["msg"]
    assert result["changed"] is False
    result = action({"instances_var": "my_vrs", "fail_on": []}).run(task_vars=task_vars(hostvars))
    assert not result.get("failed")
    result = action({"instances_var": "my_vrs", "fail_on": ["several_masters"]}).run(
        task_vars=task_vars(hostvars)
    )
    assert result["msg"].startswith("the plan has findings: error several_masters")


def test_items_are_taken_as_the_role_applies_them() -> None:
    """Templated values arrive as strings; vrrp_config's spec converts them, so does the plan."""
    hostvars = {
        "r1": {"vrrp_instances": [inst("150", preempt="false")]},
        "r2": {"vrrp_instances": [inst("100", preempt="false")]},
    }
    result = action({}).run(task_vars=task_vars(hostvars))
    assert result["findings"] == []
    (vr,) = result["vrids"]
    assert [m["priority"] for m in vr["members"]] == [150, 100]
    assert [m["preempt"] for m in vr["members"]] == [False, False]
    with pytest.raises(AnsibleActionFail, match=r"r1: .*prio"):
        action({}).run(task_vars=task_vars({"r1": {"vrrp_instances": [inst(1, prio=3)]}}))


def test_bad_input_fails_with_a_clear_message() -> None:
    with pytest.raises(AnsibleActionFail, match="not inventory hosts: nope"):
        action({"hosts": ["nope"]}).run(task_vars=task_vars({"r1": {}}))
    with pytest.raises(AnsibleActionFail, match="r1: vrrp_instances must be a list, not str"):
        action({}).run(task_vars=task_vars({"r1": {"vrrp_instances": "web"}}))
    with pytest.raises(AnsibleActionFail, match="fail_onx"):
        action({"fail_onx": []}).run(task_vars=task_vars({"r1": {}}))


def test_the_module_file_refuses_to_run_on_a_host() -> None:
    with (
        mock.patch.object(vrrp_plan, "AnsibleModule") as module,
        pytest.raises(SystemExit),
    ):
        module.return_value.fail_json.side_effect = SystemExit(1)
        vrrp_plan.main()
    assert "controller" in module.return_value.fail_json.call_args.kwargs["msg"]


def test_unicast_peers_from_is_filled_as_the_role_fills_it() -> None:
    """The role turns unicast_peers_from: GROUP into peers (vrrp_config refuses the
    key itself); the plan does the same, and a host without facts is named."""
    uni = {"unicast_peers_from": "routers"}
    hostvars = {
        "r1": {"vrrp_instances": [inst(150, **uni)], "ansible_facts": facts("192.0.2.1")},
        "r2": {"vrrp_instances": [inst(100, **uni)], "ansible_facts": facts("192.0.2.2")},
    }
    variables = {**task_vars(hostvars), "groups": {"routers": ["r1", "r2"]}}
    result = action({}).run(task_vars=variables)
    assert not result.get("failed"), result
    (vrid,) = result["vrids"]
    assert vrid["predicted_master"] == "r1"
    assert not [f for f in result["findings"] if f["kind"] == "unicast_asymmetric"]
    del hostvars["r2"]["ansible_facts"]
    with pytest.raises(AnsibleActionFail, match="r2"):
        action({}).run(task_vars=variables)
