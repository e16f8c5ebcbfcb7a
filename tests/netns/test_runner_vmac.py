"""Our runner in VMAC mode: the VIP answers from the virtual router MAC.

``vmac: true`` puts the virtual addresses on a macvlan with the MAC
00:00:5e:00:01:{vrid} (IPv6: 00:00:5e:00:02:{vrid}, RFC 9568 §7.3). A host in
a third namespace resolves the VIP to that MAC; the Backup never answers for
it; after a failover the same MAC answers from the other router, so the
host's neighbour cache needs no update at all, and the bridge learns the
MAC's new port from the new Master's gratuitous ARP / unsolicited NA.
"""

from __future__ import annotations

import json
import signal
import time
from typing import Any

import pytest

from lab import Lab, Router
from lab.capture import Capture, decode_other, decode_vrrp
from lab.runner import (
    LATE,
    RunnerProc,
    instance_state,
    master_down_interval,
    neighbour_mac,
    ping,
    runner_config,
    single_instance,
    stats_of,
    vrrp_instance,
    wait_state,
)
from lab.vmac import VmacFamily, vmac_families

VRID = 81


V4, V6 = vmac_families(VRID, "192.0.2.181/24")
Family = VmacFamily


def _vip(fam: Family) -> str:
    return fam.vips[-1].split("/")[0]


def _vmac_addresses(lab: Lab, router: Router, fam: Family) -> list[str]:
    links = lab.ip_json(router, "addr", "show")
    return [
        str(a["local"])
        for link in links
        if link.get("ifname") == fam.vmac_ifname
        for a in link.get("addr_info", [])
    ]


def _vmac_link(lab: Lab, router: Router, fam: Family) -> dict[str, Any] | None:
    for link in lab.ip_json(router, "-d", "link", "show"):
        if link.get("ifname") == fam.vmac_ifname:
            return link
    return None


def _answers(cap: Capture, fam: Family) -> list[dict[str, Any]]:
    """ARP replies / solicited NAs for the VIP in a capture."""
    vip = _vip(fam)
    if fam.name == "ipv4":
        return [o for o in cap.others() if o["arp_opcode"] == 2 and o["arp_src_ip"] == vip]
    return [
        o
        for o in cap.others()
        if o["icmpv6_type"] == 136 and o["na_target"] == vip and o["dst"] != "ff02::1"
    ]


def _announcements(cap: Capture, fam: Family) -> list[dict[str, Any]]:
    """Gratuitous ARPs / unsolicited NAs for the VIP in a capture."""
    vip = _vip(fam)
    if fam.name == "ipv4":
        return [
            o
            for o in cap.others()
            if o["arp_opcode"] == 1 and o["arp_src_ip"] == vip and o["arp_dst_ip"] == vip
        ]
    return [
        o
        for o in cap.others()
        if o["icmpv6_type"] == 136 and o["na_target"] == vip and o["dst"] == "ff02::1"
    ]


def _fdb_port(lab: Lab, mac: str) -> str | None:
    """The bridge port ``br0`` learned ``mac`` on (``bridge fdb``)."""
    out = lab.run(lab.switch_ns, ["bridge", "-j", "fdb", "show", "br", lab.bridge], check=True)
    for entry in json.loads(out.stdout or "[]"):
        if str(entry.get("mac", "")).lower() == mac and "permanent" not in entry.get("state", ""):
            return str(entry.get("ifname"))
    return None


def _resolve(lab: Lab, host: Router, fam: Family, on: tuple[Router, Router]) -> tuple[Any, Any]:
    """Flush the host's entry, ping the VIP; the two routers' captures of it."""
    lab.run(host, ["ip", "neigh", "flush", "dev", host.ifname], check=True)
    caps = [Capture(lab, on=r, arp=True, icmp6=True, name=f"res-{r.name}") for r in on]
    for cap in caps:
        cap.start()
    try:
        assert ping(lab, host, _vip(fam)), f"VIP {_vip(fam)} unreachable"
        time.sleep(0.1)
    finally:
        for cap in caps:
            cap.stop()
    return caps[0], caps[1]


