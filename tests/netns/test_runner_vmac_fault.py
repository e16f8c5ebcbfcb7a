"""A VMAC whose sysctls the runner cannot write: FAULT naming the error, never MASTER.

systemd-nspawn with a private network (systemd 257's default) mounts
``/proc/sys/net`` read-only for the container's services. The runner of r1
(the preferred router, priority 200) runs with exactly that: its macvlan is
made but ``create_vmac`` cannot write its sysctls, so the VMAC stays down.
It must not report MASTER beside r2 (two Masters, the VIP answered by nobody
on r1's side): r1 is FAULT with a ``vmac:`` reason naming the sysctl and the
errno text, and r2 is the one Master answering for the VIP. Once
``/proc/sys/net`` is writable again the runner's retry clears the fault and
r1 takes over as the election says.
"""

from __future__ import annotations

import time
from typing import Any

from lab import Lab, Router
from lab.capture import Capture
from lab.runner import (
    LATE,
    RunnerProc,
    instance_state,
    master_down_interval,
    moves,
    ping,
    single_instance,
    wait_state,
)

VRID = 83
VIP = "192.0.2.183"
VMAC_IFNAME = f"vrrp.{VRID}"
VMAC = f"00:00:5e:00:01:{VRID:02x}"
SYSCTL_NET = "/proc/sys/net"
# The runner tries a failed VMAC set-up again after 1 s, doubling up to 30 s.
RETRY_BOUND = 30.0


def _vmac_link(lab: Lab, router: Router) -> dict[str, Any] | None:
    for link in lab.ip_json(router, "link", "show"):
        if link.get("ifname") == VMAC_IFNAME:
            return link
    return None


def _mac(lab: Lab, router: Router) -> str | None:
    """The MAC of the link of the VMAC's name on ``router`` (None: no such link)."""
    link = _vmac_link(lab, router)
    return None if link is None else str(link["address"])


def _holders(lab: Lab, router: Router) -> list[str]:
    """The interfaces of ``router`` that hold the VIP."""
    return [
        str(link["ifname"])
        for link in lab.ip_json(router, "addr", "show")
        for a in link.get("addr_info", [])
        if a.get("local") == VIP
    ]


def _arp_answers(lab: Lab, host: Router, routers: tuple[Router, Router]) -> list[list[Any]]:
    """Resolve the VIP afresh from ``host``; the ARP replies each router sent."""
    lab.run(host, ["ip", "neigh", "flush", "dev", host.ifname], check=True)
    caps = [Capture(lab, on=r, arp=True, name=f"arp-{r.name}") for r in routers]
    for cap in caps:
        cap.start()
    try:
        assert ping(lab, host, VIP), f"VIP {VIP} unreachable"
        time.sleep(0.1)
    finally:
        for cap in caps:
            cap.stop()
    return [
        [o for o in cap.others() if o["arp_opcode"] == 2 and o["arp_src_ip"] == VIP] for cap in caps
    ]


