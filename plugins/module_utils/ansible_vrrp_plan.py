# Copyright: failover.vrrp developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the vrrp_plan action plugin and its documentation module share.

The argument spec (the module's documentation states it; the action plugin
validates with it), reading the planner's input from host variables and
facts, and the verdicts: which findings fail the task, one line per VRID.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp import without_none
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_config import config_spec
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_unicast import (
    UnicastPeersError,
    fill,
)
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.plan_model import HostInput

ARGUMENT_SPEC: dict[str, Any] = {
    "hosts": {"type": "list", "elements": "str"},
    "instances_var": {"type": "str", "default": "vrrp_instances"},
    "sync_groups_var": {"type": "str", "default": "vrrp_sync_groups"},
    "live": {"type": "bool", "default": True},
    "fail_on": {"type": "list", "elements": "str", "default": ["error"]},
}


def _fact_addresses(facts: Mapping[str, Any]) -> dict[str, dict[int, str]]:
    """Interface → family → primary address, from gathered network facts."""
    out: dict[str, dict[int, str]] = {}
    for name in facts.get("interfaces") or ():
        iface = facts.get(str(name).replace("-", "_").replace(".", "_"))
        if not isinstance(iface, Mapping):
            continue
        found: dict[int, str] = {}
        ipv4 = iface.get("ipv4")
        if isinstance(ipv4, Mapping) and ipv4.get("address"):
            found[4] = str(ipv4["address"])
        for ipv6 in iface.get("ipv6") or ():
            if isinstance(ipv6, Mapping) and ipv6.get("scope") == "link" and ipv6.get("address"):
                found[6] = str(ipv6["address"])
                break
        if found:
            out[str(name)] = found
    return out


def _as_the_role_applies(
    name: str, instances: list[Any], groups: list[Any]
) -> tuple[list[Any], list[Any]]:
    """The items as vrrp_config takes them (the role's path): its argument spec converts
    types (a templated ``"150"`` is the priority 150) and refuses unknown keys."""
    spec = {"config": config_spec()["config"]}
    checked = ArgumentSpecValidator(spec).validate(
        {"config": {"instances": instances, "sync_groups": groups}}
    )
    if checked.error_messages:
        raise ValueError(f"{name}: {'; '.join(checked.error_messages)}")
    config = without_none(checked.validated_parameters["config"])
    return list(config.get("instances") or []), list(config.get("sync_groups") or [])


def host_input(
    name: str,
    hostvars: Mapping[str, Any],
    params: Mapping[str, Any],
    *,
    groups_of: Mapping[str, Sequence[str]] | None = None,
    facts_of: Callable[[str], Mapping[str, Any] | None] | None = None,
) -> HostInput:
    """The planner's view of one host: its declared items, addresses and live state.

    ``unicast_peers_from: GROUP`` is filled in as the role fills it (the
    inventory's ``groups`` and each host's gathered facts through ``facts_of``).
    """
    instances = hostvars.get(params["instances_var"]) or []
    groups = hostvars.get(params["sync_groups_var"]) or []
    for var, value in ((params["instances_var"], instances), (params["sync_groups_var"], groups)):
        if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
            raise ValueError(f"{name}: {var} must be a list, not {type(value).__name__}")
    if groups_of is not None and facts_of is not None:
        try:
            instances = fill(list(instances), host=name, groups=groups_of, facts_of=facts_of)
        except UnicastPeersError as exc:
            raise ValueError(f"{name}: {exc}") from None
    instances, groups = _as_the_role_applies(name, list(instances), list(groups))
    facts = hostvars.get("ansible_facts") or {}
    live = None
    vrrp = facts.get("vrrp") if params["live"] else None
    if isinstance(vrrp, Mapping) and isinstance(vrrp.get("instances"), Mapping):
        live = dict(vrrp["instances"])
    return HostInput(
        name=name,
        instances=list(instances),
        sync_groups=list(groups),
        addresses=_fact_addresses(facts),
        live=live,
    )


def failing(findings: Sequence[Mapping[str, Any]], fail_on: Sequence[str]) -> list[str]:
    """The messages of the findings whose severity or kind is in ``fail_on``."""
    wanted = set(fail_on)
    return [
        f"{f['severity']} {f['kind']}: {f['message']}"
        for f in findings
        if f["severity"] in wanted or f["kind"] in wanted
    ]


def summary(vrids: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per virtual router: the predicted master, why, and what would move."""
    lines = []
    for vr in vrids:
        head = f"VRID {vr['vrid']} on {vr['interface']} (IPv{vr['family']})"
        master = vr["predicted_master"] or "no single MASTER"
        line = f"{head}: {master} ({vr['reason']})"
        if "current_master" in vr:
            now = vr["current_master"] or "none"
            move = "would move" if vr["would_transition"] else "stays"
            line += f"; MASTER now: {now}, {move}"
        lines.append(line)
    return lines
