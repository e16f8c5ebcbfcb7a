"""Our runner follows the host's addresses: renumbering, VIPs removed by others, DAD.

- The advert source is re-chosen when the primary address goes while another
  one stays (RFC 9568 §5.1.1.1): adverts from a removed address are refused
  by the kernel, and the peer would take over while this host keeps the VIPs.
- A VIP that another program removes from a Master (NetworkManager, an
  ``ip addr del``) is put back and announced again, as keepalived does.
- An IPv6 link-local address still in DAD (tentative) is never the source: a
  runner started then waits in FAULT (``address``) and never becomes a second
  Master.
"""

from __future__ import annotations

import time

import pytest

from lab import Lab, Router
from lab.capture import Capture
from lab.runner import RunnerProc, instance_state, moves, single_instance, stats_of

NAME = "vi"
VRID = 61
VIP4 = "192.0.2.161"
OTHER4 = "198.51.100.11"


def _pair(
    lab: Lab, vips: list[str], *, vmac: bool = False, **v: str
) -> tuple[RunnerProc, RunnerProc]:
    r1 = lab.add_router("r1", **{k: val.split(",")[0] for k, val in v.items()})
    r2 = lab.add_router("r2", **{k: val.split(",")[1] for k, val in v.items()})
    extra = {"vmac": True} if vmac else {}
    high = RunnerProc(lab, r1, single_instance(NAME, vrid=VRID, priority=200, vips=vips, **extra))
    low = RunnerProc(lab, r2, single_instance(NAME, vrid=VRID, priority=100, vips=vips, **extra))
    return high, low


def _converged(lab: Lab, high: RunnerProc, low: RunnerProc) -> None:
    high.start()
    lab.wait_for(lambda: high.state_of(NAME) == "MASTER", timeout=5, what="r1 MASTER")
    low.start()
    lab.wait_for(lambda: instance_state(low, NAME)["master"], timeout=5, what="r2 hears r1")
    assert low.state_of(NAME) == "BACKUP"


