"""Our runner on real kernels: a sync group across two LANs moves as one.

Each router has eth0 on br0 (192.0.2.0/24, the "outside" VRID 51) and eth1 on
br1 (198.51.100.0/24, the "inside" VRID 52); the two instances of each host
form sync group ``g``. Carrier loss on r1's eth1 faults only the inside
instance; the group pulls the outside one to Fault as well, so r2 takes both
addresses, and both come back together when the link returns.
"""

from __future__ import annotations

import time
from typing import Any

from lab import Lab
from lab.capture import Capture
from lab.runner import (
    LATE,
    RunnerProc,
    add_second_link,
    adverts_of,
    check_our_adverts,
    largest_gap,
    master_down_interval,
    moves,
    runner_config,
    set_second_port,
    vrrp_instance,
)

OUT_VIP, IN_VIP = "192.0.2.100", "198.51.100.100"
OUT_VRID, IN_VRID = 51, 52
INTERVAL = 0.1
R1_OUT, R2_OUT = "192.0.2.11", "192.0.2.12"
R1_IN, R2_IN = "198.51.100.11", "198.51.100.12"


def group_config(priority: int) -> dict[str, Any]:
    return runner_config(
        vrrp_instance("out", vrid=OUT_VRID, priority=priority, vips=[f"{OUT_VIP}/24"]),
        vrrp_instance(
            "in", vrid=IN_VRID, priority=priority, vips=[f"{IN_VIP}/24"], interface="eth1"
        ),
        sync_groups=[{"name": "g", "members": ["out", "in"]}],
    )


def addresses_on(lab: Lab, proc: RunnerProc, ifname: str) -> set[str]:
    return {
        str(a["local"])
        for iface in lab.ip_json(proc.router, "addr", "show", "dev", ifname)
        for a in iface.get("addr_info", [])
    }


def owns_both(lab: Lab, proc: RunnerProc) -> bool:
    return OUT_VIP in addresses_on(lab, proc, "eth0") and IN_VIP in addresses_on(lab, proc, "eth1")


def owns_none(lab: Lab, proc: RunnerProc) -> bool:
    return OUT_VIP not in addresses_on(lab, proc, "eth0") and IN_VIP not in addresses_on(
        lab, proc, "eth1"
    )


def states(proc: RunnerProc) -> dict[str, str]:
    return {n: i["state"] for n, i in proc.result("state")["instances"].items()}


