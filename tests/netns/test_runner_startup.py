"""Start-up: ``startup_delay`` (keepalived's vrrp_startup_delay), and an interface not ready.

A runner with ``startup_delay`` starts its virtual routers only when the
delay is over: until then it sends nothing, so a lower-priority Master on
the segment stays Master. An instance whose interface does not exist yet,
or is down, at start must not become Master before the interface is up and
it has listened to the segment for Master_Down_Interval (RFC 9568 §6.4.1,
§6.4.2): the first advert it sends comes at least that long after the
interface came up. Margins only: lower bounds, measured from a moment
taken before the cause.
"""

from __future__ import annotations

import time

import pytest

from lab import Lab
from lab.capture import Capture
from lab.runner import (
    LATE,
    RunnerProc,
    adverts_of,
    master_down_interval,
    single_instance,
    wait_state,
)

NAME = "st"
VIP = "192.0.2.150/24"


def test_startup_delay_sends_nothing_before_it_ends(lab: Lab) -> None:
    r1 = lab.add_router("r1", v4="192.0.2.11/24")
    r2 = lab.add_router("r2", v4="192.0.2.12/24")
    delay = 2.0
    low = RunnerProc(lab, r2, single_instance(NAME, vrid=50, priority=100, vips=[VIP])).start()
    wait_state(low, NAME, "MASTER")
    with Capture(lab) as cap:
        t0 = time.time()
        high_cfg = single_instance(NAME, vrid=50, priority=200, vips=[VIP])
        high_cfg["startup_delay"] = delay
        high = RunnerProc(lab, r1, high_cfg).start()
        while time.time() < t0 + delay - 0.3:
            assert low.state_of(NAME) == "MASTER", "the other router lost Mastership meanwhile"
            assert not lab.has_address(r1, VIP.split("/", maxsplit=1)[0])
            # The control socket answers meanwhile: no virtual router runs yet.
            assert NAME not in high.result("state")["instances"]
            time.sleep(0.05)
        lab.wait_for(
            lambda: high.result("state")["instances"].get(NAME, {}).get("state") == "MASTER",
            timeout=delay + 5 * LATE,
            what="r1 MASTER after its startup_delay",
        )
        wait_state(low, NAME, "BACKUP")
    sent = adverts_of(cap.packets(), src="192.0.2.11", vrid=50)
    assert sent, "r1 never advertised"
    assert min(p["time"] for p in sent) >= t0 + delay, "an advert before startup_delay ended"
    assert "startup_delay" in high.log()


@pytest.mark.parametrize("how", ["absent", "down"])
def test_interface_not_ready_at_start_waits_master_down_interval(lab: Lab, how: str) -> None:
    r1 = lab.add_router("r1", v4="192.0.2.11/24")
    interval = 1.0
    cfg = single_instance(NAME, vrid=51, priority=200, vips=[VIP], interval=interval)
    if how == "absent":
        lab.delete_link(r1)
    else:
        lab.set_link(r1, up=False)
    proc = RunnerProc(lab, r1, cfg).start()
    time.sleep(0.5)
    assert proc.state_of(NAME) == "FAULT"
    with Capture(lab) as cap:
        t_up = time.time()
        if how == "absent":
            lab.make_link(r1)
        else:
            lab.set_link(r1, up=True)
        deadline = t_up + master_down_interval(200, interval)
        while time.time() < deadline - 0.1:
            assert proc.state_of(NAME) != "MASTER", "MASTER before Master_Down_Interval"
            time.sleep(0.05)
        wait_state(proc, NAME, "MASTER", timeout=5 * LATE)
        time.sleep(0.2)
    sent = adverts_of(cap.packets(), src="192.0.2.11", vrid=51)
    assert sent, "never advertised"
    assert min(p["time"] for p in sent) >= deadline
