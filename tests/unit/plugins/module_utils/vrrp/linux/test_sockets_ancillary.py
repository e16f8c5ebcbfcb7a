"""The IPv4 receive path's ancillary parse (no destination: the header has it)
gives the TTL and ifindex the full parse gives."""

from __future__ import annotations

import socket
import struct
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from vrrp.linux import sockets

LEVELS = (socket.IPPROTO_IP, socket.IPPROTO_IPV6, socket.SOL_SOCKET)
KINDS = (
    socket.IP_TTL,
    sockets.IP_PKTINFO,
    socket.IPV6_HOPLIMIT,
    socket.IPV6_PKTINFO,
    sockets.IP_RECVTTL,
)


def cdata_for(kind: int) -> st.SearchStrategy[bytes]:
    """What the kernel sends for ``kind``, and garbled lengths around it."""
    well_formed = {
        socket.IP_TTL: st.integers(0, 255).map(lambda t: t.to_bytes(4, sys.byteorder)),
        sockets.IP_PKTINFO: st.tuples(
            st.integers(0, 2**31 - 1), st.binary(min_size=4, max_size=4)
        ).map(lambda t: struct.pack("=i4s4s", t[0], t[1], t[1])),
    }.get(kind, st.nothing())
    return st.one_of(well_formed, st.binary(max_size=24))


cmsg = st.tuples(st.sampled_from(LEVELS), st.sampled_from(KINDS)).flatmap(
    lambda lk: st.tuples(st.just(lk[0]), st.just(lk[1]), cdata_for(lk[1]))
)


@settings(max_examples=400, derandomize=True)
@given(ancdata=st.lists(cmsg, max_size=4), ifindex=st.integers(1, 1000))
def test_ipv4_ancillary_matches_the_general_parse(
    ancdata: list[tuple[int, int, bytes]], ifindex: int
) -> None:
    ttl, _dst, index = sockets._ancillary(ancdata, ifindex)
    assert sockets._ancillary(ancdata, ifindex, want_dst=False) == (ttl, "", index)
