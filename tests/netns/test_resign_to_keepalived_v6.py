"""IPv6: a resigning runner keeps its VIPs until keepalived's unsolicited NA (issue 13).

The IPv6 sibling of test_resign_to_keepalived.py, without the datagram flow:
our runner in r1 (VRRPv3, priority 150) resigns to keepalived in r2 (100),
then takes the VIPs back by preemption, ROUNDS times. keepalived advertises
first and sends its unsolicited NAs after adding the VIPs; r1 must keep
every VIP until r2's NA for it is on the wire and release them on those NAs,
before the bound (fsm.RESIGN_HOLD) since r2's advert.
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
from lab.keepalived import KeepalivedInstance, start_keepalived
from lab.netns import ensure_tool
from lab.runner import LATE, RunnerProc, runner_config, vrrp_instance
from vrrp.fsm import RESIGN_HOLD, TIMER_TOLERANCE

ROUNDS: Final = int(os.environ.get("RESIGN_ROUNDS", "4"))
SEED: Final = int(os.environ.get("RESIGN_SEED", "20261201"))
INTERVAL: Final = 0.3
VIPS: Final = ("fe80::91/64", "2001:db8::191/64")
VRID: Final = 62
_DELETED: Final = re.compile(r"^\[(?P<ts>[^\]]+)\]\s*Deleted .*inet6 (?P<ip>[0-9a-f:]+)/")


def frames(pcap: str) -> list[tuple[float, str, int | None, str]]:
    """(time, eth.src, VRRP priority or None, NA target or '') of each frame."""
    argv = ["tshark", "-r", pcap, "-T", "fields", "-E", "separator=|", "-E", "occurrence=f",
            "-e", "frame.time_epoch", "-e", "eth.src", "-e", "vrrp.prio", "-e", "icmpv6.type",
            "-e", "icmpv6.nd.na.target_address"]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        t, src, prio, kind, target = line.split("|")
        rows.append((float(t), src, int(prio) if prio else None, target if kind == "136" else ""))
    return rows


def test_a_resigning_runner_keeps_its_ipv6_vips_until_keepalived_announces_them(
    lab: Lab,
) -> None:
    rng = random.Random(SEED)
    r1 = lab.add_router("r1", v6="2001:db8::11/64")
    r2 = lab.add_router("r2", v6="2001:db8::12/64")
    cfg = runner_config(
        vrrp_instance("v6", vrid=VRID, priority=150, vips=list(VIPS), interval=INTERVAL, version=3)
    )
    ours = RunnerProc(lab, r1, cfg).start()
    lab.wait_for(lambda: ours.state_of("v6") == "MASTER", timeout=3 * INTERVAL + 1 + LATE)
    ka = start_keepalived(
        lab, r2, KeepalivedInstance(VRID, 100, list(VIPS), advert_interval=INTERVAL)
    )
    ka.wait_backup()
    monitor = lab.popen(r1, ["ip", "-6", "-ts", "monitor", "address", "dev", r1.ifname])
    pcap = str(lab.tmpdir / "resign-v6-r2.pcap")
    tcpdump = lab.popen(
        r2,
        [ensure_tool("tcpdump", "tcpdump"), "-n", "-Z", "root", "-i", r2.ifname, "-U",
         "--immediate-mode", "-s", "0", "-w", pcap, "ip6 proto 112 or icmp6"],
    )  # fmt: skip
    lab.wait_for(lambda: "listening on" in lab.log_of(tcpdump), timeout=10.0)
    marks: list[float] = []
    try:
        for _round in range(ROUNDS):
            time.sleep(rng.uniform(0.0, INTERVAL))
            marks.append(time.time())
            assert ours.result("demote") == {"demoted": {"v6": 0}}
            lab.wait_for(lambda: ka.state() == "MASTER", timeout=INTERVAL + LATE, what="r2 MASTER")
            lab.wait_for(lambda: ours.state_of("v6") == "BACKUP", timeout=LATE, what="r1 BACKUP")
            time.sleep(0.3)
            assert ours.result("restore") == {"restored": ["v6"]}
            lab.wait_for(lambda: ours.state_of("v6") == "MASTER", timeout=3 * INTERVAL + 1 + LATE)
            lab.wait_for(lambda: ka.state() == "BACKUP", timeout=LATE, what="r2 BACKUP")
        time.sleep(0.3)
    finally:
        lab.stop(tcpdump)
        lab.stop(monitor)
    sent = [f for f in frames(pcap) if f[1] == r2.mac]
    gone: list[tuple[float, str]] = []
    for line in lab.log_of(monitor).splitlines():
        found = _DELETED.match(line)
        if found:
            ts = datetime.datetime.fromisoformat(found.group("ts")).timestamp()
            gone.append((ts, found.group("ip")))
    rows, bad = [], []
    for n, mark in enumerate(marks):
        end = marks[n + 1] if n + 1 < len(marks) else float("inf")
        adv = next(t for t, _src, prio, _na in sent if mark <= t < end and prio)
        for vip in (v.split("/", maxsplit=1)[0] for v in VIPS):
            na = next(t for t, _s, _p, target in sent if adv - 0.1 <= t < end and target == vip)
            removed = next(t for t, ip in gone if mark <= t < end and ip == vip)
            rows.append(
                f"round {n} {vip}: advert->NA {1000 * (na - adv):.2f} ms, "
                f"NA->r1 removal {1000 * (removed - na):.2f} ms"
            )
            if not na <= removed < adv + RESIGN_HOLD - TIMER_TOLERANCE:
                bad.append(rows[-1])
    print("\n".join(rows))
    assert not bad, "\n".join(rows)