@pytest.mark.parametrize("fam", [V4, V6], ids=["ipv4", "ipv6"])
@pytest.mark.parametrize("failure", ["sigterm", "crash"])
def test_vmac_answers_from_the_virtual_mac_and_moves_on_failover(
    lab: Lab, fam: Family, failure: str
) -> None:
    key = fam.key
    r1 = lab.add_router("r1", **{key: fam.r1})
    r2 = lab.add_router("r2", **{key: fam.r2})
    host = lab.add_router("h1", **{key: fam.host})
    vip = _vip(fam)
    a = RunnerProc(lab, r1, single_instance("vm", vrid=VRID, priority=200, vips=list(fam.vips),
                                            vmac=True)).start()  # fmt: skip
    b = RunnerProc(lab, r2, single_instance("vm", vrid=VRID, priority=100, vips=list(fam.vips),
                                            vmac=True)).start()  # fmt: skip
    lab.wait_for(lambda: vip in _vmac_addresses(lab, r1, fam), timeout=5, what="VIP on r1's VMAC")
    lab.wait_for(lambda: instance_state(b, "vm")["master"], timeout=5, what="r2 hears r1")
    assert b.state_of("vm") == "BACKUP"
    link = _vmac_link(lab, r1, fam)
    assert link is not None and link["address"] == fam.vmac, link
    assert link["link"] == r1.ifname and link["linkinfo"]["info_kind"] == "macvlan", link
    assert vip not in _vmac_addresses(lab, r2, fam)
    assert not lab.has_address(r1, vip) and not lab.has_address(r2, vip)  # not on eth0

    # The VIP resolves to the virtual MAC; only the Master answers.
    on_r1, on_r2 = _resolve(lab, host, fam, (r1, r2))
    assert neighbour_mac(lab, host, vip) == fam.vmac
    answers = _answers(on_r1, fam)
    assert answers, on_r1.others()
    for answer in answers:
        assert answer["eth_src"] == fam.vmac, answer
        if fam.name == "ipv4":
            assert answer["arp_src_mac"] == fam.vmac, answer
        else:
            assert answer["linkaddr"] == fam.vmac, answer
    assert not _answers(on_r2, fam), "the Backup answered for the VIP"
    assert _fdb_port(lab, fam.vmac) == r1.bridge_port

    with Capture(lab, on=r2, arp=True, icmp6=True, name="takeover") as takeover:
        failed = time.time()
        if failure == "sigterm":
            assert a.stop() == 0
            assert _vmac_link(lab, r1, fam) is None, "r1 left its VMAC behind"
        else:
            # The host dies: its runner (no goodbye) and its link.
            a.kill()
            lab.set_port(r1, up=False)
        lab.wait_for(
            lambda: vip in _vmac_addresses(lab, r2, fam), timeout=3, what="VIP on r2's VMAC"
        )
        took = time.time() - failed
        assert b.state_of("vm") == "MASTER"
        # The host keeps its entry: the MAC did not change, only its bridge port.
        lab.wait_for(
            lambda: _fdb_port(lab, fam.vmac) == r2.bridge_port,
            timeout=2,
            what="the bridge learned the VMAC on r2's port",
        )
        assert neighbour_mac(lab, host, vip) == fam.vmac
        assert ping(lab, host, vip), "VIP unreachable after the failover"
        time.sleep(0.1)
    assert took < master_down_interval(100) + LATE, took
    link = _vmac_link(lab, r2, fam)
    assert link is not None and link["address"] == fam.vmac, link
    announced = [o for o in _announcements(takeover, fam) if o["time"] >= failed]
    assert announced, takeover.others()
    for o in announced:
        assert o["eth_src"] == fam.vmac, o
        assert (o["arp_src_mac"] if fam.name == "ipv4" else o["linkaddr"]) == fam.vmac, o
    adverts = [p for p in takeover.packets() if p["time"] > failed and p["priority"] == 100]
    assert adverts and {p["checksum_status"] for p in adverts} == {"good"}

    # Resolving afresh: the new Master answers from the same MAC.
    if failure == "sigterm":
        on_r1, on_r2 = _resolve(lab, host, fam, (r1, r2))
        assert not _answers(on_r1, fam), "the stopped router answered for the VIP"
    else:
        _unused, on_r2 = _resolve(lab, host, fam, (r2, r2))
    answers = _answers(on_r2, fam)
    assert answers and {a["eth_src"] for a in answers} == {fam.vmac}, answers
    assert neighbour_mac(lab, host, vip) == fam.vmac


