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
from test_packet import GOOD, reference_checksum, with_checksum

from vrrp.errors import PacketError
from vrrp.packet import VRRP_MCAST_V4, VRRP_MCAST_V6, Advertisement, decode, encode

# Plain integers: several times cheaper to draw than st.ip_addresses(), which
# matters for the 100,000-example run.
ADDR4 = st.integers(0, 2**32 - 1).map(IPv4Address)
ADDR6 = st.integers(0, 2**128 - 1).map(IPv6Address)
V4 = ADDR4.map(str)
V6 = ADDR6.map(str)


@st.composite
def sent_adverts(
    draw: st.DrawFn,
    versions: tuple[int, ...] = (2, 3),
    families: tuple[int, ...] = (4, 6),
    max_addresses: int = 40,
) -> tuple[Advertisement, str, str]:
    """A valid advert with the source and destination it is sent between."""
    version = draw(st.sampled_from(versions))
    family = 4 if version == 2 else draw(st.sampled_from(families))
    addr = ADDR4 if family == 4 else ADDR6
    size = draw(st.sampled_from([3, max_addresses]))
    addresses = tuple(draw(st.lists(addr, min_size=1, max_size=size)))
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


ENDPOINTS_LIST = [
    ("192.0.2.1", VRRP_MCAST_V4),
    ("192.0.2.1", "192.0.2.2"),
    ("fe80::1", VRRP_MCAST_V6),
    ("2001:db8::1", "2001:db8::2"),
    ("192.0.2.1", VRRP_MCAST_V6),
    ("not an address", VRRP_MCAST_V4),
]
ENDPOINTS = st.sampled_from(ENDPOINTS_LIST)


def _bases() -> list[tuple[bytes, str, str]]:
    """Valid messages to mutate: every golden vector, and the v3 IPv4 vector
    in the RFC 9568 form as well."""
    out = []
    for doc in GOOD:
        out.append((bytes.fromhex(doc["message_hex"]), doc["src"], doc["dst"]))
        if doc["expected"]["checksum_form"] == "pseudo_header":
            m = with_checksum(out[-1][0], src=doc["src"], dst=doc["dst"], form="rfc9568")
            out.append((m, doc["src"], doc["dst"]))
    return out


BASES = _bases()
FORMS = ("v2", "rfc9568", "pseudo_header")
# One draw each keeps the per-example cost low enough for 100,000 examples.
TTLS = st.sampled_from([255] * 20 + [0, 1, 64, 254])


@st.composite
def mutated(draw: st.DrawFn) -> tuple[bytes, str, str, int]:
    """A valid message with up to 4 edits (set, cut, grow), its checksum
    often made right again so that the later checks are reached."""
    message, src, dst = draw(st.sampled_from(BASES))
    edits = draw(st.binary(max_size=13))
    out = bytearray(message)
    for i in range(0, len(edits) - 2, 3):
        kind, where, value = edits[i] % 4, edits[i + 1], edits[i + 2]
        if kind == 0 and out:
            out[where % len(out)] = value
        elif kind == 1:
            del out[where % (len(out) + 1) :]
        elif kind == 2:
            out += bytes([value]) * (1 + where % 20)
        elif len(out) >= 6:
            out[where % 6] = value  # the fixed fields
    fix = edits[-1] % 4 if edits else 0
    if len(out) >= 8 and fix < 3:
        out = bytearray(with_checksum(bytes(out), src=src, dst=dst, form=FORMS[fix]))
    return bytes(out), src, dst, draw(TTLS)


@st.composite
def shaped(draw: st.DrawFn) -> tuple[bytes, str, str, int]:
    """Random field values in a message of the right shape with a right checksum."""
    src, dst = draw(st.sampled_from(ENDPOINTS_LIST[:4]))  # one family each
    head = draw(st.binary(min_size=5, max_size=5))  # version pick, VRID, priority, word
    family = 6 if ":" in src else 4
    version = 3 if family == 6 else 2 + head[0] % 2
    count = 1 + head[0] // 2 % 4
    size = count * (16 if family == 6 else 4) + (8 if version == 2 else 0)
    body = draw(st.binary(min_size=size, max_size=size))
    message = bytes([version << 4 | 1, head[1], head[2], count, head[3], head[4], 0, 0]) + body
    form = "v2" if version == 2 else FORMS[1 + head[0] // 8 % 2]
    return with_checksum(message, src=src, dst=dst, form=form), src, dst, 255


@st.composite
def raw(draw: st.DrawFn) -> tuple[bytes, str, str, int]:
    """Any bytes, between any of a few endpoint pairs (some of them wrong)."""
    src, dst = draw(ENDPOINTS)
    return draw(st.binary(max_size=120)), src, dst, draw(TTLS)


ANY_INPUT = st.one_of(raw(), mutated(), shaped())


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
