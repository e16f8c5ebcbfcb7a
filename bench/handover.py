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
VIP: Final = "192.0.2.100"
PAIR_VARS: Final[dict[str, Any]] = {
    "vrrp_hosts": "routers",
    "vrrp_exclusive": True,
    "vrrp_instances": [
        {
            "name": "web",
            "interface": "eth0",
            "vrid": 51,
            "priority": "{{ bench_priority | int }}",
            "preempt": False,
            "virtual_addresses": [f"{VIP}/24"],
        }
    ],
}


def master_of(lab: HostLab) -> str:
    for name, host in lab.hosts.items():
        if lab.runner_state(host)["instances"]["web"]["state"] == "MASTER":
            return name
    raise RuntimeError("no MASTER")


def run(rounds: int, rate: float) -> dict[str, Any]:
    fs = ensure_rootfs()
    with HostLab(prefix=unique_prefix(), rootfs=fs.path) as lab:
        lab.add_hosts({"r1": "192.0.2.11/24", "r2": "192.0.2.12/24"})
        lab.write_inventory(
            host_vars={"r1": {"bench_priority": 150}, "r2": {"bench_priority": 100}}
        )
        play = lab.playbook(ROOT / "playbooks" / "ha_pair.yml", extra_vars=PAIR_VARS)
        if play.returncode != 0:
            raise RuntimeError(f"ha_pair.yml failed:\n{play.output[-4000:]}")
        with probe_flow(lab, VIP, rate=rate) as flow:
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
    parser.add_argument("--out", default=str(OUT), help="JSON result file")
    args, _rest = parser.parse_known_args(argv)  # make bench passes BENCH_ARGS to all
    if os.geteuid() != 0:
        print("bench/handover.py needs root (namespaces, systemd-nspawn); skipped")
        return 0
    rounds = 5 if args.quick else args.rounds
    print(f"handover loss: {rounds} demote/restore rounds under {args.rate:g} datagrams/s")
    result = run(rounds, args.rate)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"handover loss: {result['lost']} of {result['sent']} datagrams lost over "
        f"{result['handovers_seen']} handovers at {args.rate:g}/s (longest outage "
        f"{result['longest_outage_ms']:.0f} ms; replies the old Master could not send: "
        f"{result['replies_not_sent']})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