@pytest.mark.parametrize("fam", [V4, V6], ids=["ipv4", "ipv6"])
def test_vmac_adverts_leave_from_the_virtual_mac(lab: Lab, fam: Family) -> None:
    """RFC 9568 §7.3: the Master's adverts come from the virtual MAC, and its Backup
    (whose own VMAC has that MAC, so its parent never sees them) still hears them."""
    key = fam.key
    r1 = lab.add_router("r1", **{key: fam.r1})
    r2 = lab.add_router("r2", **{key: fam.r2})
    config = single_instance("vm", vrid=VRID, priority=200, vips=list(fam.vips), vmac=True)
    a = RunnerProc(lab, r1, config).start()
    lab.wait_for(lambda: a.state_of("vm") == "MASTER", timeout=5, what="r1 MASTER")
    with Capture(lab) as cap:
        b = RunnerProc(lab, r2, {**config, "instances": [
            {**config["instances"][0], "priority": 100}]}).start()  # fmt: skip
        lab.wait_for(lambda: instance_state(b, "vm")["master"], timeout=2, what="r2 hears r1")
        time.sleep(0.3)
    adverts = [p for p in cap.packets() if p["priority"] == 200]
    assert adverts
    assert {p["eth_src"] for p in adverts} == {fam.vmac}, adverts
    assert b.state_of("vm") == "BACKUP"


def _tx_packets(lab: Lab, router: Router, ifname: str) -> int:
    link = lab.ip_json(router, "-s", "link", "show", "dev", ifname)[0]
    return int(link["stats64"]["tx"]["packets"])


@pytest.mark.parametrize("fam", [V4, V6], ids=["ipv4", "ipv6"])
def test_vmac_backup_transmits_nothing(lab: Lab, fam: Family) -> None:
    """RFC 9568 §7.3: only the Master may use the virtual MAC as a source.

    No IGMP / MLD report, router solicitation or DAD probe from a Backup's
    VMAC: it joins no IP group and carries no address of its own.
    """
    key = fam.key
    r1 = lab.add_router("r1", **{key: fam.r1})
    r2 = lab.add_router("r2", **{key: fam.r2})
    vips = list(fam.vips)
    a = RunnerProc(lab, r1, single_instance("vm", vrid=VRID, priority=200, vips=vips, vmac=True))
    a.start()
    lab.wait_for(lambda: a.state_of("vm") == "MASTER", timeout=5, what="r1 MASTER")
    b = RunnerProc(lab, r2, single_instance("vm", vrid=VRID, priority=100, vips=vips, vmac=True))
    b.start()
    lab.wait_for(lambda: instance_state(b, "vm")["master"], timeout=2, what="r2 hears r1")
    time.sleep(1.0)  # the kernel's unsolicited reports come within a second
    assert b.state_of("vm") == "BACKUP"
    assert _vmac_link(lab, r2, fam) is not None
    assert _tx_packets(lab, r2, fam.vmac_ifname) == 0


