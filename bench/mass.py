"""Mass takeover on real kernels: our runner and Debian's keepalived side by side.

``make bench`` (root) runs it after the failover benchmark; ``--quick`` is small.

One lab pair: ``r1`` Master (priority 200), ``r2`` Backup (priority 100), many
VRRPv3 virtual routers at once, the Master's daemon killed (SIGKILL). Cases:
250 IPv4 VRIDs, and 255 VRIDs × (IPv4, IPv6) = 510 instances, each at 1 s and
0.1 s adverts; ours and keepalived one after the other in the same run and lab.

Timing (``CLOCK_MONOTONIC``, one clock for every namespace). A watcher process
in ``r2`` (``bench/mass.py --watch``) stamps every address added on ``r2``
(netlink, our ``LinkWatcher``) and the last advert it heard at the Master's
priority for each (family, VRID) on raw sockets. A second watcher in ``r1``
(its daemon dead, its namespace alive) stamps the adverts the new Master sends.

- over MDI, per VIP: VIP on ``r2`` − (last advert heard from the Master for
  that VRID + Master_Down_Interval), RFC 9568 §6.1 with the Backup's priority:
  3 × interval + (256 − 100) / 256 × interval. What the daemon adds to the
  protocol's own delay, with every other VIP of the takeover in flight.
- kill → last VIP: from the SIGKILL to the last VIP on ``r2``.
- stall: the longest gap between two adverts of one VRID sent by the new
  Master, minus the interval, over the takeover and the second after it: a
  lower bound of the longest event-loop stall, measured from the outside.
- false: VIPs on ``r2`` before the kill, or added twice (both must be 0).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import selectors
import signal
import socket
import statistics
import struct
import sys
import time
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "plugins" / "module_utils"), str(ROOT / "tests"), str(ROOT / "bench")]

from lab import Lab, unique_prefix  # noqa: E402
from lab.keepalived import Keepalived, KeepalivedInstance, ensure_keepalived  # noqa: E402
from lab.runner import RunnerProc  # noqa: E402
from vrrp.linux.watch import AddressChanged, LinkWatcher  # noqa: E402

OUT: Final = ROOT / "build" / "bench-mass.json"
MASTER_PRIORITY: Final = 200
BACKUP_PRIORITY: Final = 100
R1_V4: Final = "192.0.2.11"
R2_V4: Final = "192.0.2.12"
CASES: Final = {"250x4": (250, False), "255x46": (255, True)}
INTERVALS: Final = (1.0, 0.1)
IMPLS: Final = ("ours", "keepalived")


def say(text: str) -> None:
    print(text, flush=True)


def mdi(interval: float, priority: int = BACKUP_PRIORITY) -> float:
    """RFC 9568 §6.1 Master_Down_Interval: 3 × interval + Skew_Time."""
    return 3 * interval + (256 - priority) * interval / 256


# --------------------------------------------------- the watcher (in a router)


def _raw(family: int, ifname: str) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_RAW, 112)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    index = socket.if_nametoindex(ifname)
    if family == socket.AF_INET:
        mreqn = struct.pack("=4s4si", socket.inet_aton("224.0.0.18"), bytes(4), index)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
    else:
        mreq = socket.inet_pton(socket.AF_INET6, "ff02::12") + struct.pack("=I", index)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
    sock.setblocking(False)
    return sock


class _DoneError(Exception):
    pass


def watch(ifname: str) -> None:
    """Print address adds as they come; on SIGTERM, the advert table, then exit."""
    links = LinkWatcher()
    selector = selectors.DefaultSelector()
    selector.register(_raw(socket.AF_INET, ifname), selectors.EVENT_READ, 4)
    selector.register(_raw(socket.AF_INET6, ifname), selectors.EVENT_READ, 6)
    selector.register(links.fileno(), selectors.EVENT_READ, 0)
    last: dict[str, float] = {}  # "fam/vrid/prio" -> last advert heard
    gap: dict[str, list[float]] = {}  # "fam/vrid/prio" -> [largest gap, when]

    def done(*_: Any) -> None:
        raise _DoneError

    signal.signal(signal.SIGTERM, done)
    print(json.dumps({"ev": "ready", "t": time.monotonic()}), flush=True)
    try:
        while True:
            for key, _mask in selector.select():
                fam = key.data
                if not fam:
                    now = time.monotonic()
                    for event in links.read():
                        if isinstance(event, AddressChanged) and event.added:
                            print(json.dumps({"ev": "addr", "t": now, "addr": event.address}))
                    continue
                sock: socket.socket = key.fileobj  # type: ignore[assignment]
                while True:
                    try:
                        data = sock.recv(2048)
                    except BlockingIOError:
                        break
                    now = time.monotonic()
                    vrrp = data[(data[0] & 0x0F) * 4 :] if fam == 4 else data
                    if len(vrrp) < 3:
                        continue
                    name = f"{fam}/{vrrp[1]}/{vrrp[2]}"
                    before = last.get(name)
                    last[name] = now
                    if before is not None and now - before > gap.get(name, [0.0])[0]:
                        gap[name] = [now - before, now]
    except _DoneError:
        pass
    print(json.dumps({"ev": "adverts", "last": last, "gap": gap}), flush=True)


class Watcher:
    def __init__(self, lab: Any, router: Any) -> None:
        self.lab = lab
        self.proc = lab.python(router, [str(Path(__file__).resolve()), "--watch"])
        lab.wait_for(self.events, timeout=10, what=f"the watcher in {router.ns}")

    def events(self) -> list[dict[str, Any]]:
        out = []
        for line in self.lab.log_of(self.proc).splitlines():
            if line.startswith("{") and line.endswith("}"):
                out.append(json.loads(line))
        return out

    def finish(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Address events, and the advert table printed on SIGTERM."""
        self.lab.stop(self.proc, timeout=10)
        events = self.events()
        tables = [e for e in events if e["ev"] == "adverts"]
        if not tables:
            raise RuntimeError(f"the watcher left no table:\n{self.lab.log_of(self.proc)}")
        return [e for e in events if e["ev"] == "addr"], tables[-1]


