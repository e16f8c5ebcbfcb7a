"""The IPv4 header parse of raw-socket datagrams: garbage is a counted drop, never a raise."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vrrp.linux.sockets import IPv4Header, parse_ipv4_header


def ipv4(
    payload: bytes, *, ihl: int = 5, ttl: int = 255, proto: int = 112, total: int | None = None
) -> bytes:
    options = bytes(max(0, 4 * (ihl - 5)))
    length = 4 * ihl + len(payload) if total is None else total
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x40 | ihl,
        0xC0,
        length,
        0,
        0,
        ttl,
        proto,
        0,
        bytes([192, 0, 2, 11]),
        bytes([224, 0, 0, 18]),
    )
    return header + options + payload


def test_plain_header() -> None:
    assert parse_ipv4_header(ipv4(b"advert")) == IPv4Header(
        header_length=20, total_length=26, ttl=255, protocol=112, src="192.0.2.11", dst="224.0.0.18"
    )


def test_options_are_skipped_by_ihl() -> None:
    datagram = ipv4(b"advert", ihl=6, ttl=64)
    header = parse_ipv4_header(datagram)
    assert isinstance(header, IPv4Header)
    assert header.header_length == 24 and header.ttl == 64
    assert datagram[header.header_length : header.total_length] == b"advert"


def test_trailing_bytes_beyond_total_length_are_not_payload() -> None:
    datagram = ipv4(b"advert") + b"\0\0"
    header = parse_ipv4_header(datagram)
    assert isinstance(header, IPv4Header) and header.total_length == 26


@pytest.mark.parametrize(
    ("datagram", "reason"),
    [
        (b"", "ip_short"),
        (ipv4(b"")[:19], "ip_short"),
        (b"\x60" + ipv4(b"x")[1:], "ip_version"),
        (ipv4(b"x", ihl=4), "ip_header_length"),
        (ipv4(b"", ihl=15)[:40], "ip_header_length"),
        (ipv4(b"x", total=19), "ip_total_length"),
        (ipv4(b"x", total=200), "ip_total_length"),
    ],
)
def test_garbled_headers_give_a_reason(datagram: bytes, reason: str) -> None:
    assert parse_ipv4_header(datagram) == reason


@given(st.binary(max_size=80))
def test_any_bytes_give_a_header_or_a_reason(datagram: bytes) -> None:
    result = parse_ipv4_header(datagram)
    if isinstance(result, IPv4Header):
        assert 20 <= result.header_length <= result.total_length <= len(datagram)
    else:
        assert result.startswith("ip_")


def reference_parse(datagram: bytes) -> IPv4Header | str:
    """The header read field by field, in the order of the checks."""
    if len(datagram) < 20:
        return "ip_short"
    if datagram[0] >> 4 != 4:
        return "ip_version"
    header_length = (datagram[0] & 0x0F) * 4
    if not 20 <= header_length <= len(datagram):
        return "ip_header_length"
    total_length = datagram[2] << 8 | datagram[3]
    if not header_length <= total_length <= len(datagram):
        return "ip_total_length"
    return IPv4Header(
        header_length,
        total_length,
        datagram[8],
        datagram[9],
        ".".join(str(b) for b in datagram[12:16]),
        ".".join(str(b) for b in datagram[16:20]),
    )


@given(
    st.tuples(st.integers(0, 15), st.integers(0, 15), st.integers(0, 120)),
    st.tuples(st.integers(0, 255), st.integers(0, 255)),
    st.binary(min_size=8, max_size=8),
    st.binary(max_size=60),
)
def test_the_header_parse_reads_what_each_field_says(
    lengths: tuple[int, int, int], ttl_proto: tuple[int, int], addresses: bytes, rest: bytes
) -> None:
    (version, ihl, total), (ttl, proto) = lengths, ttl_proto
    datagram = struct.pack("!BBHHHBBH", version << 4 | ihl, 0, total, 0, 0, ttl, proto, 0)
    datagram += addresses + rest
    assert parse_ipv4_header(datagram) == reference_parse(datagram)
