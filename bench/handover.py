"""Datagrams lost at make-before-break handovers between two systemd hosts.

The lab of the integration tests (``tests/integration``): two Debian 12 hosts
under ``systemd-nspawn`` with the runner installed by ``playbooks/ha_pair.yml``
(VRRPv3, 1 s adverts, priorities 150/100, preempt off). A sender in the
controller namespace puts ``--rate`` UDP datagrams per second on the VIP; a
responder on each host answers from the VIP (``integration/probeflow.py``).
Each round demotes the current MASTER with ``failover-vrrp-ctl demote``
(priority 0: the Master keeps the VIP until the Backup has taken over) and
restores it 1.5 s later. The report: datagrams sent, lost, the longest run of
lost datagrams, the handovers seen by the flow, and replies the old Master
could not send (the VIP left between receive and reply).

``--ipv6``: the same over an IPv6 VIP (VRRPv3, ``fe80::52`` then
``2001:db8::100/64``; the controller gets ``2001:db8::2/64``, the hosts no
2001:db8:: address of their own, as in ``tests/integration/test_families.py``).

``make bench`` runs it after ``bench/failover.py``; needs root.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests")]

from integration.hosts import HostLab  # noqa: E402
from integration.probeflow import UNIT, probe_flow  # noqa: E402
from integration.rootfs import ensure_rootfs  # noqa: E402
from lab import unique_prefix  # noqa: E402

OUT: Final = ROOT / "build" / "bench-handover.json"
OUT6: Final = ROOT / "build" / "bench-handover-ipv6.json"
VIP: Final = "192.0.2.100"
VIP6: Final = "2001:db8::100"
CONTROLLER_V6: Final = "2001:db8::2/64"


def pair_vars(*, ipv6: bool) -> dict[str, Any]:
    """``ha_pair.yml``'s variables: one instance ``web`` with the IPv4 or the IPv6 VIP."""
    web: dict[str, Any] = {
        "name": "web",
        "interface": "eth0",
        "vrid": 51,
        "priority": "{{ bench_priority | int }}",
        "preempt": False,
        "virtual_addresses": [f"{VIP}/24"],
    }
    if ipv6:
        web.update(version=3, virtual_addresses=["fe80::52/64", f"{VIP6}/64"])
    return {"vrrp_hosts": "routers", "vrrp_exclusive": True, "vrrp_instances": [web]}


def master_of(lab: HostLab) -> str:
    for name, host in lab.hosts.items():
        if lab.runner_state(host)["instances"]["web"]["state"] == "MASTER":
            return name
    raise RuntimeError("no MASTER")


def run(rounds: int, rate: float, *, ipv6: bool = False) -> dict[str, Any]:
    fs = ensure_rootfs()
    with HostLab(prefix=unique_prefix(), rootfs=fs.path) as lab:
        lab.add_hosts({"r1": "192.0.2.11/24", "r2": "192.0.2.12/24"})
        lab.write_inventory(
            host_vars={"r1": {"bench_priority": 150}, "r2": {"bench_priority": 100}}
        )
        if ipv6:
            if lab.controller is None:
                raise RuntimeError("lab is not open")
            argv = ["ip", "-6", "addr", "add", CONTROLLER_V6, "dev", "eth0", "nodad"]
            lab.lab.run(lab.controller, argv, check=True)
        play = lab.playbook(ROOT / "playbooks" / "ha_pair.yml", extra_vars=pair_vars(ipv6=ipv6))
        if play.returncode != 0:
            raise RuntimeError(f"ha_pair.yml failed:\n{play.output[-4000:]}")
        with probe_flow(lab, VIP6 if ipv6 else VIP, rate=rate) as flow:
            time.sleep(1.0)
            for n in range(rounds):
                master = lab.hosts[master_of(lab)]
                lab.on(master, "failover-vrrp-ctl", "demote")
                time.sleep(1.5)
                lab.on(master, "failover-vrrp-ctl", "restore")
                time.sleep(0.5)
                print(f"  round {n + 1}/{rounds}: {master.name} handed over", flush=True)
            time.sleep(1.0)
            # Read before the responders stop (probe_flow's exit removes them).
            unsent = sum(
                lab.on(host, "journalctl", "-u", UNIT, "-o", "cat", "--no-pager").count(
                    "reply failed"
                )
                for host in lab.hosts.values()
            )
            report = flow.stop()
    return {
        "vip": VIP6 if ipv6 else VIP,
        "rounds": rounds,
        "rate": rate,
        "sent": report.sent,
        "lost": report.lost_count,
        "longest_outage_ms": report.longest_outage_ms,
        "handovers_seen": len(report.responders) - 1,
        "replies_not_sent": unsent,
        "rtt_ms_max": report.rtt_ms_max,
        "summary": report.summary(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--rounds", type=int, default=20, help="handovers (default 20)")
    parser.add_argument("--rate", type=float, default=1000.0, help="datagrams/s (default 1000)")
    parser.add_argument("--quick", action="store_true", help="5 rounds")
    parser.add_argument("--ipv6", action="store_true", help="an IPv6 VIP (2001:db8::100)")
    parser.add_argument("--out", default=None, help="JSON result file")
    args, _rest = parser.parse_known_args(argv)  # make bench passes BENCH_ARGS to all
    if os.geteuid() != 0:
        print("bench/handover.py needs root (namespaces, systemd-nspawn); skipped")
        return 0
    rounds = 5 if args.quick else args.rounds
    print(f"handover loss: {rounds} demote/restore rounds under {args.rate:g} datagrams/s")
    result = run(rounds, args.rate, ipv6=args.ipv6)
    out = Path(args.out or (OUT6 if args.ipv6 else OUT))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"handover loss ({result['vip']}): {result['lost']} of {result['sent']} datagrams "
        f"lost over {result['handovers_seen']} handovers at {args.rate:g}/s (longest outage "
        f"{result['longest_outage_ms']:.0f} ms; replies the old Master could not send: "
        f"{result['replies_not_sent']})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
