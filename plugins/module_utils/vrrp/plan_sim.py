"""The election planner's simulations: the hosts' own state machines on a simulated LAN.

No rule of the election is restated here. Each host's instances become the
very :class:`~.fsm.VirtualRouter` objects the runner builds (a
:class:`~.group.SyncGroup` for a sync group), with the priority
:class:`~.tracking.Tracking` computes; they run on :class:`~.simlan.SimLAN`,
one segment per interface name, until nothing moves any more. A failure
(:class:`Failure`) is fed the way the runner feeds it: a tracker result
through ``Tracking``, a crash, a maintenance demotion.

Start: with no live state, every host starts at the same instant (the
highest priority's Master_Down_Timer expires first). With live state, the
hosts that are MASTER now start first and the others join once they have
settled, so that preempt off keeps them, as it does on the hosts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from ipaddress import IPv4Address, IPv6Address
from typing import Final

from .fsm import State, VirtualRouter
from .fsm_types import IPAddress, Startup
from .group import SyncGroup
from .instance import router_params
from .plan_model import Declared, Member, RouterKey
from .simlan import SimLAN
from .tracking import Tracking, TrackKind

# Quiet periods (each long enough for any timer to fire) before a run counts
# as settled, and the most periods a run may take.
_QUIET_PERIODS: Final = 2
_MAX_PERIODS: Final = 60
_LATENCY: Final = 0.001
_FAILED_VALUE: Final = {TrackKind.INTERFACE: 0, TrackKind.SCRIPT: 0, TrackKind.FILE: 1}


@dataclass(frozen=True, order=True)
class Failure:
    """One single failure: ``kind`` is ``interface``, ``script`` or ``file`` (a
    tracked object of that name down, failing, or reading 1), ``host_down``
    (the host crashes) or ``host_demoted`` (maintenance: every instance of
    the host resigns, priority 0)."""

    host: str
    kind: str
    name: str = ""

    def words(self) -> str:
        if self.kind == "host_down":
            return f"{self.host} down"
        if self.kind == "host_demoted":
            return f"{self.host} demoted (maintenance, priority 0)"
        what = {"interface": "down", "script": "failing", "file": "reading 1"}[self.kind]
        return f"tracked {self.kind} {self.name} {what} on {self.host}"


@dataclass(frozen=True)
class Outcome:
    """Where one virtual router settled: its Masters and each member's end state."""

    masters: tuple[str, ...]  # hosts
    states: dict[str, State]  # host → state (INIT when down)
    priorities: dict[str, int]  # host → effective priority at the end
    settled: bool


def sim_address(family: int, index: int) -> IPAddress:
    """A stand-in source for a member whose address is unknown (documentation ranges)."""
    if family == 4:
        return IPv4Address(f"198.51.100.{1 + index % 250}")
    return IPv6Address(f"fe80::5eed:{1 + index:x}")


def failures(members: Sequence[Member]) -> list[Failure]:
    """Every single failure that can touch these members, in a stable order."""
    found: set[Failure] = set()
    for member in members:
        found.add(Failure(member.host, "host_down"))
        found.add(Failure(member.host, "host_demoted"))
        for tracker in member.trackers:
            found.add(Failure(member.host, tracker.kind.value, tracker.name))
    return sorted(found)