def _stays(lab: Lab, high: RunnerProc, low: RunnerProc, seconds: float) -> None:
    """Well over Master_Down_Interval (0.36 s): r1 Master, r2 Backup, throughout."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert high.state_of(NAME) == "MASTER", high.log()[-3000:]
        assert low.state_of(NAME) == "BACKUP", low.log()[-3000:]
        time.sleep(0.05)


def _ip(lab: Lab, router: Router, *args: str) -> None:
    lab.run(router, ["ip", *args], check=True)


def test_master_renumbered_advertises_from_its_new_address(lab: Lab) -> None:
    high, low = _pair(lab, [f"{VIP4}/24"], v4="192.0.2.11/24,192.0.2.12/24")
    _converged(lab, high, low)
    r1 = high.router
    _ip(lab, r1, "addr", "add", f"{OTHER4}/24", "dev", "eth0")
    _ip(lab, r1, "addr", "del", "192.0.2.11/24", "dev", "eth0")
    lab.wait_for(
        lambda: instance_state(low, NAME)["master"] == OTHER4,
        timeout=3,
        what="r2 hears r1's new source",
    )
    _stays(lab, high, low, 2.0)
    assert "advert source is now 198.51.100.11 (was 192.0.2.11)" in high.log()
    assert stats_of(high, NAME).get("primary_address_changes") == 1
    assert lab.has_address(r1, VIP4) and not lab.has_address(low.router, VIP4)


def test_backup_renumbered_takes_over_from_its_new_address(lab: Lab) -> None:
    high, low = _pair(lab, [f"{VIP4}/24"], v4="192.0.2.11/24,192.0.2.12/24")
    _converged(lab, high, low)
    r2 = low.router
    _ip(lab, r2, "addr", "add", "198.51.100.12/24", "dev", "eth0")
    _ip(lab, r2, "addr", "del", "192.0.2.12/24", "dev", "eth0")
    lab.wait_for(lambda: "advert source is now" in low.log(), timeout=3, what="r2 renumbered")
    assert low.state_of(NAME) == "BACKUP"
    high.result("demote", instance=NAME)  # r1 resigns: r2 takes over
    lab.wait_for(lambda: low.state_of(NAME) == "MASTER", timeout=3, what="r2 MASTER")
    lab.wait_for(
        lambda: instance_state(high, NAME)["master"] == "198.51.100.12",
        timeout=3,
        what="r1 hears r2 from its new source",
    )
    assert stats_of(low, NAME).get("send_errors", 0) == 0


def test_vip_removed_from_a_master_is_put_back(lab: Lab) -> None:
    high, low = _pair(lab, [f"{VIP4}/24"], v4="192.0.2.11/24,192.0.2.12/24")
    _converged(lab, high, low)
    r1 = high.router
    with Capture(lab, arp=True) as cap:
        for round_ in (1, 2):
            _ip(lab, r1, "addr", "del", f"{VIP4}/24", "dev", "eth0")
            lab.wait_for(lambda: lab.has_address(r1, VIP4), timeout=2, what="VIP put back")
            lab.wait_for(
                lambda n=round_: stats_of(high, NAME).get("vip_restored") == n,
                timeout=2,
                what="vip_restored counted",
            )
        time.sleep(0.3)
    assert high.state_of(NAME) == "MASTER" and low.state_of(NAME) == "BACKUP"
    assert "removed from eth0 by another program while MASTER: put back" in high.log()
    garps = [o for o in cap.others() if o.get("arp_src_ip") == VIP4]
    assert garps, cap.others()


@pytest.mark.parametrize(
    ("family", "vmac"),
    [("v6", False), ("v4", True), ("v6", True)],
    ids=["ipv6", "ipv4-vmac", "ipv6-vmac"],
)
def test_vip_removed_from_a_master_is_put_back_v6_and_vmac(
    lab: Lab, family: str, *, vmac: bool
) -> None:
    if family == "v4":
        vip, vips, ends = VIP4, [f"{VIP4}/24"], "192.0.2.11/24,192.0.2.12/24"
    else:
        vip, vips = "2001:db8::161", [f"fe80::{VRID}/64", "2001:db8::161/64"]
        ends = "2001:db8::11/64,2001:db8::12/64"
    high, low = _pair(lab, vips, vmac=vmac, **{family: ends})
    _converged(lab, high, low)
    where = "eth0" if not vmac else (f"vrrp.{VRID}" if family == "v4" else f"vrrp6.{VRID}")
    cidr = next(v for v in vips if v.startswith(vip))

    def present() -> bool:
        for iface in lab.ip_json(high.router, "addr", "show", "dev", where):
            if any(a.get("local") == vip for a in iface.get("addr_info", [])):
                return True
        return False

    lab.wait_for(present, timeout=3, what=f"{vip} on {where}")
    _ip(lab, high.router, "addr", "del", cidr, "dev", where)
    lab.wait_for(present, timeout=2, what="VIP put back")
    lab.wait_for(lambda: stats_of(high, NAME).get("vip_restored") == 1, timeout=2, what="counted")
    _stays(lab, high, low, 1.0)


def test_flush_on_a_master_hands_over_and_comes_back(lab: Lab) -> None:
    high, low = _pair(lab, [f"{VIP4}/24"], v4="192.0.2.11/24,192.0.2.12/24")
    _converged(lab, high, low)
    r1 = high.router
    _ip(lab, r1, "addr", "flush", "dev", "eth0")
    lab.wait_for(lambda: high.state_of(NAME) == "FAULT", timeout=3, what="r1 FAULT")
    lab.wait_for(lambda: low.state_of(NAME) == "MASTER", timeout=3, what="r2 MASTER")
    time.sleep(0.5)
    assert not lab.has_address(r1, VIP4), "the VIP was put back beside the new Master"
    assert "address" in instance_state(high, NAME)["faults"]
    _ip(lab, r1, "addr", "add", "192.0.2.11/24", "dev", "eth0")
    lab.wait_for(lambda: high.state_of(NAME) == "MASTER", timeout=5, what="r1 MASTER again")
    lab.wait_for(lambda: low.state_of(NAME) == "BACKUP", timeout=5, what="r2 BACKUP again")


def test_tentative_link_local_is_never_the_source(lab: Lab) -> None:
    """Start while eth0's link-local is in DAD (about 6 s here): FAULT, never Master."""
    vips = [f"fe80::{VRID}/64", f"2001:db8::{VRID}/64"]
    high, low = _pair(lab, vips, v6="2001:db8::11/64,2001:db8::12/64")
    high.start()
    lab.wait_for(lambda: high.state_of(NAME) == "MASTER", timeout=5, what="r1 MASTER")
    r2 = low.router
    assert r2.v6_ll is not None

    def tentative() -> bool:
        infos = lab.ip_json(r2, "-6", "addr", "show", "dev", "eth0")[0]["addr_info"]
        return any("tentative" in a for a in infos if a.get("scope") == "link")

    # DAD of 6 probes a second apart: long enough for a slow runner start.
    lab.run(r2, ["sysctl", "-q", "-w", "net.ipv6.conf.eth0.accept_dad=1",
                 "net.ipv6.conf.eth0.dad_transmits=6"], check=True)  # fmt: skip
    _ip(lab, r2, "-6", "addr", "flush", "dev", "eth0", "scope", "link")
    _ip(lab, r2, "-6", "addr", "add", f"{r2.v6_ll}/64", "dev", "eth0")
    assert tentative()
    low.start()
    assert tentative(), "DAD ended before the runner started: the test proves nothing"
    deadline = time.monotonic() + 15.0
    while low.state_of(NAME) != "BACKUP":
        assert low.state_of(NAME) != "MASTER", low.log()[-3000:]
        assert time.monotonic() < deadline, low.log()[-3000:]
        time.sleep(0.05)
    assert not tentative()
    history = moves(low, NAME)
    assert history[0] == ("INIT", "FAULT"), history
    assert all(new != "MASTER" for _old, new in history), history
    time.sleep(1.0)
    assert low.state_of(NAME) == "BACKUP", low.log()[-3000:]
    assert instance_state(low, NAME)["master"] is not None
    assert stats_of(low, NAME).get("send_errors", 0) == 0
