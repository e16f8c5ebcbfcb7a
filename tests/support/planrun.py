"""An independent check of the election planner: run a configuration on the simulated LAN.

Written apart from ``vrrp.plan_sim`` on purpose: its own start and failure
driver, the real codec on the wire (encode, decode), another latency, jitter,
other stand-in addresses for hosts whose address the plan does not know, and
a fixed, generous running time instead of "until quiet". The planner's
prediction must be what this run elects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from ipaddress import ip_address
from typing import Any

from vrrp.config import load_config
from vrrp.fsm import State, VirtualRouter
from vrrp.fsm_types import IPAddress, Startup
from vrrp.group import SyncGroup
from vrrp.instance import router_params, trackers_of
from vrrp.simlan import SimLAN
from vrrp.tracking import Tracking, TrackKind

RouterId = tuple[str, int, int]  # interface, family, vrid


class Run:
    """Hosts (name → {"instances", "sync_groups", "address"}) on one simulated LAN."""

    def __init__(self, hosts: Mapping[str, Mapping[str, Any]], *, seed: int) -> None:
        self.lan = SimLAN(latency=0.0004, jitter=0.0006, seed=seed, codec=True)
        self.where: dict[tuple[str, RouterId], tuple[str, str]] = {}
        self.tracking: dict[tuple[str, str], tuple[str, str, Tracking]] = {}
        self.nodes: dict[str, list[str]] = {}
        self.longest = 0.0
        for index, (host, spec) in enumerate(sorted(hosts.items())):
            config = load_config(
                {"instances": spec["instances"], "sync_groups": spec.get("sync_groups", [])}
            )
            grouped = {m: g.name for g in config.sync_groups for m in g.members}
            units: dict[str, dict[str, VirtualRouter]] = {}
            segments: dict[str, dict[str, str]] = {}
            for cfg in config.instances:
                known = spec.get("address")
                source: IPAddress = ip_address(known or f"192.0.2.{200 - index}")
                if cfg.family == 6:
                    source = ip_address(f"fe80::{int(source) & 0xFF:x}")
                params = router_params(replace(cfg, unicast_peers=()), primary=source)
                group = grouped.get(cfg.name)
                node = f"{host}/{group or 'solo-' + cfg.name}"
                member = cfg.name if group else node
                units.setdefault(node, {})[member] = VirtualRouter(params)
                segments.setdefault(node, {})[member] = cfg.interface
                tracking = Tracking(base_priority=cfg.priority, trackers=trackers_of(cfg))
                self.tracking[(host, cfg.name)] = (node, member, tracking)
                self.where[(host, (cfg.interface, cfg.family, cfg.vrid))] = (node, member)
                self.longest = max(self.longest, 3 * cfg.advert_interval + 1 + cfg.preempt_delay)
            self.nodes[host] = sorted(units)
            for node, routers in units.items():
                if node in routers:
                    self.lan.add(node, routers[node], segments=segments[node])
                else:
                    group = node.split("/", 1)[1]
                    self.lan.add(node, SyncGroup(group, routers), segments=segments[node])
        self.down: set[str] = set()

    def start(self, hosts: Sequence[str]) -> None:
        for host in hosts:
            for node in self.nodes[host]:
                startup = {}
                for n, member, tracking in self.tracking.values():
                    if n == node:
                        result = tracking.result()
                        startup[member] = Startup(
                            faults=result.faults, priority=result.effective_priority
                        )
                self.lan.start(node, startup=startup)

    def run(self) -> None:
        self.lan.run_for(12 * self.longest + 5)

    def fail(self, kind: str, host: str, name: str | None) -> None:
        if kind == "host_down":
            for node in self.nodes[host]:
                self.lan.crash(node)
            self.down.add(host)
            return
        for (h, _inst), (node, member, tracking) in self.tracking.items():
            if h != host:
                continue
            if kind == "host_demoted":
                self.lan.demote(node, 0, member=member)
                continue
            if (TrackKind(kind), name) not in tracking.trackers:
                continue
            before = tracking.result()
            if kind == "interface":
                after = tracking.set_interface(str(name), up=False)
            elif kind == "script":
                after = tracking.set_script(str(name), ok=False)
            else:
                after = tracking.set_file(str(name), value=1)
            self.lan.set_priority(node, after.effective_priority, member=member)
            for reason in after.faults - before.faults:
                self.lan.fault(node, reason, member=member)

    def masters(self, key: RouterId) -> list[str]:
        out = []
        for (host, k), (node, member) in self.where.items():
            router = self.lan.router(node, member)
            if k == key and host not in self.down and router.state is State.MASTER:
                out.append(host)
        return sorted(out)
