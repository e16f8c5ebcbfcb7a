"""Our runner with unicast peers: election and failover without VRRP multicast.

Two routers, each with the other as its only ``unicast_peers`` entry. The
capture on the bridge proves that every advert goes to the peer's unicast
address (never 224.0.0.18 / ff02::12) and still carries TTL / hop limit 255.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest

from lab import Lab, Router
from lab.capture import Capture
from lab.runner import LATE, RunnerProc, instance_state, master_down_interval, single_instance

VRID = 71


@dataclass(frozen=True)
class Family:
    name: str
    r1: str
    r2: str
    vips: tuple[str, ...]
    multicast: str
    # Which of a router's addresses is its unicast identity: "v4", "v6" (the
    # global one, set as unicast_source) or "v6_ll" (the default IPv6 source).
    attr: str


FAMILIES = [
    Family("ipv4", "192.0.2.11/24", "192.0.2.12/24", ("192.0.2.171/24",), "224.0.0.18", "v4"),
    Family(
        "ipv6-global",
        "2001:db8::11/64",
        "2001:db8::12/64",
        ("fe80::71/64", "2001:db8::171/64"),
        "ff02::12",
        "v6",
    ),
    Family(
        "ipv6-link-local",
        "2001:db8::11/64",
        "2001:db8::12/64",
        ("fe80::71/64", "2001:db8::171/64"),
        "ff02::12",
        "v6_ll",
    ),
]


def _addr(router: Router, fam: Family) -> str:
    value = getattr(router, fam.attr)
    assert isinstance(value, str)
    return value


def _config(fam: Family, me: Router, peer: Router, priority: int) -> dict[str, Any]:
    extra: dict[str, Any] = {"unicast_peers": [_addr(peer, fam)]}
    if fam.attr == "v6":
        extra["unicast_source"] = _addr(me, fam)
    return single_instance("uc", vrid=VRID, priority=priority, vips=list(fam.vips), **extra)


def _pair(lab: Lab, fam: Family, p1: int, p2: int) -> tuple[RunnerProc, RunnerProc]:
    family = "v4" if fam.multicast == "224.0.0.18" else "v6"
    r1 = lab.add_router("r1", **{family: fam.r1})
    r2 = lab.add_router("r2", **{family: fam.r2})
    a = RunnerProc(lab, r1, _config(fam, r1, r2, p1))
    b = RunnerProc(lab, r2, _config(fam, r2, r1, p2))
    return a, b


@pytest.mark.parametrize("fam", FAMILIES, ids=[f.name for f in FAMILIES])
def test_unicast_peers_elect_and_fail_over_without_multicast(lab: Lab, fam: Family) -> None:
    vip = fam.vips[-1].split("/")[0]
    a, b = _pair(lab, fam, 200, 100)
    with Capture(lab) as cap:
        a.start()
        b.start()
        lab.wait_for(lambda: lab.has_address(a.router, vip), timeout=5, what="VIP on r1")
        lab.wait_for(
            lambda: instance_state(b, "uc")["master"] == _addr(a.router, fam),
            timeout=5,
            what="r2 hears r1 by its unicast address",
        )
        state = instance_state(b, "uc")
        assert state["state"] == "BACKUP" and state["master_priority"] == 200
        assert not lab.has_address(b.router, vip)
        time.sleep(0.3)  # both directions on the wire

        killed = time.time()
        a.kill()
        lab.wait_for(lambda: lab.has_address(b.router, vip), timeout=3, what="VIP on r2")
        took = time.time() - killed
        assert b.state_of("uc") == "MASTER"
        time.sleep(0.3)
    assert took < master_down_interval(100) + LATE, took

    adverts = cap.packets()
    assert adverts
    assert not [p for p in adverts if p["dst"] == fam.multicast], "multicast advert seen"
    ends = {_addr(a.router, fam): a.router, _addr(b.router, fam): b.router}
    for p in adverts:
        assert p["vrid"] == VRID and p["ttl"] == 255, p
        assert p["src"] in ends and p["dst"] in ends and p["src"] != p["dst"], p
        assert p["eth_src"] == ends[p["src"]].mac and p["eth_dst"] == ends[p["dst"]].mac, p
        assert p["checksum_status"] == "good", p
        assert p["addresses"] == [v.split("/")[0] for v in fam.vips], p
    r1_addr, r2_addr = _addr(a.router, fam), _addr(b.router, fam)
    # r1 (priority 200) advertised while alive; r2 took over after the kill.
    assert [p for p in adverts if p["src"] == r1_addr and p["priority"] == 200]
    assert not [p for p in adverts if p["src"] == r1_addr and p["time"] > killed + 0.01]
    assert [p for p in adverts if p["src"] == r2_addr and p["time"] > killed]
    # Stats: the Backup received r1's unicast adverts and dropped none as a stranger's.
    stats = b.result("stats")["instances"]["uc"]
    assert stats.get("adverts_received", 0) > 0
    assert not stats.get("drop.peer"), stats
