"""Virtual routes, rules, address options and excluded addresses: errors and round trips."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vrrp.config import load_config
from vrrp.errors import ConfigError


def one(**keys: Any) -> dict[str, Any]:
    instance = {
        "name": "vr1",
        "interface": "eth0",
        "vrid": 1,
        "virtual_addresses": ["192.0.2.1/24"],
    }
    return {"instances": [{**instance, **keys}]}


ROUTE = {"to": "198.51.100.0/24", "via": "192.0.2.254"}
AT = "instances[0]."

# (keys, path, exact rule)
CASES: list[tuple[dict[str, Any], str, str]] = [
    (
        {"virtual_routes": [{"to": "198.51.100.1/24"}]},
        "virtual_routes[0].to",
        '"198.51.100.1/24" has host bits set; the network is 198.51.100.0/24',
    ),
    (
        {"virtual_routes": [{"to": "198.51.100.0/33"}]},
        "virtual_routes[0].to",
        'not a valid ADDR or ADDR/PREFIX: "198.51.100.0/33"',
    ),
    (
        {"virtual_routes": [{"to": "nowhere"}]},
        "virtual_routes[0].to",
        "a route goes to ADDR/PREFIX, ADDR or 'default'; got \"nowhere\"",
    ),
    (
        {"virtual_routes": [{**ROUTE, "table": "web"}]},
        "virtual_routes[0].table",
        "unknown table name; a table is a number from 1 to 4294967295 or one of main, "
        'local, default; got "web"',
    ),
    (
        {"virtual_routes": [{**ROUTE, "table": 0}]},
        "virtual_routes[0].table",
        "a table number is from 1 to 4294967295; got 0",
    ),
    (
        {"virtual_routes": [{**ROUTE, "via": "2001:db8::1"}]},
        "virtual_routes[0].via",
        "a route mixes families: via 2001:db8::1 is IPv6, to 198.51.100.0/24 is IPv4",
    ),
    (
        {"virtual_routes": [{"to": "2001:db8::/32"}]},
        "virtual_routes[0].to",
        "an IPv6 route for an instance that holds no IPv6 address (its virtual "
        "addresses and virtual_addresses_excluded)",
    ),
    (
        {"virtual_routes": [{"to": "198.51.100.0/24", "type": "blackhole", "dev": "eth1"}]},
        "virtual_routes[0]",
        "a blackhole route has no via or dev: it delivers nowhere",
    ),
    (
        {"virtual_routes": [{**ROUTE, "type": "anycast"}]},
        "virtual_routes[0].type",
        'must be one of "unicast", "blackhole", "unreachable", "prohibit"; got "anycast"',
    ),
    (
        {"virtual_routes": [ROUTE, {**ROUTE, "to": "198.51.100.0/24"}]},
        "virtual_routes[1]",
        '{"to": "198.51.100.0/24", "via": "192.0.2.254"} is listed twice',
    ),
    (
        {
            "virtual_routes": [
                ROUTE,
                {**ROUTE, "to": "198.51.100.5/32"},
                {**ROUTE, "to": "198.51.100.5"},
            ]
        },
        "virtual_routes[2]",
        "the route 198.51.100.5/32 via 192.0.2.254 repeats virtual_routes[1]",
    ),
    (
        {"virtual_routes": [{**ROUTE, "gateway": "192.0.2.254"}]},
        "virtual_routes[0].gateway",
        "unknown key 'gateway'; allowed: to, via, dev, src, metric, table, scope, type",
    ),
    (
        {"virtual_rules": [{"from": "192.0.2.0/24"}]},
        "virtual_rules[0]",
        "the required key 'table' is missing",
    ),
    (
        {"virtual_rules": [{"from": "192.0.2.0/24", "to": "2001:db8::/32", "table": 5}]},
        "virtual_rules[0].to",
        "a rule mixes families: to 2001:db8::/32 is IPv6, from 192.0.2.0/24 is IPv4",
    ),
    (
        {"virtual_rules": [{"fwmask": 255, "table": 5}]},
        "virtual_rules[0].fwmask",
        "fwmask goes with fwmark: set fwmark too",
    ),
    (
        {"virtual_rules": [{"fwmark": -1, "table": 5}]},
        "virtual_rules[0].fwmark",
        "must be at least 0, got -1",
    ),
    (
        {"virtual_addresses": [{"address": "192.0.2.1/24", "label": "eth1:a"}]},
        "virtual_addresses[0].label",
        'a label starts with the name of its interface "eth0", got "eth1:a"',
    ),
    (
        {"virtual_addresses": ["fe80::1/64", {"address": "2001:db8::1/64", "label": "eth0:a"}]},
        "virtual_addresses[1].label",
        "labels are for IPv4 addresses only",
    ),
    (
        {"virtual_addresses": [{"address": "192.0.2.1/24", "broadcast": "2001:db8::ff"}]},
        "virtual_addresses[0].broadcast",
        "a broadcast address is for IPv4 only",
    ),
    (
        {"virtual_addresses": [{"address": "192.0.2.1/24", "scope": "planet"}]},
        "virtual_addresses[0].scope",
        'must be one of "global", "site", "link", "host", "nowhere"; got "planet"',
    ),
    (
        {"virtual_addresses": [{"dev": "eth1"}]},
        "virtual_addresses[0]",
        "a virtual address is ADDR[/PREFIX] or an object with 'address' and the options "
        "dev, label, scope, broadcast",
    ),
    (
        {"virtual_addresses": [7]},
        "virtual_addresses[0]",
        "a virtual address is ADDR[/PREFIX] or an object with 'address' and the options "
        "dev, label, scope, broadcast; got 7",
    ),
    (
        {"virtual_addresses": [{"address": "192.0.2.300/24"}]},
        "virtual_addresses[0].address",
        'not a valid ADDR or ADDR/PREFIX: "192.0.2.300/24"',
    ),
    (
        {"virtual_addresses": ["192.0.2.1/24", {"address": "192.0.2.1/32", "dev": "eth1"}]},
        "virtual_addresses[1].address",
        '"192.0.2.1/32" repeats virtual_addresses[0]',
    ),
    (
        {"virtual_addresses_excluded": ["192.0.2.1/32"]},
        "virtual_addresses_excluded[0]",
        '"192.0.2.1/32" is already in virtual_addresses',
    ),
    (
        {"virtual_addresses_excluded": ["2001:db8::1/64", {"address": "2001:db8::1/128"}]},
        "virtual_addresses_excluded[1]",
        '"2001:db8::1/128" is already in virtual_addresses_excluded[0]',
    ),
    (
        {"virtual_addresses_excluded": ["224.0.0.18"]},
        "virtual_addresses_excluded[0]",
        'must be a unicast address, got "224.0.0.18"',
    ),
]


@pytest.mark.parametrize(("keys", "path", "rule"), CASES)
def test_errors_name_the_field(keys: dict[str, Any], path: str, rule: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(one(**keys))
    assert (info.value.path, info.value.rule) == (AT + path, rule)


def test_an_excluded_address_of_the_other_family_allows_its_routes_and_rules() -> None:
    config = load_config(
        one(
            virtual_addresses_excluded=["2001:db8::5/64"],
            virtual_routes=[{"to": "2001:db8:1::/48", "via": "2001:db8::1", "table": "main"}],
            virtual_rules=[{"to": "2001:db8:1::/48", "table": 100}],
        )
    )
    inst = config.instances[0]
    assert inst.virtual_routes[0].family == 6 and inst.virtual_routes[0].table_id == 254
    assert inst.virtual_rules[0].family == 6


def test_default_route_and_rule_without_ends_take_the_instance_family() -> None:
    config = load_config(
        one(virtual_routes=[{"to": "default", "via": "192.0.2.254", "table": 7}],
            virtual_rules=[{"fwmark": 1, "table": "local"}])
    )  # fmt: skip
    inst = config.instances[0]
    assert str(inst.virtual_routes[0].to) == "0.0.0.0/0"
    assert inst.virtual_rules[0].family == 4 and inst.virtual_rules[0].table_id == 255
    assert str(inst.virtual_routes[0]) == "0.0.0.0/0 via 192.0.2.254 table 7"
    assert str(inst.virtual_rules[0]) == "from all fwmark 0x1 table local"


def test_a_vmac_label_starts_with_the_vmac_interface() -> None:
    vip = {"address": "192.0.2.1/24", "label": "vrrp.1:web"}
    assert load_config(one(vmac=True, virtual_addresses=[vip])).instances[0].vip_options
    with pytest.raises(ConfigError, match=r'interface "vrrp\.1"'):
        load_config(one(vmac=True, virtual_addresses=[{**vip, "label": "eth0:web"}]))


def test_options_change_the_definition_and_round_trip() -> None:
    plain = load_config(one()).instances[0]
    labelled = load_config(
        one(virtual_addresses=[{"address": "192.0.2.1/24", "label": "eth0:x"}])
    ).instances[0]
    assert plain != labelled  # a reload applies it
    assert plain.virtual_addresses == labelled.virtual_addresses  # the core's view is the same
    assert labelled.to_dict()["virtual_addresses"] == [
        {"address": "192.0.2.1/24", "label": "eth0:x"}
    ]
    assert "virtual_routes" not in plain.to_dict()


_v4_net = st.builds(
    lambda a, n: f"198.51.100.{a & (0xFF << (32 - n)) & 0xFF}/{n}",
    st.integers(0, 255),
    st.integers(24, 32),
)
_route = st.fixed_dictionaries(
    {"to": _v4_net},
    optional={
        "via": st.sampled_from(["192.0.2.254", "192.0.2.253"]),
        "metric": st.integers(0, 2**32 - 1),
        "table": st.one_of(
            st.integers(1, 2**32 - 1), st.sampled_from(["main", "local", "default"])
        ),
        "scope": st.sampled_from(["global", "link", "host"]),
        "src": st.just("192.0.2.1"),
    },
)
_rule = st.fixed_dictionaries(
    {"table": st.integers(1, 2**32 - 1)},
    optional={
        "from": _v4_net,
        "to": _v4_net,
        "priority": st.integers(0, 2**32 - 1),
        "fwmark": st.integers(0, 2**32 - 1),
    },
)


@settings(max_examples=150, deadline=None)
@given(
    routes=st.lists(_route, max_size=4, unique_by=lambda r: tuple(sorted(r.items()))),
    rules=st.lists(_rule, max_size=3, unique_by=lambda r: tuple(sorted(r.items()))),
)
def test_round_trip(routes: list[dict[str, Any]], rules: list[dict[str, Any]]) -> None:
    try:
        config = load_config(one(virtual_routes=routes, virtual_rules=rules))
    except ConfigError as exc:
        assert "repeats" in exc.rule  # equal once normalized ("198.51.100.5" and /32)
        return
    again = load_config(config.to_dict())
    assert again == config
    assert again.to_dict() == config.to_dict()
