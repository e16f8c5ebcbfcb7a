"""The VRRP codec against keepalived's own adverts and the RFC receive checks.

Golden vectors: tests/unit/plugins/module_utils/vrrp/vectors/*.json, captured
from Debian's keepalived by tests/vectors/capture_keepalived.py; their
expected values come from the keepalived configuration, not from our decoder.

The reference checksum here is written the plain RFC 1071 way (a loop over
16-bit words with end-around carry, explicit pseudo-header octets), unlike
the residue arithmetic of ``vrrp.packet``, so the two check each other.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vrrp import packet
from vrrp.errors import PacketError
from vrrp.packet import Advertisement, decode, encode

VECTORS = Path(__file__).resolve().parent / "vectors"


# --- independent reference checksum -----------------------------------------


def rfc1071(data: bytes) -> int:
    """16-bit one's complement of the one's complement sum of ``data``."""
    if len(data) % 2:
        data += b"\0"
    total = 0
    for i in range(0, len(data), 2):
        total += data[i] << 8 | data[i + 1]
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def pseudo_header(src: str, dst: str, length: int) -> bytes:
    """IPv4 (src, dst, 0, 112, len16) or RFC 8200 §8.1 IPv6 pseudo-header."""
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if s.version == 4:
        return s.packed + d.packed + bytes([0, 112]) + length.to_bytes(2, "big")
    return s.packed + d.packed + length.to_bytes(4, "big") + bytes([0, 0, 0, 112])


def reference_checksum(message: bytes, *, src: str, dst: str, form: str) -> int:
    """The checksum ``message`` should carry in ``form`` (its field taken as 0)."""
    zeroed = message[:6] + b"\0\0" + message[8:]
    if form == "v2" or (form == "rfc9568" and ipaddress.ip_address(src).version == 4):
        return rfc1071(zeroed)
    return rfc1071(pseudo_header(src, dst, len(message)) + zeroed)


def with_checksum(message: bytes, *, src: str, dst: str, form: str) -> bytes:
    """``message`` with its checksum field recomputed in ``form``."""
    value = reference_checksum(message, src=src, dst=dst, form=form)
    return message[:6] + value.to_bytes(2, "big") + message[8:]


def load_vectors() -> list[dict[str, Any]]:
    docs = [json.loads(path.read_text()) for path in sorted(VECTORS.glob("*.json"))]
    if not docs:
        raise RuntimeError(f"no golden vectors in {VECTORS}")
    return docs


def vector(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((VECTORS / f"{name}.json").read_text())
    return doc


def message_of(doc: dict[str, Any]) -> bytes:
    return bytes.fromhex(doc["message_hex"])


GOOD = [doc for doc in load_vectors() if "expected_error" not in doc]
BAD = [doc for doc in load_vectors() if "expected_error" in doc]


# --- golden vectors ----------------------------------------------------------


def test_the_capture_covers_what_the_issue_asks_for() -> None:
    names = {doc["name"] for doc in GOOD}
    assert {
        "v2_ipv4_pass_auth_advert",
        "v3_ipv4_multicast_advert",
        "v3_ipv6_link_local_first_advert",
        "v2_ipv4_pass_auth_shutdown",
        "v3_ipv4_multicast_shutdown",
        "v3_ipv6_link_local_first_shutdown",
    } <= names
    assert all(doc["ttl"] == 255 for doc in GOOD)


@pytest.mark.parametrize("doc", GOOD, ids=lambda doc: doc["name"])
def test_golden_vector_decodes_to_the_configured_values(doc: dict[str, Any]) -> None:
    advert = decode(message_of(doc), src=doc["src"], dst=doc["dst"], ttl=doc["ttl"])
    want = doc["expected"]
    assert advert.version == want["version"]
    assert advert.vrid == want["vrid"]
    assert advert.priority == want["priority"]
    assert advert.interval_cs == want["interval_cs"]
    assert advert.addresses == tuple(ipaddress.ip_address(a) for a in want["addresses"])
    assert advert.checksum_form == want["checksum_form"]
    assert advert.auth_type == want.get("auth_type", 0)
    if advert.version == 2:
        assert advert.auth_data.hex() == want["auth_data_hex"]
    else:
        assert advert.auth_data == b""
        assert advert.reserved == 0


@pytest.mark.parametrize("doc", GOOD, ids=lambda doc: doc["name"])
def test_golden_vector_encodes_back_byte_for_byte(doc: dict[str, Any]) -> None:
    message = message_of(doc)
    advert = decode(message, src=doc["src"], dst=doc["dst"], ttl=doc["ttl"])
    assert encode(advert, src=doc["src"], dst=doc["dst"]) == message
    # and from an advert built by hand, naming the form explicitly
    fresh = Advertisement(
        version=advert.version,
        vrid=advert.vrid,
        priority=advert.priority,
        interval_cs=advert.interval_cs,
        addresses=advert.addresses,
        auth_type=advert.auth_type,
        auth_data=advert.auth_data,
    )
    form = doc["expected"]["checksum_form"]
    assert encode(fresh, src=doc["src"], dst=doc["dst"], checksum_form=form) == message


@pytest.mark.parametrize("doc", GOOD, ids=lambda doc: doc["name"])
def test_golden_vector_checksum_agrees_with_the_reference(doc: dict[str, Any]) -> None:
    message = message_of(doc)
    form = doc["expected"]["checksum_form"]
    expected = reference_checksum(message, src=doc["src"], dst=doc["dst"], form=form)
    assert int.from_bytes(message[6:8], "big") == expected


@pytest.mark.parametrize("doc", BAD, ids=lambda doc: doc["name"])
def test_keepalived_old_unicast_checksum_is_refused(doc: dict[str, Any]) -> None:
    message = message_of(doc)
    with pytest.raises(PacketError) as caught:
        decode(message, src=doc["src"], dst=doc["dst"], ttl=doc["ttl"])
    assert caught.value.reason == doc["expected_error"]["reason"]
    # what it is: the pseudo-header built with the multicast group, not dst
    advert = decode(message, src=doc["src"], dst=packet.VRRP_MCAST_V4, ttl=255)
    assert advert.checksum_form == "pseudo_header"
    assert advert.vrid == doc["expected"]["vrid"]


def test_v3_ipv4_rfc9568_form_derived_from_the_capture() -> None:
    doc = vector("v3_ipv4_multicast_advert")
    src, dst = doc["src"], doc["dst"]
    message = with_checksum(message_of(doc), src=src, dst=dst, form="rfc9568")
    assert message != message_of(doc)
    advert = decode(message, src=src, dst=dst, ttl=255)
    assert advert.checksum_form == "rfc9568"
    assert encode(advert, src=src, dst=dst) == message
    # the same advert in the other form gives keepalived's bytes back
    assert encode(advert, src=src, dst=dst, checksum_form="pseudo_header") == message_of(doc)


def test_v3_ipv6_checksum_covers_the_pseudo_header() -> None:
    doc = vector("v3_ipv6_link_local_first_advert")
    with pytest.raises(PacketError) as caught:
        decode(message_of(doc), src="fe80::1", dst=doc["dst"], ttl=255)
    assert caught.value.reason == "checksum"


def test_default_forms_for_adverts_we_build() -> None:
    v3 = Advertisement(3, 7, 100, 100, (ipaddress.IPv4Address("192.0.2.7"),))
    m = encode(v3, src="192.0.2.1", dst=packet.VRRP_MCAST_V4)
    assert decode(m, src="192.0.2.1", dst=packet.VRRP_MCAST_V4, ttl=255).checksum_form == "rfc9568"
    v2 = Advertisement(2, 7, 100, 300, (ipaddress.IPv4Address("192.0.2.7"),))
    m2 = encode(v2, src="192.0.2.1", dst=packet.VRRP_MCAST_V4)
    got = decode(m2, src="192.0.2.1", dst=packet.VRRP_MCAST_V4, ttl=255)
    assert (got.checksum_form, got.interval_cs, got.auth_data) == ("v2", 300, bytes(8))


def test_constants() -> None:
    assert (packet.VRRP_PROTOCOL, packet.VRRP_TTL) == (112, 255)
    assert (packet.VRRP_MCAST_V4, packet.VRRP_MCAST_V6) == ("224.0.0.18", "ff02::12")
    assert (packet.CHECKSUM_V2, packet.CHECKSUM_RFC9568, packet.CHECKSUM_PSEUDO_HEADER) == (
        "v2",
        "rfc9568",
        "pseudo_header",
    )


# --- the RFC receive-check table ---------------------------------------------

V2 = vector("v2_ipv4_pass_auth_advert")
V3 = vector("v3_ipv4_multicast_advert")
V6 = vector("v3_ipv6_link_local_first_advert")
V4_SRC, V4_DST = V3["src"], V3["dst"]
V6_SRC, V6_DST = V6["src"], V6["dst"]


def edit(doc: dict[str, Any], change: Callable[[bytearray], bytes | bytearray]) -> bytes:
    """The vector's message changed by ``change``, checksum recomputed."""
    changed = bytes(change(bytearray(message_of(doc))))
    if len(changed) < 8:
        return changed
    return with_checksum(
        changed, src=doc["src"], dst=doc["dst"], form=doc["expected"]["checksum_form"]
    )


