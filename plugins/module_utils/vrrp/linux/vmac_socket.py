"""VRRP adverts sent and heard on a VMAC interface (a macvlan with the VRRP MAC).

RFC 9568 §7.3: a Master's adverts leave from the virtual router MAC. They
therefore go out through the macvlan, whose MAC that is. The peers hear them
there too: a macvlan delivers a multicast frame whose source MAC equals one of
its own macvlans' MACs only to that macvlan (``macvlan_handle_frame``), so a
Backup with the same VMAC never sees its Master's adverts on the parent.

Hearing on the macvlan must not make it transmit, though (only the Master may
use the virtual MAC as a source): an IP group membership there would send
IGMP / MLD reports from the VMAC, and an IPv6 address there would add MLD
reports for its solicited-node group. So:

- adverts are sent by a raw IP socket bound to the macvlan that joins nothing
  and receives nothing (a drop-all socket filter); the IPv6 source is the
  parent's link-local address, which the macvlan does not carry
  (``IPV6_FREEBIND``);
- they are heard by an ``AF_PACKET`` socket on the macvlan with a link-layer
  membership of the VRRP group's MAC (a private-mode macvlan then also receives
  the group's frames from foreign MACs, e.g. a peer that sends from its own
  MAC) and a socket filter that passes only incoming protocol-112 datagrams.
  The IP header is parsed here: TTL / hop limit, source and destination.
"""

from __future__ import annotations

import ctypes
import errno
import socket
import struct
from typing import Final

from ..errors import NetlinkError
from .sockets import VRRP_PROTOCOL, Received, VrrpSocket, more_queued, vrrp_ipv4_header

ETH_P_IP: Final = 0x0800
ETH_P_IPV6: Final = 0x86DD
SOL_PACKET: Final = getattr(socket, "SOL_PACKET", 263)
PACKET_ADD_MEMBERSHIP: Final = 1
PACKET_MR_MULTICAST: Final = 0
PACKET_OUTGOING: Final = 4
SO_ATTACH_FILTER: Final = getattr(socket, "SO_ATTACH_FILTER", 26)
IPV6_FREEBIND: Final = 78  # <linux/in6.h>, Linux 4.15+

# Classic BPF (<linux/filter.h>).
_BPF_LD_B_ABS: Final = 0x30
_BPF_LD_B_IND: Final = 0x50
_BPF_LDX_B_MSH: Final = 0xB1
_BPF_JEQ_K: Final = 0x15
_BPF_RET_K: Final = 0x06
_SKF_AD_PKTTYPE: Final = -0x1000 + 4
_BPF_INSN: Final = struct.Struct("=HBBI")
_SOCK_FPROG: Final = struct.Struct("@HP")  # struct sock_fprog, native alignment
_PACKET_MREQ: Final = struct.Struct("=iHH8s")  # ifindex, type, alen, address

_IPV6_HEADER: Final = struct.Struct("!IHBB16s16s")
_MAX_FRAME: Final = 65535


def bpf(*insns: tuple[int, int, int, int]) -> bytes:
    """A classic BPF program (``struct sock_filter`` array) of ``(code, jt, jf, k)``."""
    return b"".join(_BPF_INSN.pack(code, jt, jf, k & 0xFFFFFFFF) for code, jt, jf, k in insns)


def vrrp_filter(version: int, vrid: int) -> bytes:
    """A classic BPF program: incoming protocol-112 datagrams for ``vrid`` only.

    On an ``AF_PACKET`` ``SOCK_DGRAM`` socket the program sees the packet from
    its network header: the protocol is byte 9 of an IPv4 header (the VRRP
    message follows the header, whose length is in its first byte) and byte 6
    (next header) of an IPv6 one (the message at byte 40; RFC 9568 §5.1.2
    adverts carry no extension header). The VRID is the message's second
    byte. Our own outgoing frames and other VRIDs' adverts (the parent's
    socket hears those) never wake us.
    """
    if version == 4:
        return bpf(
            (_BPF_LD_B_ABS, 0, 0, _SKF_AD_PKTTYPE),
            (_BPF_JEQ_K, 6, 0, PACKET_OUTGOING),
            (_BPF_LD_B_ABS, 0, 0, 9),
            (_BPF_JEQ_K, 0, 4, VRRP_PROTOCOL),
            (_BPF_LDX_B_MSH, 0, 0, 0),
            (_BPF_LD_B_IND, 0, 0, 1),
            (_BPF_JEQ_K, 0, 1, vrid),
            (_BPF_RET_K, 0, 0, _MAX_FRAME),
            (_BPF_RET_K, 0, 0, 0),
        )
    return bpf(
        (_BPF_LD_B_ABS, 0, 0, _SKF_AD_PKTTYPE),
        (_BPF_JEQ_K, 5, 0, PACKET_OUTGOING),
        (_BPF_LD_B_ABS, 0, 0, 6),
        (_BPF_JEQ_K, 0, 3, VRRP_PROTOCOL),
        (_BPF_LD_B_ABS, 0, 0, _IPV6_HEADER.size + 1),
        (_BPF_JEQ_K, 0, 1, vrid),
        (_BPF_RET_K, 0, 0, _MAX_FRAME),
        (_BPF_RET_K, 0, 0, 0),
    )