@pytest.mark.parametrize("master_vmac", [True, False], ids=["vmac-master", "plain-master"])
@pytest.mark.parametrize("fam", [V4, V6], ids=["ipv4", "ipv6"])
def test_vmac_beside_a_plain_instance_on_the_parent(
    lab: Lab, fam: Family, *, master_vmac: bool
) -> None:
    """A VMAC instance and a plain one on the same parent: each advert heard once.

    The Backup's VMAC socket hears its VRID's adverts; its parent's socket (open
    for the plain instance) hears them too when they come from a foreign MAC
    (a Master without VMAC, like keepalived's vmac_xmit_base) and must drop
    that copy silently. The plain VRID's adverts reach the VMAC's listener too
    and must be left to the parent: no double delivery, no unknown VRID.
    """
    key = fam.key
    r1 = lab.add_router("r1", **{key: fam.r1})
    r2 = lab.add_router("r2", **{key: fam.r2})
    plain_vip = "192.0.2.182/24" if fam.name == "ipv4" else "2001:db8::182/64"
    plain_vips = [plain_vip] if fam.name == "ipv4" else ["fe80::182/64", plain_vip]

    def config(priority: int, *, vmac: bool = True) -> dict[str, Any]:
        return runner_config(
            vrrp_instance("vm", vrid=VRID, priority=priority, vips=list(fam.vips), vmac=vmac),
            vrrp_instance("plain", vrid=VRID + 1, priority=priority, vips=plain_vips),
        )

    a = RunnerProc(lab, r1, config(200, vmac=master_vmac)).start()
    wait_state(a, "vm", "MASTER")
    wait_state(a, "plain", "MASTER")
    b = RunnerProc(lab, r2, config(100)).start()
    lab.wait_for(lambda: instance_state(b, "vm")["master"], timeout=2, what="r2 hears vm")
    lab.wait_for(lambda: instance_state(b, "plain")["master"], timeout=2, what="r2 hears plain")
    before = {name: stats_of(b, name).get("adverts_received", 0) for name in ("vm", "plain")}
    with Capture(lab) as cap:
        time.sleep(1.0)
    after = {name: stats_of(b, name).get("adverts_received", 0) for name in ("vm", "plain")}
    assert b.state_of("vm") == "BACKUP" and b.state_of("plain") == "BACKUP"
    sent = {
        name: len([p for p in cap.packets() if p["vrid"] == vrid and p["priority"] == 200])
        for name, vrid in (("vm", VRID), ("plain", VRID + 1))
    }
    vm_sources = {p["eth_src"] for p in cap.packets() if p["vrid"] == VRID}
    assert vm_sources == ({fam.vmac} if master_vmac else {r1.mac}), vm_sources
    assert fam.vmac not in {p["eth_src"] for p in cap.packets() if p["vrid"] == VRID + 1}
    for name in ("vm", "plain"):
        heard = after[name] - before[name]
        # Counters and capture are not read at the same instant (a loaded box
        # widens the skew): the Backup hears about what was sent, VMAC or not.
        assert abs(heard - sent[name]) <= max(3, sent[name] // 4), (name, heard, sent)
    runner_counters = b.result("stats")["runner"]
    assert runner_counters.get("drop.unknown_vrid", 0) == 0, runner_counters


def test_vmac6_master_that_steps_down_sends_no_mld(lab: Lab) -> None:
    """RFC 9568 §7.3: once preempted, the old Master sends no MLD from the virtual MAC.

    Dropping the VIPs leaves their solicited-node groups, which the kernel
    reports (MLD) from the VMAC unless the VMAC is down meanwhile. (IPv4 has
    no such report; its old Master's kernel must not answer the new Master's
    gratuitous ARP either: test_vmac_old_master_does_not_answer_the_announcement.)
    """
    fam = V6
    r1 = lab.add_router("r1", v6=fam.r1)
    r2 = lab.add_router("r2", v6=fam.r2)
    vips = list(fam.vips)
    a = RunnerProc(lab, r1, single_instance("vm", vrid=VRID, priority=100, vips=vips, vmac=True))
    a.start()
    wait_state(a, "vm", "MASTER")
    time.sleep(1.5)  # the new Master's own MLD reports are over
    pcap = lab.tmpdir / "r1-out.pcap"
    # Only what r1 sends (-Q out): r2's frames have the same source MAC.
    argv = ["tcpdump", "-n", "-Z", "root", "-Q", "out", "-i", r1.ifname, "-U",
            "--immediate-mode", "-w", str(pcap), f"ether src {fam.vmac}"]  # fmt: skip
    dump = lab.popen(r1, argv)
    lab.wait_for(lambda: "listening on" in lab.log_of(dump), timeout=10, what="tcpdump on r1")
    b = RunnerProc(lab, r2, single_instance("vm", vrid=VRID, priority=200, vips=vips, vmac=True))
    b.start()
    wait_state(a, "vm", "BACKUP")
    wait_state(b, "vm", "MASTER")
    time.sleep(2.0)  # MLD retransmits its reports within a second
    lab.stop(dump)
    assert not _vmac_addresses(lab, r1, fam), "the old Master kept its VIPs"
    adverts = decode_vrrp(str(pcap))
    assert adverts, "r1 sent no advert from its VMAC while Master"
    last_advert = max(p["time"] for p in adverts)
    late = [o for o in decode_other(str(pcap)) if o["time"] > last_advert]
    assert not late, [(round(o["time"] - last_advert, 3), o["icmpv6_type"]) for o in late]
    assert a.state_of("vm") == "BACKUP"


@pytest.mark.parametrize("fam", [V4, V6], ids=["ipv4", "ipv6"])
def test_vmac_old_master_does_not_answer_the_announcement(lab: Lab, fam: Family) -> None:
    """RFC 9568 §7.3: only the Master uses the virtual MAC, even while the old one
    still holds the VIP.

    Make before break: the old Master drops its VIPs only once it has processed
    the new Master's advert, and on a loaded host that is late. Meanwhile the
    new Master's gratuitous ARPs reach the old Master's VMAC, which still has
    the VIP: had its kernel answered them (an ARP reply from the virtual MAC,
    which ``accept_local`` on the VMAC allowed, the sender being one of its
    own addresses), the link's bridges would learn the virtual MAC back on
    the old Master's port, and the VIP's traffic would go there, to a host
    about to drop the VIP, until the new Master's next advert: 1 s of loss at
    each rolling-maintenance handover (debian13 CI). The old Master's runner
    is frozen here (SIGSTOP), the limit of "late": it keeps the VIP while r2
    takes over and announces.
    """
    key = fam.key
    r1 = lab.add_router("r1", **{key: fam.r1})
    r2 = lab.add_router("r2", **{key: fam.r2})
    vips = list(fam.vips)
    a = RunnerProc(lab, r1, single_instance("vm", vrid=VRID, priority=200, vips=vips, vmac=True))
    a.start()
    wait_state(a, "vm", "MASTER")
    b = RunnerProc(lab, r2, single_instance("vm", vrid=VRID, priority=100, vips=vips, vmac=True))
    b.start()
    lab.wait_for(lambda: instance_state(b, "vm")["master"], timeout=2, what="r2 hears r1")
    assert a.proc is not None
    with Capture(lab, on=r1, arp=True, icmp6=True, name="frozen") as cap:
        frozen = time.time()
        lab.kill(a.proc, signal.SIGSTOP)
        try:
            wait_state(b, "vm", "MASTER")
            lab.wait_for(
                lambda: len([o for o in _announcements(cap, fam) if o["time"] >= frozen]) >= 5,
                timeout=5,
                interval=0.2,
                what="r2's announcements reach r1",
            )
            assert vip_on(lab, r1, fam), "r1 dropped its VIP while frozen"
            time.sleep(0.3)  # a kernel answer follows its request within microseconds
        finally:
            lab.kill(a.proc, signal.SIGCONT)
    announced = [o for o in _announcements(cap, fam) if o["time"] >= frozen]
    assert {o["eth_src"] for o in announced} == {fam.vmac}, announced
    answers = [o for o in _answers(cap, fam) if o["time"] >= frozen]
    assert not answers, [(round(o["time"] - frozen, 3), o["eth_src"]) for o in answers]


@pytest.mark.parametrize("fam", [V4, V6], ids=["ipv4", "ipv6"])
def test_vmac_recreated_by_a_reload_still_announces(lab: Lab, fam: Family) -> None:
    """A reload that re-creates a VMAC instance deletes its macvlan and makes a
    new one (a new interface index): the new Master's gratuitous ARPs /
    unsolicited NAs must leave from the new interface, not from a socket bound
    to the old. (A change of the VMAC's name re-creates it; a priority change
    no longer does: it is applied in place.) The name goes away and back."""
    key = fam.key
    r1 = lab.add_router("r1", **{key: fam.r1})
    a = RunnerProc(lab, r1, single_instance("vm", vrid=VRID, priority=200, vips=list(fam.vips),
                                            vmac=True)).start()  # fmt: skip
    lab.wait_for(lambda: vip_on(lab, r1, fam), timeout=5, what="VIP on r1's VMAC")
    before = _vmac_link(lab, r1, fam)
    assert before is not None
    other = fam.vmac_ifname.replace("vrrp", "vrrpx")
    a.write_config(single_instance("vm", vrid=VRID, priority=200, vips=list(fam.vips),
                                   vmac=True, vmac_interface=other))  # fmt: skip
    assert a.result("reload")["recreated"] == ["vm"]
    lab.wait_for(lambda: _vmac_link(lab, r1, fam) is None, timeout=5, what="old VMAC gone")
    wait_state(a, "vm", "MASTER", timeout=5)
    with Capture(lab, on=r1, arp=True, icmp6=True, name="reload") as cap:
        a.write_config(
            single_instance("vm", vrid=VRID, priority=200, vips=list(fam.vips), vmac=True)
        )
        reloaded = time.time()
        assert a.result("reload")["recreated"] == ["vm"]
        lab.wait_for(lambda: a.state_of("vm") == "MASTER" and vip_on(lab, r1, fam), timeout=5,
                     what="r1 MASTER again on the new VMAC")  # fmt: skip
        time.sleep(0.3)
    after = _vmac_link(lab, r1, fam)
    assert after is not None and after["ifindex"] != before["ifindex"], (before, after)
    announced = [o for o in _announcements(cap, fam) if o["time"] >= reloaded]
    assert announced, cap.others()
    assert {o["eth_src"] for o in announced} == {fam.vmac}, announced
    assert not any(k.startswith("io_error") for k in stats_of(a, "vm")), stats_of(a, "vm")


def vip_on(lab: Lab, router: Router, fam: Family) -> bool:
    return _vip(fam) in _vmac_addresses(lab, router, fam)
