"""A Backup takes over many virtual routers at once (issue 14 §5), on real kernels.

120 instances (100 IPv4 VRIDs with one VIP each, 20 IPv6 VRIDs with a
link-local and a global VIP each: 140 VIPs), Master r1 (priority 200),
Backup r2 (100), 1 s adverts, r1's runner SIGKILLed. Every VIP must be on
r2 afterwards, each instance's history must be the plain Initialize → Backup
→ Master, and nothing on r2 may have been refused by the kernel. Only
protocol outcomes are asserted; the bounds stand for "eventually".
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from lab import Lab
from lab.runner import LATE, RunnerProc, master_down_interval

V4: int = 100
V6: int = 20
INTERVAL: float = 1.0


def config(priority: int) -> dict[str, Any]:
    insts: list[dict[str, Any]] = []
    common = {"interface": "eth0", "priority": priority, "advert_interval": INTERVAL}
    for vrid in range(1, V4 + 1):
        insts.append(
            {"name": f"v4-{vrid}", "vrid": vrid, **common,
             "virtual_addresses": [f"198.51.100.{vrid}/32"]}
        )  # fmt: skip
    for vrid in range(1, V6 + 1):
        insts.append(
            {"name": f"v6-{vrid}", "vrid": vrid, **common,
             "virtual_addresses": [f"fe80::5:{vrid:x}/64", f"2001:db8:5::{vrid:x}/128"]}
        )  # fmt: skip
    return {"instances": insts, "sync_groups": []}


VIPS = {
    str(ipaddress.ip_interface(vip).ip)
    for inst in config(1)["instances"]
    for vip in inst["virtual_addresses"]
}


def held(lab: Lab, router: Any) -> list[str]:
    """Every address on the router's eth0, one entry per kernel address (duplicates kept)."""
    out = lab.run(router, ["ip", "-j", "addr", "show", "dev", "eth0"], check=True).stdout
    return [a["local"] for link in json.loads(out) for a in link.get("addr_info", [])]


def states(runner: RunnerProc) -> dict[str, str]:
    try:
        found = runner.result("state")["instances"]
    except Exception:  # not answering yet
        return {}
    return {name: inst["state"] for name, inst in found.items()}


def test_a_backup_takes_over_every_instance_with_every_vip_and_no_false_transition(
    lab: Lab,
) -> None:
    r1 = lab.add_router("r1", v4="192.0.2.11/24", v6="2001:db8::11/64")
    r2 = lab.add_router("r2", v4="192.0.2.12/24", v6="2001:db8::12/64")
    master = RunnerProc(lab, r1, config(200)).start("--log-level", "info")
    backup = RunnerProc(lab, r2, config(100)).start("--log-level", "info")
    count = V4 + V6
    lab.wait_for(
        lambda: (
            list(states(master).values()) == ["MASTER"] * count
            and list(states(backup).values()) == ["BACKUP"] * count
        ),
        timeout=master_down_interval(100, INTERVAL) + 20 * LATE,
        what="r1 MASTER and r2 BACKUP of every instance",
    )
    lab.wait_for(lambda: set(held(lab, r1)) >= VIPS, timeout=5 * LATE, what="every VIP on r1")
    assert not VIPS & set(held(lab, r2))

    master.kill()
    lab.wait_for(
        lambda: set(held(lab, r2)) >= VIPS,
        timeout=master_down_interval(100, INTERVAL) + 20 * LATE,
        what="every VIP on r2",
    )
    lab.wait_for(
        lambda: list(states(backup).values()) == ["MASTER"] * count,
        timeout=5 * LATE,
        what="r2 MASTER of every instance",
    )
    on_r2 = held(lab, r2)
    assert sorted(a for a in on_r2 if a in VIPS) == sorted(VIPS)  # each once
    history = backup.result("history")
    for name, entries in history.items():
        moves = [(e["from"], e["to"]) for e in entries]
        assert moves == [("INIT", "BACKUP"), ("BACKUP", "MASTER")], (name, moves)
    stats = backup.result("stats")["instances"]
    refused = {
        n: {k: v for k, v in s.items() if k.startswith("io_error")} for n, s in stats.items()
    }
    assert not any(refused.values()), refused
