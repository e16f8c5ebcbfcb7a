"""unicast_peers_from: GROUP -> unicast_peers and unicast_source, from gathered facts.

The helper here; the filter over real hostvars in test_unicast_peers_filter.py
(a controller run in a subprocess: importing Ansible's controller side in this
process would change how the other module tests' warnings are returned).
"""

from __future__ import annotations

from typing import Any

import pytest
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_unicast import (
    UnicastPeersError,
    fill,
)
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.config import load_config
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.errors import ConfigError

GROUPS = {"pair": ["r1", "r2", "r3"], "all": ["r1", "r2", "r3"], "alone": ["r1"]}


def facts(n: int, *, ifname: str = "eth0", ipv6: bool = True) -> dict[str, Any]:
    key = ifname.replace("-", "_").replace(".", "_")
    iface: dict[str, Any] = {
        "device": ifname,
        "ipv4": {"address": f"192.0.2.{n}", "netmask": "255.255.255.0"},
        "ipv4_secondaries": [{"address": f"192.0.2.{100 + n}"}],
    }
    if ipv6:
        iface["ipv6"] = [
            {"address": f"fe80::{n}", "prefix": "64", "scope": "link"},
            {"address": f"2001:db8::{n}", "prefix": "64", "scope": "global"},
        ]
    return {"interfaces": [ifname, "lo"], key: iface}


HOSTVARS: dict[str, dict[str, Any]] = {f"r{n}": {"ansible_facts": facts(n)} for n in (1, 2, 3)}


def web(**fields: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "name": "web",
        "interface": "eth0",
        "vrid": 51,
        "virtual_addresses": ["192.0.2.200/24"],
        "unicast_peers_from": "pair",
    }
    obj.update(fields)
    return obj


def run(instances: list[dict[str, Any]], host: str = "r1", hostvars: Any = None) -> Any:
    facts = HOSTVARS if hostvars is None else hostvars
    return fill(
        instances,
        host=host,
        groups=GROUPS,
        facts_of=lambda h: facts.get(h, {}).get("ansible_facts"),
    )


def test_ipv4_peers_are_the_other_hosts_primary_addresses_and_valid_config() -> None:
    (out,) = run([web()], host="r2")
    assert "unicast_peers_from" not in out
    assert out["unicast_peers"] == ["192.0.2.1", "192.0.2.3"]
    assert out["unicast_source"] == "192.0.2.2"
    cfg = load_config({"instances": [out]}).instances[0]
    assert [str(p) for p in cfg.unicast_peers] == ["192.0.2.1", "192.0.2.3"]


def test_ipv6_instance_takes_global_then_link_local() -> None:
    six = web(virtual_addresses=["fe80::200/64", "2001:db8::200/64"])
    (out,) = run([six])
    assert out["unicast_peers"] == ["2001:db8::2", "2001:db8::3"]
    assert out["unicast_source"] == "2001:db8::1"
    load_config({"instances": [out]})
    only_link = {h: {"ansible_facts": facts(n)} for n, h in enumerate(["r1", "r2", "r3"], 1)}
    for hv in only_link.values():
        hv["ansible_facts"]["eth0"]["ipv6"] = hv["ansible_facts"]["eth0"]["ipv6"][:1]
    (out,) = run([six], hostvars=only_link)
    assert out["unicast_peers"] == ["fe80::2", "fe80::3"]


def test_others_untouched_given_source_kept_vlan_interface_name() -> None:
    plain = {"name": "db", "interface": "eth0", "vrid": 52, "virtual_addresses": ["192.0.2.9"]}
    vlan_vars = {f"r{n}": {"ansible_facts": facts(n, ifname="eth0.10")} for n in (1, 2, 3)}
    out = run([plain, web(interface="eth0.10", unicast_source="192.0.2.77")], hostvars=vlan_vars)
    assert out[0] is plain
    assert out[1]["unicast_source"] == "192.0.2.77"
    assert out[1]["unicast_peers"] == ["192.0.2.2", "192.0.2.3"]


@pytest.mark.parametrize(
    ("instance", "hostvars", "message"),
    [
        (web(unicast_peers=["192.0.2.9"]), None, "set unicast_peers or unicast_peers_from"),
        (web(unicast_peers_from="nope"), None, "no inventory group 'nope'"),
        (web(unicast_peers_from="alone"), None, "group alone has no host but r1"),
        (web(virtual_addresses=[]), None, "needs the instance's virtual_addresses"),
        (web(), {**HOSTVARS, "r3": {}}, "host r3 has no gathered network facts"),
        (web(interface="eth9"), None, "host r2 has no interface eth9 in its facts"),
        (
            web(virtual_addresses=["fe80::1/64"]),
            {**HOSTVARS, "r2": {"ansible_facts": facts(2, ipv6=False)}},
            "host r2 has no global or link-local IPv6 address on eth0",
        ),
    ],
)
def test_clear_errors_name_instance_and_host(
    instance: dict[str, Any], hostvars: Any, message: str
) -> None:
    with pytest.raises(UnicastPeersError, match="instance web") as caught:
        run([instance], hostvars=hostvars)
    assert message in str(caught.value)


def test_missing_ipv4_address_is_named() -> None:
    no_v4 = {**HOSTVARS, "r3": {"ansible_facts": facts(3)}}
    del no_v4["r3"]["ansible_facts"]["eth0"]["ipv4"]
    with pytest.raises(UnicastPeersError, match="host r3 has no IPv4 address on eth0"):
        fill([web()], host="r1", groups=GROUPS, facts_of=lambda h: no_v4[h]["ansible_facts"])


def test_the_key_never_reaches_the_runner_schema() -> None:
    with pytest.raises(ConfigError, match="unicast_peers_from"):
        load_config({"instances": [web()]})
