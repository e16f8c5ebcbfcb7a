"""``unicast_ttl``: unicast peers across a routed path (keepalived's ``unicast_ttl``).

RFC 9568 §7.1 drops an advert whose TTL / hop limit is not 255: right on one
link, fatal for unicast peers a router or two away. ``unicast_ttl`` (1..255,
default 255, only with ``unicast_peers``) is the TTL we send with; below 255
the receive check takes any TTL for that instance's *unicast* adverts, as
keepalived does. Multicast adverts are always held to 255.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vrrp.config import load_config
from vrrp.errors import ConfigError, PacketError
from vrrp.packet import VRRP_MCAST_V4, VRRP_MCAST_V6, Advertisement, decode, encode
from vrrp.schema import validate_instance

V4 = {"src": "192.0.2.2", "dst": "192.0.2.1"}
V6 = {"src": "2001:db8::2", "dst": "2001:db8::1"}


def instance(**fields: Any) -> dict[str, Any]:
    obj = {"name": "wan", "interface": "eth0", "vrid": 9, "virtual_addresses": ["192.0.2.100/24"]}
    obj.update(fields)
    return obj


def load_one(**fields: Any) -> Any:
    return load_config({"instances": [instance(**fields)]}).instances[0]


# -- configuration ------------------------------------------------------------------


def test_default_is_the_rfc_ttl() -> None:
    assert load_one().unicast_ttl == 255
    assert load_one(unicast_peers=["192.0.2.2"]).unicast_ttl == 255


@pytest.mark.parametrize("ttl", [1, 64, 254, 255])
def test_accepted_with_unicast_peers_and_round_trips(ttl: int) -> None:
    cfg = load_one(unicast_peers=["198.51.100.2"], unicast_ttl=ttl)
    assert cfg.unicast_ttl == ttl
    again = load_config({"instances": [cfg.to_dict()]}).instances[0]
    assert again == cfg and again.unicast_ttl == ttl


def test_canonical_form_of_a_multicast_instance_is_unchanged() -> None:
    assert "unicast_ttl" not in load_one().to_dict()


@pytest.mark.parametrize("ttl", [0, 256, -1, "64", 6.4, True])
def test_out_of_range_is_refused_by_the_schema(ttl: Any) -> None:
    with pytest.raises(ConfigError) as info:
        load_one(unicast_peers=["198.51.100.2"], unicast_ttl=ttl)
    assert info.value.path == "instances[0].unicast_ttl"
    with pytest.raises(ConfigError):
        validate_instance(instance(unicast_peers=["198.51.100.2"], unicast_ttl=ttl))


def test_refused_without_unicast_peers() -> None:
    with pytest.raises(ConfigError) as info:
        load_one(unicast_ttl=64)
    assert info.value.path == "instances[0].unicast_ttl"
    assert "unicast_peers" in info.value.rule


# -- the receive check ----------------------------------------------------------------


def message(src: str, dst: str) -> bytes:
    family = 6 if ":" in src else 4
    vip = "2001:db8::100" if family == 6 else "192.0.2.100"
    addresses: tuple[Any, ...]
    from ipaddress import ip_address

    addresses = (ip_address("fe80::100"), ip_address(vip)) if family == 6 else (ip_address(vip),)
    advert = Advertisement(version=3, vrid=9, priority=200, interval_cs=100, addresses=addresses)
    return encode(advert, src=src, dst=dst)


@pytest.mark.parametrize("ends", [V4, V6], ids=["ipv4", "ipv6"])
@given(ttl=st.integers(min_value=0, max_value=254))
def test_unicast_advert_with_any_ttl_only_when_asked(ends: dict[str, str], ttl: int) -> None:
    m = message(**ends)
    with pytest.raises(PacketError) as info:
        decode(m, ttl=ttl, **ends)
    assert info.value.reason == "ttl"
    assert decode(m, ttl=ttl, any_unicast_ttl=True, **ends).priority == 200


@pytest.mark.parametrize(
    ("src", "group"), [("192.0.2.2", VRRP_MCAST_V4), ("fe80::2", VRRP_MCAST_V6)]
)
@given(ttl=st.integers(min_value=0, max_value=254))
def test_multicast_advert_always_needs_255(src: str, group: str, ttl: int) -> None:
    m = message(src=src, dst=group)
    for relaxed in (False, True):
        with pytest.raises(PacketError) as info:
            decode(m, src=src, dst=group, ttl=ttl, any_unicast_ttl=relaxed)
        assert info.value.reason == "ttl"
    assert decode(m, src=src, dst=group, ttl=255, any_unicast_ttl=True).vrid == 9
