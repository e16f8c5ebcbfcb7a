# Copyright: failover.vrrp developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``failover.vrrp.vrrp_first_election`` and ``vrrp_first_pending`` filters (see their .yml)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.errors import VRRPError
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.first_election import (
    plan,
    still_starting,
)


def _facts_key(interface: str) -> str:
    # Ansible's network facts name an interface's entry with - and . as _.
    return interface.replace("-", "_").replace(".", "_")


def _candidates(facts: Any, interfaces: set[str]) -> dict[str, list[str]]:
    """Each interface's addresses in the kernel's order, from gathered facts."""
    found: dict[str, list[str]] = {}
    if not isinstance(facts, Mapping):
        return found
    for interface in interfaces:
        entry = facts.get(_facts_key(interface))
        if not isinstance(entry, Mapping):
            continue
        addresses: list[str] = []
        ipv4 = entry.get("ipv4")
        if isinstance(ipv4, Mapping) and ipv4.get("address"):
            addresses.append(str(ipv4["address"]))
        for extra in entry.get("ipv4_secondaries") or ():
            if isinstance(extra, Mapping) and extra.get("address"):
                addresses.append(str(extra["address"]))
        for ipv6 in entry.get("ipv6") or ():
            if isinstance(ipv6, Mapping) and ipv6.get("address"):
                addresses.append(str(ipv6["address"]).split("%", 1)[0])
        found[interface] = addresses
    return found


def _instances(result: Any) -> list[Mapping[str, Any]] | None:
    """The instances a ``vrrp_state`` result shows; None when the runner did not answer."""
    if not isinstance(result, Mapping):
        return None
    vrrp = (result.get("ansible_facts") or {}).get("vrrp")
    if not isinstance(vrrp, Mapping):
        return None
    return [i for i in (vrrp.get("instances") or {}).values() if isinstance(i, Mapping)]


def vrrp_first_election(
    hosts: Any,
    hostvars: Any,
    *,
    host: Any = None,
    running: Any = None,
    applying: Any = None,
    running_var: str = "vrrp_election_self",
    declared_var: str = "vrrp_election_declared",
    instances_var: str = "vrrp_instances",
    sync_groups_var: str = "vrrp_sync_groups",
) -> dict[str, Any]:
    """Which new instances each host leaves out of the first stage (see the docs)."""
    if not isinstance(hosts, (list, tuple)):
        raise AnsibleFilterError("vrrp_first_election expects a list of inventory hostnames")
    declared: dict[str, list[Mapping[str, Any]]] = {}
    groups: dict[str, list[Mapping[str, Any]]] = {}
    candidates: dict[str, dict[str, list[str]]] = {}
    live: dict[str, list[Mapping[str, Any]]] = {}
    for result in running or ():
        found = _instances(result)
        if found is not None and isinstance(result, Mapping):
            live[str(result.get("item"))] = found
    try:
        for name in map(str, hosts):
            variables = hostvars[name]
            found = _instances(variables.get(running_var))
            if found is not None:
                live[name] = found
            # A play host's own view (play and role variables), else the inventory's.
            own = variables.get(declared_var)
            if not isinstance(own, Mapping):
                own = {
                    "instances": variables.get(instances_var),
                    "sync_groups": variables.get(sync_groups_var),
                }
            instances_of, groups_of = own.get("instances"), own.get("sync_groups")
            instances = [i for i in instances_of or () if isinstance(i, Mapping)]
            declared[name] = instances
            groups[name] = [g for g in groups_of or () if isinstance(g, Mapping)]
            interfaces = {str(i.get("interface")) for i in instances}
            candidates[name] = _candidates(variables.get("ansible_facts"), interfaces)
        staging = plan(
            declared,
            sync_groups=groups,
            running=live,
            applying=set(map(str, applying if applying is not None else hosts)),
            candidates=candidates,
        )
    except VRRPError as exc:
        raise AnsibleFilterError(f"vrrp_first_election: {exc}") from exc
    mine = str(host) if host is not None else None
    return {
        "withhold": staging.withhold.get(mine or "", []),
        "withhold_groups": staging.withhold_groups.get(mine or "", []),
        "first": staging.first.get(mine or "", []),
        "staged": staging.staged,
        "undecided": [
            {"interface": key[0], "family": key[1], "vrid": key[2]} for key in staging.undecided
        ],
    }


def vrrp_first_pending(states: Any, names: Any) -> list[str]:
    """The instances of ``names`` not yet MASTER (or FAULT) in a runner's ``states``."""
    if not isinstance(names, (list, tuple)):
        raise AnsibleFilterError("vrrp_first_pending expects a list of instance names")
    return still_starting(states if isinstance(states, Mapping) else None, [str(n) for n in names])


class FilterModule:
    """The collection's first-election filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "vrrp_first_election": vrrp_first_election,
            "vrrp_first_pending": vrrp_first_pending,
        }
