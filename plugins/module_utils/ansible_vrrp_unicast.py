"""Unicast peers from the inventory: ``unicast_peers_from: GROUP`` to addresses.

An instance that asks for it gets ``unicast_peers`` (the address of every
other host of the group on the instance's interface, in inventory order) and
``unicast_source`` (this host's, unless given), from gathered facts; the key
``unicast_peers_from`` itself never reaches the runner (the schema does not
know it, so ``vrrp_config`` would refuse it by name). The family is the
instance's (its virtual addresses): IPv4 takes the interface's primary
address, IPv6 its first global address, else its link-local one.

Assumption, documented in the role: the interface has the same name on every
host of the group. Used by the ``failover.vrrp.unicast_peers`` filter (the
role and ``ha_pair.yml``); plain Python, no Ansible import.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any, Callable

KEY = "unicast_peers_from"


class UnicastPeersError(ValueError):
    """An instance's unicast peers cannot be filled in; the message says why."""


def _family(inst: Mapping[str, Any], name: str) -> int:
    vips = inst.get("virtual_addresses") or []
    try:
        return ipaddress.ip_interface(str(vips[0])).version
    except (IndexError, ValueError):
        raise UnicastPeersError(
            f"instance {name}: {KEY} needs the instance's virtual_addresses to tell the"
            " address family"
        ) from None


def _interface_facts(facts: Mapping[str, Any], ifname: str) -> Mapping[str, Any] | None:
    """The facts of ``ifname``: Ansible names the key with '-', '.' and ':' as '_'."""
    for key in (ifname, ifname.replace("-", "_").replace(".", "_").replace(":", "_")):
        found = facts.get(key)
        if isinstance(found, Mapping) and found.get("device", ifname) == ifname:
            return found
    return None


def address_of(facts: Mapping[str, Any] | None, *, host: str, ifname: str, family: int) -> str:
    """``host``'s address on ``ifname`` in ``family``, from its gathered facts."""
    if not facts or "interfaces" not in facts:
        raise UnicastPeersError(
            f"host {host} has no gathered network facts: gather facts for it in this play"
            " (or keep them in a fact cache)"
        )
    iface = _interface_facts(facts, ifname)
    if iface is None:
        raise UnicastPeersError(f"host {host} has no interface {ifname} in its facts")
    if family == 4:
        address = (iface.get("ipv4") or {}).get("address")
        if not address:
            raise UnicastPeersError(f"host {host} has no IPv4 address on {ifname}")
        return str(address)
    entries = [e for e in iface.get("ipv6") or () if isinstance(e, Mapping) and e.get("address")]
    for scope in ("global", "link"):
        for entry in entries:
            if entry.get("scope") == scope:
                return str(entry["address"])
    raise UnicastPeersError(f"host {host} has no global or link-local IPv6 address on {ifname}")


def fill(
    instances: Sequence[Mapping[str, Any]],
    *,
    host: str,
    groups: Mapping[str, Sequence[str]],
    facts_of: Callable[[str], Mapping[str, Any] | None],
) -> list[dict[str, Any]]:
    """``instances`` with ``unicast_peers_from`` replaced by peers and source; others as given."""
    out: list[dict[str, Any]] = []
    for index, inst in enumerate(instances):
        if not isinstance(inst, Mapping) or KEY not in inst:
            out.append(inst)  # type: ignore[arg-type]
            continue
        name = str(inst.get("name", f"#{index}"))
        group = inst[KEY]
        if "unicast_peers" in inst:
            raise UnicastPeersError(f"instance {name}: set unicast_peers or {KEY}, not both")
        if not isinstance(group, str) or group not in groups:
            raise UnicastPeersError(f"instance {name}: {KEY}: no inventory group {group!r}")
        ifname = inst.get("interface")
        if not isinstance(ifname, str):
            raise UnicastPeersError(f"instance {name}: {KEY} needs the instance's interface")
        family = _family(inst, name)
        peers = [h for h in dict.fromkeys(groups[group]) if h != host]
        if not peers:
            raise UnicastPeersError(f"instance {name}: {KEY}: group {group} has no host but {host}")
        try:
            filled = {k: v for k, v in inst.items() if k != KEY}
            filled["unicast_peers"] = [
                address_of(facts_of(peer), host=peer, ifname=ifname, family=family)
                for peer in peers
            ]
            if "unicast_source" not in inst:
                filled["unicast_source"] = address_of(
                    facts_of(host), host=host, ifname=ifname, family=family
                )
        except UnicastPeersError as exc:
            raise UnicastPeersError(f"instance {name}: {KEY}: {group}: {exc}") from None
        out.append(filled)
    return out
