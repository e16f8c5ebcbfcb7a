"""Our VMAC taken down (or its MAC changed) by another program: back up at once, or FAULT.

An operator's ``ip link set vrrp.N down`` (a script, NetworkManager) on the
macvlan the runner made for an instance: a Master's VIP then answers to
nobody while the instance still claims MASTER, and a Backup stops hearing
its Master's adverts (they arrive on the macvlan, see
``linux/vmac_socket.py``) and takes the VIP beside it. Like a VIP removed
by another program, the runner puts it back at once (up, the VRRP MAC, its
sysctls), announces again while Master, logs and counts it. When it cannot
(here: ``/proc/sys/net`` read-only, so its sysctls cannot be written again)
the instance is FAULT with a ``vmac:`` reason and the peer takes over.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from lab import Lab, Router
from lab.runner import (
    LATE,
    RunnerProc,
    instance_state,
    master_down_interval,
    moves,
    ping,
    single_instance,
    stats_of,
    wait_state,
)
from lab.vmac import VmacFamily, vmac_families

VRID = 84
FOREIGN_MAC = "02:00:00:00:00:84"
SYSCTL_NET = "/proc/sys/net"
BACK_BOUND = 10.0  # "at once"; generous for a loaded 2-core box
RETRY_BOUND = 30.0  # a failed VMAC set-up is tried again within 30 s


V4, V6 = vmac_families(VRID, "192.0.2.184/24")
Family = VmacFamily
FAMILIES = pytest.mark.parametrize("fam", [V4, V6], ids=["ipv4", "ipv6"])


def _vmac_link(lab: Lab, router: Router, fam: Family) -> dict[str, Any] | None:
    for link in lab.ip_json(router, "link", "show"):
        if link.get("ifname") == fam.vmac_ifname:
            return link
    return None


def _usable(lab: Lab, router: Router, fam: Family) -> bool:
    """The VMAC is up with the VRRP MAC."""
    link = _vmac_link(lab, router, fam)
    return link is not None and "UP" in link["flags"] and link["address"] == fam.vmac


def _pair(
    lab: Lab, fam: Family, *, read_only: bool = False
) -> tuple[RunnerProc, RunnerProc, Router, Router]:
    r1 = lab.add_router("r1", **{fam.key: fam.r1})
    r2 = lab.add_router("r2", **{fam.key: fam.r2})
    lab.add_router("h1", **{fam.key: fam.host})
    vips = list(fam.vips)
    b = RunnerProc(
        lab, r2, single_instance("vm", vrid=VRID, priority=100, vips=vips, vmac=True)
    ).start()
    cfg = single_instance("vm", vrid=VRID, priority=200, vips=vips, vmac=True)
    a = RunnerProc(lab, r1, cfg).start(read_only=[SYSCTL_NET] if read_only else ())
    assert a.proc is not None
    if read_only:
        lab.remount(a.proc, SYSCTL_NET, read_only=False)  # writable for now
    wait_state(a, "vm", "MASTER", timeout=RETRY_BOUND + master_down_interval(200) + 5 * LATE)
    wait_state(b, "vm", "BACKUP", timeout=5 * LATE)
    lab.wait_for(
        lambda: _usable(lab, r1, fam) and _usable(lab, r2, fam), timeout=5, what="both VMACs up"
    )
    return a, b, r1, r2


def _vip_answers(lab: Lab, fam: Family) -> bool:
    """Every VIP answers a ping from the host, resolved afresh."""
    host = lab.routers["h1"]
    lab.run(host, ["ip", "neigh", "flush", "dev", host.ifname], check=True)
    return all(ping(lab, host, vip.split("/")[0]) for vip in fam.vips)


@FAMILIES
def test_a_masters_vmac_set_down_or_remac_is_put_back_and_the_vip_answers(
    lab: Lab, fam: Family
) -> None:
    a, b, r1, _r2 = _pair(lab, fam)
    lab.wait_for(lambda: _vip_answers(lab, fam), timeout=BACK_BOUND, what="VIP answers")
    b_before = moves(b, "vm")
    for disturb in (["down"], ["address", FOREIGN_MAC]):
        before = moves(a, "vm")
        lab.run(r1, ["ip", "link", "set", fam.vmac_ifname, *disturb], check=True)
        what = f"VMAC back after {disturb}"
        lab.wait_for(lambda: _usable(lab, r1, fam), timeout=BACK_BOUND, what=what)
        lab.wait_for(lambda: _vip_answers(lab, fam), timeout=BACK_BOUND, what="VIP answers again")
        # The same Master all along: no failover was needed.
        assert a.state_of("vm") == "MASTER" and b.state_of("vm") == "BACKUP"
        assert moves(a, "vm") == before, (before, moves(a, "vm"))
    assert stats_of(a, "vm").get("vmac_restored") == 2, stats_of(a, "vm")
    log = a.log()
    assert f"VMAC {fam.vmac_ifname} was set down by another program while MASTER" in log, log
    assert f"VMAC {fam.vmac_ifname} had its MAC changed to {FOREIGN_MAC}" in log, log
    assert moves(b, "vm") == b_before, (b_before, moves(b, "vm"))
    assert a.stop() == 0 and b.stop() == 0


@FAMILIES
def test_a_backups_vmac_set_down_is_put_back_and_it_stays_backup(lab: Lab, fam: Family) -> None:
    """Down, the Backup hears no adverts: left so it took the VIP beside the Master."""
    a, b, _r1, r2 = _pair(lab, fam)
    b_before = moves(b, "vm")
    lab.run(r2, ["ip", "link", "set", fam.vmac_ifname, "down"], check=True)
    lab.wait_for(lambda: _usable(lab, r2, fam), timeout=BACK_BOUND, what="Backup's VMAC back up")
    time.sleep(3 * master_down_interval(100) + LATE)
    assert b.state_of("vm") == "BACKUP" and a.state_of("vm") == "MASTER"
    assert moves(b, "vm") == b_before, (b_before, moves(b, "vm"))
    assert stats_of(b, "vm").get("vmac_restored") == 1, stats_of(b, "vm")
    # It still hears: its Master gone, it takes over.
    assert a.stop() == 0
    wait_state(b, "vm", "MASTER", timeout=master_down_interval(100) + 5 * LATE)
    lab.wait_for(lambda: _vip_answers(lab, fam), timeout=BACK_BOUND, what="VIP answers from r2")
    assert b.stop() == 0


def test_a_vmac_that_cannot_come_back_faults_and_the_peer_takes_over(lab: Lab) -> None:
    fam = V4
    a, b, r1, _r2 = _pair(lab, fam, read_only=True)
    assert a.proc is not None
    lab.remount(a.proc, SYSCTL_NET, read_only=True)
    lab.run(r1, ["ip", "link", "set", fam.vmac_ifname, "down"], check=True)
    lab.wait_for(lambda: a.state_of("vm") == "FAULT", timeout=BACK_BOUND, what="r1 FAULT")
    at_fault = moves(a, "vm")
    assert at_fault[-1] == ("MASTER", "FAULT"), at_fault
    state = instance_state(a, "vm")
    reasons = [r for r in state["faults"] if r.startswith("vmac:")]
    assert len(reasons) == 1 and "Read-only file system" in reasons[0], state
    wait_state(b, "vm", "MASTER", timeout=master_down_interval(100) + 5 * LATE)
    lab.wait_for(lambda: _vip_answers(lab, fam), timeout=BACK_BOUND, what="VIP answers from r2")
    # Never a Master with its VMAC down.
    time.sleep(2 * master_down_interval(200) + LATE)
    assert a.state_of("vm") == "FAULT" and not _usable(lab, r1, fam)
    assert moves(a, "vm") == at_fault, (at_fault, moves(a, "vm"))
    # Writable again: the retry puts it back and r1 (priority 200) preempts.
    lab.remount(a.proc, SYSCTL_NET, read_only=False)
    wait_state(a, "vm", "MASTER", timeout=RETRY_BOUND + master_down_interval(200) + 5 * LATE)
    assert _usable(lab, r1, fam)
    wait_state(b, "vm", "BACKUP", timeout=5 * LATE)
    lab.wait_for(lambda: _vip_answers(lab, fam), timeout=BACK_BOUND, what="VIP answers from r1")
    assert a.stop() == 0 and b.stop() == 0
