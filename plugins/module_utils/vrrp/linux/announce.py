"""Gratuitous ARP and unsolicited neighbour advertisements for the VIPs.

A new master tells the link that the virtual addresses moved (RFC 9568
§6.4.2 / RFC 3768 §6.4.2): for IPv4 a gratuitous ARP request per address
(sender = target = VIP, broadcast), for IPv6 an unsolicited neighbour
advertisement per address (RFC 9568 §6.4.1/§6.4.2: router flag set,
solicited flag clear, override flag set; RFC 4861 §7.2.6: target link-layer
address option, hop limit 255, to all-nodes ff02::1). The frames are built by
pure functions below, so they are tested byte for byte; :class:`Announcer`
sends them on an ``AF_PACKET`` socket, so the source MAC can be the VMAC.

When and how often (``delay``, ``repeat``, ``refresh`` from the config) is the
runner's business: it owns the clock.
"""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct
from typing import Final

from ..errors import NetlinkError

ETH_P_ARP: Final = 0x0806
ETH_P_IPV6: Final = 0x86DD
ETH_BROADCAST: Final = b"\xff" * 6
ETH_MIN_FRAME: Final = 60  # without the FCS
ARP_REQUEST: Final = 1
ICMPV6_NEIGHBOR_ADVERT: Final = 136
ND_OPT_TARGET_LLADDR: Final = 2
NA_FLAG_ROUTER: Final = 0x80000000
NA_FLAG_OVERRIDE: Final = 0x20000000
IPPROTO_ICMPV6: Final = 58
ALL_NODES: Final = ipaddress.IPv6Address("ff02::1")
SIOCGIFHWADDR: Final = 0x8927
IFNAMSIZ: Final = 16
IFREQ_SIZE: Final = 40  # sizeof(struct ifreq) on Linux

_ETH_HEADER: Final = struct.Struct("!6s6sH")
_ARP: Final = struct.Struct("!HHBBH6s4s6s4s")
_IPV6_HEADER: Final = struct.Struct("!IHBB16s16s")
_NA: Final = struct.Struct("!BBHI16sBB6s")
_FRAMES_KEPT: Final = 4096  # frames an Announcer keeps, by address


def mac_bytes(mac: str) -> bytes:
    """``"00:00:5e:00:01:05"`` → 6 bytes; a clear error for anything else."""
    parts = mac.replace("-", ":").split(":")
    if len(parts) != 6:
        raise NetlinkError(f"not a MAC address: {mac!r}")
    try:
        out = bytes(int(part, 16) for part in parts)
    except ValueError as exc:
        raise NetlinkError(f"not a MAC address: {mac!r}") from exc
    return out


def multicast_mac_v6(address: ipaddress.IPv6Address) -> bytes:
    """The Ethernet group address of an IPv6 multicast address (RFC 2464 §7)."""
    return b"\x33\x33" + address.packed[-4:]


def _pad(frame: bytes) -> bytes:
    return frame + bytes(max(0, ETH_MIN_FRAME - len(frame)))