# ------------------------------------------------------------ the two daemons


def instances(vrids: int, ipv6: bool, priority: int, interval: float) -> list[dict[str, Any]]:
    out = []
    for vrid in range(1, vrids + 1):
        common = {"interface": "eth0", "vrid": vrid, "priority": priority}
        common["advert_interval"] = interval
        out.append({"name": f"v4-{vrid}", **common, "virtual_addresses": [
            f"198.51.100.{vrid}/32"]})  # fmt: skip
        if ipv6:
            out.append({"name": f"v6-{vrid}", **common, "virtual_addresses": [
                f"fe80::5:{vrid:x}/64", f"2001:db8:5::{vrid:x}/128"]})  # fmt: skip
    return out


def vip_keys(config: list[dict[str, Any]]) -> dict[str, str]:
    """VIP (normalised) -> "family/vrid", the advert table's key without priority."""
    out = {}
    for inst in config:
        for vip in inst["virtual_addresses"]:
            addr = ipaddress.ip_address(vip.split("/")[0])
            out[str(addr)] = f"{addr.version}/{inst['vrid']}"
    return out


class OurPair:
    def __init__(self, lab: Any, config: dict[str, list[dict[str, Any]]]) -> None:
        self.lab = lab
        self.procs = {
            role: RunnerProc(lab, lab.routers[r], {"instances": config[role], "sync_groups": []})
            for role, r in (("master", "r1"), ("backup", "r2"))
        }
        for proc in self.procs.values():
            proc.start("--log-level", "warning", wait=False)

    def converged(self) -> bool:
        for proc in self.procs.values():
            proc._alive()  # raises with its log when it exited (a refused configuration)
        try:
            m = self.procs["master"].result("state")["instances"].values()
            b = self.procs["backup"].result("state")["instances"].values()
        except Exception:  # not listening yet
            return False
        return all(i["state"] == "MASTER" for i in m) and all(i["state"] == "BACKUP" for i in b)

    def kill_master(self) -> None:
        self.lab.kill(self.procs["master"].proc, signal.SIGKILL)

    def close(self) -> None:
        for proc in self.procs.values():
            proc.stop()


