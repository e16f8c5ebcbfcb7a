"""The chaos lab: three routers and a client on two LANs, every kind of instance.

- ``br0`` (192.0.2.0/24, 2001:db8::/64): r1, r2, r3 and the client h1 on eth0.
- ``br1`` (198.51.100.0/24): the same four on eth1, for the sync group's
  second member.

Instances on every router (0.1 s adverts, accept mode so the VIPs answer the
probe flow): IPv4 and IPv6 over multicast and unicast, one with a VMAC, and a
sync group ``g`` of ``out`` (eth0) and ``in`` (eth1). Each instance has its own
Master by priority, so the faults hit different roles; ``v4m`` tracks a
script (a flag file per router) with weight -120.
"""

from __future__ import annotations

import copy
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from lab import Lab, Router
from lab.runner import RunnerProc, add_second_link, runner_config, vrrp_instance

ROUTERS: Final = ("r1", "r2", "r3")
HOST: Final = {"r1": 11, "r2": 12, "r3": 13, "h1": 99}
INTERVAL: Final = 0.1
PRIORITIES: Final = (200, 150, 100)
PROMOTE: Final = "net.ipv4.conf.all.promote_secondaries=1"  # all OR each device


@dataclass(frozen=True)
class Spec:
    """One VRRP instance of the scenario, as every router runs it."""

    name: str
    vrid: int
    vips: tuple[str, ...]
    lead: int  # index into ROUTERS of the router that has the top priority
    interface: str = "eth0"
    unicast: bool = False
    vmac: bool = False

    @property
    def probe(self) -> str:
        """The VIP the client probes (the last one: never the IPv6 link-local)."""
        return self.vips[-1].split("/")[0]

    @property
    def v6(self) -> bool:
        return ":" in self.probe

    @property
    def vip_device(self) -> str:
        """Where the Master puts the VIPs (the VMAC macvlan, else the interface)."""
        return f"vrrp{'6' if self.v6 else ''}.{self.vrid}" if self.vmac else self.interface


SPECS: Final = (
    Spec("v4m", 51, ("192.0.2.151/24",), lead=0),
    Spec("v6m", 52, ("fe80::52/64", "2001:db8::152/64"), lead=1),
    Spec("v4u", 53, ("192.0.2.153/24",), lead=2, unicast=True),
    Spec("v6u", 54, ("fe80::54/64", "2001:db8::154/64"), lead=0, unicast=True),
    Spec("vm", 55, ("192.0.2.155/24",), lead=1, vmac=True),
    Spec("out", 56, ("192.0.2.156/24",), lead=2),
    Spec("in", 57, ("198.51.100.157/24",), lead=2, interface="eth1"),
)
SPEC: Final = {s.name: s for s in SPECS}
GROUP: Final = ("out", "in")
TRACKED: Final = "v4m"


def v4(name: str) -> str:
    return f"192.0.2.{HOST[name]}"


def v6(name: str) -> str:
    return f"2001:db8::{HOST[name]}"


def inside(name: str) -> str:
    return f"198.51.100.{HOST[name]}"


def base_priority(spec: Spec, router: str) -> int:
    return PRIORITIES[(ROUTERS.index(router) - spec.lead) % len(ROUTERS)]


class World:
    """The lab, its runners and their configs; what faults act on and observation reads."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.routers: dict[str, Router] = {}
        self.runners: dict[str, RunnerProc] = {}
        self.flags: dict[str, Path] = {}
        self.priority: dict[tuple[str, str], int] = {}
        self.overrides: dict[tuple[str, str], dict[str, Any]] = {}
        self.down: set[str] = set()  # routers whose runner is stopped on purpose
        self.ports_in: dict[str, str] = {}
        for name in (*ROUTERS, "h1"):
            router = lab.add_router(name, v4=f"{v4(name)}/24", v6=f"{v6(name)}/64")
            self.ports_in[name] = add_second_link(lab, router, v4=f"{inside(name)}/24")
            # keep the global IPv6 address over a link flap, as an admin's ifupdown
            # would; promote a secondary IPv4 address when the primary goes, as
            # systemd's sysctl defaults do (else renumbering flushes the VIPs)
            sysctls = ["net.ipv6.conf.eth0.keep_addr_on_down=1", PROMOTE]
            lab.run(router, ["sysctl", "-q", "-w", *sysctls], check=True)
            self.routers[name] = router
        self.client = self.routers.pop("h1")
        for name in ROUTERS:
            self.flags[name] = lab.tmpdir / f"healthy-{name}"
            self.flags[name].touch()
            for spec in SPECS:
                self.priority[name, spec.name] = base_priority(spec, name)
            self.runners[name] = RunnerProc(lab, self.routers[name], self.config(name))

    # --- configuration -------------------------------------------------------

    def instance_config(self, router: str, spec: Spec) -> dict[str, Any]:
        extra: dict[str, Any] = {"accept": True}
        if spec.unicast:
            peers = [r for r in ROUTERS if r != router]
            extra["unicast_peers"] = [v6(p) if spec.v6 else v4(p) for p in peers]
            if spec.v6:
                extra["unicast_source"] = v6(router)
        if spec.vmac:
            extra["vmac"] = True
        if spec.name == TRACKED:
            extra["track_scripts"] = [{
                "name": "health",
                "argv": ["/bin/sh", "-c", f"test -e {self.flags[router]}"],
                "interval": 0.1,
                "weight": -120,
            }]  # fmt: skip
        extra.update(self.overrides.get((router, spec.name), {}))
        return vrrp_instance(
            spec.name,
            vrid=spec.vrid,
            priority=self.priority[router, spec.name],
            vips=list(spec.vips),
            interface=spec.interface,
            interval=INTERVAL,
            **extra,
        )

    def config(self, router: str) -> dict[str, Any]:
        return runner_config(
            *(self.instance_config(router, spec) for spec in SPECS),
            sync_groups=[{"name": "g", "members": list(GROUP)}],
        )

    def reload(self, router: str) -> dict[str, Any]:
        """Write ``router``'s config from the current priorities/overrides and reload it."""
        runner = self.runners[router]
        runner.write_config(self.config(router))
        return copy.deepcopy(runner.request("reload"))

    # --- runners ---------------------------------------------------------------

    def start(self, router: str) -> None:
        self.runners[router].write_config(self.config(router))
        self.runners[router].start()
        self.down.discard(router)

    def kill(self, router: str, sig: int = signal.SIGKILL) -> int:
        """Stop ``router``'s runner with ``sig`` (SIGTERM waits for the exit); its status."""
        runner = self.runners[router]
        self.down.add(router)
        if sig == signal.SIGTERM:
            return runner.stop()
        runner.kill()
        return 0

    def start_all(self) -> None:
        for name in ROUTERS:
            self.start(name)

    def master_of(self, instance: str) -> str | None:
        """The router whose runner reports MASTER for ``instance`` (the first one)."""
        for name in ROUTERS:
            if name in self.down:
                continue
            try:
                if self.runners[name].state_of(instance) == "MASTER":
                    return name
            except (OSError, RuntimeError, KeyError):
                continue
        return None
