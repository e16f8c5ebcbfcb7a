"""Raw IP protocol 112 sockets: VRRP adverts on the wire, IPv4 and IPv6.

One :class:`VrrpSocket` serves one interface and one address family. It is
non-blocking; an asyncio loop watches ``fileno()`` with ``add_reader`` and calls
:meth:`VrrpSocket.receive` until it returns nothing.

Sent adverts carry TTL / hop limit 255 (RFC 9568 §5.1.1.3, §5.1.2.3); every
received datagram reports the TTL it arrived with, read from the kernel
(``IP_RECVTTL`` / ``IPV6_RECVHOPLIMIT``), so the core can drop anything below
255. Datagrams that cannot be parsed at this layer (a short or garbled IPv4
header) are counted in :attr:`VrrpSocket.drops` by reason, never raised.
"""

from __future__ import annotations

import errno
import fcntl
import ipaddress
import socket
import struct
from collections import Counter
from collections.abc import Iterable
from typing import Final, NamedTuple

from ..errors import NetlinkError

VRRP_PROTOCOL: Final = 112
VRRP_MCAST_V4: Final = "224.0.0.18"
VRRP_MCAST_V6: Final = "ff02::12"
VRRP_TTL: Final = 255

# Linux <linux/in.h> / <linux/in6.h> values the socket module may not export.
IP_PKTINFO: Final = getattr(socket, "IP_PKTINFO", 8)
IP_RECVTTL: Final = getattr(socket, "IP_RECVTTL", 12)
SO_BINDTODEVICE: Final = getattr(socket, "SO_BINDTODEVICE", 25)
SIOCINQ: Final = 0x541B  # <linux/sockios.h>, FIONREAD: size of the next datagram queued

_IN_PKTINFO: Final = struct.Struct("=i4s4s")  # ifindex, spec_dst, addr
_IN6_PKTINFO: Final = struct.Struct("=16sI")  # addr, ifindex
_IP_MREQN: Final = struct.Struct("=4s4si")  # multiaddr, address, ifindex
_IPV6_MREQ: Final = struct.Struct("=16sI")
_INT: Final = struct.Struct("=i")
# The fixed part of an IPv4 header this layer reads, in one unpack:
# version/IHL, total length, TTL, protocol, source, destination.
_IPV4_FIXED: Final = struct.Struct("!BxH4xBB2x4s4s")
_AF_INET: Final = socket.AF_INET
_AF_INET6: Final = socket.AF_INET6
_SOL_IP: Final = socket.IPPROTO_IP
_SOL_IPV6: Final = socket.IPPROTO_IPV6
_IP_TTL: Final = socket.IP_TTL
_IPV6_HOPLIMIT: Final = socket.IPV6_HOPLIMIT
_IPV6_PKTINFO: Final = socket.IPV6_PKTINFO
_ANCBUFSIZE: Final = socket.CMSG_SPACE(_IN6_PKTINFO.size) + socket.CMSG_SPACE(_INT.size) * 2
_MAX_DATAGRAM: Final = 65535
_IPV4_MIN_HEADER: Final = 20


# NamedTuples, not frozen dataclasses: made once per datagram received, and a
# frozen dataclass's __init__ (object.__setattr__ per field) cost more than
# the rest of the socket's parse.
class Received(NamedTuple):
    """One datagram: the VRRP message (after the IP header) and its envelope."""

    payload: bytes
    src: str
    dst: str
    ttl: int
    ifindex: int


class IPv4Header(NamedTuple):
    """The fields of an IPv4 header this layer needs."""

    header_length: int
    total_length: int
    ttl: int
    protocol: int
    src: str
    dst: str


def parse_ipv4_header(datagram: bytes) -> IPv4Header | str:
    """Parse the IPv4 header a raw socket delivers; a drop reason when unusable."""
    size = len(datagram)
    if size < _IPV4_MIN_HEADER:
        return "ip_short"
    version_ihl, total_length, ttl, protocol, src, dst = _IPV4_FIXED.unpack_from(datagram)
    if version_ihl >> 4 != 4:
        return "ip_version"
    header_length = (version_ihl & 0x0F) * 4
    if header_length < _IPV4_MIN_HEADER or header_length > size:
        return "ip_header_length"
    # The kernel hands the whole datagram; a total length beyond it is garbled.
    if total_length < header_length or total_length > size:
        return "ip_total_length"
    inet_ntop = socket.inet_ntop
    return IPv4Header(
        header_length,
        total_length,
        ttl,
        protocol,
        inet_ntop(_AF_INET, src),
        inet_ntop(_AF_INET, dst),
    )


