"""The first election of a new virtual router: who should start it first.

With preempt off, whoever becomes Master of a VRID first keeps it. When
several hosts bring up a VRID that none of them runs yet, the winner is left
to the start order. The role stages the change instead: the host with the best
claim starts the new VRID alone and becomes Master, the others start it after
(they join as Backup of a Master they will not preempt).

Pure: declarations in, a staging out. The claim order is the state machine's
own (:func:`vrrp.fsm.outranks`: priority, the owner's 255 first, then the
higher primary address), never restated here.

- A virtual router is one (interface, address family, VRID) across the hosts
  (the planner's assumption too).
- Only new routers are staged: one that any host of the group runs is left to
  the protocol (a restarted host rejoins as Backup, preempt off keeps it so).
- Only the hosts that apply now count (``applying``: the play's batch); a
  host limited out or unreachable starts the VRID later, as a Backup.
- Nothing is staged when the winner preempts (it takes over anyway), when
  fewer than two applying hosts declare the router, or when the winner is
  undecided: a tie on priority where a primary address is unknown.
- A sync group is withheld on a host only with all its members; a group with a
  member that is not withheld keeps every member in the first stage.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any, Final

from .fsm import outranks
from .fsm_types import IPAddress
from .schema import property_defaults
from .source import primary_address

_DEFAULTS: Final = property_defaults("instance")

RouterKey = tuple[str, int, int]  # interface, address family (4 or 6), VRID

_EXTREMES: dict[int, tuple[IPAddress, IPAddress]] = {
    4: (IPv4Address(0), IPv4Address((1 << 32) - 1)),
    6: (IPv6Address(0), IPv6Address((1 << 128) - 1)),
}


@dataclass(frozen=True)
class Claim:
    """One host's declaration of one virtual router."""

    host: str
    name: str  # the instance's name on that host
    priority: int
    preempt: bool
    address: IPAddress | None = None  # the primary address on the interface; None: unknown


@dataclass(frozen=True)
class Staging:
    """What each host leaves out of the first stage, and what it waits to be Master of."""

    withhold: dict[str, list[str]] = field(default_factory=dict)  # host: instance names
    withhold_groups: dict[str, list[str]] = field(default_factory=dict)  # host: group names
    first: dict[str, list[str]] = field(default_factory=dict)  # host: instances to win first
    staged: list[dict[str, object]] = field(default_factory=list)  # one per staged router
    undecided: list[RouterKey] = field(default_factory=list)


def _beats(a: Claim, b: Claim, family: int) -> bool | None:
    """Whether ``a`` outranks ``b``; None when it depends on an unknown address."""
    low, high = _EXTREMES[family]
    verdicts = {
        outranks(
            priority=a.priority,
            address=a.address if a.address is not None else a_address,
            rival_priority=b.priority,
            rival_address=b.address if b.address is not None else b_address,
        )
        for a_address, b_address in ((low, high), (high, low))
    }
    return verdicts.pop() if len(verdicts) == 1 else None


def first_master(claims: Sequence[Claim], family: int) -> Claim | None:
    """The claim that wins when every claimant starts at once; None if undecided.

    The winner outranks every other claim whatever the unknown addresses are.
    """
    for best in claims:
        if all(_beats(best, c, family) is True for c in claims if c is not best):
            return best
    return None


def stage(
    routers: Mapping[RouterKey, Sequence[Claim]],
    *,
    running: Collection[RouterKey],
    applying: Collection[str],
    sync_groups: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
) -> Staging:
    """The staging of the new routers among ``routers`` (see the module docstring).

    ``sync_groups``: per host, its sync groups' member instance names by group name.
    """
    staging = Staging()
    for key in sorted(routers):
        if key in running:
            continue
        claims = [c for c in routers[key] if c.host in applying]
        if len({c.host for c in claims}) < 2:
            continue
        winner = first_master(claims, key[1])
        if winner is None:
            staging.undecided.append(key)
            continue
        if winner.preempt:
            continue
        staging.first.setdefault(winner.host, []).append(winner.name)
        for claim in claims:
            if claim.host != winner.host:
                staging.withhold.setdefault(claim.host, []).append(claim.name)
        staging.staged.append(
            {"interface": key[0], "family": key[1], "vrid": key[2], "first": winner.host}
        )
    for host, groups in (sync_groups or {}).items():
        _hold_groups_whole(staging, host, groups)
    return staging


