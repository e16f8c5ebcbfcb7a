"""``make demo``: two routers elect a Master, lose it, take over, and get it back.

Builds a two-router lab (network namespaces on a bridge, ``tests/lab``), starts
our runner in each (VRRPv3, IPv4, 0.1 s adverts, priorities 200 and 100),
shows the election from the control sockets, SIGKILLs the Master's runner and
measures the failover: from the kill to the VIP's netlink RTM_NEWADDR event in
the Backup's namespace (a watcher process there, the same one ``make bench``
uses, stamps it with CLOCK_MONOTONIC). Then it restarts the killed runner,
which comes back as Backup and preempts (its priority is higher), and tears
everything down. Needs root; cleans up on failure and on Ctrl-C.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parent.parent
sys.path[:0] = [
    str(ROOT / "plugins" / "module_utils"),
    str(ROOT / "tests"),
    str(ROOT / "bench"),
]


from vipwatch import Watcher, master_down_interval, skew_time  # noqa: E402

from lab import Lab, unique_prefix  # noqa: E402
from lab.runner import RunnerProc  # noqa: E402

VRID: Final = 51
VIP: Final = "192.0.2.100"
INTERVAL: Final = 0.1
ROUTERS: Final = (("r1", "192.0.2.11", 200), ("r2", "192.0.2.12", 100))
STEPS: Final = 6


def config(priority: int) -> dict[str, Any]:
    return {
        "instances": [
            {
                "name": "demo",
                "interface": "eth0",
                "vrid": VRID,
                "priority": priority,
                "advert_interval": INTERVAL,
                "virtual_addresses": [f"{VIP}/24"],
            }
        ],
        "sync_groups": [],
    }


def step(n: int, text: str) -> None:
    print(f"\n[{n}/{STEPS}] {text}", flush=True)


def note(text: str) -> None:
    print(f"      {text}", flush=True)


def row(lab: Lab, name: str, runner: RunnerProc) -> str:
    vip = "yes" if VIP in lab.addresses(lab.routers[name]) else "no"
    if runner.proc is None or runner.proc.poll() is not None:
        return f"      {name:<6} {'(down)':<8} {'-':>8}  {'-':<15} {vip}"
    try:
        st = runner.result("state")["instances"]["demo"]
    except Exception as exc:  # shown, not fatal
        return f"      {name:<6} (no answer: {exc})"
    heard = st["master"] if st["state"] != "MASTER" else "(itself)"
    return (
        f"      {name:<6} {st['state']:<8} {st['effective_priority']:>8}  {heard or '-':<15} {vip}"
    )


def table(lab: Lab, runners: dict[str, RunnerProc]) -> None:
    note(f"{'router':<6} {'state':<8} {'priority':>8}  {'master heard':<15} VIP on eth0")
    for name, runner in runners.items():
        print(row(lab, name, runner), flush=True)


def history(runner: RunnerProc, since: float) -> str:
    moves = [
        f"{h['from']} → {h['to']} ({h['cause']})"
        for h in runner.result("history")["demo"]
        if h["time"] >= since
    ]
    return "; ".join(moves) or "?"


def build(lab: Lab) -> dict[str, RunnerProc]:
    step(1, f"building the lab {lab.prefix}: two routers on a bridge")
    t0 = time.monotonic()
    for name, v4, _prio in ROUTERS:
        router = lab.add_router(name, v4=f"{v4}/24")
        note(f"{name}: namespace {router.ns}, eth0 {v4}/24")
    note(f"done in {time.monotonic() - t0:.1f} s")

    step(2, "starting our runner in each router")
    runners = {}
    for name, _v4, prio in ROUTERS:
        runner = RunnerProc(lab, lab.routers[name], config(prio)).start("--log-level", "info")
        runners[name] = runner
        pid = runner.proc.pid if runner.proc is not None else "?"
        note(f"{name}: priority {prio}, pid {pid}, control socket {runner.socket}")
    return runners


def election(lab: Lab, runners: dict[str, RunnerProc]) -> None:
    step(3, "election")
    r1, r2 = runners["r1"], runners["r2"]
    lab.wait_for(
        lambda: r1.state_of("demo") == "MASTER" and VIP in lab.addresses(r1.router),
        timeout=10,
        what="r1 MASTER with the VIP",
    )
    lab.wait_for(lambda: r2.state_of("demo") == "BACKUP", timeout=5, what="r2 BACKUP")
    lab.wait_for(
        lambda: r2.result("state")["instances"]["demo"]["master"], timeout=2, what="r2 hears"
    )
    note(f"r1 is Master (higher priority); r2 is Backup and hears r1 every {INTERVAL:g} s")
    table(lab, runners)


def kill_master(lab: Lab, runners: dict[str, RunnerProc]) -> None:
    step(4, "SIGKILL to the Master's runner (r1): no goodbye, the Backup must notice")
    r1, r2 = runners["r1"], runners["r2"]
    mdi = master_down_interval(INTERVAL, 100)
    watcher = Watcher(lab, r2.router, vips=[VIP], vrid=VRID)
    time.sleep(0.5)  # a few adverts, so the watcher has heard r1
    if r1.proc is None:
        raise RuntimeError("r1's runner is not running")
    killed_pid = r1.proc.pid
    t_kill = time.monotonic()
    lab.kill(r1.proc)
    event = watcher.next_vip(added=True, after=t_kill, timeout=mdi + 5)
    took_ms = (event["t"] - t_kill) * 1000
    note(f"killed pid {killed_pid}; the VIP appeared on r2 {took_ms:.1f} ms later")
    last = event["last"].get(ROUTERS[0][1])
    if last is not None:
        since_ms = (event["t"] - last[0]) * 1000
        note(
            f"r2 had heard r1's last advert {since_ms:.1f} ms before the VIP: "
            f"Master_Down_Interval {mdi * 1000:.1f} ms + {since_ms - mdi * 1000:.2f} ms of reaction"
        )
    note("(kill → RTM_NEWADDR of the VIP: a netlink event seen by a watcher in r2's namespace)")
    r1.proc.wait()
    watcher.stop()
    table(lab, runners)
    note("r1's kernel still holds the VIP its dead runner added; a restarted runner removes")
    note("it before it joins as Backup")


def restart(lab: Lab, runners: dict[str, RunnerProc]) -> None:
    step(5, "restarting the runner in r1 (priority 200 > r2's 100, preempt on)")
    r2 = runners["r2"]
    t_restart, t_mono = time.time(), time.monotonic()
    r1 = RunnerProc(lab, lab.routers["r1"], config(200), tag="-again").start("--log-level", "info")
    runners["r1"] = r1
    lab.wait_for(
        lambda: VIP in lab.addresses(r1.router) and VIP not in lab.addresses(r2.router),
        timeout=10,
        what="the VIP back on r1",
    )
    took = time.monotonic() - t_mono
    note(f"r1: {history(r1, t_restart)}")
    note(f"r2: {history(r2, t_restart)}")
    note("r1 came back as Backup, heard r2's lower priority and preempted when its own")
    note(f"Master_Down_Interval ran out: the VIP was back on r1 {took:.2f} s after the restart")
    table(lab, runners)


def demo() -> None:
    mdi = master_down_interval(INTERVAL, 100)
    print(
        f"failover.vrrp demo: VRID {VRID}, VIP {VIP}, VRRPv3 over IPv4, adverts every "
        f"{INTERVAL:g} s\n"
        f"Master_Down_Interval for the Backup (priority 100) = 3 × {INTERVAL:g} s + skew "
        f"{skew_time(INTERVAL, 100) * 1000:.1f} ms = {mdi * 1000:.1f} ms (RFC 9568 §6.1)",
        flush=True,
    )
    with Lab(prefix=unique_prefix()) as lab:
        runners = build(lab)
        election(lab, runners)
        kill_master(lab, runners)
        restart(lab, runners)
        step(6, "tearing down: runners stopped, namespaces removed")
        for name, runner in runners.items():
            code = runner.stop()
            note(f"{name}: runner exited {code} (SIGTERM: priority-0 advert, VIP removed)")
    note("lab gone; nothing left behind")


def main() -> int:
    if os.geteuid() != 0:
        print("make demo needs root (it creates network namespaces)", file=sys.stderr)
        return 1
    try:
        demo()
    except KeyboardInterrupt:
        print("\ninterrupted: the lab was torn down", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
