"""vrrp.scan_report: keepalived's captured adverts as routers, collisions, hostile input.

The golden vectors (``vectors/*.json``, captured from Debian's keepalived)
carry their expected values from the keepalived configuration, not from our
decoder.
"""

from __future__ import annotations

import json
from ipaddress import ip_address
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from vrrp.config import InstanceConfig, load_config
from vrrp.packet import Advertisement, encode
from vrrp.scan_report import TOO_MANY_ROUTERS, Heard, HeardRouter, Scan, collisions

VECTORS = Path(__file__).resolve().parent / "vectors"
DOCS = [json.loads(p.read_text()) for p in sorted(VECTORS.glob("*.json"))]
GOOD = [doc for doc in DOCS if "expected_error" not in doc]
BAD = [doc for doc in DOCS if "expected_error" in doc]
REASONS = {"endpoint", "length", "version", "type", "family", "count", "checksum", "interval"}


def heard(doc: dict[str, Any], *, interface: str = "eth0", ttl: int | None = None) -> Heard:
    return Heard(
        interface=interface,
        payload=bytes.fromhex(doc["message_hex"]),
        src=doc["src"],
        dst=doc["dst"],
        ttl=doc["ttl"] if ttl is None else ttl,
    )


def scan_of(*items: Heard) -> Scan:
    scan = Scan()
    for item in items:
        scan.add(item)
    return scan


def instances(*items: dict[str, Any]) -> tuple[InstanceConfig, ...]:
    return load_config({"instances": list(items)}).instances


def instance(name: str, vrid: int, vips: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "interface": "eth0",
        "vrid": vrid,
        "priority": 100,
        "virtual_addresses": vips,
        **extra,
    }


# --- golden vectors --------------------------------------------------------------


def test_every_good_vector_is_one_router_with_keepalived_values() -> None:
    for doc in GOOD:
        (router,) = scan_of(heard(doc), heard(doc)).routers()
        want = doc["expected"]
        assert router.as_dict() == {
            "interface": "eth0",
            "family": 6 if ":" in doc["src"] else 4,
            "version": want["version"],
            "vrid": want["vrid"],
            "source": doc["src"],
            "priority": want["priority"],
            "advert_interval": want["interval_cs"] / 100,
            "advert_interval_cs": want["interval_cs"],
            "addresses": want["addresses"],
            "adverts": 2,
            "checksum_form": want["checksum_form"],
            "auth_type": want.get("auth_type", 0),
            "ttls": [255],
            "destinations": [doc["dst"]],
        }, doc["name"]


def test_the_bad_vectors_are_counted_by_their_reason() -> None:
    assert BAD, "the old_unicast_checksum vectors"
    scan = scan_of(*(heard(doc) for doc in BAD))
    assert scan.routers() == []
    want: dict[str, int] = {}
    for doc in BAD:
        reason = doc["expected_error"]["reason"]
        want[reason] = want.get(reason, 0) + 1
    assert dict(scan.drops) == want


def test_a_ttl_below_255_is_recorded_not_dropped() -> None:
    doc = next(d for d in GOOD if d["name"] == "v3_ipv4_multicast_advert")
    (router,) = scan_of(heard(doc), heard(doc, ttl=64), heard(doc, ttl=1)).routers()
    assert router.ttls == (1, 64, 255)
    assert router.adverts == 3


def test_one_router_per_interface_version_vrid_and_source() -> None:
    doc = next(d for d in GOOD if d["name"] == "v3_ipv4_multicast_advert")
    shutdown = next(d for d in GOOD if d["name"] == "v3_ipv4_multicast_shutdown")
    scan = scan_of(heard(doc), heard(shutdown), heard(doc, interface="eth1"))
    routers = scan.routers()
    assert [(r.interface, r.adverts) for r in routers] == [("eth0", 2), ("eth1", 1)]
    assert routers[0].priority == 0, "the last advert's priority (the shutdown)"


# --- collisions ------------------------------------------------------------------


def keepalived_router() -> HeardRouter:
    doc = next(d for d in GOOD if d["name"] == "v2_ipv4_pass_auth_advert")
    (router,) = scan_of(heard(doc)).routers()
    return router


