"""vrrp.drift: the host against what its runner says it should be, kind by kind.

A host view built from exactly what the runner should hold has no drift (a
property over random instance sets); each kind is then provoked on its own,
with the near misses a person would make by hand (the VIP with another
prefix length, on another interface, an IPv6 VIP, a VMAC with another MAC).
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from vrrp.config import load_config
from vrrp.drift import (
    CONFIG_NOT_RUNNING,
    DEMOTED,
    VIP_HELD,
    VIP_MISSING,
    VMAC_MISSING,
    HostAddress,
    HostLink,
    HostView,
    verdict,
)
from vrrp.instance import Instance


def declared(*instances: dict[str, Any], sync_groups: list[dict[str, Any]] | None = None) -> Any:
    return load_config({"instances": list(instances), "sync_groups": sync_groups or []})


def web(**fields: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "name": "web",
        "interface": "eth0",
        "vrid": 51,
        "virtual_addresses": ["192.0.2.100/24"],
    }
    obj.update(fields)
    return obj


def running(config: Any, states: dict[str, str], demoted: dict[str, int] | None = None) -> Any:
    """The runner's ``state`` for ``config``, each instance in the state given."""
    loop = asyncio.new_event_loop()
    try:
        out = {}
        for cfg in config.instances:
            inst = Instance(
                cfg=cfg,
                primary=ipaddress.ip_address("192.0.2.11" if cfg.family == 4 else "fe80::11"),
                loop=loop,
                io=None,  # type: ignore[arg-type]
                feed=lambda i, e: None,
            )
            facts = inst.state_dict(now=loop.time(), demoted=(demoted or {}).get(cfg.name))
            facts["state"] = states.get(cfg.name, "BACKUP")
            facts["group"] = next(
                (g.name for g in config.sync_groups if cfg.name in g.members), None
            )
            out[cfg.name] = facts
    finally:
        loop.close()
    return {"instances": out, "runtime_fail_safe": None}


def as_it_should_be(state: Any) -> HostView:
    """The host a correct runner leaves: each MASTER's VIPs and VMAC, nothing else."""
    links = {"eth0": HostLink("eth0", "02:00:00:00:00:01", True)}
    addrs = [HostAddress("eth0", ipaddress.ip_interface("192.0.2.11/24"))]
    for inst in state["instances"].values():
        vmac = inst["vmac_interface"]
        if vmac:
            family = 6 if ":" in inst["virtual_addresses"][0] else 4
            mac = f"00:00:5e:00:{1 if family == 4 else 2:02x}:{inst['vrid']:02x}"
            links[vmac] = HostLink(vmac, mac, True)
        if inst["state"] == "MASTER":
            where = vmac or inst["interface"]
            addrs += [
                HostAddress(where, ipaddress.ip_interface(v)) for v in inst["virtual_addresses"]
            ]
    return HostView(addresses=tuple(addrs), links=links)


def kinds(per: dict[str, list[dict[str, str]]], name: str = "web") -> list[str]:
    return [item["kind"] for item in per[name]]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.booleans(), st.booleans(), st.sampled_from(["MASTER", "BACKUP", "FAULT"])),
        min_size=1,
        max_size=6,
    )
)
def test_a_host_as_it_should_be_has_no_drift(specs: list[tuple[bool, bool, str]]) -> None:
    objs, states = [], {}
    for n, (ipv6, vmac, state) in enumerate(specs, start=1):
        vips = [f"fe80::1:{n}/64", f"2001:db8::{n}/64"] if ipv6 else [f"192.0.2.{100 + n}/24"]
        objs.append(web(name=f"i{n}", vrid=n, virtual_addresses=vips, vmac=vmac))
        states[f"i{n}"] = state
    config = declared(*objs)
    state = running(config, states)
    per, host = verdict(state, declared=config, host=as_it_should_be(state))
    assert host == []
    assert all(items == [] for items in per.values()), per


def test_master_missing_its_vip_and_the_near_misses() -> None:
    config = declared(web(virtual_addresses=["192.0.2.100/24", "192.0.2.101/24"]))
    state = running(config, {"web": "MASTER"})
    host = as_it_should_be(state)
    wrong_length = HostAddress("eth0", ipaddress.ip_interface("192.0.2.100/32"))
    other_if = HostAddress("eth1", ipaddress.ip_interface("192.0.2.101/24"))
    broken = HostView(addresses=(host.addresses[0], wrong_length, other_if), links=host.links)
    per, _host = verdict(state, declared=config, host=broken)
    assert kinds(per) == [VIP_MISSING, VIP_MISSING]
    assert "192.0.2.100/32 on eth0" in per["web"][0]["message"]
    assert "192.0.2.101/24 on eth1" in per["web"][1]["message"]
    gone = HostView(addresses=host.addresses[:2], links=host.links)
    per, _host = verdict(state, declared=config, host=gone)
    assert kinds(per) == [VIP_MISSING]
    assert "192.0.2.101/24 is not on eth0 (nor on any other interface)" in per["web"][0]["message"]