def vrrp_ipv4_header(datagram: bytes, drops: Counter[str]) -> IPv4Header | None:
    """The header of an IPv4 datagram carrying VRRP, or None with the drop counted."""
    header = parse_ipv4_header(datagram)
    if isinstance(header, str):
        drops[header] += 1
        return None
    if header.protocol != VRRP_PROTOCOL:
        drops["ip_protocol"] += 1
        return None
    return header


def more_queued(sock: socket.socket, buf: bytearray) -> bool:
    """Whether another datagram waits in ``sock``'s receive queue (``buf``: 4 bytes).

    A reader woken by the loop reads until this says no, instead of until a
    read fails with EAGAIN: on a Backup most wake-ups bring one advert, and
    that last read (a syscall and a raised BlockingIOError) cost more than
    this ioctl. SIOCINQ gives the size of the next datagram (raw IPv4: with
    its header, never 0); a zero-length one reads as none and stays queued,
    so the level-triggered reader is woken again for it. When the ioctl
    fails, the next read decides.
    """
    try:
        fcntl.ioctl(sock.fileno(), SIOCINQ, buf)
    except OSError:
        return True
    return buf != _NONE_QUEUED


_NONE_QUEUED: Final = bytes(4)


def _ancillary(
    ancdata: list[tuple[int, int, bytes]], ifindex: int, *, want_dst: bool = True
) -> tuple[int, str, int]:
    """(TTL or -1, destination or "", ifindex) from a datagram's ancillary data.

    ``want_dst`` False leaves the destination "" (an IPv4 datagram's header
    gives it: not made twice for every advert heard).
    """
    ttl = -1
    dst = ""
    for level, kind, cdata in ancdata:
        if level == _SOL_IP:
            if kind == _IP_TTL:
                ttl = _cmsg_int(cdata)
            elif kind == IP_PKTINFO and len(cdata) >= _IN_PKTINFO.size:
                ifindex, _spec, addr = _IN_PKTINFO.unpack_from(cdata)
                if want_dst:
                    dst = socket.inet_ntop(_AF_INET, addr)
        elif level == _SOL_IPV6:
            if kind == _IPV6_HOPLIMIT:
                ttl = _cmsg_int(cdata)
            elif kind == _IPV6_PKTINFO and len(cdata) >= _IN6_PKTINFO.size:
                addr6, ifindex = _IN6_PKTINFO.unpack_from(cdata)
                if want_dst:
                    dst = socket.inet_ntop(_AF_INET6, addr6)
    return ttl, dst, ifindex


def _cmsg_int(data: bytes) -> int:
    # IP_TTL arrives as an int; some paths deliver a single byte.
    if len(data) >= _INT.size:
        return int(_INT.unpack_from(data)[0])
    return data[0] if data else -1


