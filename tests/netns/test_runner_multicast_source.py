"""``multicast_source`` (keepalived's mcast_src_ip): the chosen source of multicast adverts.

The address must be one the interface holds: adverts then leave from it,
whatever the kernel's order of the interface's addresses. An address the
interface does not hold puts the instance in FAULT (``address``), with a
log line naming it, until the address is there.
"""

from __future__ import annotations

import time

import pytest

from lab import Lab
from lab.capture import Capture
from lab.runner import RunnerProc, adverts_of, instance_state, single_instance, wait_state

NAME = "ms"

CASES = [
    pytest.param("192.0.2.11/24", "192.0.2.21/24", ["192.0.2.160/24"], id="ipv4"),
    pytest.param("fd00:60::11/64", "fe80::21/64", ["fe80::60/64", "fd00:60::160/64"], id="ipv6"),
]


@pytest.mark.parametrize(("own", "chosen", "vips"), CASES)
def test_adverts_leave_from_multicast_source(
    lab: Lab, own: str, chosen: str, vips: list[str]
) -> None:
    key = "v6" if ":" in own else "v4"
    r1 = lab.add_router("r1", **{key: own})
    source = chosen.split("/", maxsplit=1)[0]
    cfg = single_instance(NAME, vrid=60, priority=200, vips=vips, multicast_source=source)
    proc = RunnerProc(lab, r1, cfg).start()
    lab.wait_for(lambda: proc.state_of(NAME) == "FAULT", timeout=5, what="FAULT without it")
    assert "address" in instance_state(proc, NAME)["faults"]
    assert "multicast_source" in proc.log() and source in proc.log()
    with Capture(lab) as cap:
        extra = ["nodad"] if ":" in chosen else []
        lab.run(r1, ["ip", "addr", "add", chosen, "dev", "eth0", *extra], check=True)
        wait_state(proc, NAME, "MASTER", timeout=10)
        time.sleep(0.5)
    vrrp = [p for p in cap.packets() if p["vrid"] == 60]
    assert vrrp, "no adverts"
    assert adverts_of(vrrp, src=source, vrid=60) == vrrp, {p["src"] for p in vrrp}