class KeepalivedPair:
    def __init__(self, lab: Any, config: dict[str, list[dict[str, Any]]]) -> None:
        self.lab = lab
        self.daemons: dict[str, Keepalived] = {}
        for role, r in (("master", "r1"), ("backup", "r2")):
            insts = [
                KeepalivedInstance(
                    vrid=i["vrid"],
                    priority=i["priority"],
                    virtual_addresses=i["virtual_addresses"],
                    advert_interval=i["advert_interval"],
                    name=i["name"].replace("-", "_"),
                )
                for i in config[role]
            ]
            self.daemons[role] = Keepalived(lab, lab.routers[r], insts).start()
        self.count = len(config["master"])

    def converged(self) -> bool:
        m, b = self.daemons["master"].states(), self.daemons["backup"].states()
        return (
            len(m) == len(b) == self.count
            and set(m.values()) == {"MASTER"}
            and set(b.values()) == {"BACKUP"}
        )

    def kill_master(self) -> None:
        self.lab.kill(self.daemons["master"].proc, signal.SIGKILL)

    def close(self) -> None:
        for daemon in self.daemons.values():
            if daemon.running:
                daemon.stop()


# -------------------------------------------------------------------- one run


def _stats(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "median": round(statistics.median(ordered), 2),
        "p95": round(p95, 2),
        "max": round(ordered[-1], 2),
    }


