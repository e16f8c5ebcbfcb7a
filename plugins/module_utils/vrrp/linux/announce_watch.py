"""Hearing another node's gratuitous ARP / unsolicited NA for our VIPs (issue 13).

A resigned Master keeps its addresses until its successor has announced them
(fsm.RESIGN_HOLD, :class:`~..fsm_types.SuccessorAnnounced`). :class:`AnnounceWatch`
is an ``AF_PACKET`` socket on the instance's interface, open only while the
router awaits its successor. A classic BPF filter (``SO_ATTACH_FILTER``) lets
through only incoming ARP requests and replies (IPv4) or incoming ICMPv6
neighbour advertisements without extension headers (IPv6), so the socket
wakes for nothing else; our own frames (``PACKET_OUTGOING``) never reach it.
The frame is then read by :func:`announced_address`, a pure function that
returns None for anything malformed, ours or not an announcement, never raises.

What counts: an ARP request or reply whose sender IP is the address (RFC 5227
§3 announcement, or keepalived's reply form), from a sender MAC not ours; an
NA with the solicited flag clear (RFC 4861 §7.2.6) and hop limit 255
(§7.1.2) whose target is the address, from a MAC not ours.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Collection
from typing import Final, Union

from ..errors import NetlinkError
from .announce import ETH_P_ARP, ETH_P_IPV6, ICMPV6_NEIGHBOR_ADVERT, IPPROTO_ICMPV6
from .vmac_socket import attach_filter, bpf

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]

PACKET_OUTGOING: Final = 4
NA_FLAG_SOLICITED: Final = 0x40
_READS_PER_WAKE: Final = 64  # frames drained per wake-up: the loop is never held long
_ETH: Final = 14
_ARP_OP: Final = _ETH + 6
_ARP_SHA: Final = _ETH + 8
_ARP_SPA: Final = _ETH + 14
_IP6_NEXT: Final = _ETH + 6
_IP6_HOP_LIMIT: Final = _ETH + 7
_IP6_HEADER: Final = 40
_ICMP6: Final = _ETH + _IP6_HEADER
_NA_TARGET: Final = _ICMP6 + 8

# Classic BPF (<linux/filter.h>): byte loads only, as linux.vmac_socket's.
_LD_B_ABS: Final = 0x30
_JEQ_K: Final = 0x15
_RET_K: Final = 0x06
_SKF_AD_PKTTYPE: Final = -0x1000 + 4  # SKF_AD_OFF + SKF_AD_PKTTYPE
_KEEP: Final = 0x40000


def filter_program(protocol: int) -> bytes:
    """The filter of ``protocol`` (ETH_P_ARP or ETH_P_IPV6): incoming frames that
    can be an announcement (an ARP request or reply; an ICMPv6 NA without
    extension headers), every other frame dropped in the kernel."""
    head = [
        (_LD_B_ABS, 0, 0, _SKF_AD_PKTTYPE),
        (_JEQ_K, 0, 1, PACKET_OUTGOING),
        (_RET_K, 0, 0, 0),
    ]
    if protocol == ETH_P_ARP:
        body = [
            (_LD_B_ABS, 0, 0, _ARP_OP),  # the operation's high byte: 0
            (_JEQ_K, 0, 4, 0),
            (_LD_B_ABS, 0, 0, _ARP_OP + 1),
            (_JEQ_K, 1, 0, 1),  # request
            (_JEQ_K, 0, 1, 2),  # reply
            (_RET_K, 0, 0, _KEEP),
            (_RET_K, 0, 0, 0),
        ]
    else:
        body = [
            (_LD_B_ABS, 0, 0, _IP6_NEXT),
            (_JEQ_K, 0, 3, IPPROTO_ICMPV6),
            (_LD_B_ABS, 0, 0, _ICMP6),
            (_JEQ_K, 0, 1, ICMPV6_NEIGHBOR_ADVERT),
            (_RET_K, 0, 0, _KEEP),
            (_RET_K, 0, 0, 0),
        ]
    return bpf(*head, *body)


def announced_address(frame: bytes, *, version: int, own_mac: bytes) -> IPAddress | None:  # noqa: PLR0911
    """The address ``frame`` announces from another node, or None (never raises)."""
    if len(frame) < _ETH or frame[6:12] == own_mac:
        return None
    if version == 4:
        if len(frame) < _ARP_SPA + 4 or frame[12:14] != b"\x08\x06":
            return None
        if frame[_ETH : _ETH + 6] != b"\x00\x01\x08\x00\x06\x04":  # Ethernet, IPv4
            return None
        if frame[_ARP_OP : _ARP_OP + 2] not in (b"\x00\x01", b"\x00\x02"):
            return None
        if frame[_ARP_SHA : _ARP_SHA + 6] == own_mac:
            return None
        return ipaddress.IPv4Address(frame[_ARP_SPA : _ARP_SPA + 4])
    if len(frame) < _NA_TARGET + 16 or frame[12:14] != b"\x86\xdd":
        return None
    if frame[_IP6_NEXT] != IPPROTO_ICMPV6 or frame[_ICMP6] != ICMPV6_NEIGHBOR_ADVERT:
        return None
    if frame[_IP6_HOP_LIMIT] != 255:  # RFC 4861 §7.1.2: from off the link
        return None
    if frame[_ICMP6 + 4] & NA_FLAG_SOLICITED:
        return None
    return ipaddress.IPv6Address(frame[_NA_TARGET : _NA_TARGET + 16])


class AnnounceWatch:
    """Hears announcements of ``addresses`` on ``ifname`` (see the module docstring).

    ``own_mac``: frames from it are ours (counted in ``own``, ignored).
    Raises :class:`NetlinkError` when the socket cannot be opened.
    """

    def __init__(
        self, *, ifname: str, version: int, own_mac: bytes, addresses: Collection[IPAddress]
    ) -> None:
        self.ifname = ifname
        self.version = version
        self.own_mac = own_mac
        self.addresses = frozenset(addresses)
        self.own = 0
        self.ignored = 0
        protocol = ETH_P_ARP if version == 4 else ETH_P_IPV6
        program = filter_program(protocol)
        try:
            # Protocol 0 until bound: nothing queues before the filter is on.
            self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0)
        except OSError as exc:
            raise NetlinkError(f"announcement watch on {ifname}: {exc}") from exc
        try:
            attach_filter(self._sock, program)
            self._sock.setblocking(False)
            self._sock.bind((ifname, protocol))
        except OSError as exc:
            self._sock.close()
            raise NetlinkError(f"announcement watch on {ifname}: {exc}") from exc

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        self._sock.close()

    def read(self) -> list[IPAddress]:
        """Our addresses announced by another node in the frames queued now."""
        found: list[IPAddress] = []
        for _read in range(_READS_PER_WAKE):
            try:
                frame, addr = self._sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break  # the interface went away: the hold's bound still ends it
            if len(addr) > 2 and addr[2] == PACKET_OUTGOING:
                self.own += 1
                continue
            address = announced_address(frame, version=self.version, own_mac=self.own_mac)
            if address is None:
                if len(frame) >= 12 and frame[6:12] == self.own_mac:
                    self.own += 1
                else:
                    self.ignored += 1
            elif address in self.addresses:
                found.append(address)
        return found