def set_byte(index: int, value: int) -> Callable[[bytearray], bytearray]:
    def change(m: bytearray) -> bytearray:
        m[index] = value
        return m

    return change


def zero_interval_cs(m: bytearray) -> bytearray:
    m[4] &= 0xF0
    m[5] = 0
    return m


def zero_checksum(doc: dict[str, Any]) -> bytes:
    message = message_of(doc)
    return message[:6] + b"\0\0" + message[8:]


def checksum_zero_as_ffff() -> bytes:
    """A valid v3 message whose checksum is 0x0000, sent as 0xFFFF instead."""
    for prio in range(256):
        for vrid in range(256):
            m = bytes([0x31, vrid, prio, 1, 0x00, 0x64, 0, 0]) + bytes([192, 0, 2, 9])
            if reference_checksum(m, src=V4_SRC, dst=V4_DST, form="rfc9568") == 0:
                if reference_checksum(m, src=V4_SRC, dst=V4_DST, form="pseudo_header") == 0xFFFF:
                    continue  # would still match the other form exactly
                assert decode(m, src=V4_SRC, dst=V4_DST, ttl=255).checksum_form == "rfc9568"
                return m[:6] + b"\xff\xff" + m[8:]
    raise AssertionError("no message with a zero checksum found")


MALFORMED: list[tuple[str, str, bytes, str, str, int]] = [
    # (case, reason, message, src, dst, ttl)
    ("ttl 254", "ttl", message_of(V3), V4_SRC, V4_DST, 254),
    ("ttl 1", "ttl", message_of(V3), V4_SRC, V4_DST, 1),
    ("hop limit 64", "ttl", message_of(V6), V6_SRC, V6_DST, 64),
    ("src not an address", "endpoint", message_of(V3), "router-a", V4_DST, 255),
    ("src IPv4 dst IPv6", "endpoint", message_of(V3), V4_SRC, V6_DST, 255),
    ("empty", "length", b"", V4_SRC, V4_DST, 255),
    ("7 octets", "length", message_of(V3)[:7], V4_SRC, V4_DST, 255),
    ("version 1", "version", edit(V3, set_byte(0, 0x11)), V4_SRC, V4_DST, 255),
    ("version 4", "version", edit(V3, set_byte(0, 0x41)), V4_SRC, V4_DST, 255),
    ("version 0", "version", edit(V2, set_byte(0, 0x01)), V4_SRC, V4_DST, 255),
    ("type 2", "type", edit(V3, set_byte(0, 0x32)), V4_SRC, V4_DST, 255),
    ("type 0 (v2)", "type", edit(V2, set_byte(0, 0x20)), V4_SRC, V4_DST, 255),
    ("v2 over IPv6", "family", message_of(V2), V6_SRC, V6_DST, 255),
    ("count 0", "count", edit(V3, lambda m: m[:3] + b"\0" + m[4:8]), V4_SRC, V4_DST, 255),
    ("count 3 for 2 addresses", "length", edit(V3, set_byte(3, 3)), V4_SRC, V4_DST, 255),
    ("count 1 for 2 addresses", "length", edit(V3, set_byte(3, 1)), V4_SRC, V4_DST, 255),
    ("trailing bytes", "length", edit(V3, lambda m: m + b"\0\0\0\0"), V4_SRC, V4_DST, 255),
    ("truncated address", "length", edit(V3, lambda m: m[:-2]), V4_SRC, V4_DST, 255),
    ("v2 without auth data", "length", edit(V2, lambda m: m[:-8]), V4_SRC, V4_DST, 255),
    ("v3 with a v2 auth trailer", "length", edit(V3, lambda m: m + bytes(8)), V4_SRC, V4_DST, 255),
    ("IPv4-sized addresses over IPv6", "length", edit(V6, set_byte(3, 8)), V6_SRC, V6_DST, 255),
    ("bad v3 IPv4 checksum", "checksum", zero_checksum(V3), V4_SRC, V4_DST, 255),
    ("bad v2 checksum", "checksum", zero_checksum(V2), V4_SRC, V4_DST, 255),
    ("v2 flipped auth bit", "checksum", message_of(V2)[:-1] + b"\x01", V4_SRC, V4_DST, 255),
    ("v3 IPv6 other dst", "checksum", message_of(V6), V6_SRC, "ff02::1", 255),
    ("v3 IPv4 other src", "checksum", message_of(V3), "192.0.2.3", V4_DST, 255),
    ("zero checksum sent as 0xffff", "checksum", checksum_zero_as_ffff(), V4_SRC, V4_DST, 255),
    ("v2 interval 0", "interval", edit(V2, set_byte(5, 0)), V4_SRC, V4_DST, 255),
    ("v3 interval 0", "interval", edit(V3, zero_interval_cs), V4_SRC, V4_DST, 255),
    ("v3 IPv6 interval 0", "interval", edit(V6, zero_interval_cs), V6_SRC, V6_DST, 255),
]