def test_vmac_sysctls_refused_fault_the_instance_until_writable(lab: Lab) -> None:
    r1 = lab.add_router("r1", v4="192.0.2.11/24")
    r2 = lab.add_router("r2", v4="192.0.2.12/24")
    host = lab.add_router("h1", v4="192.0.2.99/24")
    b = RunnerProc(
        lab, r2, single_instance("vm", vrid=VRID, priority=100, vips=[f"{VIP}/24"], vmac=True)
    ).start()
    a = RunnerProc(
        lab, r1, single_instance("vm", vrid=VRID, priority=200, vips=[f"{VIP}/24"], vmac=True)
    ).start(read_only=[SYSCTL_NET])
    assert a.proc is not None

    wait_state(b, "vm", "MASTER", timeout=master_down_interval(100) + 5 * LATE)
    state = instance_state(a, "vm")
    assert state["state"] == "FAULT", (state, a.log())
    reasons = [r for r in state["faults"] if r.startswith("vmac:")]
    assert len(reasons) == 1, state
    assert f"{SYSCTL_NET}/ipv4/conf/{VMAC_IFNAME}/" in reasons[0], reasons
    assert "Read-only file system" in reasons[0], reasons
    assert reasons[0].split(":", 1)[1].strip() in a.log()
    # Several of r2's Master_Down_Intervals and link events later: still FAULT,
    # never MASTER, r2 the one Master.
    time.sleep(4 * master_down_interval(200) + LATE)
    assert a.state_of("vm") == "FAULT" and b.state_of("vm") == "MASTER"
    assert ("BACKUP", "MASTER") not in moves(a, "vm") and ("INIT", "MASTER") not in moves(a, "vm")
    link = _vmac_link(lab, r1)
    assert link is not None and "UP" not in link["flags"], link  # made, never up
    assert _holders(lab, r1) == [] and _holders(lab, r2) == [VMAC_IFNAME]
    on_r1, on_r2 = _arp_answers(lab, host, (r1, r2))
    assert not on_r1, on_r1
    assert on_r2 and {o["eth_src"] for o in on_r2} == {VMAC}, on_r2

    # Writable again: the fault clears and r1 (priority 200) preempts r2.
    lab.remount(a.proc, SYSCTL_NET, read_only=False)
    wait_state(a, "vm", "MASTER", timeout=RETRY_BOUND + master_down_interval(200) + 5 * LATE)
    assert instance_state(a, "vm")["faults"] == []
    wait_state(b, "vm", "BACKUP", timeout=5 * LATE)
    link = _vmac_link(lab, r1)
    assert link is not None and "UP" in link["flags"], link
    lab.wait_for(lambda: _holders(lab, r1) == [VMAC_IFNAME], timeout=5, what="VIP on r1's VMAC")
    lab.wait_for(lambda: _holders(lab, r2) == [], timeout=5, what="VIP gone from r2")
    on_r1, on_r2 = _arp_answers(lab, host, (r1, r2))
    assert on_r1 and not on_r2, (on_r1, on_r2)
    assert a.stop() == 0 and b.stop() == 0


def test_a_foreign_interface_of_the_vmac_name_faults_and_is_left_alone(lab: Lab) -> None:
    """Another program's interface named like the VMAC: refused (FAULT naming it),
    never used nor deleted; once its owner deletes it, the VMAC is made and r1
    elects normally."""
    r1 = lab.add_router("r1", v4="192.0.2.11/24")
    r2 = lab.add_router("r2", v4="192.0.2.12/24")
    # A macvlan of its own MAC (no dummy module on every kernel).
    foreign = ["ip", "link", "add", "link", "eth0", "name", VMAC_IFNAME, "type", "macvlan"]
    lab.run(r1, foreign, check=True)
    theirs = _mac(lab, r1)
    assert theirs not in (None, VMAC)
    lab.run(r1, ["ip", "link", "set", VMAC_IFNAME, "up"], check=True)
    cfg = single_instance("vm", vrid=VRID, priority=200, vips=[f"{VIP}/24"], vmac=True)
    b = RunnerProc(
        lab, r2, single_instance("vm", vrid=VRID, priority=100, vips=[f"{VIP}/24"], vmac=True)
    ).start()
    a = RunnerProc(lab, r1, cfg).start()
    wait_state(b, "vm", "MASTER", timeout=master_down_interval(100) + 5 * LATE)
    time.sleep(2 * master_down_interval(200) + LATE)
    state = instance_state(a, "vm")
    assert state["state"] == "FAULT", (state, a.log())
    (reason,) = [r for r in state["faults"] if r.startswith("vmac:")]
    assert f"{VMAC_IFNAME} exists but is not the VMAC {VMAC}" in reason, reason
    assert "MASTER" not in {new for _old, new in moves(a, "vm")}
    assert _holders(lab, r1) == []
    # Stopping leaves it where it was; started again, still refused.
    assert a.stop() == 0
    assert _mac(lab, r1) == theirs
    a = RunnerProc(lab, r1, cfg).start()
    lab.wait_for(lambda: a.state_of("vm") == "FAULT", timeout=5, what="r1 FAULT again")

    lab.run(r1, ["ip", "link", "del", VMAC_IFNAME], check=True)  # its owner deletes it
    wait_state(a, "vm", "MASTER", timeout=master_down_interval(200) + 5 * LATE)
    assert instance_state(a, "vm")["faults"] == []
    wait_state(b, "vm", "BACKUP", timeout=5 * LATE)
    assert _mac(lab, r1) == VMAC
    lab.wait_for(lambda: _holders(lab, r1) == [VMAC_IFNAME], timeout=5, what="VIP on r1's VMAC")
    assert a.stop() == 0 and b.stop() == 0
    assert _vmac_link(lab, r1) is None  # ours: deleted on the way out
