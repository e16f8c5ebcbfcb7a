"""Our runner over IPv6 (VRRPv3, RFC 9568): election, failover, unsolicited NAs.

The first virtual address is the virtual router's link-local one (RFC 9568
§5.2.9), then a global 2001:db8:: address. A third namespace, the host, talks
to the VIP before and after a failover: the new Master's unsolicited neighbour
advertisements (override flag, RFC 4861 §7.2.6) must move the host's
neighbour cache entry to the new Master's MAC.
"""

from __future__ import annotations

import time

from lab import Lab
from lab.capture import Capture
from lab.runner import (
    LATE,
    RunnerProc,
    instance_state,
    master_down_interval,
    neighbour_mac,
    ping,
    single_instance,
)

VRID = 61
VIP_LL = "fe80::61"
VIP = "2001:db8::161"
VIPS = [f"{VIP_LL}/64", f"{VIP}/64"]


def test_ipv6_election_failover_and_unsolicited_na(lab: Lab) -> None:
    r1 = lab.add_router("r1", v6="2001:db8::11/64")
    r2 = lab.add_router("r2", v6="2001:db8::12/64")
    host = lab.add_router("h1", v6="2001:db8::99/64")
    a = RunnerProc(lab, r1, single_instance("v6", vrid=VRID, priority=200, vips=VIPS)).start()
    b = RunnerProc(lab, r2, single_instance("v6", vrid=VRID, priority=100, vips=VIPS)).start()

    # Election by priority; the Backup hears the Master's link-local source.
    lab.wait_for(lambda: a.state_of("v6") == "MASTER", timeout=5, what="r1 MASTER")
    lab.wait_for(
        lambda: instance_state(b, "v6")["master"] == r1.v6_ll, timeout=5, what="r2 hears r1"
    )
    state = instance_state(b, "v6")
    assert state["state"] == "BACKUP"
    assert state["master_priority"] == 200
    assert lab.has_address(r1, VIP) and lab.has_address(r1, VIP_LL)
    assert not lab.has_address(r2, VIP) and not lab.has_address(r2, VIP_LL)

    # The host reaches both VIPs through r1's MAC.
    assert ping(lab, host, VIP), "global VIP unreachable while r1 is MASTER"
    assert ping(lab, host, VIP_LL), "link-local VIP unreachable while r1 is MASTER"
    assert neighbour_mac(lab, host, VIP) == r1.mac
    assert neighbour_mac(lab, host, VIP_LL) == r1.mac

    with Capture(lab, icmp6=True) as cap:
        time.sleep(0.3)  # a few of r1's adverts on the wire
        killed = time.time()
        a.kill()
        lab.wait_for(lambda: lab.has_address(r2, VIP), timeout=3, what="VIP on r2")
        took = time.time() - killed
        # The neighbour cache follows the unsolicited NA: no new solicitation needed.
        lab.wait_for(
            lambda: neighbour_mac(lab, host, VIP) == r2.mac,
            timeout=2,
            what="host's neighbour entry for the VIP moved to r2's MAC",
        )
        assert neighbour_mac(lab, host, VIP_LL) == r2.mac
        time.sleep(0.2)
    # Master_Down_Interval at 0.1 s and priority 100: 3 × 0.1 + 0.061 s, plus slack.
    assert took < master_down_interval(100) + LATE, took
    assert b.state_of("v6") == "MASTER"
    assert lab.has_address(r2, VIP_LL)
    assert ping(lab, host, VIP), "global VIP unreachable after the failover"
    assert ping(lab, host, VIP_LL), "link-local VIP unreachable after the failover"
    assert neighbour_mac(lab, host, VIP) == r2.mac

    adverts = cap.packets()
    before = [p for p in adverts if p["time"] < killed]
    after = [p for p in adverts if p["time"] > killed + 0.05]
    assert before and after
    for p, router, priority in [(p, r1, 200) for p in before] + [(p, r2, 100) for p in after]:
        assert p["family"] == "ipv6" and p["version"] == 3 and p["vrid"] == VRID, p
        assert p["src"] == router.v6_ll and p["eth_src"] == router.mac, p
        assert p["dst"] == "ff02::12" and p["ttl"] == 255, p
        assert p["priority"] == priority and p["advert_interval_cs"] == 10, p
        assert p["addresses"] == [VIP_LL, VIP], p
        assert p["checksum_status"] == "good" and p["checksum_form"] == "ipv6", p

    nas = [o for o in cap.others() if o["icmpv6_type"] == 136 and o["time"] > killed]
    from_r2 = [na for na in nas if na["eth_src"] == r2.mac]
    assert {na["na_target"] for na in from_r2} == {VIP_LL, VIP}, nas
    for na in from_r2:
        assert na["na_override"], na
        assert na["linkaddr"] == r2.mac, na
        assert na["dst"] == "ff02::1" and na["hop_limit"] == 255, na
        assert na["src"] == na["na_target"], na
    # Sent when r2 became Master, not before.
    became_master = min(p["time"] for p in after)
    assert min(na["time"] for na in from_r2) >= became_master - 0.01
    # The dead Master announces nothing.
    assert not [na for na in nas if na["eth_src"] == r1.mac]