@pytest.mark.parametrize(
    ("reason", "message", "src", "dst", "ttl"),
    [pytest.param(*case[1:], id=case[0]) for case in MALFORMED],
)
def test_receive_check_table(reason: str, message: bytes, src: str, dst: str, ttl: int) -> None:
    with pytest.raises(PacketError) as caught:
        decode(message, src=src, dst=dst, ttl=ttl)
    assert caught.value.reason == reason
    assert caught.value.detail
    assert str(caught.value).startswith(f"{reason}: ")


def test_every_documented_reason_has_a_case() -> None:
    table = (packet.__doc__ or "").split("Drop reasons")[1].split(":func:`encode`")[0]
    documented = {
        line.split()[0].strip("`") for line in table.splitlines() if line.startswith("``")
    }
    assert documented == {case[1] for case in MALFORMED}


def test_reserved_bits_are_ignored_but_kept() -> None:
    message = edit(V3, lambda m: bytes([*m[:4], m[4] | 0xA0, *m[5:]]))
    advert = decode(message, src=V4_SRC, dst=V4_DST, ttl=255)
    assert (advert.reserved, advert.interval_cs) == (0xA, 100)
    assert encode(advert, src=V4_SRC, dst=V4_DST) == message


def test_decode_accepts_bytearray_and_memoryview() -> None:
    message = message_of(V2)
    for view in (bytearray(message), memoryview(message)):
        advert = decode(view, src=V2["src"], dst=V2["dst"], ttl=255)  # type: ignore[arg-type]
        assert isinstance(advert.auth_data, bytes)
        assert encode(advert, src=V2["src"], dst=V2["dst"]) == message