DROP_ALL: Final = bpf((_BPF_RET_K, 0, 0, 0))


def group_mac(version: int) -> bytes:
    """The Ethernet group of 224.0.0.18 / ff02::12 (RFC 1112 §6.4, RFC 2464 §7)."""
    return bytes.fromhex("01005e000012" if version == 4 else "333300000012")


def parse_ipv6_header(datagram: bytes) -> tuple[str, str, int, bytes] | str:
    """(src, dst, hop limit, payload) of an IPv6 datagram; a drop reason when unusable."""
    if len(datagram) < _IPV6_HEADER.size:
        return "ip_short"
    first, length, next_header, hop_limit, src, dst = _IPV6_HEADER.unpack_from(datagram)
    if first >> 28 != 6:
        return "ip_version"
    if next_header != VRRP_PROTOCOL:
        # An advert carries no extension header (RFC 9568 §5.1.2).
        return "ip_protocol"
    end = _IPV6_HEADER.size + length
    if end > len(datagram):
        return "ip_total_length"
    return (
        socket.inet_ntop(socket.AF_INET6, src),
        socket.inet_ntop(socket.AF_INET6, dst),
        hop_limit,
        datagram[_IPV6_HEADER.size : end],
    )


def attach_filter(sock: socket.socket, program: bytes) -> None:
    """Attach a classic BPF ``program`` (the kernel copies it during the call)."""
    code = ctypes.create_string_buffer(program, len(program))
    fprog = _SOCK_FPROG.pack(len(program) // _BPF_INSN.size, ctypes.addressof(code))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


class VmacSocket(VrrpSocket):
    """Send and hear multicast VRRP adverts of ``vrid`` on VMAC interface ``ifname``.

    The interface must exist and be up. ``source`` is the parent's address
    the adverts leave from (IPv4 primary, IPv6 link-local).
    """

    join_group = False

    def __init__(self, *, ifname: str, version: int, vrid: int, source: str) -> None:
        self._rx: socket.socket | None = None
        self.vrid = vrid
        super().__init__(ifname=ifname, version=version, source=source)
        proto = ETH_P_IP if version == 4 else ETH_P_IPV6
        rx = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, 0)
        try:
            rx.setblocking(False)
            # Filter before bind: nothing unfiltered is ever queued.
            attach_filter(rx, vrrp_filter(version, vrid))
            rx.bind((ifname, proto))
            mreq = _PACKET_MREQ.pack(self.ifindex, PACKET_MR_MULTICAST, 6, group_mac(version))
            rx.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
        except OSError as exc:
            rx.close()
            super().close()
            raise NetlinkError(f"VRRP listener on VMAC {ifname} (IPv{version}): {exc}") from exc
        self._rx = rx

    def _configure(self) -> None:
        super()._configure()
        # This socket only sends: the listener is the packet socket.
        attach_filter(self._sock, DROP_ALL)
        if self.version == 6:
            # The parent's link-local source is not on the macvlan (an address
            # there would make a Backup send MLD reports from the VMAC).
            self._sock.setsockopt(socket.IPPROTO_IPV6, IPV6_FREEBIND, 1)

    def fileno(self) -> int:
        return self._rx.fileno() if self._rx is not None else -1

    def close(self) -> None:
        if self._rx is not None:
            self._rx.close()
        super().close()

    def receive(self, *, limit: int = 64) -> list[Received]:
        out: list[Received] = []
        rx = self._rx
        if rx is None:
            return out
        for _read in range(limit):  # as VrrpSocket.receive: no last read ending in EAGAIN
            try:
                data, address = rx.recvfrom(_MAX_FRAME)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                self.drops["recv_error:" + errno.errorcode.get(exc.errno or 0, "?")] += 1
                break
            if len(address) <= 2 or address[2] != PACKET_OUTGOING:
                item = self._parse_frame(data)
                if item is not None:
                    self.received += 1
                    out.append(item)
            if not more_queued(rx, self._queued):
                break
        return out

    def _parse_frame(self, data: bytes) -> Received | None:
        if self.version == 4:
            header = vrrp_ipv4_header(data, self.drops)
            if header is None:
                return None
            payload = data[header.header_length : header.total_length]
            src, dst, ttl = header.src, header.dst, header.ttl
        else:
            parsed = parse_ipv6_header(data)
            if isinstance(parsed, str):
                self.drops[parsed] += 1
                return None
            src, dst, ttl, payload = parsed
        if dst != self.group:
            # Unicast to this host arrives on the parent, not here.
            self.drops["not_group"] += 1
            return None
        return Received(payload=payload, src=src, dst=dst, ttl=ttl, ifindex=self.ifindex)
