"""Properties of the VRRP codec over random adverts and random bytes.

- Round trip: ``decode(encode(a)) == a`` and ``encode(decode(m)) == m`` for
  random valid adverts (v2/v3, IPv4/IPv6, 1..N addresses, every checksum form).
- Bad input: any bytes, and any mutation of a valid message, either decode
  (and then encode back to the very same bytes) or raise PacketError; never
  anything else.  The ``slow`` test runs that for 100,000 examples.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_packet import reference_checksum, with_checksum

from vrrp.errors import PacketError
from vrrp.packet import VRRP_MCAST_V4, VRRP_MCAST_V6, Advertisement, decode, encode

V4 = st.ip_addresses(v=4).map(str)
V6 = st.ip_addresses(v=6).map(str)


@st.composite
def sent_adverts(
    draw: st.DrawFn, versions: tuple[int, ...] = (2, 3), families: tuple[int, ...] = (4, 6)
) -> tuple[Advertisement, str, str]:
    """A valid advert with the source and destination it is sent between."""
    version = draw(st.sampled_from(versions))
    family = 4 if version == 2 else draw(st.sampled_from(families))
    addr = st.ip_addresses(v=4) if family == 4 else st.ip_addresses(v=6)
    addresses = tuple(draw(st.lists(addr, min_size=1, max_size=draw(st.sampled_from([3, 40])))))
    unicast, group = (V4, VRRP_MCAST_V4) if family == 4 else (V6, VRRP_MCAST_V6)
    src = draw(unicast)
    dst = draw(st.just(group) | unicast)
    common: dict[str, Any] = {
        "vrid": draw(st.integers(0, 255)),
        "priority": draw(st.integers(0, 255)),
        "addresses": addresses,
    }
    if version == 2:
        advert = Advertisement(
            version=2,
            interval_cs=100 * draw(st.integers(1, 255)),
            auth_type=draw(st.integers(0, 255)),
            auth_data=draw(st.binary(min_size=8, max_size=8)),
            checksum_form="v2",
            **common,
        )
    else:
        forms = ["rfc9568"] if family == 6 else ["rfc9568", "pseudo_header"]
        advert = Advertisement(
            version=3,
            interval_cs=draw(st.integers(1, 4095)),
            reserved=draw(st.integers(0, 15)),
            checksum_form=draw(st.sampled_from(forms)),
            **common,
        )
    return advert, src, dst


def expected_form(advert: Advertisement, message: bytes, src: str, dst: str) -> str | None:
    # Where the IPv4 pseudo-header sums to zero both v3 forms give the same
    # bytes, and decode names the pseudo-header form.
    if (
        advert.version == 3
        and ip_address(src).version == 4
        and reference_checksum(message, src=src, dst=dst, form="pseudo_header")
        == reference_checksum(message, src=src, dst=dst, form="rfc9568")
    ):
        return "pseudo_header"
    return advert.checksum_form


@given(sent_adverts())
def test_round_trip(case: tuple[Advertisement, str, str]) -> None:
    advert, src, dst = case
    message = encode(advert, src=src, dst=dst)
    assert int.from_bytes(message[6:8], "big") == reference_checksum(
        message, src=src, dst=dst, form=advert.checksum_form or ""
    )
    back = decode(message, src=src, dst=dst, ttl=255)
    assert back.checksum_form == expected_form(advert, message, src, dst)
    assert back == Advertisement(**{**advert.__dict__, "checksum_form": back.checksum_form})
    assert encode(back, src=src, dst=dst) == message


@given(sent_adverts(versions=(3,), families=(4,)))
def test_v3_ipv4_forms_differ_only_in_the_checksum(case: tuple[Advertisement, str, str]) -> None:
    advert, src, dst = case
    one = encode(advert, src=src, dst=dst, checksum_form="rfc9568")
    other = encode(advert, src=src, dst=dst, checksum_form="pseudo_header")
    assert one[:6] + one[8:] == other[:6] + other[8:]
    for form, message in (("rfc9568", one), ("pseudo_header", other)):
        assert decode(message, src=src, dst=dst, ttl=255).checksum_form in (form, "pseudo_header")


def check_total(message: bytes, src: str, dst: str, ttl: int) -> None:
    """The whole bad-input property: decode or PacketError, and exact re-encoding."""
    try:
        advert = decode(message, src=src, dst=dst, ttl=ttl)
    except PacketError as error:
        assert error.reason in {
            "ttl", "endpoint", "length", "version", "type",
            "family", "count", "checksum", "interval",
        }  # fmt: skip
        return
    assert isinstance(advert, Advertisement)
    assert all(isinstance(a, (IPv4Address, IPv6Address)) for a in advert.addresses)
    assert encode(advert, src=src, dst=dst) == bytes(message)


ENDPOINTS = st.sampled_from(
    [
        ("192.0.2.1", VRRP_MCAST_V4),
        ("192.0.2.1", "192.0.2.2"),
        ("fe80::1", VRRP_MCAST_V6),
        ("2001:db8::1", "2001:db8::2"),
        ("192.0.2.1", VRRP_MCAST_V6),
        ("not an address", VRRP_MCAST_V4),
    ]
)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[bytes, str, str, int]:
    """A valid message, mutated, often with its checksum made right again."""
    advert, src, dst = draw(sent_adverts())
    message = bytearray(encode(advert, src=src, dst=dst))
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["set", "cut", "grow", "header"]))
        if kind == "set" and message:
            message[draw(st.integers(0, len(message) - 1))] = draw(st.integers(0, 255))
        elif kind == "cut":
            message = message[: draw(st.integers(0, len(message)))]
        elif kind == "grow":
            message += draw(st.binary(min_size=1, max_size=20))
        elif len(message) >= 6:
            message[draw(st.integers(0, 5))] = draw(st.integers(0, 255))
    out = bytes(message)
    if len(out) >= 8 and draw(st.booleans()):
        form = draw(st.sampled_from(["v2", "rfc9568", "pseudo_header"]))
        if ":" not in src or form != "v2":
            out = with_checksum(out, src=src, dst=dst, form=form)
    ttl = 255 if draw(st.integers(0, 9)) else draw(st.integers(0, 255))
    return out, src, dst, ttl


@st.composite
def raw(draw: st.DrawFn) -> tuple[bytes, str, str, int]:
    src, dst = draw(ENDPOINTS)
    ttl = 255 if draw(st.integers(0, 9)) else draw(st.integers(0, 255))
    return draw(st.binary(max_size=120)), src, dst, ttl


ANY_INPUT = st.one_of(raw(), mutated())


@given(ANY_INPUT)
def test_bad_input_decodes_or_raises_packet_error(case: tuple[bytes, str, str, int]) -> None:
    check_total(*case)


@pytest.mark.slow
@settings(
    max_examples=100_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(ANY_INPUT)
def test_bad_input_decodes_or_raises_packet_error_100k(case: tuple[bytes, str, str, int]) -> None:
    check_total(*case)