# --- what encode refuses -----------------------------------------------------

A4 = (ipaddress.IPv4Address("192.0.2.10"),)
A6 = (ipaddress.IPv6Address("fe80::10"),)


def v3(**change: Any) -> Advertisement:
    fields: dict[str, Any] = {"version": 3, "vrid": 1, "priority": 100, "interval_cs": 100}
    fields["addresses"] = A4
    fields.update(change)
    return Advertisement(**fields)


def v2(**change: Any) -> Advertisement:
    return v3(version=2, **change)


UNSENDABLE: list[tuple[str, str, Advertisement, str, str | None]] = [
    # (case, reason, advert, src, checksum_form)
    ("version 4", "version", v3(version=4), V4_SRC, None),
    ("v2 over IPv6", "family", v2(addresses=A6), V6_SRC, None),
    ("IPv6 address from an IPv4 source", "family", v3(addresses=A6), V4_SRC, None),
    ("no address", "count", v3(addresses=()), V4_SRC, None),
    ("256 addresses", "count", v3(addresses=A4 * 256), V4_SRC, None),
    ("vrid 256", "field", v3(vrid=256), V4_SRC, None),
    ("priority -1", "field", v3(priority=-1), V4_SRC, None),
    ("reserved 16", "field", v3(reserved=16), V4_SRC, None),
    ("v2 reserved", "field", v2(reserved=1), V4_SRC, None),
    ("auth data of 9 octets", "field", v2(auth_data=bytes(9)), V4_SRC, None),
    ("v3 with authentication", "field", v3(auth_type=1), V4_SRC, None),
    ("v3 with auth data", "field", v3(auth_data=b"x"), V4_SRC, None),
    ("v2 half a second", "interval", v2(interval_cs=50), V4_SRC, None),
    ("v2 256 s", "interval", v2(interval_cs=25600), V4_SRC, None),
    ("v2 0 s", "interval", v2(interval_cs=0), V4_SRC, None),
    ("v3 0 cs", "interval", v3(interval_cs=0), V4_SRC, None),
    ("v3 4096 cs", "interval", v3(interval_cs=4096), V4_SRC, None),
    ("v2 with a v3 form", "checksum", v2(), V4_SRC, "pseudo_header"),
    ("v3 with the v2 form", "checksum", v3(), V4_SRC, "v2"),
    ("IPv4 pseudo-header over IPv6", "checksum", v3(addresses=A6), V6_SRC, "pseudo_header"),
    ("unknown form", "checksum", v3(), V4_SRC, "crc32"),
]


