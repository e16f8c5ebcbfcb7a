"""The ``vrrp_first_election`` and ``vrrp_first_pending`` filters over hostvars-shaped data."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import modules_harness  # noqa: F401  # pylint: disable=unused-import  # the collection on sys.path
import pytest
from ansible.module_utils import _internal

FILTER = "ansible_collections.failover.vrrp.plugins.filter.vrrp_first_election"


@pytest.fixture(scope="module")
def plugin() -> Iterator[ModuleType]:
    """The filter plugin, imported here and not at collection.

    A filter is controller code: importing it (ansible.errors) marks the process
    as the controller, which sends the warnings of the modules that the other
    tests run in process to the display instead of their result. The mark is
    put back afterwards.
    """
    before = _internal.is_controller
    try:
        yield importlib.import_module(FILTER)
    finally:
        _internal.is_controller = before


def _web(priority: int, vrid: int = 51) -> dict[str, Any]:
    return {"name": "web", "interface": "eth0", "vrid": vrid, "priority": priority,
            "preempt": False, "virtual_addresses": ["192.0.2.100/24"]}  # fmt: skip


def _facts(address: str) -> dict[str, Any]:
    return {
        "eth0": {"ipv4": {"address": address}, "ipv6": [{"address": "fe80::1", "scope": "link"}]}
    }


def test_each_host_gets_its_part_from_its_own_declaration_first(plugin: ModuleType) -> None:
    hostvars = {
        # r1's own view (set_fact) wins over the inventory's variable.
        "r1": {"vrrp_election_declared": {"instances": [_web(150)], "sync_groups": []},
               "vrrp_instances": [_web(1)]},
        "r2": {"vrrp_instances": [_web(100)]},
    }  # fmt: skip
    r1 = plugin.vrrp_first_election(["r1", "r2"], hostvars, host="r1")
    r2 = plugin.vrrp_first_election(["r1", "r2"], hostvars, host="r2")
    assert (r1["first"], r1["withhold"]) == (["web"], [])
    assert (r2["first"], r2["withhold"]) == ([], ["web"])
    assert r1["staged"] == [{"interface": "eth0", "family": 4, "vrid": 51, "first": "r1"}]


def test_a_router_any_runner_runs_is_not_staged(plugin: ModuleType) -> None:
    hostvars = {"r1": {"vrrp_instances": [_web(150)]}, "r2": {"vrrp_instances": [_web(100)]}}
    state = {"ansible_facts": {"vrrp": {"instances": {"web": {
        "interface": "eth0", "vrid": 51, "virtual_addresses": ["192.0.2.100/24"]}}}}}  # fmt: skip
    delegated = plugin.vrrp_first_election(
        ["r1", "r2"], hostvars, host="r2", running=[{"item": "r2", **state}]
    )
    assert delegated["staged"] == [] and delegated["withhold"] == []
    own = {**hostvars, "r2": {**hostvars["r2"], "vrrp_election_self": state}}
    assert plugin.vrrp_first_election(["r1", "r2"], own, host="r2")["staged"] == []
    # No answer (no runner yet): nothing runs there.
    failed = {**hostvars, "r2": {**hostvars["r2"], "vrrp_election_self": {"failed": True}}}
    assert plugin.vrrp_first_election(["r1", "r2"], failed, host="r2")["withhold"] == ["web"]


def test_a_tie_is_broken_by_the_gathered_primary_addresses(plugin: ModuleType) -> None:
    hostvars = {
        "r1": {"vrrp_instances": [_web(100)], "ansible_facts": _facts("192.0.2.11")},
        "r2": {"vrrp_instances": [_web(100)], "ansible_facts": _facts("192.0.2.12")},
    }
    assert plugin.vrrp_first_election(["r1", "r2"], hostvars, host="r2")["first"] == ["web"]
    del hostvars["r1"]["ansible_facts"]
    undecided = plugin.vrrp_first_election(["r1", "r2"], hostvars, host="r2")
    assert undecided["first"] == [] and undecided["undecided"] == [
        {"interface": "eth0", "family": 4, "vrid": 51}
    ]


def test_only_applying_hosts_take_part(plugin: ModuleType) -> None:
    hostvars = {"r1": {"vrrp_instances": [_web(150)]}, "r2": {"vrrp_instances": [_web(100)]}}
    limited = plugin.vrrp_first_election(["r1", "r2"], hostvars, host="r2", applying=["r2"])
    assert limited["staged"] == [] and limited["withhold"] == []


def test_bad_input_is_named(plugin: ModuleType) -> None:
    with pytest.raises(plugin.AnsibleFilterError, match="list of inventory hostnames"):
        plugin.vrrp_first_election("r1", {})
    with pytest.raises(plugin.AnsibleFilterError, match="list of instance names"):
        plugin.vrrp_first_pending({}, "web")
    assert set(plugin.FilterModule().filters()) == {"vrrp_first_election", "vrrp_first_pending"}


def test_pending_until_master_or_fault(plugin: ModuleType) -> None:
    states = {"a": {"state": "MASTER"}, "b": {"state": "BACKUP"}, "c": {"state": "FAULT"}}
    assert plugin.vrrp_first_pending(states, ["a", "b", "c", "d"]) == ["b", "d"]
    assert plugin.vrrp_first_pending(None, ["a"]) == ["a"]