def one(lab: Any, impl: str, case: str, interval: float) -> dict[str, Any]:
    vrids, ipv6 = CASES[case]
    config = {
        role: instances(vrids, ipv6, prio, interval)
        for role, prio in (("master", MASTER_PRIORITY), ("backup", BACKUP_PRIORITY))
    }
    vips = vip_keys(config["master"])
    say(f"· {impl:<10} {case} at {interval:g} s: {len(config['master'])} instances, starting")
    t0 = time.monotonic()
    pair = (OurPair if impl == "ours" else KeepalivedPair)(lab, config)
    try:
        lab.wait_for(pair.converged, timeout=180, interval=0.5, what=f"{impl} converged")
        converge = time.monotonic() - t0
        backup_w, master_w = Watcher(lab, lab.routers["r2"]), Watcher(lab, lab.routers["r1"])
        time.sleep(max(1.0, 4 * interval))  # a few adverts of every VRID in the table
        t_kill = time.monotonic()
        pair.kill_master()

        def all_in() -> bool:
            got = {e["addr"] for e in backup_w.events() if e["ev"] == "addr"}
            return set(vips) <= got

        lab.wait_for(all_in, timeout=mdi(interval) + 60, interval=0.05, what="every VIP on r2")
        time.sleep(max(1.0, 3 * interval))  # the new Master's adverts after the last VIP
        added, table = backup_w.finish()
        _first, sent = master_w.finish()
    finally:
        pair.close()
    first: dict[str, float] = {}
    false = 0
    for event in added:
        addr = str(ipaddress.ip_address(event["addr"]))
        if addr not in vips:
            continue
        if event["t"] < t_kill or addr in first:
            false += 1
        first.setdefault(addr, event["t"])
    over, expiries, missing = [], [], 0
    for addr, key in vips.items():
        heard = table["last"].get(f"{key}/{MASTER_PRIORITY}")
        if heard is None or addr not in first:
            missing += 1
            continue
        expiries.append(heard + mdi(interval))
        over.append((first[addr] - expiries[-1]) * 1000)
    last_vip = max(first.values())
    stalls = [
        (g - interval) * 1000
        for name, (g, when) in sent["gap"].items()
        if name.endswith(f"/{BACKUP_PRIORITY}") and t_kill <= when <= last_vip + 1.0
    ]
    result = {
        "impl": impl,
        "case": case,
        "interval_s": interval,
        "instances": len(config["master"]),
        "vips": len(vips),
        "converge_s": round(converge, 1),
        "over_mdi_ms": _stats(over),
        "kill_to_last_vip_ms": round((last_vip - t_kill) * 1000, 1),
        # How bunched the work is: every MDI expiry falls within this span.
        "expiry_span_ms": round((max(expiries) - min(expiries)) * 1000, 1) if expiries else None,
        "over_mdi_raw_ms": [round(v, 2) for v in over],
        "stall_ms": round(max(stalls), 1) if stalls else None,
        "false": false,
        "missing": missing,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    say(f"  {_row(result)}")
    return result


HEADER: Final = (
    f"{'case':<28} {'interval':>8} {'impl':<10} {'over MDI median':>15} {'p95':>7} "
    f"{'max':>7} {'kill → last VIP':>15} {'stall':>7} {'false':>5} {'load':>5}"
)


def _row(r: dict[str, Any]) -> str:
    o = r["over_mdi_ms"] or {"median": float("nan"), "p95": float("nan"), "max": float("nan")}
    vrids, ipv6 = CASES[r["case"]]
    case = f"{vrids} VRIDs × IPv4" + (" + IPv6" if ipv6 else "") + f" ({r['instances']})"
    stall = f"{r['stall_ms']:7.1f}" if r["stall_ms"] is not None else f"{'-':>7}"
    return (
        f"{case:<28} {r['interval_s']:>7g}s {r['impl']:<10} {o['median']:15.1f} "
        f"{o['p95']:7.1f} {o['max']:7.1f} {r['kill_to_last_vip_ms']:15.1f} {stall} "
        f"{r['false'] + r['missing']:>5} {r['load_average'][0]:5.2f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--quick", action="store_true", help="250 IPv4 VRIDs at 0.1 s only")
    parser.add_argument("--case", choices=list(CASES), action="append", help="case(s)")
    parser.add_argument("--interval", type=float, action="append", help="advert interval(s)")
    parser.add_argument("--impl", choices=IMPLS, action="append", help="implementation(s)")
    parser.add_argument("--out", default=str(OUT), help="JSON result file")
    parser.add_argument("--watch", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.watch:
        watch("eth0")
        return 0
    if os.geteuid() != 0:
        say("bench/mass.py needs root (network namespaces); skipped")
        return 0
    cases = args.case or (["250x4"] if args.quick else list(CASES))
    intervals = args.interval or ([0.1] if args.quick else list(INTERVALS))
    impls = args.impl or list(IMPLS)
    ensure_keepalived()
    load = os.getloadavg()
    say(
        f"mass takeover: {', '.join(cases)} × {', '.join(f'{i:g} s' for i in intervals)} × "
        f"{', '.join(impls)}; load average {load[0]:.2f} on {os.cpu_count()} CPUs"
    )
    started = time.monotonic()
    results = []
    with Lab(prefix=unique_prefix()) as lab:
        lab.add_router("r1", v4=f"{R1_V4}/24", v6="2001:db8::11/64")
        lab.add_router("r2", v4=f"{R2_V4}/24", v6="2001:db8::12/64")
        for case in cases:
            for interval in intervals:
                for impl in impls:
                    results.append(one(lab, impl, case, interval))
    say("\nmass takeover, Master SIGKILLed; over MDI: VIP − (last advert heard + MDI), ms")
    say(HEADER)
    say("-" * len(HEADER))
    for r in results:
        say(_row(r))
    report = {
        "load_average_at_start": [round(x, 2) for x in load],
        "cpus": os.cpu_count(),
        "results": results,
        "wall_s": round(time.monotonic() - started, 1),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    say(f"\nwritten: {out} ({report['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