class VrrpSocket:
    """A raw protocol-112 socket bound to one interface.

    ``version`` is 4 or 6. ``source`` is the address adverts leave from (the
    interface's primary IPv4 address or the configured unicast source; for
    IPv6 the link-local address). With ``peers`` empty the socket joins the
    VRRP group on the interface; with peers it sends to each of them
    (unicast) and joins nothing.
    """

    # A subclass that hears the group some other way (linux.vmac_socket) joins nothing.
    join_group = True

    def __init__(
        self,
        *,
        ifname: str,
        version: int,
        source: str,
        peers: Iterable[str] = (),
    ) -> None:
        if version not in (4, 6):
            raise NetlinkError(f"IP version must be 4 or 6, not {version}")
        self.ifname = ifname
        self.version = version
        self.family = socket.AF_INET if version == 4 else socket.AF_INET6
        try:
            self.ifindex = socket.if_nametoindex(ifname)
        except OSError as exc:
            raise NetlinkError(f"interface {ifname!r} does not exist") from exc
        self.source = str(ipaddress.ip_address(source))
        self.peers = tuple(str(ipaddress.ip_address(p)) for p in peers)
        self.group = VRRP_MCAST_V4 if version == 4 else VRRP_MCAST_V6
        self.destinations = self.peers or (self.group,)
        self.drops: Counter[str] = Counter()
        self.sent = 0
        self.received = 0
        self._queued = bytearray(4)  # more_queued()'s ioctl buffer
        self._sock = socket.socket(
            self.family, socket.SOCK_RAW | socket.SOCK_CLOEXEC, VRRP_PROTOCOL
        )
        try:
            self._configure()
        except OSError as exc:
            self._sock.close()
            raise NetlinkError(f"VRRP socket on {ifname} (IPv{version}): {exc}") from exc

    def _configure(self) -> None:
        sock = self._sock
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, self.ifname.encode())
        if self.version == 4:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, VRRP_TTL)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, VRRP_TTL)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
            sock.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
            sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
            mreqn = _IP_MREQN.pack(socket.inet_aton(self.group), bytes(4), self.ifindex)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, mreqn)
            if not self.peers and self.join_group:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
        else:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, VRRP_TTL)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, VRRP_TTL)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, self.ifindex)
            if not self.peers and self.join_group:
                mreq = _IPV6_MREQ.pack(socket.inet_pton(socket.AF_INET6, self.group), self.ifindex)
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)

    # --- lifecycle ----------------------------------------------------------

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> VrrpSocket:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- sending ------------------------------------------------------------

    def _pktinfo(self, source: str) -> list[tuple[int, int, bytes]]:
        # The source goes in IP(V6)_PKTINFO: bind() on a raw socket would also
        # filter what we receive by destination and lose the multicast.
        if self.version == 4:
            src = socket.inet_aton(source)
            data = _IN_PKTINFO.pack(self.ifindex, src, bytes(4))
            return [(socket.IPPROTO_IP, IP_PKTINFO, data)]
        src6 = socket.inet_pton(socket.AF_INET6, source)
        return [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, _IN6_PKTINFO.pack(src6, self.ifindex))]

    def send(
        self,
        message: bytes,
        *,
        dst: str | None = None,
        source: str | None = None,
        ttl: int | None = None,
    ) -> None:
        """Send one VRRP message to ``dst`` (default: the group or every peer).

        ``source`` overrides the socket's source for this message (instances
        sharing one socket may have their own unicast source); so does ``ttl``
        the socket's TTL / hop limit of 255 (``unicast_ttl``: unicast peers a
        routed path away), as ancillary data of this message only. Raises
        :class:`NetlinkError` when the kernel refuses (interface down, no
        route, a source we do not own); the runner counts it and keeps its
        rhythm.
        """
        targets = (dst,) if dst is not None else self.destinations
        try:
            ancillary = self._pktinfo(source if source is not None else self.source)
        except OSError as exc:
            raise NetlinkError(f"bad source address {source!r}: {exc}") from exc
        if ttl is not None:
            level, kind = (
                (socket.IPPROTO_IP, socket.IP_TTL)
                if self.version == 4
                else (socket.IPPROTO_IPV6, socket.IPV6_HOPLIMIT)
            )
            ancillary.append((level, kind, struct.pack("@i", ttl)))
        for target in targets:
            address: tuple[str, int] | tuple[str, int, int, int] = (
                (target, 0) if self.version == 4 else (target, 0, 0, self.ifindex)
            )
            try:
                self._sock.sendmsg([message], ancillary, 0, address)
            except OSError as exc:
                name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
                raise NetlinkError(f"send to {target} on {self.ifname}: {name}") from exc
            self.sent += 1

    # --- receiving ----------------------------------------------------------

    def receive(self, *, limit: int = 64) -> list[Received]:
        """Every datagram waiting (up to ``limit``); empty when none is.

        Meant for when the socket is readable: it reads one datagram, then
        more while :func:`more_queued` says another waits.
        """
        out: list[Received] = []
        sock = self._sock
        for _read in range(limit):
            try:
                data, ancdata, _flags, address = sock.recvmsg(_MAX_DATAGRAM, _ANCBUFSIZE)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                self.drops["recv_error:" + errno.errorcode.get(exc.errno or 0, "?")] += 1
                break
            item = self._parse(data, ancdata, address)
            if item is not None:
                self.received += 1
                out.append(item)
            if not more_queued(sock, self._queued):
                break
        return out

    def _parse(
        self,
        data: bytes,
        ancdata: list[tuple[int, int, bytes]],
        address: tuple[str, int] | tuple[str, int, int, int],
    ) -> Received | None:
        if self.version == 4:
            ttl, _none, ifindex = _ancillary(ancdata, self.ifindex, want_dst=False)
            header = vrrp_ipv4_header(data, self.drops)
            if header is None:
                return None
            payload = data[header.header_length : header.total_length]
            src, dst = header.src, header.dst
            if ttl < 0:
                ttl = header.ttl
        else:
            ttl, dst, ifindex = _ancillary(ancdata, self.ifindex)
            payload = data
            src = str(address[0]).split("%", 1)[0]
            if ttl < 0 or not dst:
                self.drops["no_ancillary"] += 1
                return None
        if self.peers and src not in self.peers:
            # A unicast instance hears only its configured peers (keepalived
            # behaves the same): anything else is a stranger.
            self.drops["unknown_peer"] += 1
            return None
        return Received(payload, src, dst, ttl, int(ifindex))
