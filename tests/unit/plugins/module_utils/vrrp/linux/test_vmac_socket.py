"""The pure parts of the VMAC listener: its socket filter and the IPv6 header parse."""

from __future__ import annotations

import socket
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vrrp.linux.vmac_socket import (
    DROP_ALL,
    PACKET_OUTGOING,
    group_mac,
    parse_ipv6_header,
    vrrp_filter,
)

PACKET_HOST, PACKET_MULTICAST = 0, 2
_INSN = struct.Struct("=HBBI")


def run_bpf(program: bytes, packet: bytes, *, pkttype: int) -> int:
    """A classic BPF interpreter for the opcodes the filters use: the kernel's verdict."""
    insns = [_INSN.unpack_from(program, i) for i in range(0, len(program), _INSN.size)]
    acc = x = pc = 0
    while True:
        code, jt, jf, k = insns[pc]
        pc += 1
        if code == 0x30:  # ld b [k] (or an ancillary field)
            if k == (-0x1000 + 4) & 0xFFFFFFFF:
                acc = pkttype
            elif k >= len(packet):
                return 0  # out of bounds: the kernel drops
            else:
                acc = packet[k]
        elif code == 0xB1:  # ldx b 4*([k]&0xf)
            x = 4 * (packet[k] & 0x0F)
        elif code == 0x50:  # ld b [x+k]
            if x + k >= len(packet):
                return 0
            acc = packet[x + k]
        elif code == 0x15:  # jeq #k
            pc += jt if acc == k else jf
        elif code == 0x06:  # ret #k
            return k
        else:
            raise AssertionError(f"opcode {code:#x} not interpreted")


def ipv4(vrid: int, *, proto: int = 112, ihl: int = 5) -> bytes:
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x40 | ihl, 0, 20 + 4 * (ihl - 5) + 8, 0, 0, 255, proto, 0,
        socket.inet_aton("192.0.2.11"), socket.inet_aton("224.0.0.18"),
    )  # fmt: skip
    return header + bytes(4 * (ihl - 5)) + bytes([0x31, vrid, 200, 1, 0, 100, 0, 0])


def ipv6(vrid: int, *, next_header: int = 112, hop_limit: int = 255, extra: int = 0) -> bytes:
    message = bytes([0x31, vrid, 200, 1, 0, 100, 0, 0])
    src, dst = (socket.inet_pton(socket.AF_INET6, a) for a in ("fe80::11", "ff02::12"))
    header = struct.pack(
        "!IHBB16s16s", 6 << 28, len(message) + extra, next_header, hop_limit, src, dst
    )
    return header + message


@pytest.mark.parametrize("ihl", [5, 6, 15])
def test_ipv4_filter_passes_only_incoming_adverts_of_its_vrid(ihl: int) -> None:
    program = vrrp_filter(4, 81)
    assert run_bpf(program, ipv4(81, ihl=ihl), pkttype=PACKET_MULTICAST) > 0
    assert run_bpf(program, ipv4(81, ihl=ihl), pkttype=PACKET_HOST) > 0
    assert run_bpf(program, ipv4(82, ihl=ihl), pkttype=PACKET_MULTICAST) == 0
    assert run_bpf(program, ipv4(81, ihl=ihl, proto=17), pkttype=PACKET_MULTICAST) == 0
    assert run_bpf(program, ipv4(81, ihl=ihl), pkttype=PACKET_OUTGOING) == 0


def test_ipv6_filter_passes_only_incoming_adverts_of_its_vrid() -> None:
    program = vrrp_filter(6, 81)
    assert run_bpf(program, ipv6(81), pkttype=PACKET_MULTICAST) > 0
    assert run_bpf(program, ipv6(82), pkttype=PACKET_MULTICAST) == 0
    assert run_bpf(program, ipv6(81, next_header=0), pkttype=PACKET_MULTICAST) == 0
    assert run_bpf(program, ipv6(81), pkttype=PACKET_OUTGOING) == 0
    assert run_bpf(program, ipv6(81)[:41], pkttype=PACKET_MULTICAST) == 0


def test_drop_all_drops() -> None:
    assert run_bpf(DROP_ALL, ipv4(81), pkttype=PACKET_MULTICAST) == 0


def test_group_macs() -> None:
    assert group_mac(4).hex(":") == "01:00:5e:00:00:12"
    assert group_mac(6).hex(":") == "33:33:00:00:00:12"


def test_ipv6_header_parse() -> None:
    assert parse_ipv6_header(ipv6(81, hop_limit=254)) == (
        "fe80::11",
        "ff02::12",
        254,
        bytes([0x31, 81, 200, 1, 0, 100, 0, 0]),
    )
    assert parse_ipv6_header(ipv6(81)[:39]) == "ip_short"
    assert parse_ipv6_header(b"\x40" + ipv6(81)[1:]) == "ip_version"
    assert parse_ipv6_header(ipv6(81, next_header=0)) == "ip_protocol"
    assert parse_ipv6_header(ipv6(81, extra=1)) == "ip_total_length"


@given(st.binary(max_size=80))
def test_ipv6_header_parse_never_raises(data: bytes) -> None:
    result = parse_ipv6_header(data)
    assert isinstance(result, (str, tuple))
