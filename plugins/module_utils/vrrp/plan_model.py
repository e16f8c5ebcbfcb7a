"""The election planner's input: hosts' declared configs grouped into virtual routers.

Pure. Each host declares its instances and sync groups as the role takes them
(items of the config schema); each is checked and normalized by the one
configuration builder (:mod:`.config`). Instances with the same interface
name, address family and VRID on different hosts are taken to be one virtual
router (one LAN per interface name: the documented assumption of the plan).

A member's primary address (its advert source) is its ``unicast_source``, or
the host's address on the interface when known (gathered facts), or unknown:
then a tie on priority cannot be decided before the hosts are seen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import ip_address
from typing import Any

from ._deps import MissingLibraryError
from .config import Config, InstanceConfig, build, load_config
from .config_files import Source
from .errors import VRRPError
from .fsm_types import IPAddress
from .instance import trackers_of
from .tracking import Tracker, Tracking


@dataclass(frozen=True)
class HostInput:
    """One host as the planner sees it.

    ``addresses``: interface name → family (4 or 6) → the host's primary
    address there (IPv4 primary, IPv6 link-local; as gathered facts give
    them). ``live``: instance name → that instance's live facts (the
    ``instances`` of ``vrrp_state``'s ``vrrp`` facts), None when not gathered.
    """

    name: str
    instances: Sequence[Mapping[str, Any]] = ()
    sync_groups: Sequence[Mapping[str, Any]] = ()
    addresses: Mapping[str, Mapping[int, str]] = field(default_factory=dict)
    live: Mapping[str, Mapping[str, Any]] | None = None


@dataclass(frozen=True, order=True)
class RouterKey:
    """One virtual router: a VRID on one segment (interface name) and family."""

    interface: str
    family: int
    vrid: int

    def words(self) -> str:
        return f"VRID {self.vrid} on {self.interface} (IPv{self.family})"


@dataclass(frozen=True)
class Member:
    """One host's instance of a virtual router."""

    host: str
    cfg: InstanceConfig
    group: str | None
    source: IPAddress | None  # None: unknown before the host is seen
    live_state: str | None  # the live state, None when not known

    @property
    def key(self) -> RouterKey:
        return RouterKey(self.cfg.interface, self.cfg.family, self.cfg.vrid)

    @property
    def trackers(self) -> list[Tracker]:
        return trackers_of(self.cfg)

    @property
    def effective_priority(self) -> int:
        """The priority with every tracked object up (as the runner starts it)."""
        tracking = Tracking(base_priority=self.cfg.priority, trackers=self.trackers)
        return tracking.result().effective_priority


@dataclass(frozen=True)
class Declared:
    """Every host's members grouped into virtual routers, and what could not be read."""

    routers: dict[RouterKey, tuple[Member, ...]]
    groups: dict[tuple[str, str], tuple[RouterKey, ...]]  # (host, group) → its routers
    invalid: dict[str, str]  # host → why its declaration was refused


class PlanInputError(VRRPError):
    """The planner's input is not what it takes (not a host's config error)."""


def host_config(host: HostInput) -> Config:
    """The host's declared configuration, checked as the runner would check it.

    Without jsonschema on the controller only the checks in code are made.
    """
    data = {"instances": list(host.instances), "sync_groups": list(host.sync_groups)}
    try:
        return load_config(data)
    except MissingLibraryError:
        return build(Source(f"host {host.name}", False, (), data), validate=None)


def _source(host: HostInput, cfg: InstanceConfig) -> IPAddress | None:
    if cfg.unicast_source is not None:
        return cfg.unicast_source
    text = host.addresses.get(cfg.interface, {}).get(cfg.family)
    if not text:
        return None
    try:
        address = ip_address(str(text).split("%", maxsplit=1)[0])
    except ValueError:
        raise PlanInputError(
            f"host {host.name}: {text!r} is not an address ({cfg.interface}, IPv{cfg.family})"
        ) from None
    return address if address.version == cfg.family else None


def declare(hosts: Sequence[HostInput]) -> Declared:
    """Group the hosts' instances into virtual routers."""
    names = [host.name for host in hosts]
    if len(set(names)) != len(names):
        raise PlanInputError(f"a host is listed twice: {', '.join(names)}")
    routers: dict[RouterKey, list[Member]] = {}
    groups: dict[tuple[str, str], tuple[RouterKey, ...]] = {}
    invalid: dict[str, str] = {}
    for host in hosts:
        try:
            config = host_config(host)
        except VRRPError as exc:
            invalid[host.name] = str(exc)
            continue
        group_of = {m: g.name for g in config.sync_groups for m in g.members}
        for cfg in config.instances:
            live = (host.live or {}).get(cfg.name)
            state = None if live is None else str(live.get("state") or "") or None
            member = Member(host.name, cfg, group_of.get(cfg.name), _source(host, cfg), state)
            routers.setdefault(member.key, []).append(member)
        for group in config.sync_groups:
            keys = tuple(
                RouterKey(c.interface, c.family, c.vrid)
                for c in config.instances
                if c.name in group.members
            )
            groups[(host.name, group.name)] = keys
    return Declared({k: tuple(routers[k]) for k in sorted(routers)}, groups, invalid)


def components(declared: Declared) -> list[list[RouterKey]]:
    """Virtual routers bound together by sync groups (on any host), each list sorted.

    Routers of different components never influence each other: each is
    simulated on its own.
    """
    parent = {key: key for key in declared.routers}

    def root(key: RouterKey) -> RouterKey:
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for keys in declared.groups.values():
        for key in keys[1:]:
            parent[root(key)] = root(keys[0])
    out: dict[RouterKey, list[RouterKey]] = {}
    for key in declared.routers:
        out.setdefault(root(key), []).append(key)
    return sorted(sorted(keys) for keys in out.values())
