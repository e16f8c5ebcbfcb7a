"""The ``vrrp_first_election`` and ``vrrp_first_pending`` filters over hostvars-shaped data."""

from __future__ import annotations

from typing import Any

import modules_harness  # noqa: F401 - puts the collection on sys.path
import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.failover.vrrp.plugins.filter.vrrp_first_election import (
    FilterModule,
    vrrp_first_election,
    vrrp_first_pending,
)


def _web(priority: int, vrid: int = 51) -> dict[str, Any]:
    return {"name": "web", "interface": "eth0", "vrid": vrid, "priority": priority,
            "preempt": False, "virtual_addresses": ["192.0.2.100/24"]}  # fmt: skip


def _facts(address: str) -> dict[str, Any]:
    return {
        "eth0": {"ipv4": {"address": address}, "ipv6": [{"address": "fe80::1", "scope": "link"}]}
    }


def test_each_host_gets_its_part_from_its_own_declaration_first() -> None:
    hostvars = {
        # r1's own view (set_fact) wins over the inventory's variable.
        "r1": {"vrrp_election_declared": {"instances": [_web(150)], "sync_groups": []},
               "vrrp_instances": [_web(1)]},
        "r2": {"vrrp_instances": [_web(100)]},
    }  # fmt: skip
    r1 = vrrp_first_election(["r1", "r2"], hostvars, host="r1")
    r2 = vrrp_first_election(["r1", "r2"], hostvars, host="r2")
    assert (r1["first"], r1["withhold"]) == (["web"], [])
    assert (r2["first"], r2["withhold"]) == ([], ["web"])
    assert r1["staged"] == [{"interface": "eth0", "family": 4, "vrid": 51, "first": "r1"}]


def test_a_router_any_runner_runs_is_not_staged() -> None:
    hostvars = {"r1": {"vrrp_instances": [_web(150)]}, "r2": {"vrrp_instances": [_web(100)]}}
    state = {"ansible_facts": {"vrrp": {"instances": {"web": {
        "interface": "eth0", "vrid": 51, "virtual_addresses": ["192.0.2.100/24"]}}}}}  # fmt: skip
    delegated = vrrp_first_election(
        ["r1", "r2"], hostvars, host="r2", running=[{"item": "r2", **state}]
    )
    assert delegated["staged"] == [] and delegated["withhold"] == []
    own = {**hostvars, "r2": {**hostvars["r2"], "vrrp_election_self": state}}
    assert vrrp_first_election(["r1", "r2"], own, host="r2")["staged"] == []
    # No answer (no runner yet): nothing runs there.
    failed = {**hostvars, "r2": {**hostvars["r2"], "vrrp_election_self": {"failed": True}}}
    assert vrrp_first_election(["r1", "r2"], failed, host="r2")["withhold"] == ["web"]


def test_a_tie_is_broken_by_the_gathered_primary_addresses() -> None:
    hostvars = {
        "r1": {"vrrp_instances": [_web(100)], "ansible_facts": _facts("192.0.2.11")},
        "r2": {"vrrp_instances": [_web(100)], "ansible_facts": _facts("192.0.2.12")},
    }
    assert vrrp_first_election(["r1", "r2"], hostvars, host="r2")["first"] == ["web"]
    del hostvars["r1"]["ansible_facts"]
    undecided = vrrp_first_election(["r1", "r2"], hostvars, host="r2")
    assert undecided["first"] == [] and undecided["undecided"] == [
        {"interface": "eth0", "family": 4, "vrid": 51}
    ]


def test_only_applying_hosts_take_part() -> None:
    hostvars = {"r1": {"vrrp_instances": [_web(150)]}, "r2": {"vrrp_instances": [_web(100)]}}
    limited = vrrp_first_election(["r1", "r2"], hostvars, host="r2", applying=["r2"])
    assert limited["staged"] == [] and limited["withhold"] == []


def test_bad_input_is_named() -> None:
    with pytest.raises(AnsibleFilterError, match="list of inventory hostnames"):
        vrrp_first_election("r1", {})
    with pytest.raises(AnsibleFilterError, match="list of instance names"):
        vrrp_first_pending({}, "web")
    assert set(FilterModule().filters()) == {"vrrp_first_election", "vrrp_first_pending"}


def test_pending_until_master_or_fault() -> None:
    states = {"a": {"state": "MASTER"}, "b": {"state": "BACKUP"}, "c": {"state": "FAULT"}}
    assert vrrp_first_pending(states, ["a", "b", "c", "d"]) == ["b", "d"]
    assert vrrp_first_pending(None, ["a"]) == ["a"]
