"""What the chaos driver checks: VIPs from netlink, states from the control sockets.

The invariants, after a fault has settled:

- exactly one router holds each VIP and reports MASTER for its instance; the
  others report BACKUP or FAULT (``split_brain_ok``: while VRRP is cut one way,
  several Masters are the protocol's answer, so only the next rule holds);
- no router holds a VIP it does not report MASTER for;
- the sync group's members are MASTER together on one router or not at all;
- no runner exits unless stopped on purpose, and none logs a traceback.

A router whose runner was stopped on purpose is left out (SIGKILL leaves its
VIPs behind by design; the restart removes them). Settling polls until the
invariants hold or a generous deadline passes: the box is loaded and shared.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Final

from vrrp.errors import VRRPError

from .scenario import GROUP, ROUTERS, SPECS, World

POLL_S: Final = 0.2
GOOD_STATES: Final = frozenset({"BACKUP", "FAULT"})


@dataclass
class Snapshot:
    """Each live router's instance states and every address it holds (any device)."""

    states: dict[str, dict[str, str]] = field(default_factory=dict)
    addresses: dict[str, set[str]] = field(default_factory=dict)
    unanswered: dict[str, str] = field(default_factory=dict)


def _addresses(world: World, router: str) -> set[str]:
    out: set[str] = set()
    for link in world.lab.ip_json(world.routers[router], "addr", "show"):
        out.update(str(a["local"]) for a in link.get("addr_info", []))
    return out


def snapshot(world: World) -> Snapshot:
    snap = Snapshot()
    for name in ROUTERS:
        if name in world.down:
            continue
        snap.addresses[name] = _addresses(world, name)
        try:
            instances = world.runners[name].result("state")["instances"]
            snap.states[name] = {k: str(v["state"]) for k, v in instances.items()}
        except (VRRPError, RuntimeError, OSError) as exc:
            snap.unanswered[name] = str(exc)
    return snap


def violations(snap: Snapshot, *, split_brain_ok: bool = False) -> list[str]:
    """The invariants broken in ``snap`` (empty: all hold)."""
    found = [f"{r}: control socket: {why}" for r, why in snap.unanswered.items()]
    for spec in SPECS:
        masters = sorted(r for r, s in snap.states.items() if s.get(spec.name) == "MASTER")
        odd = {r: s.get(spec.name) for r, s in snap.states.items()}
        odd = {r: s for r, s in odd.items() if s != "MASTER" and s not in GOOD_STATES}
        if odd:
            found.append(f"{spec.name}: states {odd}")
        if len(masters) != 1 and not (split_brain_ok and masters):
            found.append(f"{spec.name}: MASTER on {masters or 'no router'}")
        for vip in spec.vips:
            address = vip.split("/")[0]
            holders = sorted(r for r, a in snap.addresses.items() if address in a)
            strays = [r for r in holders if r not in masters and r not in snap.unanswered]
            if strays:
                found.append(f"{spec.name}: {address} held by non-MASTER {strays}")
            missing = [r for r in masters if r not in holders]
            if missing:
                found.append(f"{spec.name}: MASTER {missing} without {address}")
    for router, states in snap.states.items():
        # RFC 9568 has no sync groups; ours move their members together
        members = {m: states.get(m) for m in GROUP}
        if len(set(members.values())) > 1 and "MASTER" in members.values():
            found.append(f"sync group on {router} split: {members}")
    return found


def settle(
    world: World, *, timeout: float, split_brain_ok: bool = False
) -> tuple[float, list[str]]:
    """Poll until the invariants hold: (seconds it took, []) or (timeout, what still fails)."""
    started = time.monotonic()
    last: list[str] = []
    while True:
        last = violations(snapshot(world), split_brain_ok=split_brain_ok)
        elapsed = time.monotonic() - started
        if not last or elapsed >= timeout:
            return elapsed, last
        time.sleep(POLL_S)


class Health:
    """Runner exits nobody asked for and tracebacks in the runners' logs, each reported once."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.seen: dict[int, int] = {}  # pid -> log characters already read
        self.reported: set[int] = set()

    def check(self) -> list[str]:
        found: list[str] = []
        for name in ROUTERS:
            runner = self.world.runners[name]
            proc = runner.proc
            if proc is None:
                continue
            log = runner.log()
            fresh = log[self.seen.get(proc.pid, 0) :]
            self.seen[proc.pid] = len(log)
            if "Traceback (most recent call last)" in fresh:
                start = fresh.index("Traceback (most recent call last)")
                found.append(f"{name}: traceback in the runner log:\n{fresh[start : start + 1500]}")
            exited = proc.poll() is not None and name not in self.world.down
            if exited and proc.pid not in self.reported:
                self.reported.add(proc.pid)
                found.append(f"{name}: runner exited ({proc.returncode}):\n{log[-1500:]}")
        return found


# --- the probe flow, cut into fault windows ----------------------------------------


def probe_report(text: str) -> dict[str, Any]:
    """The JSON line ``chaos.probe`` printed last."""
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            return dict(json.loads(line))
    raise ValueError(f"no report from the probe flow:\n{text[-2000:]}")


def loss_in(report: dict[str, Any], start: float, end: float) -> tuple[int, int, float]:
    """(requests sent, lost, longest outage in ms) over all VIPs within [start, end)."""
    sent = lost = 0
    longest = 0.0
    rate = float(report["rate"])
    for data in report["vips"].values():
        answered = set(data["answered"])
        run = 0
        for seq, t in enumerate(data["sent_at"]):
            if not start <= t < end:
                continue
            sent += 1
            if seq in answered:
                run = 0
            else:
                lost += 1
                run += 1
                longest = max(longest, run * 1000 / rate)
    return sent, lost, longest