def test_one_members_link_fault_pulls_the_group_and_the_peer_takes_both(lab: Lab) -> None:
    r1 = lab.add_router("r1", v4=f"{R1_OUT}/24")
    r2 = lab.add_router("r2", v4=f"{R2_OUT}/24")
    port_r1 = add_second_link(lab, r1, v4=f"{R1_IN}/24")
    add_second_link(lab, r2, v4=f"{R2_IN}/24")
    a = RunnerProc(lab, r1, group_config(200)).start()
    b = RunnerProc(lab, r2, group_config(100)).start()
    lab.wait_for(lambda: states(a) == {"out": "MASTER", "in": "MASTER"}, timeout=5, what="r1")
    lab.wait_for(lambda: states(b) == {"out": "BACKUP", "in": "BACKUP"}, timeout=5, what="r2")
    lab.wait_for(lambda: owns_both(lab, a), timeout=2, what="both VIPs on r1")
    assert owns_none(lab, b)
    assert {i["group"] for i in a.result("state")["instances"].values()} == {"g"}

    outside = Capture(lab, name="outside").start()
    inside = Capture(lab, name="inside")
    inside.interface = "br1"
    inside.start()
    time.sleep(0.3)
    cut = time.time()
    set_second_port(lab, port_r1, up=False)
    lab.wait_for(lambda: states(a) == {"out": "FAULT", "in": "FAULT"}, timeout=2, what="r1 FAULT")
    lab.wait_for(lambda: owns_both(lab, b), timeout=3, what="both VIPs on r2")
    took = time.time() - cut
    assert states(b) == {"out": "MASTER", "in": "MASTER"}
    lab.wait_for(lambda: owns_none(lab, a), timeout=3, what="no VIP left on r1")
    # r1's inside adverts stop with the carrier, so r2's inside instance waits
    # out its Master_Down_Interval (0.3 + 0.061 s) before the group may move.
    assert took < master_down_interval(100, INTERVAL) + LATE, took
    inst = a.result("state")["instances"]
    # netlink saw the carrier go; the periodic probe may have seen it as well
    assert "link" in inst["in"]["faults"]
    assert set(inst["in"]["faults"]) <= {"link", f"probe:{inst['in']['link_probe']}"}
    assert inst["out"]["faults"] == ["group:g"]
    history = a.result("history")
    assert history["in"][-1]["to"] == "FAULT"
    assert history["in"][-1]["cause"] in {f"fault: {f}" for f in inst["in"]["faults"]}
    assert (history["out"][-1]["to"], history["out"][-1]["cause"]) == ("FAULT", "fault: group:g")
    time.sleep(0.3)

    # Recovery: the link returns, the group fault is withdrawn, both members
    # start again from Initialize and preempt r2 together (priority 200 > 100).
    healed = time.time()
    set_second_port(lab, port_r1, up=True)
    lab.wait_for(lambda: states(a) == {"out": "MASTER", "in": "MASTER"}, timeout=5, what="r1 back")
    lab.wait_for(lambda: states(b) == {"out": "BACKUP", "in": "BACKUP"}, timeout=3, what="r2 back")
    lab.wait_for(lambda: owns_both(lab, a), timeout=2, what="both VIPs back on r1")
    lab.wait_for(lambda: owns_none(lab, b), timeout=2, what="no VIP left on r2")
    for name in ("out", "in"):
        assert moves(a, name)[-3:] == [("FAULT", "INIT"), ("INIT", "BACKUP"), ("BACKUP", "MASTER")]
        assert moves(b, name) == [
            ("INIT", "BACKUP"),
            ("BACKUP", "MASTER"),
            ("MASTER", "BACKUP"),
        ]
    time.sleep(0.3)
    outside.stop()
    inside.stop()

    out_packets, in_packets = outside.packets(), inside.packets()
    # tshark: every advert of ours good (checksum, TTL 255) on both LANs
    assert check_our_adverts(out_packets, sources={R1_OUT, R2_OUT}) == len(out_packets)
    assert check_our_adverts(in_packets, sources={R1_IN, R2_IN}) == len(in_packets)
    r1_out = adverts_of(out_packets, src=R1_OUT, vrid=OUT_VRID)
    r2_out = adverts_of(out_packets, src=R2_OUT, vrid=OUT_VRID)
    # Outside: r1 stepped down with a priority-0 advert although its own link
    # is fine (the group fault), r2 answered, later r1 took the VRID back.
    zero = [p for p in r1_out if p["priority"] == 0]
    assert len(zero) == 1 and zero[0]["time"] >= cut
    assert r2_out and all(p["time"] > zero[0]["time"] for p in r2_out)
    resumed = [p for p in r1_out if p["time"] > zero[0]["time"]]
    assert resumed and all(p["priority"] == 200 for p in resumed)
    # r2 was Master for the whole outage: no gap in its outside adverts
    r2_master = [p for p in r2_out if p["time"] < min(q["time"] for q in resumed)]
    assert largest_gap(r2_master) < master_down_interval(200, INTERVAL)  # r1 saw no dead Master
    # Inside: nothing from r1 while its eth1 had no carrier, r2 advertised then.
    r1_in = adverts_of(in_packets, src=R1_IN, vrid=IN_VRID)
    r2_in = adverts_of(in_packets, src=R2_IN, vrid=IN_VRID)
    assert r1_in and r2_in
    r2_took = min(q["time"] for q in r2_in)
    assert cut < r2_took < healed
    assert [p for p in r1_in if r2_took <= p["time"] < healed] == []
    # r2 leaves Master (preempted, or pulled by its group) with one
    # priority-0 advert, after the heal; all others at its priority.
    r2_zero = [p for p in r2_in if p["priority"] == 0]
    assert len(r2_zero) == 1 and r2_zero[0]["time"] > healed
    assert {p["priority"] for p in r2_in} == {0, 100}
    # Every outside advert names the outside VRID's VIP only, and vice versa.
    assert {tuple(p["addresses"]) for p in r1_out + r2_out} == {(OUT_VIP,)}
    assert {tuple(p["addresses"]) for p in r1_in + r2_in} == {(IN_VIP,)}
