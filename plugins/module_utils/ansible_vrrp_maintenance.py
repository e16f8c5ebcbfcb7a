"""Maintenance for ``vrrp_maintenance``: demote and restore over the control
socket, and its verdict (handed over: BACKUP under a peer master, not this host)."""

from __future__ import annotations

from collections.abc import Mapping
from ipaddress import ip_address
from typing import Any

from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_runner import (
    Verdict,
    describe,
    gather_facts,
    select,
    wait_for_instances,
)
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp import control
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.linux import addresses, netlink


def local_addresses() -> set[str]:
    """Every address of this host (needs pyroute2, as the runner does)."""
    with netlink.Rtnl() as rtnl:
        messages = rtnl.addresses()
    found = (addresses.address_from_message(msg) for msg in messages)
    return {str(addr.interface.ip) for addr in found if addr is not None}


def handed_over(local: set[str]) -> Verdict:
    """Satisfied when this host is BACKUP and a peer (not us) is heard as MASTER,
    and the host let go of the addresses (not ``releasing``: a resigned MASTER
    keeps them fsm.RESIGN_HOLD past its successor's advert)."""

    def verdict(_name: str, inst: Mapping[str, Any]) -> str | None:
        master = inst.get("master")
        if inst.get("state") != "BACKUP" or master is None:
            return describe(inst)
        if str(ip_address(str(master).split("%", 1)[0])) in local:
            return f"is BACKUP but the master heard ({master}) is this host"
        if inst.get("releasing"):
            return "is BACKUP but still holds its addresses (releasing)"
        return None

    return verdict


def maintain(
    socket_path: str,
    *,
    state: str,
    names: list[str] | None,
    priority: int,
    wait: bool,
    timeout: float,
    check_mode: bool,
) -> dict[str, Any]:
    """Demote (``state=demoted``) or restore instances; the module's result.

    Idempotent: an instance already demoted at ``priority`` (or not demoted,
    for ``restored``) is left alone. With ``wait`` and ``demoted``, returns
    once every selected instance is BACKUP under a peer master.
    """
    control.COMMANDS["demote"]["priority"].check("demote", "priority", priority)
    facts = control.call(socket_path, "state")
    targets = select(facts, names)
    before = {name: facts["instances"][name].get("demoted") for name in targets}
    after = {name: priority if state == "demoted" else None for name in targets}
    todo = [name for name in targets if before[name] != after[name]]
    result: dict[str, Any] = {
        "changed": bool(todo),
        "instances": targets,
        "diff": {"before": before, "after": after},
    }
    if check_mode:
        result["ansible_facts"] = {"vrrp": facts}
        return result
    for name in todo:
        if state == "demoted":
            control.call(socket_path, "demote", instance=name, priority=priority)
        else:
            control.call(socket_path, "restore", instance=name)
    if wait and state == "demoted" and targets:
        _last, _names, result["elapsed"] = wait_for_instances(
            socket_path,
            targets,
            handed_over(local_addresses()),
            timeout=timeout,
            what="BACKUP under a peer master",
        )
    result["ansible_facts"] = {"vrrp": gather_facts(socket_path, history=5)}
    return result
