"""Netlink link and address events, as small typed events for the runner.

:class:`LinkWatcher` listens on RTMGRP_LINK, RTMGRP_IPV4_IFADDR and
RTMGRP_IPV6_IFADDR. It is non-blocking: the runner's asyncio loop calls
:meth:`LinkWatcher.read` when ``fileno()`` is readable. It keeps the last known
state of every link and address and reports only changes, so the many
RTM_NEWLINK messages that change nothing the runner cares about (statistics,
MTU, ...) are silent.

When the kernel drops messages because our receive buffer overflowed
(``ENOBUFS``), the state may have moved unseen: the watcher throws away what
is still queued, dumps links and addresses afresh and reports the differences
(RFC-free, but the only honest recovery; keepalived and FRR do the same).
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import struct
from dataclasses import dataclass, field
from typing import Any, Final, Union

from ..errors import NetlinkError
from . import netlink
from .addresses import IFA_F_DADFAILED, IFA_F_TENTATIVE, address_from_message

IFF_UP: Final = 0x1
IFF_LOWER_UP: Final = 0x10000
_RECV_BUFFER: Final = 1 << 16
# struct ifaddrmsg and struct rtattr (linux/if_addr.h, linux/rtnetlink.h).
_IFADDRMSG: Final = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
_RTATTR: Final = struct.Struct("=HH")  # length, type
_NLA_TYPE_MASK: Final = 0x3FFF  # without NLA_F_NESTED / NLA_F_NET_BYTEORDER
IFA_ADDRESS: Final = 1
IFA_LOCAL: Final = 2
IFA_FLAGS: Final = 8
_DEFAULT_RCVBUF: Final = 1 << 20


@dataclass(frozen=True)
class LinkChanged:
    """A link's admin state (``up``), carrier or MAC changed; a deleted link is down.

    ``mac`` (lower case, ``""`` when the link has none or is gone) is not
    compared: the same state is the same event whatever MAC it was read with.
    """

    ifname: str
    ifindex: int
    up: bool
    carrier: bool
    mac: str = field(default="", compare=False)


@dataclass(frozen=True)
class AddressChanged:
    """An address (plain IP, no prefix length) appeared on or left ``ifname``."""

    ifname: str
    address: str
    added: bool
    ifindex: int = 0
    prefixlen: int = 0
    # False while the kernel will not send from it (IPv6 DAD: tentative or failed).
    usable: bool = True


@dataclass(frozen=True)
class Resynced:
    """The watcher lost messages (ENOBUFS) and rebuilt its view from a dump."""

    count: int


Event = Union[LinkChanged, AddressChanged, Resynced]


@dataclass(frozen=True)
class _Link:
    ifname: str
    up: bool
    carrier: bool
    mac: str  # a VMAC's MAC changed by another program is an event (see .vmacs)


def _link_from(msg: Any) -> tuple[int, _Link]:
    flags = int(msg["flags"])
    ifname = msg.get_attr("IFLA_IFNAME") or ""
    mac = str(msg.get_attr("IFLA_ADDRESS") or "").lower()
    up, carrier = bool(flags & IFF_UP), bool(flags & IFF_LOWER_UP)
    return int(msg["index"]), _Link(str(ifname), up, carrier, mac)


_AddrKey = tuple[int, str, int]  # ifindex, address, prefix length


def _addr_of(msg: Any) -> tuple[_AddrKey, bool] | None:
    addr = address_from_message(msg)
    if addr is None:
        return None
    return (addr.ifindex, addr.ip, addr.interface.network.prefixlen), addr.usable


def address_key(message: bytes) -> tuple[_AddrKey, bool] | None:
    """What :func:`_addr_of` gives for this RTM_NEWADDR/RTM_DELADDR, read without the codec.

    A takeover of N virtual routers brings N or more address events back to
    the runner; pyroute2's message classes took more time to decode each
    than the rest of its handling (issue 14 §5). The few fields needed are
    read here: the index, the prefix length, IFA_LOCAL (else IFA_ADDRESS) and
    the flags (IFA_FLAGS, else the header's). None when there is no address
    or the message is torn.
    """
    offset = netlink.NLMSG_HEADER.size
    end = len(message)
    if end < offset + _IFADDRMSG.size:
        return None
    _family, prefixlen, flags, _scope, index = _IFADDRMSG.unpack_from(message, offset)
    offset += _IFADDRMSG.size
    local = address = None
    long_flags = None
    while offset + _RTATTR.size <= end:
        length, kind = _RTATTR.unpack_from(message, offset)
        if length < _RTATTR.size or offset + length > end:
            break
        kind &= _NLA_TYPE_MASK
        payload = message[offset + _RTATTR.size : offset + length]
        if kind == IFA_LOCAL and local is None:
            local = payload
        elif kind == IFA_ADDRESS and address is None:
            address = payload
        elif kind == IFA_FLAGS and long_flags is None and len(payload) >= 4:
            (long_flags,) = struct.unpack_from("=I", payload)
        offset += (length + 3) & ~3
    raw = local if local is not None else address
    if raw is None or len(raw) not in (4, 16):
        return None
    ip = ipaddress.ip_address(raw)
    if prefixlen > ip.max_prefixlen:
        return None
    if long_flags is not None:
        flags = long_flags
    usable = not flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)
    return (int(index), str(ip), prefixlen), usable


class LinkWatcher:
    """Link and address changes of the current network namespace."""

    def __init__(self, *, rcvbuf: int = _DEFAULT_RCVBUF) -> None:
        netlink.require_pyroute2()
        groups = netlink.RTMGRP_LINK | netlink.RTMGRP_IPV4_IFADDR | netlink.RTMGRP_IPV6_IFADDR
        try:
            self._sock = netlink.open_socket(groups=groups)
        except OSError as exc:
            raise NetlinkError(f"netlink event socket: {exc}") from exc
        self._sock.setblocking(False)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self._links: dict[int, _Link] = {}
        # address -> usable (IPv6 DAD over): the end of DAD is a change too.
        self._addresses: dict[_AddrKey, bool] = {}
        self.resyncs = 0
        # Subscribe first, then dump: a change between the two is seen twice
        # at worst (idempotent), never missed.
        self._links, self._addresses = self._dump()

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> LinkWatcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- the current view ---------------------------------------------------

    def link(self, ifname: str) -> LinkChanged | None:
        """The last known state of ``ifname`` (None: no such link)."""
        for ifindex, link in self._links.items():
            if link.ifname == ifname:
                return LinkChanged(link.ifname, ifindex, link.up, link.carrier, link.mac)
        return None

    def addresses(self, ifname: str) -> list[str]:
        """The last known addresses (plain IPs) of ``ifname``."""
        indexes = {i for i, link in self._links.items() if link.ifname == ifname}
        return sorted(ip for ifindex, ip, _len in self._addresses if ifindex in indexes)

    def index_of(self, ifname: str) -> int | None:
        """The ifindex ``ifname`` has now (None: no such link)."""
        state = self.link(ifname)
        return None if state is None else state.ifindex

    # --- events -------------------------------------------------------------

    def read(self, *, limit: int = 256) -> list[Event]:
        """Every change waiting (up to ``limit`` buffers); empty when none."""
        events: list[Event] = []
        for _buffer in range(limit):
            try:
                data = self._sock.recv(_RECV_BUFFER)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise NetlinkError(f"netlink events: {exc}") from exc
                events.extend(self.resync())
                continue
            events.extend(self.feed(data))
        return events

    def feed(self, data: bytes) -> list[Event]:
        """Apply one buffer of netlink messages to the view; the changes it made."""
        events: list[Event] = []
        for msg_type, _flags, _seq, message in netlink.split_messages(data):
            events.extend(self._apply(msg_type, message))
        return events

    def _ifname(self, ifindex: int) -> str:
        link = self._links.get(ifindex)
        if link is not None:
            return link.ifname
        try:
            return socket.if_indextoname(ifindex)
        except OSError:
            return ""

    def _apply(self, msg_type: int, message: bytes) -> list[Event]:
        if msg_type in (netlink.RTM_NEWADDR, netlink.RTM_DELADDR):
            return self._apply_address(address_key(message), added=msg_type == netlink.RTM_NEWADDR)
        msg = netlink.decode(msg_type, message)
        if msg is None:
            return []
        if msg_type in (netlink.RTM_NEWLINK, netlink.RTM_DELLINK):
            return self._apply_link(msg, deleted=msg_type == netlink.RTM_DELLINK)
        return []

    def _apply_link(self, msg: Any, *, deleted: bool) -> list[Event]:
        ifindex, link = _link_from(msg)
        if deleted:
            old = self._links.pop(ifindex, None)
            self._addresses = {k: v for k, v in self._addresses.items() if k[0] != ifindex}
            if old is None:
                return []
            return [LinkChanged(old.ifname, ifindex, up=False, carrier=False)]
        previous = self._links.get(ifindex)
        self._links[ifindex] = link
        if previous == link:
            return []
        events: list[Event] = []
        if previous is not None and previous.ifname != link.ifname:
            # Renamed: for whoever follows the old name, that interface is gone.
            events.append(LinkChanged(previous.ifname, ifindex, up=False, carrier=False))
        events.append(LinkChanged(link.ifname, ifindex, link.up, link.carrier, link.mac))
        return events

    def _apply_address(self, found: tuple[_AddrKey, bool] | None, *, added: bool) -> list[Event]:
        if found is None:
            return []
        key, usable = found
        if added and self._addresses.get(key) == usable:
            return []
        if not added and key not in self._addresses:
            return []
        if added:
            self._addresses[key] = usable
        else:
            del self._addresses[key]
        return [AddressChanged(self._ifname(key[0]), key[1], added, key[0], key[2], usable)]

    def _dump(self) -> tuple[dict[int, _Link], dict[_AddrKey, bool]]:
        with netlink.Rtnl() as rtnl:
            links = dict(_link_from(msg) for msg in rtnl.links())
            addresses = dict(found for found in map(_addr_of, rtnl.addresses()) if found)
        return links, addresses

    def _drain(self) -> None:
        while True:
            try:
                self._sock.recv(_RECV_BUFFER)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise NetlinkError(f"netlink events: {exc}") from exc

    def resync(self) -> list[Event]:
        """Rebuild the view from a full dump and report what differs."""
        # What is still queued predates the overrun's gap; the dump supersedes it.
        self._drain()
        links, addresses = self._dump()
        self.resyncs += 1
        events: list[Event] = [Resynced(self.resyncs)]
        for ifindex, old in self._links.items():
            if ifindex not in links:
                events.append(LinkChanged(old.ifname, ifindex, up=False, carrier=False))
        for ifindex, link in links.items():
            if self._links.get(ifindex) != link:
                events.append(LinkChanged(link.ifname, ifindex, link.up, link.carrier, link.mac))
        names = {i: link.ifname for i, link in {**self._links, **links}.items()}
        for ifindex, ip, prefixlen in sorted(self._addresses.keys() - addresses.keys()):
            events.append(AddressChanged(names.get(ifindex, ""), ip, False, ifindex, prefixlen))
        for key, usable in sorted(addresses.items()):
            if self._addresses.get(key) != usable:
                ifindex, ip, prefixlen = key
                events.append(
                    AddressChanged(names.get(ifindex, ""), ip, True, ifindex, prefixlen, usable)
                )
        self._links, self._addresses = links, addresses
        return events
