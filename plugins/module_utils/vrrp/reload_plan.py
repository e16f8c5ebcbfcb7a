"""The reload planner: what a new configuration means for the running one.

Pure: ``plan(running, old, new)`` compares the configurations and says, for
every instance, how the runner must bring it from the old definition to the
new one. No kernel, no clock, no state machine is touched here.

- **kept**: the same definition in the same sync group: left alone.
- **changed** (in place): everything the protocol lets a running virtual
  router change without being another router: priority and tracking, preempt
  settings, advert interval, authentication, accept mode, unicast peers,
  checksum form, GARP and notify settings, and the set of virtual addresses
  (a Master adds and removes them and announces the new ones), and the sync
  group it belongs to. State and timers are kept; the core decides what the
  change means (:class:`~vrrp.fsm_types.Reconfigure`, a new base priority
  through :meth:`~vrrp.tracking.Tracking.reconfigure`): a change that keeps
  this host the rightful Master moves nothing, one that makes it lose hands
  over the way the protocol does, make before break.
- **recreated**: a change of what the virtual router *is* on the wire and in
  the kernel (:func:`identity`: interface, VRID, version, address family,
  source address, VMAC settings): the old one is shut down (its priority-0
  advert), a new one starts from Initialize.
- **added** / **removed**: names only in the new / old configuration.

Sync groups are plain sets of members (a :class:`~vrrp.group.SyncGroup` holds
no state of its own beyond its members' routers), so the runner builds every
group of the new configuration again from the routers as they are;
``regrouped`` lists the instances whose group changed (joined, left, moved,
or a group whose member set changed), which are in place changes as well.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Any, Union

from .config_types import Config, InstanceConfig

IPAddress = Union[IPv4Address, IPv6Address]


@dataclass(frozen=True)
class Plan:
    """How to go from the running set to the new configuration; names sorted
    in the new configuration's order (removed ones in the old order)."""

    added: tuple[str, ...]
    changed: tuple[str, ...]
    recreated: tuple[str, ...]
    removed: tuple[str, ...]
    kept: tuple[str, ...]
    regrouped: tuple[str, ...]
    group_of: Mapping[str, str]

    def report(self) -> dict[str, list[str]]:
        """What the reload did, for the control socket and the log."""
        return {
            "added": list(self.added),
            "changed": list(self.changed),
            "recreated": list(self.recreated),
            "removed": list(self.removed),
            "kept": list(self.kept),
        }


def identity(cfg: InstanceConfig) -> tuple[Any, ...]:
    """What a virtual router is: a change of any of these re-creates it.

    The interface, VRID, version and address family name the router on the
    wire (RFC 9568 §5.2.3); the source address is its identity in elections
    (RFC 9568 §6.4.3, the tie-break); VMAC settings are a kernel interface of
    their own (and a VMAC instance with unicast peers sends and hears on the
    parent instead: where its socket lives).
    """
    return (
        cfg.interface,
        cfg.vrid,
        cfg.version,
        cfg.family,
        cfg.unicast_source,
        cfg.vmac,
        cfg.vmac_interface,
        cfg.vmac and not cfg.unicast_peers,
    )


def readdressed(old: InstanceConfig, new: InstanceConfig) -> tuple[IPAddress, ...]:
    """Virtual addresses that stay but whose prefix length changed.

    The core knows addresses, not prefixes: for the kernel these are other
    addresses, to be removed and added again on a Master.
    """
    before = {vip.ip: vip for vip in old.virtual_addresses}
    return tuple(
        vip.ip
        for vip in new.virtual_addresses
        if vip.ip in before and before[vip.ip].network != vip.network
    )


def _group_of(config: Config | None) -> dict[str, str]:
    if config is None:
        return {}
    return {member: group.name for group in config.sync_groups for member in group.members}


def _members(config: Config | None) -> dict[str, frozenset[str]]:
    if config is None:
        return {}
    return {group.name: frozenset(group.members) for group in config.sync_groups}


def plan(running: Mapping[str, InstanceConfig], old: Config | None, new: Config) -> Plan:
    """Classify every instance of ``running`` and ``new``; see the module docstring.

    ``running`` maps each running instance to the definition it runs with;
    ``old`` is the configuration it was built from (its sync groups).
    """
    old_group, new_group = _group_of(old), _group_of(new)
    old_members, new_members = _members(old), _members(new)
    added: list[str] = []
    changed: list[str] = []
    recreated: list[str] = []
    kept: list[str] = []
    regrouped: list[str] = []
    for cfg in new.instances:
        name = cfg.name
        now = running.get(name)
        if now is None:
            added.append(name)
            continue
        if identity(now) != identity(cfg):
            recreated.append(name)
            continue
        group = new_group.get(name)
        same_group = group == old_group.get(name) and (
            group is None or old_members.get(group) == new_members.get(group)
        )
        if not same_group:
            regrouped.append(name)
        if now == cfg and same_group:
            kept.append(name)
        else:
            changed.append(name)
    wanted = {cfg.name for cfg in new.instances}
    removed = [name for name in running if name not in wanted]
    return Plan(
        added=tuple(added),
        changed=tuple(changed),
        recreated=tuple(recreated),
        removed=tuple(removed),
        kept=tuple(kept),
        regrouped=tuple(regrouped),
        group_of=new_group,
    )
