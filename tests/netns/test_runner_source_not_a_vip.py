"""An instance never advertises from another instance's virtual address.

r1 is Master of instance "a", whose first virtual address is the link-local
fe80::a1 on eth0. The kernel lists a newer IPv6 address of a scope before
the older ones, so fe80::a1 comes before r1's own link-local address. An
instance "b" added by a reload must still pick r1's own link-local address
as its source (RFC 9568 §5.1.2.1): fe80::a1 belongs to "a" and goes away
with a's mastership, taking b's source (and b itself, into the address
fault) with it.
"""

from __future__ import annotations

from lab import Lab
from lab.capture import Capture
from lab.runner import RunnerProc, instance_state, runner_config, vrrp_instance


def test_an_instance_added_later_does_not_take_a_vip_as_source(lab: Lab) -> None:
    r1 = lab.add_router("r1", v6="2001:db8::11/64")
    a = vrrp_instance("a", vrid=161, priority=200, vips=["fe80::a1/64", "2001:db8::a1/64"])
    b = vrrp_instance("b", vrid=162, priority=200, vips=["fe80::b2/64", "2001:db8::b2/64"])
    runner = RunnerProc(lab, r1, runner_config(a)).start()
    lab.wait_for(lambda: runner.state_of("a") == "MASTER", timeout=5, what="a MASTER")
    assert lab.has_address(r1, "fe80::a1")
    runner.write_config(runner_config(a, b))
    with Capture(lab) as cap:
        runner.request("reload")
        lab.wait_for(lambda: runner.state_of("b") == "MASTER", timeout=5, what="b MASTER")
        lab.wait_for(
            lambda: [p for p in cap.packets() if p["vrid"] == 162], timeout=5, what="b's adverts"
        )
    assert instance_state(runner, "b")["master"] == r1.v6_ll
    sources = {p["src"] for p in cap.packets() if p["vrid"] == 162}
    assert sources == {r1.v6_ll}, sources
