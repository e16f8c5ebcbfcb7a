"""A VMAC Master must not make its host deaf to ARP (issue 8: two unicast Masters).

For a VMAC the runner sets ``arp_filter 1`` on the parent (as keepalived
does): the parent answers an ARP request only when the route back to the
sender leaves by the parent. A VIP with a prefix length (``192.0.2.155/24``)
on the VMAC gave the kernel a second route to the subnet, through the VMAC.
While the parent's own prefix route came first nothing showed; once it was
made again (the parent renumbered and numbered back, as the chaos suite's
``renumber`` fault does) the VMAC's route came first, and the host ignored
every ARP request for its own addresses on the parent. A unicast peer that
had to resolve it again (a link flap flushes its neighbour cache) could not:
its adverts never left, and the two routers stayed Master of the unicast
instance (chaos seed 1886497755, fault 673: ``v4u`` MASTER on r2 and r3).
"""

from __future__ import annotations

import pytest

from lab import Lab, Router
from lab.runner import (
    RunnerProc,
    instance_state,
    ping,
    runner_config,
    vrrp_instance,
    wait_state,
)

pytestmark = pytest.mark.netns

VMAC_VRID = 85
UNICAST_VRID = 86
VMAC_VIP = "192.0.2.185/24"
UNICAST_VIP = "192.0.2.186/24"
PROMOTE = "net.ipv4.conf.all.promote_secondaries=1"  # a renumbering keeps the VIPs


def _vmac(priority: int) -> dict[str, object]:
    return vrrp_instance("vm", vrid=VMAC_VRID, priority=priority, vips=[VMAC_VIP], vmac=True)


def _unicast(peer: Router, priority: int) -> dict[str, object]:
    return vrrp_instance(
        "uc", vrid=UNICAST_VRID, priority=priority, vips=[UNICAST_VIP], unicast_peers=[peer.v4]
    )


def _renumber_and_back(lab: Lab, router: Router) -> None:
    """The primary address replaced by another one and put back: its prefix route is made again."""
    old, new = router.v4_cidr, "192.0.2.21/24"
    assert old is not None
    for add, delete in ((new, old), (old, new)):
        lab.run(router, ["ip", "addr", "add", add, "dev", "eth0"], check=True)
        lab.run(router, ["ip", "addr", "del", delete, "dev", "eth0"], check=True)


def _vmac_master(lab: Lab, router: Router) -> RunnerProc:
    lab.run(router, ["sysctl", "-q", "-w", PROMOTE], check=True)
    runner = RunnerProc(lab, router, runner_config(_vmac(200)))
    runner.start()
    wait_state(runner, "vm", "MASTER", timeout=10)
    lab.wait_for(lambda: _on_vmac(lab, router), timeout=10, what="the VIP on the VMAC")
    return runner


def _on_vmac(lab: Lab, router: Router) -> bool:
    vip = VMAC_VIP.split("/", maxsplit=1)[0]
    links = lab.ip_json(router, "addr", "show", "dev", f"vrrp.{VMAC_VRID}")
    return any(a.get("local") == vip for link in links for a in link.get("addr_info", []))


def test_vmac_master_answers_arp_after_its_parent_is_renumbered(lab: Lab) -> None:
    host = lab.add_router("h1", v4="192.0.2.99/24")
    r2 = lab.add_router("r2", v4="192.0.2.12/24")
    _vmac_master(lab, r2)
    assert r2.v4 is not None
    assert ping(lab, host, r2.v4, timeout=2), "answers ARP before the renumbering"
    _renumber_and_back(lab, r2)
    lab.wait_for(lambda: lab.has_address(r2, "192.0.2.12"), what="192.0.2.12 back")
    lab.run(host, ["ip", "neigh", "flush", "dev", "eth0"], check=True)
    # a few tries: one lost echo on a busy box is no finding, none answered is
    assert any(ping(lab, host, r2.v4, timeout=1) for _round in range(3)), (
        "the VMAC Master's host no longer answers ARP for its own address on the parent:\n"
        + lab.run(r2, ["ip", "-4", "route"]).stdout
    )


def test_unicast_peer_flap_after_renumbering_leaves_one_master(lab: Lab) -> None:
    """r2 (VMAC Master, unicast Backup) renumbered and back; r3 (unicast Master) flaps."""
    r2 = lab.add_router("r2", v4="192.0.2.12/24")
    r3 = lab.add_router("r3", v4="192.0.2.13/24")
    lab.run(r2, ["sysctl", "-q", "-w", PROMOTE], check=True)
    low = RunnerProc(lab, r2, runner_config(_vmac(200), _unicast(r3, 100)))
    high = RunnerProc(lab, r3, runner_config(_unicast(r2, 200)))
    low.start()
    high.start()
    wait_state(low, "vm", "MASTER", timeout=10)
    wait_state(high, "uc", "MASTER", timeout=10)
    wait_state(low, "uc", "BACKUP", timeout=10)
    _renumber_and_back(lab, r2)
    # renumbered, r2's adverts came from a stranger's address: it may have split
    wait_state(low, "uc", "BACKUP", timeout=10)
    lab.set_link(r3, up=False)  # flushes r3's neighbour cache
    wait_state(low, "uc", "MASTER", timeout=10)
    lab.set_link(r3, up=True)
    wait_state(high, "uc", "MASTER", timeout=10)
    # r3 must resolve r2 again to reach it: a few intervals, 5 s is generous
    lab.wait_for(
        lambda: instance_state(low, "uc")["state"] == "BACKUP",
        timeout=5,
        interval=0.1,
        what="r2 back to BACKUP of the unicast instance (two Masters)",
    )
    assert instance_state(high, "uc")["state"] == "MASTER"
