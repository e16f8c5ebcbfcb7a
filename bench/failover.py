"""Failover benchmark on real kernels: our runner and Debian's keepalived side by side.

``make bench`` (root) runs it after the core benchmark; ``--quick`` is a short run.

One lab (two routers ``r1`` and ``r2`` on a bridge) serves every measurement.
``r1`` has priority 200 and is the Master, ``r2`` has 100 and is the Backup; one
VRRPv3 IPv4 virtual router (VRID 51, VIP 192.0.2.100). For each advert interval
(1 s, 0.1 s, 0.01 s) and each implementation, each scenario runs ``--trials``
times:

- ``kill``: SIGKILL of the Master's daemon (keepalived: the whole process group);
- ``linkdown``: the Master's bridge port set down (carrier loss on r1's eth0);
- ``graceful``: SIGTERM of the Master's daemon (priority-0 advert).

Timing. A watcher process in ``r2``'s namespace (``bench/vipwatch.py``) listens
to netlink address events (our ``LinkWatcher``) and to VRRP on a raw socket,
and stamps both with ``CLOCK_MONOTONIC``, one clock for every namespace. The
fault is stamped with the same clock right before the signal or the netlink
request that sets the port down (sent from this process through a netlink
socket opened inside the switch namespace: no ``ip`` exec between the stamp
and the fault). Reported:

- fault → VIP: from the fault to the VIP's RTM_NEWADDR in ``r2``;
- advert → VIP: from the last advert ``r2`` heard from ``r1`` to the VIP;
- bound: the RFC 9568 §6.1 figure the second one is made of: Master_Down_Interval
  = 3 × interval + Skew_Time (skew = (256 − 100) / 256 × interval), or
  Skew_Time alone when that last advert carried priority 0 (graceful stop);
- reaction = advert → VIP − bound: what the implementation adds.

Then a scale run: 255 VRIDs × (IPv4 and IPv6) = 510 instances at 1 s on the
pair, for each implementation: CPU % of one core (``/proc/PID/stat``
utime + stime over the window), RSS (``VmRSS``, sampled), and the transitions
counted during the window (any is a false one). The table is printed and the
whole result written to ``build/bench-failover.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

ROOT: Final = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "plugins" / "module_utils"), str(ROOT / "tests"), str(ROOT / "bench")]

import vipwatch  # noqa: E402
from vipwatch import Watcher, netlink_in, set_link  # noqa: E402

from lab import Lab, unique_prefix  # noqa: E402
from lab.keepalived import Keepalived, KeepalivedInstance, ensure_keepalived  # noqa: E402
from lab.runner import RunnerProc  # noqa: E402

OUT: Final = ROOT / "build" / "bench-failover.json"
VRID: Final = 51
VIP: Final = "192.0.2.100"
R1_V4: Final = "192.0.2.11"
R2_V4: Final = "192.0.2.12"
MASTER_PRIORITY: Final = 200
BACKUP_PRIORITY: Final = 100
INTERVALS: Final = (1.0, 0.1, 0.01)
SCENARIOS: Final = ("kill", "linkdown", "graceful")
IMPLS: Final = ("ours", "keepalived")
SCALE_VRIDS: Final = 255
GOAL_REACTION_MS: Final = 5.0
GOAL_OVER_KEEPALIVED_MS: Final = 3.0
GOAL_GRACEFUL_OVER_SKEW_MS: Final = 5.0
GOAL_CPU_PCT: Final = 2.0
GOAL_RSS_MIB: Final = 40.0


def skew_time(interval: float, priority: int = BACKUP_PRIORITY) -> float:
    return vipwatch.skew_time(interval, priority)


def master_down_interval(interval: float, priority: int = BACKUP_PRIORITY) -> float:
    return vipwatch.master_down_interval(interval, priority)


def say(text: str) -> None:
    print(text, flush=True)


# ------------------------------------------------------------- the two daemons


class Pair(Protocol):
    """Master daemon on r1, Backup daemon on r2, one implementation."""

    name: str

    def start_master(self) -> None: ...

    def start_backup(self) -> None: ...

    def kill_master(self) -> None: ...

    def stop_master(self) -> None: ...

    def master_ready(self) -> bool: ...

    def backup_ready(self) -> bool: ...

    def close(self) -> None: ...


def runner_config(instances: list[dict[str, Any]]) -> dict[str, Any]:
    return {"instances": instances, "sync_groups": []}


class OurPair:
    name = "ours"

    def __init__(self, lab: Any, r1: Any, r2: Any, *, interval: float) -> None:
        self._proc = RunnerProc
        self.lab, self.r1, self.r2 = lab, r1, r2
        self.interval = interval
        self.master: Any = None
        self.backup: Any = None

    def _config(self, priority: int) -> dict[str, Any]:
        return runner_config(
            [
                {
                    "name": "vi",
                    "interface": "eth0",
                    "vrid": VRID,
                    "priority": priority,
                    "advert_interval": self.interval,
                    "virtual_addresses": [f"{VIP}/24"],
                }
            ]
        )

    def start_master(self) -> None:
        self.master = self._proc(self.lab, self.r1, self._config(MASTER_PRIORITY))
        self.master.start("--log-level", "info")

    def start_backup(self) -> None:
        self.backup = self._proc(self.lab, self.r2, self._config(BACKUP_PRIORITY))
        self.backup.start("--log-level", "info")

    def kill_master(self) -> None:
        self.lab.kill(self.master.proc, signal.SIGKILL)

    def stop_master(self) -> None:
        self.lab.kill(self.master.proc, signal.SIGTERM)

    def reap_master(self) -> None:
        if self.master is not None and self.master.proc is not None:
            self.master.stop()

    @staticmethod
    def _state(proc: Any) -> str | None:
        try:
            return str(proc.state_of("vi"))
        except Exception:  # not listening yet, or gone
            return None

    def master_ready(self) -> bool:
        return self._state(self.master) == "MASTER" and VIP in self.lab.addresses(self.r1)

    def backup_ready(self) -> bool:
        return self._state(self.backup) == "BACKUP" and VIP not in self.lab.addresses(self.r2)

    def close(self) -> None:
        for proc in (self.master, self.backup):
            if proc is not None:
                proc.stop()


_KEEPALIVEDS: list[Keepalived] = []


class KeepalivedPair:
    name = "keepalived"

    def __init__(self, lab: Any, r1: Any, r2: Any, *, interval: float) -> None:
        self.lab, self.r1, self.r2 = lab, r1, r2
        self.interval = interval
        self.master: Any = None
        self.backup: Any = None

    def _start(self, router: Any, priority: int) -> Any:
        inst = KeepalivedInstance(
            vrid=VRID,
            priority=priority,
            virtual_addresses=[f"{VIP}/24"],
            advert_interval=self.interval,
        )
        daemon = Keepalived(self.lab, router, [inst])
        # The lab names a keepalived's directory by id(): keep every one alive so
        # a restarted daemon never gets the id (and the directory) of a dead one.
        _KEEPALIVEDS.append(daemon)
        return daemon.start()

    def start_master(self) -> None:
        self.master = self._start(self.r1, MASTER_PRIORITY)

    def start_backup(self) -> None:
        self.backup = self._start(self.r2, BACKUP_PRIORITY)

    def kill_master(self) -> None:
        self.lab.kill(self.master.proc, signal.SIGKILL)

    def stop_master(self) -> None:
        self.lab.kill(self.master.proc, signal.SIGTERM)

    def reap_master(self) -> None:
        if self.master is not None and self.master.proc is not None:
            self.lab.stop(self.master.proc, timeout=5)

    def master_ready(self) -> bool:
        return bool(self.master.state() == "MASTER" and VIP in self.lab.addresses(self.r1))

    def backup_ready(self) -> bool:
        return bool(self.backup.state() == "BACKUP" and VIP not in self.lab.addresses(self.r2))

    def close(self) -> None:
        for daemon in (self.master, self.backup):
            if daemon is not None and daemon.running:
                daemon.stop()


# ------------------------------------------------------------------ the trials


@dataclass
class Series:
    impl: str
    interval: float
    scenario: str
    failover_ms: list[float] = field(default_factory=list)
    advert_to_vip_ms: list[float] = field(default_factory=list)
    reaction_ms: list[float] = field(default_factory=list)
    bound_ms: list[float] = field(default_factory=list)
    last_priority: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        def stats(values: list[float]) -> dict[str, float] | None:
            if not values:
                return None
            return {
                "median": round(statistics.median(values), 3),
                "min": round(min(values), 3),
                "max": round(max(values), 3),
            }

        return {
            "impl": self.impl,
            "interval_s": self.interval,
            "scenario": self.scenario,
            "trials": len(self.failover_ms),
            "failover_ms": stats(self.failover_ms),
            "advert_to_vip_ms": stats(self.advert_to_vip_ms),
            "bound_ms": stats(self.bound_ms),
            "reaction_ms": stats(self.reaction_ms),
            "raw": {
                "failover_ms": [round(v, 3) for v in self.failover_ms],
                "advert_to_vip_ms": [round(v, 3) for v in self.advert_to_vip_ms],
                "last_advert_priority": self.last_priority,
            },
        }


def steady(lab: Any, pair: Any, interval: float) -> None:
    """Until r1 is Master with the VIP and r2 Backup without it, then a few adverts more."""
    timeout = 2 * master_down_interval(interval, MASTER_PRIORITY) + 15
    lab.wait_for(pair.master_ready, timeout=timeout, interval=0.02, what=f"{pair.name} Master")
    lab.wait_for(pair.backup_ready, timeout=timeout, interval=0.02, what=f"{pair.name} Backup")
    # A few adverts more, then a random phase: polling above locks onto the
    # Master's rhythm, and a real fault falls anywhere inside an interval.
    time.sleep(max(0.3, 2 * interval) + random.uniform(0, interval))  # noqa: S311


def one_trial(
    lab: Any,
    pair: Any,
    watcher: Watcher,
    port: socket.socket,
    *,
    scenario: str,
    interval: float,
    series: Series,
) -> None:
    steady(lab, pair, interval)
    t_fault = time.monotonic()
    if scenario == "kill":
        pair.kill_master()
    elif scenario == "graceful":
        pair.stop_master()
    else:
        set_link(port, lab.routers["r1"].bridge_port_ifindex, up=False)
    event = watcher.next_vip(added=True, after=t_fault, timeout=master_down_interval(interval) + 5)
    t_vip = float(event["t"])
    last_time, last_priority, _count = event["last"].get(R1_V4, [None, None, 0])
    series.failover_ms.append((t_vip - t_fault) * 1000)
    if last_time is not None:
        bound = skew_time(interval) if last_priority == 0 else master_down_interval(interval)
        series.advert_to_vip_ms.append((t_vip - last_time) * 1000)
        series.bound_ms.append(bound * 1000)
        series.reaction_ms.append((t_vip - last_time - bound) * 1000)
        series.last_priority.append(int(last_priority))
    # Restore: the Master comes back and preempts (priority 200 > 100).
    if scenario == "linkdown":
        set_link(port, lab.routers["r1"].bridge_port_ifindex, up=True)
    else:
        pair.reap_master()
        pair.start_master()


def run_failover(
    lab: Any, watcher: Watcher, *, intervals: list[float], trials: int, impls: list[str]
) -> list[Series]:
    results = []
    r1, r2 = lab.routers["r1"], lab.routers["r2"]
    with netlink_in(lab.switch_ns) as port:
        for interval in intervals:
            for impl in impls:
                cls: Callable[..., Any] = OurPair if impl == "ours" else KeepalivedPair
                pair = cls(lab, r1, r2, interval=interval)
                say(f"· {impl} at {interval:g} s: starting the pair")
                pair.start_master()
                pair.start_backup()
                try:
                    for scenario in SCENARIOS:
                        series = Series(impl, interval, scenario)
                        for n in range(trials):
                            one_trial(
                                lab, pair, watcher, port,
                                scenario=scenario, interval=interval, series=series,
                            )  # fmt: skip
                            say(
                                f"  {impl:<10} {interval:>5g} s {scenario:<9} trial {n + 1}/"
                                f"{trials}: fault → VIP {series.failover_ms[-1]:8.1f} ms"
                                + (
                                    f", advert → VIP {series.advert_to_vip_ms[-1]:8.1f} ms"
                                    f", reaction {series.reaction_ms[-1]:+6.2f} ms"
                                    if len(series.reaction_ms) == n + 1
                                    else ""
                                )
                            )
                        results.append(series)
                    steady(lab, pair, interval)
                finally:
                    pair.close()
    return results


# --------------------------------------------------------------------- scale


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def scale_instances(priority: int) -> list[dict[str, Any]]:
    out = []
    for vrid in range(1, SCALE_VRIDS + 1):
        common = {"interface": "eth0", "vrid": vrid, "priority": priority, "advert_interval": 1}
        out.append({"name": f"v4-{vrid}", **common, "virtual_addresses": [
            f"198.51.100.{vrid}/32"]})  # fmt: skip
        out.append({"name": f"v6-{vrid}", **common, "virtual_addresses": [
            f"fe80::5:{vrid:x}/64", f"2001:db8:5::{vrid:x}/128"]})  # fmt: skip
    return out


def measure(pids: dict[str, int], seconds: float) -> dict[str, dict[str, float]]:
    start = {role: cpu_seconds(pid) for role, pid in pids.items()}
    rss: dict[str, list[float]] = {role: [] for role in pids}
    t0 = time.monotonic()
    while True:
        for role, pid in pids.items():
            rss[role].append(rss_mib(pid))
        left = seconds - (time.monotonic() - t0)
        if left <= 0:
            break
        time.sleep(min(5.0, left))
    elapsed = time.monotonic() - t0
    return {
        role: {
            "cpu_pct": round((cpu_seconds(pid) - start[role]) / elapsed * 100, 2),
            "rss_mib_max": round(max(rss[role]), 1),
            "rss_mib_mean": round(statistics.mean(rss[role]), 1),
        }
        for role, pid in pids.items()
    }


def _transitions_ours(proc: Any) -> int:
    stats = proc.result("stats")["instances"]
    return sum(n for s in stats.values() for k, n in s.items() if k.startswith("became_"))


def scale_ours(lab: Any, seconds: float) -> dict[str, Any]:
    r1, r2 = lab.routers["r1"], lab.routers["r2"]
    say(f"· ours: {2 * SCALE_VRIDS} instances on each router, starting")
    t0 = time.monotonic()
    master = RunnerProc(lab, r1, runner_config(scale_instances(MASTER_PRIORITY)))
    backup = RunnerProc(lab, r2, runner_config(scale_instances(BACKUP_PRIORITY)))
    try:
        master.start("--log-level", "info", wait=False)
        backup.start("--log-level", "info", wait=False)

        def converged() -> bool:
            try:
                m = master.result("state")["instances"].values()
                b = backup.result("state")["instances"].values()
            except Exception:  # not listening yet
                return False
            return all(i["state"] == "MASTER" for i in m) and all(i["state"] == "BACKUP" for i in b)

        lab.wait_for(converged, timeout=120, interval=0.5, what="510 Masters and 510 Backups")
        took = time.monotonic() - t0
        say(f"  converged in {took:.1f} s; settling 5 s, then measuring {seconds:g} s")
        time.sleep(5)
        before = {"master": _transitions_ours(master), "backup": _transitions_ours(backup)}
        pids = {role: p.proc.pid for role, p in (("master", master), ("backup", backup)) if p.proc}
        usage = measure(pids, seconds)
        after = {"master": _transitions_ours(master), "backup": _transitions_ours(backup)}
        for role in usage:
            usage[role]["false_transitions"] = after[role] - before[role]
        return {"converge_s": round(took, 1), **usage}
    finally:
        master.stop()
        backup.stop()


def scale_keepalived(lab: Any, seconds: float) -> dict[str, Any]:
    def instances(priority: int) -> list[KeepalivedInstance]:
        return [
            KeepalivedInstance(
                vrid=i["vrid"],
                priority=priority,
                virtual_addresses=i["virtual_addresses"],
                name=i["name"].replace("-", "_"),
            )
            for i in scale_instances(priority)
        ]

    r1, r2 = lab.routers["r1"], lab.routers["r2"]
    say(f"· keepalived: {2 * SCALE_VRIDS} instances on each router, starting")
    t0 = time.monotonic()
    master = Keepalived(lab, r1, instances(MASTER_PRIORITY))
    backup = Keepalived(lab, r2, instances(BACKUP_PRIORITY))
    _KEEPALIVEDS.extend((master, backup))  # see KeepalivedPair._start
    master.start()
    backup.start()
    try:

        def converged() -> bool:
            m, b = master.states(), backup.states()
            return (
                len(m) == len(b) == 2 * SCALE_VRIDS
                and set(m.values()) == {"MASTER"}
                and set(b.values()) == {"BACKUP"}
            )

        lab.wait_for(converged, timeout=120, interval=0.5, what="510 Masters and 510 Backups")
        took = time.monotonic() - t0
        say(f"  converged in {took:.1f} s; settling 5 s, then measuring {seconds:g} s")
        time.sleep(5)
        before = {"master": master.log().count(" STATE"), "backup": backup.log().count(" STATE")}
        pids = {
            "master": master._vrrp_child_pid(),  # the VRRP child does the work
            "backup": backup._vrrp_child_pid(),
        }
        usage = measure({k: int(v or 0) for k, v in pids.items()}, seconds)
        after = {"master": master.log().count(" STATE"), "backup": backup.log().count(" STATE")}
        for role in usage:
            usage[role]["false_transitions"] = after[role] - before[role]
            usage[role]["parent_rss_mib"] = round(
                rss_mib(master.pid if role == "master" else backup.pid), 1
            )
        return {"converge_s": round(took, 1), **usage}
    finally:
        master.stop()
        backup.stop()


# --------------------------------------------------------------------- report


def _fmt(stats: dict[str, float] | None) -> str:
    if stats is None:
        return f"{'-':>8} {'-':>8} {'-':>8}"
    return f"{stats['median']:8.1f} {stats['min']:8.1f} {stats['max']:8.1f}"


def print_failover(summaries: list[dict[str, Any]]) -> list[str]:
    say("\nfailover: VRRPv3 IPv4, Master priority 200, Backup 100, times in ms")
    say(
        f"{'interval':>8} {'scenario':<9} {'impl':<10} {'n':>2} "
        f"{'fault → VIP  median':>20} {'min':>8} {'max':>8} {'bound':>8} "
        f"{'advert → VIP':>13} {'reaction median':>16} {'min':>7} {'max':>7}"
    )
    say("-" * 128)
    for s in summaries:
        bound = s["bound_ms"]["median"] if s["bound_ms"] else float("nan")
        adv = s["advert_to_vip_ms"]["median"] if s["advert_to_vip_ms"] else float("nan")
        r = s["reaction_ms"] or {"median": float("nan"), "min": float("nan"), "max": float("nan")}
        say(
            f"{s['interval_s']:>7g}s {s['scenario']:<9} {s['impl']:<10} {s['trials']:>2} "
            f"{_fmt(s['failover_ms']):>38} {bound:8.1f} {adv:13.1f} "
            f"{r['median']:16.2f} {r['min']:7.2f} {r['max']:7.2f}"
        )
    verdicts = []
    by_key = {(s["interval_s"], s["scenario"], s["impl"]): s for s in summaries}
    for (interval, scenario, impl), s in by_key.items():
        ka = by_key.get((interval, scenario, "keepalived"))
        if impl != "ours" or not s["reaction_ms"]:
            continue
        ours_r = s["reaction_ms"]["median"]
        if scenario == "graceful":
            limit = skew_time(interval) * 1000 + GOAL_GRACEFUL_OVER_SKEW_MS
            got = s["failover_ms"]["median"]
            verdicts.append(
                f"{interval:g} s graceful: SIGTERM → VIP {got:.1f} ms, goal ≤ skew + 5 = "
                f"{limit:.1f} ms: {'met' if got <= limit else 'MISSED'}"
            )
        ka_r = ka["reaction_ms"]["median"] if ka and ka["reaction_ms"] else None
        limit = GOAL_REACTION_MS
        if ka_r is not None:
            limit = min(limit, ka_r + GOAL_OVER_KEEPALIVED_MS)
        ka_text = f"keepalived {ka_r:.2f} ms, " if ka_r is not None else ""
        verdicts.append(
            f"{interval:g} s {scenario}: reaction {ours_r:.2f} ms ({ka_text}goal ≤ {limit:.2f} ms)"
            f": {'met' if ours_r <= limit else 'MISSED'}"
        )
    say("\ngoals (medians; reaction ≤ keepalived + 3 ms and ≤ 5 ms; graceful ≤ skew + 5 ms):")
    for line in verdicts:
        say(f"  {line}")
    return verdicts


def print_scale(scale: dict[str, Any], seconds: float) -> list[str]:
    say(
        f"\nscale: {SCALE_VRIDS} VRIDs × (IPv4, IPv6) = {2 * SCALE_VRIDS} instances at 1 s, "
        f"{seconds:g} s window"
    )
    say(
        f"{'impl':<11} {'role':<7} {'CPU % of a core':>16} {'RSS MiB max':>12} "
        f"{'mean':>6} {'false transitions':>18} {'converge s':>11}"
    )
    say("-" * 86)
    verdicts = []
    for impl, result in scale.items():
        for role in ("master", "backup"):
            r = result[role]
            say(
                f"{impl:<11} {role:<7} {r['cpu_pct']:16.2f} {r['rss_mib_max']:12.1f} "
                f"{r['rss_mib_mean']:6.1f} {r['false_transitions']:18d} "
                f"{result['converge_s']:11.1f}"
            )
    ours = scale.get("ours")
    if ours:
        m = ours["master"]
        for text, ok in (
            (f"master CPU {m['cpu_pct']:.2f} % ≤ {GOAL_CPU_PCT} %", m["cpu_pct"] <= GOAL_CPU_PCT),
            (
                f"RSS {max(ours['master']['rss_mib_max'], ours['backup']['rss_mib_max']):.1f}"
                f" MiB ≤ {GOAL_RSS_MIB:g} MiB",
                max(ours["master"]["rss_mib_max"], ours["backup"]["rss_mib_max"]) <= GOAL_RSS_MIB,
            ),
            (
                "false transitions 0",
                ours["master"]["false_transitions"] + ours["backup"]["false_transitions"] == 0,
            ),
        ):
            verdicts.append(f"scale: {text}: {'met' if ok else 'MISSED'}")
    for line in verdicts:
        say(f"  {line}")
    return verdicts


# ----------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument(
        "--quick", action="store_true", help="3 trials, 0.1 s and 0.01 s, 15 s scale"
    )
    parser.add_argument("--trials", type=int, help="trials per scenario (default 7)")
    parser.add_argument("--interval", type=float, action="append", help="advert interval(s)")
    parser.add_argument("--impl", choices=IMPLS, action="append", help="implementation(s)")
    parser.add_argument("--scale-seconds", type=float, help="scale window (default 60)")
    parser.add_argument("--no-scale", action="store_true", help="skip the scale run")
    parser.add_argument("--no-failover", action="store_true", help="skip the failover trials")
    parser.add_argument("--out", default=str(OUT), help="JSON result file")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        say("bench/failover.py needs root (network namespaces); skipped")
        return 0
    trials = args.trials or (3 if args.quick else 7)
    intervals = args.interval or ([0.1, 0.01] if args.quick else list(INTERVALS))
    impls = args.impl or list(IMPLS)
    seconds = args.scale_seconds or (15.0 if args.quick else 60.0)

    ensure_keepalived()
    started = time.monotonic()
    load = os.getloadavg()
    report: dict[str, Any] = {
        "python": platform.python_version(),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in load],
        "keepalived": _keepalived_version(),
        "trials": trials,
        "intervals_s": intervals,
        "timing": "CLOCK_MONOTONIC; VIP from RTM_NEWADDR and adverts from a raw socket, both "
        "in a watcher process in the Backup's namespace; fault stamped right before the "
        "signal / the netlink request setting the Master's bridge port down",
    }
    say(
        f"failover bench: {trials} trials × {len(SCENARIOS)} scenarios × intervals "
        f"{', '.join(f'{i:g} s' for i in intervals)} × {', '.join(impls)}; "
        f"load average {load[0]:.2f} on {os.cpu_count()} CPUs"
    )
    verdicts: list[str] = []
    with Lab(prefix=unique_prefix()) as lab:
        say(f"· lab {lab.prefix}: r1 {R1_V4} (priority 200), r2 {R2_V4} (priority 100)")
        lab.add_router("r1", v4=f"{R1_V4}/24", v6="2001:db8::11/64")
        r2 = lab.add_router("r2", v4=f"{R2_V4}/24", v6="2001:db8::12/64")
        if not args.no_failover:
            watcher = Watcher(lab, r2, vips=[VIP], vrid=VRID)
            series = run_failover(lab, watcher, intervals=intervals, trials=trials, impls=impls)
            report["failover"] = [s.summary() for s in series]
            lab.stop(watcher.proc)
            verdicts += print_failover(report["failover"])
        if not args.no_scale:
            scale: dict[str, Any] = {}
            if "ours" in impls:
                scale["ours"] = scale_ours(lab, seconds)
            if "keepalived" in impls:
                scale["keepalived"] = scale_keepalived(lab, seconds)
            report["scale"] = {"seconds": seconds, **scale}
            verdicts += print_scale(scale, seconds)
    report["verdicts"] = verdicts
    report["wall_s"] = round(time.monotonic() - started, 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    say(f"\nwritten: {out} ({report['wall_s']:.0f} s)")
    return 0


def _keepalived_version() -> str:
    proc = subprocess.run(  # noqa: S603 - our own keepalived path
        [ensure_keepalived(), "--version"], capture_output=True, text=True, check=False
    )
    return (proc.stdout + proc.stderr).splitlines()[0] if (proc.stdout + proc.stderr) else "?"


if __name__ == "__main__":
    sys.exit(main())