class _Run:
    """One simulated run of a component (virtual routers bound by sync groups)."""

    def __init__(self, declared: Declared, keys: Sequence[RouterKey], *, reverse: bool) -> None:
        self.lan = SimLAN(latency=_LATENCY)
        self.keys = list(keys)
        self.members: list[Member] = [m for k in keys for m in declared.routers[k]]
        known = all(m.source is not None for m in self.members)
        hosts = sorted({m.host for m in self.members}, reverse=reverse)
        self.node_of: dict[tuple[str, str], tuple[str, str]] = {}  # (host, inst) → (node, member)
        self.nodes_of: dict[str, list[str]] = {host: [] for host in hosts}
        self.tracking: dict[tuple[str, str], Tracking] = {}
        units: dict[tuple[str, str], dict[str, VirtualRouter]] = {}
        segments: dict[tuple[str, str], dict[str, str]] = {}
        for member in self.members:
            source = member.source or sim_address(member.cfg.family, hosts.index(member.host))
            # Peers cannot be checked against unknown sources: plain multicast.
            cfg = member.cfg if known else replace(member.cfg, unicast_peers=())
            params = router_params(cfg, primary=source)
            unit = (member.host, member.group or f"instance:{member.cfg.name}")
            units.setdefault(unit, {})[member.cfg.name] = VirtualRouter(params)
            segments.setdefault(unit, {})[member.cfg.name] = member.cfg.interface
            self.tracking[(member.host, member.cfg.name)] = Tracking(
                base_priority=member.cfg.priority, trackers=member.trackers
            )
        for (host, unit_name), routers in units.items():
            node = f"{host}\n{unit_name}"
            if unit_name.startswith("instance:"):
                ((inst, router),) = routers.items()
                self.lan.add(node, router, segments={node: segments[(host, unit_name)][inst]})
                self.node_of[(host, inst)] = (node, node)
            else:
                self.lan.add(
                    node, SyncGroup(unit_name, routers), segments=segments[(host, unit_name)]
                )
                for inst in routers:
                    self.node_of[(host, inst)] = (node, inst)
            self.nodes_of[host].append(node)
        self.down: set[str] = set()

    # -- running --------------------------------------------------------------------

    def _period(self) -> float:
        """Longer than any timer of the component: two Master_Down_Intervals plus
        the preempt delay (a delay ends, then the Master_Down_Timer runs)."""
        longest = max(
            2 * (3 * m.cfg.advert_interval_cs / 100 + 1) + m.cfg.preempt_delay for m in self.members
        )
        return longest + 10 * _LATENCY

    def settle(self) -> bool:
        """Run until no transition happens for a few periods; False if it never settles."""
        quiet = 0
        for _unused in range(_MAX_PERIODS):
            before = len(self.lan.history)
            self.lan.run_for(self._period())
            quiet = quiet + 1 if len(self.lan.history) == before else 0
            if quiet >= _QUIET_PERIODS:
                return True
        return False

    def start(self, hosts: Sequence[str]) -> None:
        for host in hosts:
            for node in self.nodes_of[host]:
                startup: dict[str, Startup] = {}
                for (h, inst), (n, member) in self.node_of.items():
                    if h == host and n == node:
                        result = self.tracking[(host, inst)].result()
                        startup[member] = Startup(
                            faults=result.faults, priority=result.effective_priority
                        )
                self.lan.start(node, startup=startup)

    def fail(self, failure: Failure) -> None:
        host = failure.host
        if failure.kind == "host_down":
            for node in self.nodes_of[host]:
                self.lan.crash(node)
            self.down.add(host)
            return
        for (h, inst), (node, member) in self.node_of.items():
            if h != host:
                continue
            if failure.kind == "host_demoted":
                self.lan.demote(node, 0, member=member)
                continue
            tracking = self.tracking[(h, inst)]
            kind = TrackKind(failure.kind)
            if (kind, failure.name) not in tracking.trackers:
                continue
            before = tracking.result()
            if kind is TrackKind.INTERFACE:
                after = tracking.set_interface(failure.name, up=False)
            elif kind is TrackKind.SCRIPT:
                after = tracking.set_script(failure.name, ok=False)
            else:
                after = tracking.set_file(failure.name, value=_FAILED_VALUE[kind])
            if after.effective_priority != before.effective_priority:
                self.lan.set_priority(node, after.effective_priority, member=member)
            for reason in sorted(after.faults - before.faults):
                self.lan.fault(node, reason, member=member)

    # -- reading ----------------------------------------------------------------------

    def outcome(self, declared: Declared, key: RouterKey, *, settled: bool) -> Outcome:
        states: dict[str, State] = {}
        priorities: dict[str, int] = {}
        for member in declared.routers[key]:
            node, name = self.node_of[(member.host, member.cfg.name)]
            router = self.lan.router(node, name)
            down = member.host in self.down
            states[member.host] = State.INIT if down else router.state
            priorities[member.host] = router.effective_priority
        masters = tuple(sorted(h for h, s in states.items() if s is State.MASTER))
        return Outcome(masters, states, priorities, settled)


def simulate(
    declared: Declared,
    keys: Sequence[RouterKey],
    *,
    current: Sequence[str] = (),
    failure: Failure | None = None,
    reverse: bool = False,
) -> dict[RouterKey, Outcome]:
    """Run one component: start (``current``: the hosts MASTER now start first),
    settle, then apply ``failure`` and settle again; where each router ends.

    ``reverse``: the stand-in addresses of members whose address is unknown
    go the other way (host names descending): an outcome that differs then
    depends on addresses nobody knows yet.
    """
    run = _Run(declared, keys, reverse=reverse)
    hosts = list(run.nodes_of)
    first = [h for h in hosts if h in current]
    settled = True
    if first:
        run.start(first)
        settled = run.settle()
    run.start([h for h in hosts if h not in first])
    settled = run.settle() and settled
    if failure is not None:
        run.fail(failure)
        settled = run.settle() and settled
    return {key: run.outcome(declared, key, settled=settled) for key in keys}
