"""A VIP on another interface (its ``dev``) ends a resign hold too (issue 13).

r1 and r2 run our runner, one instance (VRRPv3, 0.3 s) whose VIPs are
192.0.2.100 on eth0, where the adverts go, and 198.51.100.100 on eth1, a
second LAN. The successor announces each VIP on the interface it lives on.
r1 resigns (demote to 0) ROUNDS times; r2 takes over and r1 preempts back.

r1 keeps its VIPs until it heard r2 announce every one of them, so it must
listen on eth1 too: with a listener on eth0 alone, the eth1 VIP was never
heard and every hold ran to its bound (fsm.RESIGN_HOLD after r2's advert).
Asserted in protocol order: r2's gratuitous ARP for each VIP is on the wire
before r1 removes it, and the removal comes before the bound.
"""

from __future__ import annotations

import datetime
import os
import random
import re
import subprocess
import time
from typing import Final

from lab import Lab
from lab.netns import ensure_tool
from lab.runner import LATE, RunnerProc, add_second_link, runner_config, vrrp_instance
from vrrp.fsm import RESIGN_HOLD, TIMER_TOLERANCE

ROUNDS: Final = int(os.environ.get("RESIGN_ROUNDS", "4"))
SEED: Final = int(os.environ.get("RESIGN_SEED", "20261201"))
INTERVAL: Final = 0.3
VRID: Final = 63
VIPS: Final = {"eth0": "192.0.2.100", "eth1": "198.51.100.100"}
_DELETED: Final = re.compile(
    r"^\[(?P<ts>[^\]]+)\]\s*Deleted \d+: (?P<dev>\S+)\s+inet (?P<ip>[\d.]+)/"
)


def frames(pcap: str) -> list[tuple[float, str, int | None, str]]:
    """(time, eth.src, VRRP priority or None, gratuitous ARP's address or '') of each frame."""
    argv = ["tshark", "-r", pcap, "-T", "fields", "-E", "separator=|", "-E", "occurrence=f",
            "-e", "frame.time_epoch", "-e", "eth.src", "-e", "vrrp.prio",
            "-e", "arp.src.proto_ipv4", "-e", "arp.dst.proto_ipv4"]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        t, src, prio, arp_src, arp_dst = line.split("|")
        garp = arp_src if arp_src and arp_src == arp_dst else ""
        rows.append((float(t), src, int(prio) if prio else None, garp))
    return rows


def config(priority: int) -> dict[str, object]:
    vips = [f"{VIPS['eth0']}/24", {"address": f"{VIPS['eth1']}/32", "dev": "eth1"}]
    return runner_config(
        vrrp_instance("v4", vrid=VRID, priority=priority, vips=vips, interval=INTERVAL, version=3)
    )


def test_a_resign_hold_ends_on_the_announcements_of_vips_on_other_interfaces(lab: Lab) -> None:
    rng = random.Random(SEED)
    r1 = lab.add_router("r1", v4="192.0.2.11/24")
    r2 = lab.add_router("r2", v4="192.0.2.12/24")
    for router, host in ((r1, 11), (r2, 12)):
        add_second_link(lab, router, v4=f"198.51.100.{host}/24")
    ours = RunnerProc(lab, r1, config(150)).start()
    lab.wait_for(lambda: ours.state_of("v4") == "MASTER", timeout=3 * INTERVAL + 1 + LATE)
    peer = RunnerProc(lab, r2, config(100)).start()
    lab.wait_for(lambda: peer.state_of("v4") == "BACKUP", timeout=LATE, what="r2 BACKUP")
    monitor = lab.popen(r1, ["ip", "-ts", "monitor", "address"])
    pcaps = {ifname: str(lab.tmpdir / f"resign-dev-{ifname}.pcap") for ifname in VIPS}
    tcpdump_argv = [ensure_tool("tcpdump", "tcpdump"), "-n", "-Z", "root", "-U", "--immediate-mode"]
    tcpdumps = [
        lab.popen(r2, [*tcpdump_argv, "-i", ifname, "-s", "0", "-w", pcap, "ip proto 112 or arp"])
        for ifname, pcap in pcaps.items()
    ]
    for tcpdump in tcpdumps:
        lab.wait_for(lambda p=tcpdump: "listening on" in lab.log_of(p), timeout=10.0)
    marks: list[float] = []
    try:
        for _round in range(ROUNDS):
            time.sleep(rng.uniform(0.0, INTERVAL))  # any phase of the advert rhythm
            marks.append(time.time())
            assert ours.result("demote") == {"demoted": {"v4": 0}}
            lab.wait_for(lambda: peer.state_of("v4") == "MASTER", timeout=INTERVAL + LATE)
            lab.wait_for(lambda: ours.state_of("v4") == "BACKUP", timeout=LATE, what="r1 BACKUP")
            time.sleep(0.3)
            assert ours.result("restore") == {"restored": ["v4"]}
            lab.wait_for(lambda: ours.state_of("v4") == "MASTER", timeout=3 * INTERVAL + 1 + LATE)
            lab.wait_for(lambda: peer.state_of("v4") == "BACKUP", timeout=LATE, what="r2 BACKUP")
        time.sleep(0.3)
    finally:
        for tcpdump in tcpdumps:
            lab.stop(tcpdump)
        lab.stop(monitor)
    sent = {ifname: [f for f in frames(pcap) if f[1] != r1.mac] for ifname, pcap in pcaps.items()}
    gone: list[tuple[float, str, str]] = []
    for line in lab.log_of(monitor).splitlines():
        found = _DELETED.match(line)
        if found:
            ts = datetime.datetime.fromisoformat(found.group("ts")).timestamp()
            gone.append((ts, found.group("dev"), found.group("ip")))
    rows, bad = [], []
    for n, mark in enumerate(marks):
        end = marks[n + 1] if n + 1 < len(marks) else float("inf")
        adv = next(t for t, _src, prio, _garp in sent["eth0"] if mark <= t < end and prio)
        for ifname, vip in VIPS.items():
            garp = next(t for t, _s, _p, ip in sent[ifname] if adv - 0.1 <= t < end and ip == vip)
            removed = next(t for t, *where in gone if mark <= t < end and where == [ifname, vip])
            rows.append(
                f"round {n} {vip} on {ifname}: advert->GARP {1000 * (garp - adv):.2f} ms, "
                f"advert->r1 removal {1000 * (removed - adv):.2f} ms"
            )
            if not garp <= removed < adv + RESIGN_HOLD - TIMER_TOLERANCE:
                bad.append(rows[-1])
    print("\n".join(rows))
    assert not bad, "\n".join(rows)
