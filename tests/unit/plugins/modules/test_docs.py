"""``ansible-doc failover.vrrp.<module>`` renders, and documents exactly the argument spec."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from ansible_collections.failover.vrrp.plugins.modules import (
    vrrp_config,
    vrrp_instance,
    vrrp_link_probe,
    vrrp_maintenance,
    vrrp_plan,
    vrrp_scan,
    vrrp_state,
    vrrp_sync_group,
)
from modules_harness import COLLECTIONS_PATH

MODULES = {
    "vrrp_config": vrrp_config,
    "vrrp_instance": vrrp_instance,
    "vrrp_sync_group": vrrp_sync_group,
    "vrrp_link_probe": vrrp_link_probe,
    "vrrp_state": vrrp_state,
    "vrrp_maintenance": vrrp_maintenance,
    "vrrp_scan": vrrp_scan,
    "vrrp_plan": vrrp_plan,
}
ANSIBLE_DOC = Path(sys.executable).with_name("ansible-doc")


@pytest.fixture(scope="module")
def docs() -> dict[str, Any]:
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_PATH, ANSIBLE_NOCOLOR="1")
    names = [f"failover.vrrp.{name}" for name in MODULES]
    out = subprocess.run(
        [str(ANSIBLE_DOC), "--json", *names], env=env, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert "ERROR" not in out.stderr and "WARNING" not in out.stderr, out.stderr
    return dict(json.loads(out.stdout))


def argument_spec(module: Any) -> dict[str, Any]:
    """The spec a module's main() hands to AnsibleModule."""
    seen: dict[str, Any] = {}

    class StopError(Exception):
        pass

    def capture(*_args: Any, **kwargs: Any) -> None:
        seen.update(kwargs)
        raise StopError

    with mock.patch.object(module, "AnsibleModule", side_effect=capture), pytest.raises(StopError):
        module.main()
    return dict(seen["argument_spec"])


def same(doc: dict[str, Any], spec: dict[str, Any], where: str) -> None:
    assert set(doc) == set(spec), where
    for name, option in spec.items():
        here = f"{where}.{name}"
        documented = doc[name]
        assert documented.get("type", "str") == option.get("type", "str"), here
        assert documented.get("elements") == option.get("elements"), here
        assert documented.get("choices") == option.get("choices"), here
        assert bool(documented.get("required")) == bool(option.get("required")), here
        assert documented.get("default") == option.get("default"), here
        assert bool(documented.get("suboptions")) == bool(option.get("options")), here
        if option.get("options"):
            same(documented["suboptions"], option["options"], here)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_documentation_matches_the_argument_spec(docs: dict[str, Any], name: str) -> None:
    doc = docs[f"failover.vrrp.{name}"]
    assert doc["doc"]["module"] == name
    same(doc["doc"]["options"], argument_spec(MODULES[name]), name)
    attributes = doc["doc"]["attributes"]
    assert attributes["check_mode"]["support"] == "full"
    assert attributes["diff_mode"]["support"] in ("full", "none")
    assert attributes["platform"]["platforms"] == "linux"
    assert doc["examples"].strip()
    assert doc["return"]


def test_password_is_no_log() -> None:
    spec = argument_spec(vrrp_instance)
    assert spec["authentication"]["options"]["password"]["no_log"] is True


def test_password_is_no_log_in_vrrp_config_too() -> None:
    spec = argument_spec(vrrp_config)
    instances = spec["config"]["options"]["instances"]["options"]
    assert instances["authentication"]["options"]["password"]["no_log"] is True


def test_module_defaults_groups_hold_modules_that_take_their_options() -> None:
    """Every module of an action group takes the options the group is for: module_defaults
    for ``group/failover.vrrp.NAME`` never hands a module an option it does not know."""
    import yaml

    runtime = yaml.safe_load((Path(__file__).resolve().parents[4] / "meta/runtime.yml").read_text())
    needs = {"runner": {"control_socket"}, "config": {"config_dir", "control_socket", "reload"}}
    assert set(runtime["action_groups"]) == set(needs)
    # vrrp_plan runs on the controller and takes neither option: in no group.
    for group, modules in runtime["action_groups"].items():
        for name in modules:
            assert needs[group] <= set(argument_spec(MODULES[name])), (group, name)
    with_socket = {n for n, m in MODULES.items() if "control_socket" in argument_spec(m)}
    assert set(runtime["action_groups"]["runner"]) == with_socket