def test_ipv6_vip_missing_prefix_and_dad_failed() -> None:
    config = declared(web(virtual_addresses=["fe80::100/64", "2001:db8::100/64"]))
    state = running(config, {"web": "MASTER"})
    host = as_it_should_be(state)
    per, _host = verdict(state, declared=config, host=host)
    assert per["web"] == []
    link_local = HostAddress("eth0", ipaddress.ip_interface("fe80::100/64"))
    slash128 = HostAddress("eth0", ipaddress.ip_interface("2001:db8::100/128"))
    per, _host = verdict(
        state, declared=config, host=HostView(addresses=(link_local, slash128), links=host.links)
    )
    assert kinds(per) == [VIP_MISSING]
    assert "2001:db8::100/64 is not on eth0 as declared" in per["web"][0]["message"]
    dad = HostAddress("eth0", ipaddress.ip_interface("2001:db8::100/64"), dadfailed=True)
    per, _host = verdict(
        state, declared=config, host=HostView(addresses=(link_local, dad), links=host.links)
    )
    assert kinds(per) == [VIP_MISSING]
    assert "duplicate address detection failed" in per["web"][0]["message"]


def test_master_missing_its_vmac() -> None:
    config = declared(web(vmac=True))
    state = running(config, {"web": "MASTER"})
    host = as_it_should_be(state)
    assert state["instances"]["web"]["vmac_interface"] == "vrrp.51"
    no_link = {k: v for k, v in host.links.items() if k != "vrrp.51"}
    per, _host = verdict(state, declared=config, host=HostView(host.addresses, no_link))
    assert kinds(per) == [VMAC_MISSING]
    assert "vrrp.51 does not exist" in per["web"][0]["message"]
    wrong = dict(host.links, **{"vrrp.51": HostLink("vrrp.51", "02:00:00:00:00:09", True)})
    per, _host = verdict(state, declared=config, host=HostView(host.addresses, wrong))
    assert "not 00:00:5e:00:01:33" in per["web"][0]["message"]
    down = dict(host.links, **{"vrrp.51": HostLink("vrrp.51", "00:00:5E:00:01:33", False)})
    per, _host = verdict(state, declared=config, host=HostView(host.addresses, down))
    assert kinds(per) == [VMAC_MISSING]
    assert "is down" in per["web"][0]["message"]


def test_backup_holding_a_vip_any_length_any_interface() -> None:
    config = declared(
        web(), web(name="web6", vrid=52, virtual_addresses=["fe80::100/64", "2001:db8::100/64"])
    )
    for state_name in ("BACKUP", "FAULT", "INIT"):
        state = running(config, {"web": state_name, "web6": state_name})
        host = as_it_should_be(state)
        by_hand = (
            HostAddress("eth0", ipaddress.ip_interface("192.0.2.100/32")),
            HostAddress("eth1", ipaddress.ip_interface("2001:db8::100/128")),
        )
        per, _host = verdict(
            state, declared=config, host=HostView(host.addresses + by_hand, host.links)
        )
        assert kinds(per) == [VIP_HELD]
        assert kinds(per, "web6") == [VIP_HELD]
        assert f"web is {state_name}" in per["web"][0]["message"]
        assert "192.0.2.100/32 on eth0" in per["web"][0]["message"]
        assert "2001:db8::100/128 on eth1" in per["web6"][0]["message"]


def test_a_resigned_backup_releasing_its_vip_is_not_drift() -> None:
    # fsm.RESIGN_HOLD: it keeps the addresses a moment past the hand-over.
    config = declared(web())
    state = running(config, {"web": "BACKUP"})
    state["instances"]["web"]["releasing"] = True
    held = (HostAddress("eth0", ipaddress.ip_interface("192.0.2.100/24")),)
    host = as_it_should_be(state)
    per, _host = verdict(state, declared=config, host=HostView(host.addresses + held, host.links))
    assert per["web"] == []
    state["instances"]["web"]["releasing"] = False
    per, _host = verdict(state, declared=config, host=HostView(host.addresses + held, host.links))
    assert kinds(per) == [VIP_HELD]