@pytest.mark.parametrize(
    ("reason", "advert", "src", "form"),
    [pytest.param(*case[1:], id=case[0]) for case in UNSENDABLE],
)
def test_encode_refuses(reason: str, advert: Advertisement, src: str, form: str | None) -> None:
    dst = packet.VRRP_MCAST_V6 if ":" in src else packet.VRRP_MCAST_V4
    with pytest.raises(PacketError) as caught:
        encode(advert, src=src, dst=dst, checksum_form=form)
    assert caught.value.reason == reason


def test_encode_refuses_bad_endpoints() -> None:
    with pytest.raises(PacketError) as caught:
        encode(v3(), src="192.0.2.1", dst="ff02::12")
    assert caught.value.reason == "endpoint"


def test_v2_short_password_is_zero_padded() -> None:
    advert = v2(auth_type=1, auth_data=b"s3cr3t")
    message = encode(advert, src=V2["src"], dst=V2["dst"])
    assert message[-8:] == b"s3cr3t\0\0"
    assert decode(message, src=V2["src"], dst=V2["dst"], ttl=255).auth_data == b"s3cr3t\0\0"


def test_address_cache_stays_bounded_and_right() -> None:
    src, dst = V4_SRC, V4_DST
    for n in range(packet._ADDRESS_CACHE_MAX_LISTS + 10):
        address = ipaddress.IPv4Address(0xC6336400 + n)  # 198.51.100.0 onwards
        message = encode(v3(addresses=(address,)), src=src, dst=dst)
        assert decode(message, src=src, dst=dst, ttl=255).addresses == (address,)
        assert len(packet._ADDRESS_CACHE[4]) <= packet._ADDRESS_CACHE_MAX_LISTS


def test_same_address_octets_in_both_families() -> None:
    # Found by the fuzz test: 16 octets are one IPv6 or four IPv4 addresses.
    raw = bytes(range(1, 17))
    six = encode(v3(addresses=(ipaddress.IPv6Address(raw),)), src=V6_SRC, dst=V6_DST)
    four = tuple(ipaddress.IPv4Address(raw[i : i + 4]) for i in range(0, 16, 4))
    v4 = encode(v2(addresses=four), src=V4_SRC, dst=V4_DST)
    assert decode(six, src=V6_SRC, dst=V6_DST, ttl=255).addresses == (ipaddress.IPv6Address(raw),)
    assert decode(v4, src=V4_SRC, dst=V4_DST, ttl=255).addresses == four
    assert decode(six, src=V6_SRC, dst=V6_DST, ttl=255).addresses == (ipaddress.IPv6Address(raw),)
