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
import socket
from dataclasses import dataclass
from typing import Any, Final, Union

from ..errors import NetlinkError
from . import netlink
from .addresses import address_from_message

IFF_UP: Final = 0x1
IFF_LOWER_UP: Final = 0x10000
_RECV_BUFFER: Final = 1 << 16
_DEFAULT_RCVBUF: Final = 1 << 20


@dataclass(frozen=True)
class LinkChanged:
    """A link's admin state (``up``) or carrier changed; a deleted link is down."""

    ifname: str
    ifindex: int
    up: bool
    carrier: bool


@dataclass(frozen=True)
class AddressChanged:
    """An address (plain IP, no prefix length) appeared on or left ``ifname``."""

    ifname: str
    address: str
    added: bool
    ifindex: int = 0
    prefixlen: int = 0


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


def _link_from(msg: Any) -> tuple[int, _Link]:
    flags = int(msg["flags"])
    ifname = msg.get_attr("IFLA_IFNAME") or ""
    return int(msg["index"]), _Link(str(ifname), bool(flags & IFF_UP), bool(flags & IFF_LOWER_UP))


def _addr_key(msg: Any) -> tuple[int, str, int] | None:
    addr = address_from_message(msg)
    if addr is None:
        return None
    return addr.ifindex, addr.ip, addr.interface.network.prefixlen


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
        self._addresses: set[tuple[int, str, int]] = set()
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
                return LinkChanged(link.ifname, ifindex, link.up, link.carrier)
        return None

    def addresses(self, ifname: str) -> list[str]:
        """The last known addresses (plain IPs) of ``ifname``."""
        indexes = {i for i, link in self._links.items() if link.ifname == ifname}
        return sorted(ip for ifindex, ip, _len in self._addresses if ifindex in indexes)

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
        msg = netlink.decode(msg_type, message)
        if msg is None:
            return []
        if msg_type in (netlink.RTM_NEWLINK, netlink.RTM_DELLINK):
            return self._apply_link(msg, deleted=msg_type == netlink.RTM_DELLINK)
        return self._apply_address(msg, added=msg_type == netlink.RTM_NEWADDR)

    def _apply_link(self, msg: Any, *, deleted: bool) -> list[Event]:
        ifindex, link = _link_from(msg)
        if deleted:
            old = self._links.pop(ifindex, None)
            self._addresses = {key for key in self._addresses if key[0] != ifindex}
            if old is None:
                return []
            return [LinkChanged(old.ifname, ifindex, up=False, carrier=False)]
        previous = self._links.get(ifindex)
        self._links[ifindex] = link
        if previous == link:
            return []
        return [LinkChanged(link.ifname, ifindex, link.up, link.carrier)]

    def _apply_address(self, msg: Any, *, added: bool) -> list[Event]:
        key = _addr_key(msg)
        if key is None or added == (key in self._addresses):
            return []
        if added:
            self._addresses.add(key)
        else:
            self._addresses.discard(key)
        return [AddressChanged(self._ifname(key[0]), key[1], added, key[0], key[2])]

    def _dump(self) -> tuple[dict[int, _Link], set[tuple[int, str, int]]]:
        with netlink.Rtnl() as rtnl:
            links = dict(_link_from(msg) for msg in rtnl.links())
            addresses = {key for key in map(_addr_key, rtnl.addresses()) if key is not None}
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
                events.append(LinkChanged(link.ifname, ifindex, link.up, link.carrier))
        names = {i: link.ifname for i, link in {**self._links, **links}.items()}
        for ifindex, ip, prefixlen in sorted(self._addresses - addresses):
            events.append(AddressChanged(names.get(ifindex, ""), ip, False, ifindex, prefixlen))
        for ifindex, ip, prefixlen in sorted(addresses - self._addresses):
            events.append(AddressChanged(names.get(ifindex, ""), ip, True, ifindex, prefixlen))
        self._links, self._addresses = links, addresses
        return events
