"""What a new Master tells the link besides its adverts, judged by tshark on the bridge.

RFC 9568 §6.4.1 / §6.4.2: for each IPv6 address an unsolicited Neighbor
Advertisement with the Router flag set, the Solicited flag clear and the
Override flag set. Without R, a host that routes through the virtual address
drops its default route at every failover (RFC 4861 §7.2.5).
"""

from __future__ import annotations

from lab import Lab
from lab.capture import Capture
from lab.runner import RunnerProc, single_instance

VIP = "2001:db8::171"


def test_unsolicited_na_has_router_flag_on_the_wire(lab: Lab) -> None:
    r1 = lab.add_router("r1", v6="2001:db8::11/64")
    lab.add_router("r2", v6="2001:db8::12/64")
    # Forwarding stays off in r1: the flag must not depend on it.
    with Capture(lab, icmp6=True) as cap:
        runner = RunnerProc(
            lab, r1, single_instance("v6", vrid=71, priority=200, vips=["fe80::71/64", f"{VIP}/64"])
        ).start()
        lab.wait_for(lambda: runner.state_of("v6") == "MASTER", timeout=5, what="r1 MASTER")
        lab.wait_for(
            lambda: [p for p in cap.others() if p["na_target"] == VIP],
            timeout=5,
            what="an unsolicited NA for the VIP on the wire",
        )
    nas = [p for p in cap.others() if p["icmpv6_type"] == 136 and p["na_target"] == VIP]
    assert nas
    for na in nas:
        assert na["eth_src"] == r1.mac and na["dst"] == "ff02::1", na
        assert na["na_router"] and not na["na_solicited"] and na["na_override"], na
