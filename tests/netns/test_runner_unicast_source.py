"""IPv6 unicast peers named by their global addresses, without ``unicast_source``.

The configuration ``--check`` accepts must work: each runner sends from its
own global address on the interface (the scope of the peers it names, as a
network engineer expects and as RFC 6724 source selection would pick), so
the peer, which names it by that global address, hears it. Before, adverts
went out from the link-local address, each side dropped the other's as from
an unknown peer (``drop.peer``) and both stayed MASTER with the VIP: a
permanent split brain.
"""

from __future__ import annotations

import time

from lab import Lab
from lab.capture import Capture
from lab.runner import RunnerProc, instance_state, single_instance, stats_of

VRID = 91
VIPS = ["fe80::91/64", "fd00:99::191/64"]
VIP = "fd00:99::191"


def test_global_v6_peers_without_unicast_source_elect_one_master(lab: Lab) -> None:
    r1 = lab.add_router("r1", v6="fd00:99::1/64")
    r2 = lab.add_router("r2", v6="fd00:99::2/64")
    a1, a2 = "fd00:99::1", "fd00:99::2"

    def config(peer: str, priority: int) -> dict[str, object]:
        return single_instance(
            "uc6", vrid=VRID, priority=priority, vips=VIPS, interval=0.5, unicast_peers=[peer]
        )

    with Capture(lab) as cap:
        a = RunnerProc(lab, r1, config(a2, 200)).start()
        b = RunnerProc(lab, r2, config(a1, 100)).start()
        lab.wait_for(
            lambda: instance_state(b, "uc6")["master"] == a1,
            timeout=10,
            what="r2 hears r1 by its global address",
        )
        lab.wait_for(lambda: a.state_of("uc6") == "MASTER", timeout=5, what="r1 MASTER")
        time.sleep(1.0)  # many intervals: the election holds
        assert b.state_of("uc6") == "BACKUP"
        assert lab.has_address(r1, VIP) and not lab.has_address(r2, VIP)
        assert not stats_of(b, "uc6").get("drop.peer"), stats_of(b, "uc6")
        assert not stats_of(a, "uc6").get("drop.peer"), stats_of(a, "uc6")

        a.kill()
        lab.wait_for(lambda: lab.has_address(r2, VIP), timeout=5, what="VIP on r2 after r1 died")
        assert b.state_of("uc6") == "MASTER"
        time.sleep(0.3)
    adverts = [p for p in cap.packets() if p["vrid"] == VRID]
    assert adverts
    for p in adverts:
        assert (p["src"], p["dst"]) in ((a1, a2), (a2, a1)), p
