"""``unicast_ttl``: a unicast peer whose adverts arrive with TTL 64 (a routed path).

r2 stands for a peer a few routers away: it injects VRRPv3 adverts (priority
200) to r1's unicast address with TTL 64. Without the option r1 drops them
(RFC 9568 §7.1, ``drop.ttl``) and takes over; with ``unicast_ttl: 64`` it
hears r2 as its Master, and once r2 goes quiet it advertises with TTL 64
itself, judged by tshark on the bridge. IPv4 and IPv6 (hop limit, global
addresses named as source and peer).
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

import pytest

from lab import Lab
from lab.capture import Capture
from lab.inject import inject, vrrp3_advert
from lab.runner import RunnerProc, instance_state, moves, single_instance, stats_of

VRID = 81
FAMILIES = {  # family: (lab.add_router keyword, r1, r2, virtual addresses)
    "ipv4": ("v4", "192.0.2.11/24", "192.0.2.12/24", ["192.0.2.181/24"]),
    "ipv6": ("v6", "2001:db8::11/64", "2001:db8::12/64", ["fe80::81/64", "2001:db8::181/64"]),
}


def start_peer(lab: Lab, r2: Any, *, src: str, dst: str, vips: list[str]) -> subprocess.Popen[Any]:
    payload = vrrp3_advert(
        vrid=VRID,
        priority=200,
        advert_interval_cs=100,
        addresses=[v.split("/")[0] for v in vips],
        src=src,
        dst=dst,
    )
    # Every 0.2 s for up to 60 s (stopped by the test): Master_Down_Interval
    # is 3.6 s, so a slow machine does not make r1 take over between two.
    return inject(lab, r2, payload, dst=dst, src=src, ttl=64, count=300, interval=0.2)


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("unicast_ttl", [None, 64])
def test_unicast_advert_with_ttl_64_accepted_only_with_the_option(
    lab: Lab, family: str, unicast_ttl: int | None
) -> None:
    key, v1, v2, vips = FAMILIES[family]
    r1 = lab.add_router("r1", **{key: v1})
    r2 = lab.add_router("r2", **{key: v2})
    a1, a2 = v1.split("/")[0], v2.split("/")[0]
    extra: dict[str, Any] = {"unicast_peers": [a2], "unicast_source": a1}
    if unicast_ttl is not None:
        extra["unicast_ttl"] = unicast_ttl
    config = single_instance("wan", vrid=VRID, priority=100, vips=vips, interval=1, **extra)
    runner = RunnerProc(lab, r1, config).start()
    peer = start_peer(lab, r2, src=a2, dst=a1, vips=vips)
    try:
        if unicast_ttl is None:
            # Dropped as RFC 9568 §7.1 says: r1 hears nobody and takes over.
            lab.wait_for(
                lambda: stats_of(runner, "wan").get("drop.ttl", 0) >= 3,
                timeout=10,
                what="adverts with TTL 64 dropped",
            )
            lab.wait_for(lambda: runner.state_of("wan") == "MASTER", timeout=10, what="MASTER")
            assert stats_of(runner, "wan").get("adverts_received", 0) == 0
            return
        lab.wait_for(
            lambda: instance_state(runner, "wan")["master"] == a2,
            timeout=10,
            what="r1 hears r2 as its Master",
        )
        state = instance_state(runner, "wan")
        assert state["state"] == "BACKUP" and state["master_priority"] == 200
        time.sleep(4.0)  # longer than Master_Down_Interval: r1 stays Backup
        assert runner.state_of("wan") == "BACKUP"
        assert ("BACKUP", "MASTER") not in moves(runner, "wan")
        assert stats_of(runner, "wan").get("drop.ttl", 0) == 0
        with Capture(lab) as cap:
            lab.kill(peer)
            lab.wait_for(lambda: runner.state_of("wan") == "MASTER", timeout=10, what="MASTER")
            lab.wait_for(
                lambda: [p for p in cap.packets() if p["src"] == a1], timeout=5, what="an advert"
            )
        ours = [p for p in cap.packets() if p["src"] == a1]
        assert ours and all(p["dst"] == a2 and p["ttl"] == 64 for p in ours), ours
    finally:
        if peer.poll() is None:
            lab.kill(peer)