def test_vip_held_by_a_master_sibling_or_an_owner_is_not_drift() -> None:
    config = declared(
        web(),
        web(name="web2", vrid=52),
        web(name="own", vrid=53, priority=255, virtual_addresses=["192.0.2.11/24"]),
    )
    state = running(config, {"web": "MASTER", "web2": "BACKUP", "own": "FAULT"})
    per, _host = verdict(state, declared=config, host=as_it_should_be(state))
    assert per == {"web": [], "web2": [], "own": []}


def test_an_owner_master_holds_its_own_address_at_the_host_s_length() -> None:
    config = declared(web(priority=255, virtual_addresses=["192.0.2.11"]))
    state = running(config, {"web": "MASTER"})
    host = HostView(addresses=(HostAddress("eth0", ipaddress.ip_interface("192.0.2.11/24")),))
    per, _host = verdict(state, declared=config, host=host)
    assert per["web"] == []
    elsewhere = HostView(addresses=(HostAddress("eth1", ipaddress.ip_interface("192.0.2.11/24")),))
    per, _host = verdict(state, declared=config, host=elsewhere)
    assert kinds(per) == [VIP_MISSING]


def test_config_on_disk_not_running() -> None:
    runs = declared(web(), web(name="db", vrid=52))
    state = running(runs, {})
    disk = declared(web(priority=200), web(name="new", vrid=53))
    per, host = verdict(state, declared=disk)
    assert kinds(per, "web") == [CONFIG_NOT_RUNNING]
    assert "differs from what the runner runs" in per["web"][0]["message"]
    assert kinds(per, "db") == [CONFIG_NOT_RUNNING]
    assert "no fragment" in per["db"][0]["message"]
    assert [i["kind"] for i in host] == [CONFIG_NOT_RUNNING]
    assert "instance new is in the configuration directory" in host[0]["message"]


def test_a_description_is_not_drift_a_sync_group_is() -> None:
    state = running(declared(web()), {})
    per, host = verdict(state, declared=declared(web(description="the web VIP")))
    assert per["web"] == [] and host == []
    grouped = declared(web(), sync_groups=[{"name": "g", "members": ["web"]}])
    per, _host = verdict(state, declared=grouped)
    assert kinds(per) == [CONFIG_NOT_RUNNING]
    assert "sync group None" in per["web"][0]["message"]


def test_a_runtime_demotion_in_force() -> None:
    config = declared(web(priority=150))
    state = running(config, {"web": "BACKUP"}, demoted={"web": 0})
    per, _host = verdict(state, declared=config, host=as_it_should_be(state))
    assert kinds(per) == [DEMOTED]
    assert "priority 0 (vrrp_maintenance); configured 150" in per["web"][0]["message"]
    state["runtime_fail_safe"] = "runtime.json unreadable"
    per, _host = verdict(state, declared=None)
    assert "fail-safe: runtime.json unreadable" in per["web"][0]["message"]


def test_unread_parts_are_not_judged() -> None:
    state = running(declared(web()), {"web": "MASTER"})
    per, host = verdict(state, declared=None, host=None)
    assert per == {"web": []} and host == []
    per, host = verdict(state, declared=None, config_error="bad fragment")
    assert host == [{"kind": "config_unreadable", "message": "bad fragment"}]


def test_a_vip_declared_on_another_interface_is_looked_for_there() -> None:
    """A VIP with ``dev`` (keepalived's ``virtual_ipaddress ... dev``) lives on that
    interface: present there is no drift, on the instance's interface it is."""
    config = declared(
        web(virtual_addresses=["192.0.2.100/24", {"address": "198.51.100.100/24", "dev": "eth1"}])
    )
    state = running(config, {"web": "MASTER"})
    assert state["instances"]["web"]["vip_interfaces"] == {"198.51.100.100": "eth1"}
    links = {
        "eth0": HostLink("eth0", "02:00:00:00:00:01", True),
        "eth1": HostLink("eth1", "02:00:00:00:00:02", True),
    }
    base = (
        HostAddress("eth0", ipaddress.ip_interface("192.0.2.11/24")),
        HostAddress("eth0", ipaddress.ip_interface("192.0.2.100/24")),
    )
    right = HostView(
        addresses=(*base, HostAddress("eth1", ipaddress.ip_interface("198.51.100.100/24"))),
        links=links,
    )
    per, _host = verdict(state, declared=config, host=right)
    assert per["web"] == []
    wrong = HostView(
        addresses=(*base, HostAddress("eth0", ipaddress.ip_interface("198.51.100.100/24"))),
        links=links,
    )
    per, _host = verdict(state, declared=config, host=wrong)
    assert kinds(per) == [VIP_MISSING]
    assert "is not on eth1 as declared" in per["web"][0]["message"]
