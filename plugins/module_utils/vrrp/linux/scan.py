"""Listen for VRRP adverts on a host's interfaces for a while (``vrrp_scan``).

One :class:`~vrrp.linux.sockets.VrrpSocket` per interface and family (it
joins 224.0.0.18 / ff02::12 on the interface and reads the TTL and
destination from the kernel; unicast adverts to this host arrive on the same
raw socket). A deadline loop over a selector feeds every datagram to a
callback until ``duration`` has passed; nothing is ever sent. Decoding and
aggregation are the sans-IO :mod:`vrrp.scan_report`'s.

Raw sockets need CAP_NET_RAW: without it the scan fails with
:class:`ScanPermissionError`, whose message says to run it as root.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import selectors
import socket
import struct
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

from ..errors import NetlinkError, VRRPError
from ..scan_report import Heard
from .link import IFF_UP, IFNAMSIZ, SIOCGIFFLAGS, _ifreq
from .sockets import VrrpSocket

IFF_LOOPBACK: Final = 0x8
# Unspecified sources: a scan sends nothing, the socket wants one all the same.
_ANY: Final = {4: "0.0.0.0", 6: "::"}  # noqa: S104 - never bound, never sent from
MAX_DURATION: Final = 3600.0


class ScanPermissionError(VRRPError):
    """Raw protocol-112 sockets were refused: the scan must run as root."""


@dataclass
class Listened:
    """What a listen produced besides the datagrams: counts and what could not listen."""

    drops: Counter[str] = field(default_factory=Counter)
    skipped: dict[str, str] = field(default_factory=dict)
    listening: list[str] = field(default_factory=list)


def interface_flags(ifname: str) -> int:
    """SIOCGIFFLAGS of ``ifname`` in the current namespace (NetlinkError when unknown)."""
    try:
        buf = _ifreq(ifname)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, buf)
    except (OSError, ValueError) as exc:
        raise NetlinkError(f"interface {ifname!r}: {exc}") from exc
    return int(struct.unpack_from("=H", buf, IFNAMSIZ)[0])


def up_interfaces() -> list[str]:
    """Every interface that is up and not a loopback, sorted by name."""
    out = []
    for _index, name in socket.if_nameindex():
        try:
            flags = interface_flags(name)
        except NetlinkError:
            continue  # gone since the listing
        if flags & IFF_UP and not flags & IFF_LOOPBACK:
            out.append(name)
    return sorted(out)


def _open(ifname: str, version: int, listened: Listened) -> VrrpSocket | None:
    what = f"{ifname} IPv{version}"
    try:
        return VrrpSocket(ifname=ifname, version=version, source=_ANY[version])
    except PermissionError as exc:
        raise ScanPermissionError(
            f"listening for VRRP adverts needs root (become: true): the kernel refused a raw "
            f"IP protocol 112 socket on {ifname} ({errno.errorcode.get(exc.errno or 0, exc)}; "
            f"CAP_NET_RAW is required)"
        ) from None
    except (OSError, NetlinkError) as exc:
        # An interface without IPv6 (disabled, or no IPv6 in the kernel) listens on IPv4 only.
        listened.skipped[what] = str(exc)
        return None


def listen(
    interfaces: Iterable[str],
    *,
    duration: float,
    on_heard: Callable[[Heard], None],
    versions: Iterable[int] = (4, 6),
    clock: Callable[[], float] = time.monotonic,
) -> Listened:
    """Hear every VRRP datagram on ``interfaces`` for ``duration`` seconds.

    Each datagram goes to ``on_heard`` as it arrives; the socket layer's
    drops (garbled IP headers) are in the result. Raises
    :class:`ScanPermissionError` without CAP_NET_RAW and :class:`NetlinkError`
    when an interface does not exist or no socket could be opened at all.
    """
    if not 0 < duration <= MAX_DURATION:
        raise VRRPError(f"duration {duration:g} s: must be above 0 and at most {MAX_DURATION:g}")
    names = list(dict.fromkeys(interfaces))
    for name in names:
        try:
            socket.if_nametoindex(name)
        except OSError:
            raise NetlinkError(
                f"interface {name!r} does not exist on host {socket.gethostname()}"
            ) from None
    listened = Listened()
    with contextlib.ExitStack() as stack, selectors.DefaultSelector() as selector:
        for name in names:
            for version in versions:
                sock = _open(name, version, listened)
                if sock is None:
                    continue
                stack.enter_context(sock)
                selector.register(sock.fileno(), selectors.EVENT_READ, sock)
                listened.listening.append(f"{name} IPv{version}")
        if not listened.listening:
            raise NetlinkError(
                "could not listen on any interface: "
                + ("; ".join(f"{k}: {v}" for k, v in listened.skipped.items()) or "none given")
            )
        deadline = clock() + duration
        while True:
            left = deadline - clock()
            if left <= 0:
                break
            for key, _events in selector.select(left):
                vsock: VrrpSocket = key.data
                for item in vsock.receive():
                    on_heard(
                        Heard(
                            interface=vsock.ifname,
                            payload=item.payload,
                            src=item.src,
                            dst=item.dst,
                            ttl=item.ttl,
                        )
                    )
        for key in selector.get_map().values():
            listened.drops.update(key.data.drops)
    return listened