def _hold_groups_whole(staging: Staging, host: str, groups: Mapping[str, Sequence[str]]) -> None:
    """Withhold a sync group with all its members, or none of them."""
    held = set(staging.withhold.get(host, ()))
    for group, members in sorted(groups.items()):
        if not held.intersection(members):
            continue
        if held.issuperset(members):
            staging.withhold_groups.setdefault(host, []).append(group)
        else:
            held.difference_update(members)
    if host in staging.withhold:
        staging.withhold[host] = [n for n in staging.withhold[host] if n in held]


def family_of(virtual_address: str) -> int:
    """The address family of an instance, from its first virtual address (``a.b.c.d/len``)."""
    return ip_address(virtual_address.split("/", 1)[0]).version


def router_key(instance: Mapping[str, Any]) -> RouterKey:
    """The virtual router of an instance (declared, or as the runner's state shows it)."""
    family = family_of(str(instance["virtual_addresses"][0]))
    return (str(instance["interface"]), family, int(instance["vrid"]))


def _claim(
    host: str, instance: Mapping[str, Any], candidates: Sequence[str] | None
) -> tuple[RouterKey, Claim]:
    values = {**_DEFAULTS, **instance}
    key = router_key(values)
    address: IPAddress | None = None
    source = values.get("unicast_source")
    if source is not None or candidates is not None:
        found = primary_address(
            candidates=candidates or (),
            version=key[1],
            virtual_addresses=frozenset(
                ip_address(str(v).split("/", 1)[0]) for v in values["virtual_addresses"]
            ),
            unicast_source=None if source is None else ip_address(str(source)),
            unicast_peers=[ip_address(str(p)) for p in values.get("unicast_peers") or ()],
        )
        address = None if found is None else ip_address(found)
    claim = Claim(
        host=host,
        name=str(values["name"]),
        priority=int(values["priority"]),
        preempt=bool(values["preempt"]),
        address=address,
    )
    return key, claim


def plan(
    declared: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    sync_groups: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    running: Mapping[str, Sequence[Mapping[str, Any]]],
    applying: Collection[str],
    candidates: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
) -> Staging:
    """:func:`stage` over declarations as the role holds them.

    ``declared``: per host, its instances (objects of the config schema, not
    yet validated: one that does not parse is never withheld, and the module
    that applies it names the error). ``sync_groups``: per host, its sync
    groups. ``running``: per host that answered, the instances its runner runs
    (``interface``, ``vrid``, ``virtual_addresses``). ``candidates``: per host
    and interface, its addresses in the kernel's order (gathered facts); an
    unknown address only matters for a tie.
    """
    routers: dict[RouterKey, list[Claim]] = {}
    for host, instances in declared.items():
        for instance in instances:
            try:
                interface = str(instance["interface"])
                known = (candidates or {}).get(host, {}).get(interface)
                key, claim = _claim(host, instance, known)
            except (KeyError, IndexError, TypeError, ValueError):
                continue
            routers.setdefault(key, []).append(claim)
    live: set[RouterKey] = set()
    for instances in running.values():
        for instance in instances:
            try:
                live.add(router_key(instance))
            except (KeyError, IndexError, TypeError, ValueError):
                continue
    groups = {
        host: {str(g.get("name")): [str(m) for m in g.get("members") or ()] for g in items}
        for host, items in (sync_groups or {}).items()
    }
    return stage(routers, running=live, applying=applying, sync_groups=groups)


def still_starting(states: Mapping[str, Any] | None, names: Sequence[str]) -> list[str]:
    """Those of ``names`` whose first election is still under way on a host.

    ``states``: the runner's instances (``vrrp_state``'s facts). MASTER is what
    the first stage waits for. Also the end of the wait: FAULT (it cannot win
    until the fault clears) and BACKUP of a live MASTER (a router outside the
    group, or outside the play, holds the VRID: preempt off keeps it there).
    The group's convergence check judges both.
    """
    known = states or {}
    return [name for name in names if not _settled(known.get(name))]


def _settled(state: object) -> bool:
    if not isinstance(state, Mapping):
        return False
    if state.get("state") in ("MASTER", "FAULT"):
        return True
    return state.get("state") == "BACKUP" and bool(
        state.get("master") and state.get("master_priority")
    )
