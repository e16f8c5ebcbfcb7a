"""source.primary_address(): the address an instance advertises from.

IPv4: the interface's first address that is not a VIP. IPv6: the link-local
address (RFC 9568 §5.1.2.1), except for unicast peers named by global
addresses: then our global address on the interface, the one sharing the
longest prefix with the peer (RFC 6724 rule 8), so that the peer, which
names us by our global address, hears us. A configured unicast_source wins.
"""

from __future__ import annotations

from ipaddress import ip_address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vrrp.config import load_config
from vrrp.errors import ConfigError
from vrrp.source import primary_address

LL = "fe80::1"
G1, G2 = "2001:db8:1::1", "fd00:99::1"


def pick(candidates: list[str], *, peers: tuple[str, ...] = (), vips: tuple[str, ...] = (),
         source: str | None = None, version: int = 6) -> str | None:  # fmt: skip
    return primary_address(
        candidates=candidates,
        version=version,
        virtual_addresses=frozenset(ip_address(v) for v in vips),
        unicast_source=None if source is None else ip_address(source),
        unicast_peers=tuple(ip_address(p) for p in peers),
    )


def test_ipv4_first_address_not_a_vip() -> None:
    assert pick(["192.0.2.100", "192.0.2.11"], vips=("192.0.2.100",), version=4) == "192.0.2.11"
    assert pick(["192.0.2.100"], vips=("192.0.2.100",), version=4) is None


def test_ipv6_multicast_uses_the_link_local_address() -> None:
    assert pick([G1, LL, G2]) == LL
    assert pick([G1]) is None  # no link-local yet: no source (address fault)


def test_ipv6_link_local_peers_use_the_link_local_address() -> None:
    assert pick([G1, LL], peers=("fe80::2",)) == LL


def test_ipv6_global_peer_uses_our_global_address_of_the_same_prefix() -> None:
    assert pick([LL, G1, G2], peers=("fd00:99::2",)) == G2
    assert pick([LL, G2, G1], peers=("2001:db8:1::2",)) == G1
    # no global address at all: no source, rather than a link-local one the peer drops
    assert pick([LL], peers=("fd00:99::2",)) is None


def test_ipv6_global_vip_is_never_the_source() -> None:
    assert pick([LL, "fd00:99::100", G2], peers=("fd00:99::2",), vips=("fd00:99::100",)) == G2


def test_configured_source_wins() -> None:
    assert pick([LL, G2], peers=("fd00:99::2",), source="fd00:99::7") == "fd00:99::7"


@given(
    candidates=st.lists(
        st.sampled_from([LL, "fe80::9", G1, G2, "fd00:99::100", "2001:db8:1::5"]), unique=True
    ),
    peer=st.sampled_from(["fe80::2", "fd00:99::2", "2001:db8:1::2", None]),
)
def test_the_source_has_the_scope_of_the_peers(candidates: list[str], peer: str | None) -> None:
    peers = () if peer is None else (peer,)
    got = pick(candidates, peers=peers, vips=("fd00:99::100",))
    want_ll = peer is None or ip_address(peer).is_link_local
    eligible = [c for c in candidates if c != "fd00:99::100"]
    eligible = [c for c in eligible if ip_address(c).is_link_local == want_ll]
    assert (got is None) == (not eligible)
    if got is not None:
        assert got in eligible


def test_config_refuses_ipv6_peers_of_both_scopes_without_a_source() -> None:
    obj = {
        "name": "uc6",
        "interface": "eth0",
        "vrid": 9,
        "virtual_addresses": ["fe80::9/64", "fd00:99::100/64"],
        "unicast_peers": ["fe80::2", "fd00:99::2"],
    }
    with pytest.raises(ConfigError) as info:
        load_config({"instances": [obj]})
    assert info.value.path == "instances[0].unicast_peers"
    assert "unicast_source" in info.value.rule
    load_config({"instances": [{**obj, "unicast_source": "fd00:99::1"}]})  # fine with one
