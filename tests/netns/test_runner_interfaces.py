"""Our runner follows the host's interfaces: deleted, made again, late, renamed.

A socket, its multicast membership, a VMAC and its packet sockets all belong
to one ifindex. An interface deleted and made again (a VLAN or bond re-made,
here a veth with a new ifindex), or one that appears after the runner started,
must be listened on again BEFORE the instance may become Master: a deaf
Backup's Master_Down_Timer expires and it takes the virtual addresses beside
the real Master, for good.

The deaf router is always the lower-priority one, so only its hearing keeps
it Backup. ``role`` says what it was when its interface went: Backup (the
other router started first) or Master (it started first and the other, with
``preempt: false``, left it so). ``late``: the runner starts while the
interface does not exist yet.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest

from lab import Lab, Router
from lab.runner import RunnerProc, instance_state, single_instance, stats_of

NAME = "vi"


@dataclass(frozen=True)
class Family:
    name: str
    vrid: int
    r1: str
    r2: str
    vips: tuple[str, ...]


V4 = Family("ipv4", 57, "192.0.2.11/24", "192.0.2.12/24", ("192.0.2.157/24",))
V6 = Family("ipv6", 58, "2001:db8::11/64", "2001:db8::12/64", ("fe80::58/64", "2001:db8::158/64"))


def _routers(lab: Lab, fam: Family) -> tuple[Router, Router]:
    key = "v4" if fam is V4 else "v6"
    return lab.add_router("r1", **{key: fam.r1}), lab.add_router("r2", **{key: fam.r2})


def _own(router: Router, fam: Family) -> str:
    value = router.v4 if fam is V4 else router.v6
    assert value is not None
    return value


def _config(
    fam: Family, me: Router, peer: Router, *, priority: int, unicast: bool, vmac: bool, **extra: Any
) -> dict[str, Any]:
    if unicast:
        extra["unicast_peers"] = [_own(peer, fam)]
        if fam is V6:
            extra["unicast_source"] = _own(me, fam)
    if vmac:
        extra["vmac"] = True
    return single_instance(
        NAME, vrid=fam.vrid, priority=priority, vips=list(fam.vips), interval=0.1, **extra
    )


def _vip(fam: Family) -> str:
    return fam.vips[-1].split("/")[0]


def _holds_vip(lab: Lab, router: Router, fam: Family) -> bool:
    vip = _vip(fam)
    for iface in lab.ip_json(router, "addr", "show"):
        if any(a.get("local") == vip for a in iface.get("addr_info", [])):
            return True
    return False


def _never_two_masters(lab: Lab, high: RunnerProc, low: RunnerProc, fam: Family) -> None:
    """For well over Master_Down_Interval (0.36 s): the low one stays Backup, without the VIP."""
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        assert low.state_of(NAME) != "MASTER", f"two Masters\n{low.log()[-3000:]}"
        time.sleep(0.05)
    assert high.state_of(NAME) == "MASTER"
    assert low.state_of(NAME) == "BACKUP"
    assert _holds_vip(lab, high.router, fam)
    assert not _holds_vip(lab, low.router, fam)
    assert instance_state(low, NAME)["master"] is not None


CASES = [
    pytest.param(fam, unicast, vmac, id=f"{fam.name}-{'unicast' if unicast else 'mcast'}"
                 + ("-vmac" if vmac else ""))
    for fam in (V4, V6)
    for unicast in (False, True)
    for vmac in (False, True)
]  # fmt: skip


@pytest.mark.parametrize("role", ["backup", "master"])
@pytest.mark.parametrize(("fam", "unicast", "vmac"), CASES)
def test_recreated_interface_is_heard_again(
    lab: Lab, fam: Family, *, unicast: bool, vmac: bool, role: str
) -> None:
    r1, r2 = _routers(lab, fam)
    high = RunnerProc(lab, r1, _config(fam, r1, r2, priority=200, unicast=unicast, vmac=vmac,
                                       preempt=role != "master"))  # fmt: skip
    low = RunnerProc(lab, r2, _config(fam, r2, r1, priority=100, unicast=unicast, vmac=vmac))
    first, second = (high, low) if role == "backup" else (low, high)
    first.start()
    lab.wait_for(lambda: first.state_of(NAME) == "MASTER", timeout=5, what="first MASTER")
    second.start()
    lab.wait_for(lambda: second.state_of(NAME) == "BACKUP", timeout=5, what="second BACKUP")
    lab.wait_for(lambda: instance_state(second, NAME)["master"], timeout=3, what="second hears")
    assert low.state_of(NAME) == role.upper()

    if role == "backup":
        lab.recreate_link(low.router)
    else:
        # Back once the other took over: it must hear that one (a quicker
        # return may find it still Backup and rightly take Mastership again).
        lab.delete_link(low.router)
        lab.wait_for(lambda: high.state_of(NAME) == "MASTER", timeout=5, what="high MASTER")
        lab.make_link(low.router)
    # Gone (FAULT), back (Initialize -> Backup) and hearing the other: never Master.
    lab.wait_for(lambda: high.state_of(NAME) == "MASTER", timeout=5, what="high MASTER")
    lab.wait_for(lambda: low.state_of(NAME) == "BACKUP", timeout=5, what="low BACKUP again")
    _never_two_masters(lab, high, low, fam)


@pytest.mark.parametrize("vmac", [False, True], ids=["plain", "vmac"])
@pytest.mark.parametrize("fam", [V4, V6], ids=["ipv4", "ipv6"])
def test_interface_that_appears_late_is_heard(lab: Lab, fam: Family, *, vmac: bool) -> None:
    r1, r2 = _routers(lab, fam)
    high = RunnerProc(lab, r1, _config(fam, r1, r2, priority=200, unicast=False, vmac=vmac))
    low = RunnerProc(lab, r2, _config(fam, r2, r1, priority=100, unicast=False, vmac=vmac))
    high.start()
    lab.wait_for(lambda: high.state_of(NAME) == "MASTER", timeout=5, what="high MASTER")
    lab.delete_link(r2)
    low.start()
    time.sleep(0.5)
    assert low.state_of(NAME) == "FAULT"
    lab.make_link(r2)
    lab.wait_for(lambda: low.state_of(NAME) == "BACKUP", timeout=5, what="low BACKUP")
    _never_two_masters(lab, high, low, fam)
    # Not even for a moment (a poll can miss a Master that yields in 1 ms).
    assert stats_of(low, NAME).get("became_master", 0) == 0, low.log()[-3000:]


@pytest.mark.parametrize("fam", [V4, V6], ids=["ipv4", "ipv6"])
def test_vmac_deleted_by_hand_is_made_again(lab: Lab, fam: Family) -> None:
    """The VMAC of a Backup deleted by an operator: made again, heard again, no crash."""
    r1, r2 = _routers(lab, fam)
    high = RunnerProc(lab, r1, _config(fam, r1, r2, priority=200, unicast=False, vmac=True))
    low = RunnerProc(lab, r2, _config(fam, r2, r1, priority=100, unicast=False, vmac=True))
    high.start()
    lab.wait_for(lambda: high.state_of(NAME) == "MASTER", timeout=5, what="high MASTER")
    low.start()
    lab.wait_for(lambda: low.state_of(NAME) == "BACKUP", timeout=5, what="low BACKUP")
    vmac_ifname = f"vrrp.{fam.vrid}" if fam is V4 else f"vrrp6.{fam.vrid}"
    for runner in (low, high):
        lab.run(runner.router, ["ip", "link", "del", vmac_ifname], check=True)
        lab.wait_for(
            lambda r=runner: vmac_ifname in {i["ifname"] for i in lab.ip_json(r.router, "link")},
            timeout=5,
            what=f"{vmac_ifname} made again in {runner.router.name}",
        )
        lab.wait_for(lambda: high.state_of(NAME) == "MASTER", timeout=5, what="high MASTER")
        lab.wait_for(lambda: low.state_of(NAME) == "BACKUP", timeout=5, what="low BACKUP")
        lab.wait_for(lambda: _holds_vip(lab, r1, fam), timeout=5, what="VIP on r1")
        _never_two_masters(lab, high, low, fam)
    for runner in (low, high):
        assert high.proc is not None and runner.proc is not None and runner.proc.poll() is None
        assert "Traceback" not in runner.log(), runner.log()[-3000:]
    assert stats_of(low, NAME).get("adverts_received", 0) > 0


@pytest.mark.parametrize("fam", [V4, V6], ids=["ipv4", "ipv6"])
def test_renamed_interface_is_gone_until_it_is_back(lab: Lab, fam: Family) -> None:
    r1, r2 = _routers(lab, fam)
    high = RunnerProc(lab, r1, _config(fam, r1, r2, priority=200, unicast=False, vmac=False))
    low = RunnerProc(lab, r2, _config(fam, r2, r1, priority=100, unicast=False, vmac=False))
    high.start()
    lab.wait_for(lambda: high.state_of(NAME) == "MASTER", timeout=5, what="high MASTER")
    low.start()
    lab.wait_for(lambda: low.state_of(NAME) == "BACKUP", timeout=5, what="low BACKUP")

    def rename(old: str, new: str) -> None:
        for argv in (["set", old, "down"], ["set", old, "name", new], ["set", new, "up"]):
            lab.run(r2, ["ip", "link", *argv], check=True)

    rename("eth0", "eth9")
    lab.wait_for(lambda: low.state_of(NAME) == "FAULT", timeout=3, what="low FAULT")
    time.sleep(0.5)  # eth9 is up: still FAULT, eth0 is gone
    assert low.state_of(NAME) == "FAULT"
    assert {"link", "socket"} <= set(instance_state(low, NAME)["faults"])
    rename("eth9", "eth0")
    lab.wait_for(lambda: low.state_of(NAME) == "BACKUP", timeout=5, what="low BACKUP again")
    _never_two_masters(lab, high, low, fam)


@pytest.mark.parametrize("retrans", [None, 10_000], ids=["default", "slow-resolve"])
@pytest.mark.parametrize("fam", [V4, V6], ids=["ipv4", "ipv6"])
def test_unicast_interface_that_appears_late_is_heard(
    lab: Lab, fam: Family, retrans: int | None
) -> None:
    """The Master's unicast adverts wait in its kernel while it resolves our
    address (ARP / NS, retried every ``retrans_time_ms``, 1 s by default: longer
    than our 0.36 s Master_Down_Interval); ``slow-resolve``: every 10 s. Only
    our own gratuitous ARP / unsolicited NA on entering Backup lets its adverts
    reach us before our timer runs out (before: Master for a moment, every time)."""
    r1, r2 = _routers(lab, fam)
    if retrans is not None:
        family = "ipv4" if fam is V4 else "ipv6"
        sysctl = f"net.{family}.neigh.eth0.retrans_time_ms={retrans}"
        lab.run(r1, ["sysctl", "-qw", sysctl], check=True)
    high = RunnerProc(lab, r1, _config(fam, r1, r2, priority=200, unicast=True, vmac=False))
    low = RunnerProc(lab, r2, _config(fam, r2, r1, priority=100, unicast=True, vmac=False))
    lab.delete_link(r2)
    low.start()
    high.start()
    lab.wait_for(lambda: high.state_of(NAME) == "MASTER", timeout=5, what="high MASTER")
    assert low.state_of(NAME) == "FAULT"
    if retrans is not None:  # r1 is resolving r2 (from its first advert on): its adverts wait
        argv = ["ip", "neigh", "show", _own(r2, fam).split("/")[0]]
        lab.wait_for(lambda: "INCOMPLETE" in lab.run(r1, argv).stdout, timeout=5, what="INCOMPLETE")
    lab.make_link(r2)
    lab.wait_for(lambda: low.state_of(NAME) == "BACKUP", timeout=5, what="low BACKUP")
    _never_two_masters(lab, high, low, fam)
    # Not even for a moment (a poll can miss a Master that yields in 1 ms).
    assert stats_of(low, NAME).get("became_master", 0) == 0, low.log()[-3000:]
