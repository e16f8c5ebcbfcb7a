"""What a MASTER holds beyond its advertised VIPs, checked in the kernel.

Virtual routes and rules (keepalived's virtual_routes / virtual_rules) are
installed on becoming MASTER and removed on leaving it: they move with a
failover, go at stop and with a reload that drops them, come back when the
interface they go through comes back. A route the kernel refuses is logged
by name with the kernel's reason and the instance runs on. Address options
(dev, label, scope, broadcast) are what ``ip -j addr`` shows, and excluded
addresses are held by the MASTER but never in its adverts.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from lab import Lab, Router
from lab.capture import Capture
from lab.runner import RunnerProc, add_second_link, instance_state, single_instance, stats_of

NAME = "rt"
VRID = 71
VIP = "192.0.2.171"
TABLE = 171
ROUTES: list[dict[str, Any]] = [
    {"to": "198.51.100.0/25", "via": "192.0.2.254"},
    {"to": "198.51.100.128/25", "type": "blackhole", "table": TABLE},
    {"to": "198.51.100.0/24", "dev": "eth0", "src": VIP, "metric": 50, "table": TABLE},
]
RULES: list[dict[str, Any]] = [
    {"from": VIP, "table": TABLE, "priority": 1171},
    {"fwmark": 7, "table": TABLE, "priority": 1172},
]


def _pair(lab: Lab, **extra: Any) -> tuple[RunnerProc, RunnerProc]:
    r1 = lab.add_router("r1", v4="192.0.2.11/24")
    r2 = lab.add_router("r2", v4="192.0.2.12/24")
    keys = {"virtual_routes": ROUTES, "virtual_rules": RULES, **extra}
    high = RunnerProc(
        lab, r1, single_instance(NAME, vrid=VRID, priority=200, vips=[f"{VIP}/24"], **keys)
    )
    low = RunnerProc(
        lab, r2, single_instance(NAME, vrid=VRID, priority=100, vips=[f"{VIP}/24"], **keys)
    )
    return high, low


def _converged(lab: Lab, high: RunnerProc, low: RunnerProc) -> None:
    high.start()
    lab.wait_for(lambda: high.state_of(NAME) == "MASTER", timeout=5, what="r1 MASTER")
    low.start()
    lab.wait_for(lambda: instance_state(low, NAME)["master"], timeout=5, what="r2 hears r1")
    assert low.state_of(NAME) == "BACKUP"


def routes(lab: Lab, router: Router) -> set[str]:
    """Our routes in the main table and in TABLE, as ``ip route`` words."""
    out = set()
    for table in ("main", str(TABLE)):
        shown = lab.run(router, ["ip", "-j", "route", "show", "table", table])
        # A table nothing was ever put in does not exist: ip exits 2.
        for r in json.loads(shown.stdout or "[]") if shown.returncode == 0 else []:
            if r.get("protocol") != "static":
                continue
            words = [r.get("type", "unicast"), r["dst"], r.get("gateway"), r.get("dev")]
            words += [r.get("prefsrc"), r.get("metric"), table]
            out.add(" ".join(str(w) for w in words if w is not None))
    return out


WANT_ROUTES = {
    "unicast 198.51.100.0/25 192.0.2.254 eth0 main",
    f"blackhole 198.51.100.128/25 {TABLE}",
    f"unicast 198.51.100.0/24 eth0 {VIP} 50 {TABLE}",
}


def rules(lab: Lab, router: Router) -> set[str]:
    out = set()
    for r in lab.ip_json(router, "rule", "show"):
        if r.get("table") == str(TABLE):
            out.add(f"{r['priority']} {r.get('src', 'all')} {r.get('fwmark', '-')}")
    return out


WANT_RULES = {f"1171 {VIP} -", "1172 all 0x7"}


def _holds(lab: Lab, router: Router) -> bool:
    return routes(lab, router) == WANT_ROUTES and rules(lab, router) == WANT_RULES


def _empty(lab: Lab, router: Router) -> bool:
    return not routes(lab, router) and not rules(lab, router)


def test_routes_and_rules_follow_the_master(lab: Lab) -> None:
    high, low = _pair(lab)
    _converged(lab, high, low)
    r1, r2 = high.router, low.router
    lab.wait_for(lambda: _holds(lab, r1), timeout=5, what=f"routes on r1: {routes(lab, r1)}")
    assert _empty(lab, r2), (routes(lab, r2), rules(lab, r2))
    # Failover: r1 stops (priority 0), r2 takes over and installs them; r1 has none.
    assert high.stop() == 0
    lab.wait_for(lambda: low.state_of(NAME) == "MASTER", timeout=5, what="r2 MASTER")
    lab.wait_for(lambda: _holds(lab, r2), timeout=5, what=f"routes on r2: {routes(lab, r2)}")
    assert _empty(lab, r1), (routes(lab, r1), rules(lab, r1))
    # r1 back: it preempts, r2 (BACKUP again) removes them.
    high.start()
    lab.wait_for(lambda: high.state_of(NAME) == "MASTER", timeout=5, what="r1 MASTER again")
    lab.wait_for(lambda: _empty(lab, r2), timeout=5, what="r2 removed them on leaving MASTER")
    lab.wait_for(lambda: _holds(lab, r1), timeout=5, what="r1 has them again")
    # FAULT: the link goes down under r1; it leaves MASTER and removes the rules
    # (the kernel takes the routes through eth0 with the link).
    lab.set_link(r1, up=False)
    lab.wait_for(lambda: high.state_of(NAME) == "FAULT", timeout=5, what="r1 FAULT")
    lab.wait_for(lambda: _empty(lab, r1), timeout=5, what="r1 holds nothing in FAULT")
    lab.wait_for(lambda: _holds(lab, r2), timeout=5, what="r2 took them over")
    assert low.stop() == 0
    assert _empty(lab, r2), "a stop removes them"


def test_reload_drops_and_changes_routes_of_a_master(lab: Lab) -> None:
    high, low = _pair(lab)
    _converged(lab, high, low)
    r1 = high.router
    lab.wait_for(lambda: _holds(lab, r1), timeout=5, what="routes on r1")
    cfg = copy.deepcopy(single_instance(NAME, vrid=VRID, priority=200, vips=[f"{VIP}/24"]))
    cfg["instances"][0]["virtual_routes"] = [ROUTES[0], {**ROUTES[1], "to": "198.51.100.192/26"}]
    cfg["instances"][0]["virtual_rules"] = [RULES[1]]
    high.write_config(cfg)
    report = high.result("reload")
    assert NAME in report["changed"], report
    want = {"unicast 198.51.100.0/25 192.0.2.254 eth0 main", f"blackhole 198.51.100.192/26 {TABLE}"}
    lab.wait_for(lambda: routes(lab, r1) == want, timeout=5, what=f"new routes: {routes(lab, r1)}")
    assert rules(lab, r1) == {"1172 all 0x7"}
    assert high.state_of(NAME) == "MASTER"
    # A reload that drops them all.
    cfg["instances"][0].pop("virtual_routes")
    cfg["instances"][0].pop("virtual_rules")
    high.write_config(cfg)
    high.result("reload")
    assert _empty(lab, r1), (routes(lab, r1), rules(lab, r1))
    assert high.state_of(NAME) == "MASTER"


def test_a_route_the_kernel_refuses_is_logged_and_the_master_runs_on(lab: Lab) -> None:
    bad = {"to": "198.51.100.64/26", "via": "198.51.100.1"}  # no connected net holds the gateway
    high, low = _pair(lab, virtual_routes=[*ROUTES, bad])
    _converged(lab, high, low)
    r1 = high.router
    lab.wait_for(lambda: _holds(lab, r1), timeout=5, what="the other routes on r1")
    lab.wait_for(
        lambda: (
            "virtual route 198.51.100.64/26 via 198.51.100.1 table 254: the kernel "
            "refused it: Network is unreachable" in high.log()
        ),
        timeout=5,
        what="the refusal in the log",
    )
    assert lab.has_address(r1, VIP)
    assert high.state_of(NAME) == "MASTER" and low.state_of(NAME) == "BACKUP"
    assert stats_of(high, NAME).get("io_error.AddAddresses", 0) >= 1
    assert "Traceback" not in high.log()


def _addr_info(lab: Lab, router: Router, ifname: str, address: str) -> dict[str, Any] | None:
    for iface in lab.ip_json(router, "addr", "show", "dev", ifname):
        for info in iface.get("addr_info", []):
            if info.get("local") == address:
                return dict(info)
    return None


def test_address_options_and_excluded_addresses(lab: Lab) -> None:
    vips: list[Any] = [
        {"address": f"{VIP}/24", "label": "eth0:vip", "broadcast": "192.0.2.255"},
        {"address": "198.51.100.171/32", "dev": "eth1", "scope": "link"},
    ]
    excluded = ["192.0.2.172/32", "2001:db8::172/64"]
    r1 = lab.add_router("r1", v4="192.0.2.11/24")
    r2 = lab.add_router("r2", v4="192.0.2.12/24")
    for router, last in ((r1, 11), (r2, 12)):
        add_second_link(lab, router, v4=f"198.51.100.{last}/24")
    keys = {"virtual_addresses_excluded": excluded}
    high = RunnerProc(lab, r1, single_instance(NAME, vrid=VRID, priority=200, vips=vips, **keys))
    low = RunnerProc(lab, r2, single_instance(NAME, vrid=VRID, priority=100, vips=vips, **keys))
    with Capture(lab) as cap:
        _converged(lab, high, low)
        lab.wait_for(
            lambda: _addr_info(lab, r1, "eth0", "2001:db8::172") is not None,
            timeout=5,
            what="excluded addresses on r1",
        )
    vip = _addr_info(lab, r1, "eth0", VIP)
    assert vip is not None and vip["label"] == "eth0:vip" and vip["broadcast"] == "192.0.2.255"
    other = _addr_info(lab, r1, "eth1", "198.51.100.171")
    assert other is not None and other["scope"] == "link", other
    assert _addr_info(lab, r1, "eth0", "192.0.2.172") is not None
    for ifname, address in (("eth0", VIP), ("eth1", "198.51.100.171"), ("eth0", "192.0.2.172")):
        assert _addr_info(lab, r2, ifname, address) is None, f"{address} on the BACKUP"
    adverts = [p for p in cap.packets() if p["vrid"] == VRID and p["src"] == "192.0.2.11"]
    assert adverts
    for advert in adverts:  # the VIPs, never an excluded address
        assert sorted(advert["addresses"]) == sorted([VIP, "198.51.100.171"]), advert
    # Leaving MASTER removes them all, wherever they are.
    assert high.stop() == 0
    lab.wait_for(lambda: low.state_of(NAME) == "MASTER", timeout=5, what="r2 MASTER")
    for ifname, address in (("eth0", VIP), ("eth1", "198.51.100.171"), ("eth0", "2001:db8::172")):
        assert _addr_info(lab, r1, ifname, address) is None, f"{address} left on r1"
        lab.wait_for(
            lambda i=ifname, a=address: _addr_info(lab, r2, i, a) is not None,
            timeout=5,
            what=f"{address} on r2",
        )


def test_routes_come_back_with_their_interface(lab: Lab) -> None:
    through = {"to": "198.51.100.0/25", "via": "198.51.100.254", "dev": "eth1"}
    r1 = lab.add_router("r1", v4="192.0.2.11/24")
    add_second_link(lab, r1, v4="198.51.100.11/24")
    runner = RunnerProc(
        lab,
        r1,
        single_instance(
            NAME, vrid=VRID, priority=200, vips=[f"{VIP}/24"], virtual_routes=[through]
        ),
    ).start()
    lab.wait_for(lambda: runner.state_of(NAME) == "MASTER", timeout=5, what="MASTER")
    want = {"unicast 198.51.100.0/25 198.51.100.254 eth1 main"}
    lab.wait_for(lambda: routes(lab, r1) == want, timeout=5, what="the route through eth1")
    lab.run(r1, ["ip", "link", "set", "eth1", "down"], check=True)
    lab.wait_for(lambda: not routes(lab, r1), timeout=5, what="the kernel dropped it")
    lab.run(r1, ["ip", "link", "set", "eth1", "up"], check=True)
    lab.wait_for(lambda: routes(lab, r1) == want, timeout=5, what="the route installed again")
    # Deleted and made again (another ifindex): installed again as well.
    lab.run(r1, ["ip", "link", "del", "eth1"], check=True)
    lab.wait_for(lambda: not routes(lab, r1), timeout=5, what="gone with eth1")
    add_second_link(lab, r1, v4="198.51.100.11/24")
    lab.wait_for(lambda: routes(lab, r1) == want, timeout=5, what="the route on the new eth1")
    assert runner.state_of(NAME) == "MASTER"


def test_a_labelled_vip_removed_by_another_program_comes_back_with_its_label(lab: Lab) -> None:
    vip = {"address": f"{VIP}/24", "label": "eth0:vip", "broadcast": "192.0.2.255"}
    r1 = lab.add_router("r1", v4="192.0.2.11/24")
    runner = RunnerProc(lab, r1, single_instance(NAME, vrid=VRID, priority=200, vips=[vip])).start()
    lab.wait_for(lambda: runner.state_of(NAME) == "MASTER", timeout=5, what="MASTER")
    lab.wait_for(lambda: _addr_info(lab, r1, "eth0", VIP) is not None, timeout=5, what="the VIP")
    lab.run(r1, ["ip", "addr", "del", f"{VIP}/24", "dev", "eth0"], check=True)
    lab.wait_for(
        lambda: stats_of(runner, NAME).get("vip_restored") == 1, timeout=5, what="put back"
    )
    info = _addr_info(lab, r1, "eth0", VIP)
    assert info is not None and info.get("label") == "eth0:vip", info
    assert info.get("broadcast") == "192.0.2.255", info


def test_a_reload_that_moves_a_vip_to_another_interface_and_stop(lab: Lab) -> None:
    r1 = lab.add_router("r1", v4="192.0.2.11/24")
    add_second_link(lab, r1, v4="198.51.100.11/24")
    other = "198.51.100.171"
    vips: list[Any] = [f"{VIP}/24", f"{other}/32"]
    cfg = single_instance(NAME, vrid=VRID, priority=200, vips=vips)
    runner = RunnerProc(lab, r1, cfg).start()
    lab.wait_for(lambda: runner.state_of(NAME) == "MASTER", timeout=5, what="MASTER")
    lab.wait_for(lambda: _addr_info(lab, r1, "eth0", other) is not None, timeout=5, what="on eth0")
    cfg = copy.deepcopy(cfg)
    cfg["instances"][0]["virtual_addresses"][1] = {"address": f"{other}/32", "dev": "eth1"}
    runner.write_config(cfg)
    assert NAME in runner.result("reload")["changed"]
    assert _addr_info(lab, r1, "eth0", other) is None
    assert _addr_info(lab, r1, "eth1", other) is not None
    assert runner.state_of(NAME) == "MASTER"
    assert runner.stop() == 0
    assert _addr_info(lab, r1, "eth1", other) is None, "left behind on eth1 at stop"
    assert _addr_info(lab, r1, "eth0", VIP) is None


def test_ipv6_routes_and_rules_of_an_excluded_address(lab: Lab) -> None:
    """An IPv4 instance holding IPv6 addresses (excluded) and their routes and rules."""
    r1 = lab.add_router("r1", v4="192.0.2.11/24")
    keys = {
        "virtual_addresses_excluded": ["2001:db8::171/64"],
        "virtual_routes": [
            {"to": "2001:db8:1::/48", "via": "2001:db8::1", "metric": 7},
            {"to": "2001:db8:2::/48", "type": "unreachable", "table": TABLE},
        ],
        "virtual_rules": [{"from": "2001:db8::171", "table": TABLE, "priority": 1173}],
    }
    runner = RunnerProc(
        lab, r1, single_instance(NAME, vrid=VRID, priority=200, vips=[f"{VIP}/24"], **keys)
    ).start()
    lab.wait_for(lambda: runner.state_of(NAME) == "MASTER", timeout=5, what="MASTER")

    def held() -> tuple[set[str], set[str]]:
        found = set()
        for table in ("main", str(TABLE)):
            shown = lab.run(r1, ["ip", "-6", "-j", "route", "show", "table", table])
            for r in json.loads(shown.stdout or "[]") if shown.returncode == 0 else []:
                if r.get("protocol") == "static":
                    found.add(f"{r.get('type', 'unicast')} {r['dst']} {r.get('gateway', '-')}")
        rules6 = {
            f"{r['priority']} {r.get('src')}"
            for r in lab.ip_json(r1, "-6", "rule", "show")
            if r.get("table") == str(TABLE)
        }
        return found, rules6

    want = (
        {"unicast 2001:db8:1::/48 2001:db8::1", "unreachable 2001:db8:2::/48 -"},
        {"1173 2001:db8::171"},
    )
    lab.wait_for(lambda: held() == want, timeout=5, what=f"IPv6 routes and rules: {held()}")
    assert runner.stop() == 0
    assert held() == (set(), set())
    assert _addr_info(lab, r1, "eth0", "2001:db8::171") is None