def garp_frame(*, mac: bytes, vip: str) -> bytes:
    """A gratuitous ARP request for ``vip`` from ``mac``, broadcast.

    Request form (RFC 5227 §3 "ARP Announcement"): sender and target protocol
    address are both the VIP, target hardware address zero.
    """
    address = ipaddress.IPv4Address(vip)
    eth = _ETH_HEADER.pack(ETH_BROADCAST, mac, ETH_P_ARP)
    arp = _ARP.pack(1, 0x0800, 6, 4, ARP_REQUEST, mac, address.packed, bytes(6), address.packed)
    return _pad(eth + arp)


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(int(word) for word in struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def unsolicited_na_frame(
    *, mac: bytes, target: str, source: str | None = None, router: bool = True
) -> bytes:
    """An unsolicited neighbour advertisement for ``target`` from ``mac``.

    ``source`` is the IPv6 source (default: the target itself, an address of
    the interface as RFC 4861 §7.2.2 wants, and what keepalived sends).

    Router flag set, solicited flag clear, override flag set, always (RFC 9568
    §6.4.1/§6.4.2). A virtual address is a router's address by definition,
    whatever this host's own ``forwarding`` sysctl says (keepalived sets R
    only when forwarding is on): a host that routes through the virtual
    address and gets an NA without R must remove it from its default router
    list (RFC 4861 §7.2.5), so every failover would cost it its default route.
    ``router=False``: R clear, for an address of this host that is not a
    router's (the kernel's own NAs follow the interface's ``forwarding``).
    """
    target_ip = ipaddress.IPv6Address(target)
    source_ip = ipaddress.IPv6Address(source) if source is not None else target_ip
    flags = (NA_FLAG_ROUTER if router else 0) | NA_FLAG_OVERRIDE
    body = _NA.pack(
        ICMPV6_NEIGHBOR_ADVERT, 0, 0, flags, target_ip.packed, ND_OPT_TARGET_LLADDR, 1, mac
    )
    pseudo = source_ip.packed + ALL_NODES.packed + struct.pack("!I3xB", len(body), IPPROTO_ICMPV6)
    checksum = _checksum(pseudo + body)
    body = body[:2] + struct.pack("!H", checksum) + body[4:]
    ipv6 = _IPV6_HEADER.pack(
        6 << 28, len(body), IPPROTO_ICMPV6, 255, source_ip.packed, ALL_NODES.packed
    )
    eth = _ETH_HEADER.pack(multicast_mac_v6(ALL_NODES), mac, ETH_P_IPV6)
    return eth + ipv6 + body


def interface_mac(ifname: str) -> bytes:
    """The hardware address of ``ifname`` in the current network namespace.

    Asked of the kernel (``SIOCGIFHWADDR`` on a socket of this namespace), not
    read from ``/sys/class/net``: sysfs shows the namespace it was mounted in,
    which in a container (systemd-nspawn ``--network-namespace-path``) can be
    the machine's, with another interface of the same name.
    """
    if not ifname or len(ifname.encode()) >= IFNAMSIZ:
        raise NetlinkError(f"MAC address of {ifname!r}: not an interface name")
    request = struct.pack(f"{IFREQ_SIZE}s", ifname.encode())
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            reply = fcntl.ioctl(sock.fileno(), SIOCGIFHWADDR, request)
    except OSError as exc:
        raise NetlinkError(f"MAC address of {ifname}: {exc.strerror or exc}") from exc
    # struct ifreq: the name (IFNAMSIZ), then a sockaddr: family (2 bytes), data.
    return bytes(reply[IFNAMSIZ + 2 : IFNAMSIZ + 8])


class Announcer:
    """Sends GARPs and unsolicited NAs out of one interface.

    ``mac`` is the source MAC (default: the interface's own; pass the VMAC
    in VMAC mode). Sending on a down interface raises :class:`NetlinkError`.
    """

    def __init__(self, *, ifname: str, mac: bytes | None = None) -> None:
        self.ifname = ifname
        self.mac = mac if mac is not None else interface_mac(ifname)
        self.sent = 0
        # address -> its frame: a takeover announces each VIP several times
        # (garp repeat, delay, refresh), the frame is made once.
        self._frames: dict[str, bytes] = {}
        try:
            self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0)
        except OSError as exc:
            raise NetlinkError(f"packet socket for {ifname}: {exc}") from exc
        try:
            self._sock.setblocking(False)
            self._sock.bind((ifname, 0))
        except OSError as exc:
            self._sock.close()
            raise NetlinkError(f"packet socket on {ifname}: {exc}") from exc

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Announcer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _send(self, frame: bytes) -> None:
        try:
            self._sock.send(frame)
        except OSError as exc:
            raise NetlinkError(f"announce on {self.ifname}: {exc}") from exc
        self.sent += 1

    def announce_own(self, address: str, *, router: bool) -> None:
        """One GARP / unsolicited NA for an address of this host itself (not a
        VIP), from this sender's MAC; ``router``: the NA's R flag."""
        ip = ipaddress.ip_address(address)
        if ip.version == 4:
            self._send(garp_frame(mac=self.mac, vip=address))
        else:
            self._send(unsolicited_na_frame(mac=self.mac, target=address, router=router))

    def announce(self, address: str) -> None:
        """One GARP (IPv4) or one unsolicited NA (IPv6) for ``address``."""
        frame = self._frames.get(address)
        if frame is None:
            ip = ipaddress.ip_interface(address).ip
            if ip.version == 4:
                frame = garp_frame(mac=self.mac, vip=str(ip))
            else:
                frame = unsolicited_na_frame(mac=self.mac, target=str(ip))
            if len(self._frames) >= _FRAMES_KEPT:
                self._frames.clear()  # addresses of old definitions, over many reloads
            self._frames[address] = frame
        self._send(frame)