def test_same_vrid_other_addresses_is_a_collision() -> None:
    router = keepalived_router()  # VRID 51, v2, 192.0.2.100 + .101, from 192.0.2.1
    declared = instances(instance("web", 51, ["192.0.2.200/24"], version=2))
    (found,) = collisions([router], declared)
    assert found["instance"] == "web"
    assert found["differs"] == ["addresses"]
    assert found["source"] == "192.0.2.1"
    assert found["heard_addresses"] == ["192.0.2.100", "192.0.2.101"]
    assert "VRID 51 on eth0" in found["msg"]
    assert "192.0.2.1" in found["msg"]


def test_same_vrid_other_version_is_a_collision() -> None:
    router = keepalived_router()
    declared = instances(instance("web", 51, ["192.0.2.101/24", "192.0.2.100/24"]))
    (found,) = collisions([router], declared)
    assert found["differs"] == ["version"]
    assert found["version"] == 3
    assert found["heard_version"] == 2


def test_the_same_virtual_router_is_no_collision() -> None:
    router = keepalived_router()
    declared = instances(instance("web", 51, ["192.0.2.101/24", "192.0.2.100/24"], version=2))
    assert collisions([router], declared) == []


def test_our_own_address_is_no_collision() -> None:
    router = keepalived_router()
    declared = instances(instance("web", 51, ["192.0.2.200/24"], version=3))
    assert collisions([router], declared, own_addresses={"192.0.2.1"}) == []
    assert collisions([router], declared, own_addresses={"192.0.2.2"}) != []


def test_other_vrid_interface_or_family_is_no_collision() -> None:
    router = keepalived_router()
    declared = instances(
        instance("vrid", 52, ["192.0.2.200/24"]),
        instance("iface", 51, ["192.0.2.200/24"], interface="eth1"),
        instance("family", 51, ["fe80::200/64", "2001:db8::200/64"]),
    )
    assert collisions([router], declared) == []


# --- hostile input ---------------------------------------------------------------

endpoints = st.sampled_from(
    [
        ("192.0.2.1", "224.0.0.18"),
        ("fe80::1", "ff02::12"),
        ("192.0.2.1", "ff02::12"),
        ("not an address", "224.0.0.18"),
        ("", ""),
    ]
)


@given(
    payload=st.binary(max_size=64),
    ends=endpoints,
    ttl=st.integers(-1, 300),
)
def test_any_bytes_are_a_router_or_a_named_drop(
    payload: bytes, ends: tuple[str, str], ttl: int
) -> None:
    src, dst = ends
    scan = scan_of(Heard(interface="eth0", payload=payload, src=src, dst=dst, ttl=ttl))
    routers = scan.routers()
    assert len(routers) + sum(scan.drops.values()) == 1
    assert set(scan.drops) <= REASONS


@given(
    mutations=st.lists(st.tuples(st.integers(0, 63), st.integers(0, 255)), max_size=4),
    cut=st.integers(0, 64),
    index=st.integers(0, len(GOOD) - 1),
)
def test_mutated_vectors_never_crash(
    mutations: list[tuple[int, int]], cut: int, index: int
) -> None:
    doc = GOOD[index]
    data = bytearray(bytes.fromhex(doc["message_hex"]))
    for offset, value in mutations:
        if offset < len(data):
            data[offset] = value
    item = Heard(
        interface="eth0", payload=bytes(data[:cut]), src=doc["src"], dst=doc["dst"], ttl=255
    )
    scan = scan_of(item)
    assert len(scan.routers()) + sum(scan.drops.values()) == 1
    for router in scan.routers():
        json.dumps(router.as_dict())


def test_spoofed_sources_are_bounded() -> None:
    scan = Scan(max_routers=8)
    advert = Advertisement(
        version=3, vrid=7, priority=100, interval_cs=100, addresses=(ip_address("198.51.100.200"),)
    )
    for n in range(20):
        src = f"198.51.100.{n + 1}"
        scan.add(
            Heard(
                interface="eth0",
                payload=encode(advert, src=src, dst="224.0.0.18"),
                src=src,
                dst="224.0.0.18",
                ttl=255,
            )
        )
    assert len(scan.routers()) == 8
    assert scan.drops[TOO_MANY_ROUTERS] == 12


def test_socket_drops_are_merged() -> None:
    scan = Scan()
    scan.add_drops({"ip_short": 2})
    scan.add(Heard(interface="eth0", payload=b"\x31", src="192.0.2.1", dst="224.0.0.18", ttl=255))
    assert dict(scan.drops) == {"ip_short": 2, "length": 1}
