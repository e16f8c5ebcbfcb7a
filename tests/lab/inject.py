"""Hand-made VRRP packets and a raw-socket sender to inject them into the lab.

Independent of the engine's codec on purpose: a test that judges our packets
(or keepalived's) must not share their code. Wire format: RFC 3768 §5.1 (v2),
RFC 9568 §5.1 (v3).

    python -m lab.inject --src 192.0.2.13 --dst 224.0.0.18 --hex 31...  [--ttl 255]
                         [--count N] [--interval S] [--dev eth0]

runs inside a lab router (``lab.python(r3, ["-m", "lab.inject", ...])``); the
kernel builds the IP header, the payload is sent as given.
"""

from __future__ import annotations

import argparse
import ipaddress
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any, Final

from .core import Lab, Router

IPPROTO_VRRP: Final = 112
VRRP_V4_GROUP: Final = "224.0.0.18"
VRRP_V6_GROUP: Final = "ff02::12"
CHECKSUM_FORMS: Final = ("rfc9568", "pseudo_header")


def inet_checksum(data: bytes) -> int:
    """RFC 1071 one's complement sum, as the 16-bit field value."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _pseudo_header(src: str, dst: str, length: int) -> bytes:
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if s.version == 4:
        return s.packed + d.packed + struct.pack("!BBH", 0, IPPROTO_VRRP, length)
    return s.packed + d.packed + struct.pack("!I3xB", length, IPPROTO_VRRP)


def vrrp3_advert(
    *,
    vrid: int,
    priority: int,
    advert_interval_cs: int,
    addresses: Sequence[str],
    src: str,
    dst: str,
    checksum_form: str = "pseudo_header",
    checksum: int | None = None,
    version: int = 3,
    type_: int = 1,
    count: int | None = None,
) -> bytes:
    """A VRRPv3 advertisement (RFC 9568 §5.1).

    For IPv4, ``checksum_form`` picks the sum over the message only
    (``"rfc9568"``) or with the IPv4 pseudo-header (``"pseudo_header"``, what
    keepalived sends). IPv6 always uses the IPv6 pseudo-header. ``checksum``,
    ``version``, ``type_`` and ``count`` override fields to build broken packets.
    """
    packed = b"".join(ipaddress.ip_address(a).packed for a in addresses)
    head = struct.pack(
        "!BBBBHH",
        (version << 4) | type_,
        vrid,
        priority,
        len(addresses) if count is None else count,
        advert_interval_cs & 0x0FFF,
        0,
    )
    message = head + packed
    if checksum is None:
        ipv6 = ":" in src
        if checksum_form not in CHECKSUM_FORMS and not ipv6:
            raise ValueError(f"checksum_form {checksum_form!r}: one of {CHECKSUM_FORMS}")
        with_pseudo = ipv6 or checksum_form == "pseudo_header"
        covered = (_pseudo_header(src, dst, len(message)) if with_pseudo else b"") + message
        checksum = inet_checksum(covered)
    return message[:6] + struct.pack("!H", checksum) + message[8:]


def vrrp2_advert(
    *,
    vrid: int,
    priority: int,
    advert_interval_s: int,
    addresses: Sequence[str],
    auth_pass: str | None = None,
) -> bytes:
    """A VRRPv2 advertisement (RFC 3768 §5.1), auth type 1 (PASS) when given."""
    auth_type = 0 if auth_pass is None else 1
    auth = (auth_pass or "").encode()[:8].ljust(8, b"\0")
    packed = b"".join(ipaddress.IPv4Address(a).packed for a in addresses)
    head = struct.pack(
        "!BBBBBBH", 0x21, vrid, priority, len(addresses), auth_type, advert_interval_s, 0
    )
    message = head + packed + auth
    return message[:6] + struct.pack("!H", inet_checksum(message)) + message[8:]


def send(
    payload: bytes,
    *,
    src: str,
    dst: str,
    ttl: int = 255,
    dev: str = "eth0",
    count: int = 1,
    interval: float = 0.0,
) -> None:
    """Send ``payload`` as IP protocol 112 from ``src`` to ``dst`` on ``dev``."""
    ipv6 = ":" in dst
    family = socket.AF_INET6 if ipv6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_RAW, IPPROTO_VRRP) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, dev.encode())
        if ipv6:
            scope = socket.if_nametoindex(dev)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, ttl)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, scope)
            sock.bind((src, 0, 0, scope))
            target: tuple[str, int, int, int] | tuple[str, int] = (dst, 0, 0, scope)
        else:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
            sock.bind((src, 0))
            target = (dst, 0)
        for i in range(count):
            if i:
                time.sleep(interval)
            sock.sendto(payload, target)


def inject(
    lab: Lab,
    router: Router,
    payload: bytes,
    *,
    dst: str,
    src: str | None = None,
    ttl: int = 255,
    count: int = 1,
    interval: float = 0.0,
) -> subprocess.Popen[Any]:
    """Send ``payload`` from inside ``router`` (source: its v4, or v6 link-local for IPv6)."""
    source = src or (router.v6_ll if ":" in dst else router.v4)
    if source is None:
        raise ValueError(f"router {router.name} has no source address for {dst}")
    args = ["-m", "lab.inject", "--src", source, "--dst", dst, "--hex", payload.hex(),
            "--ttl", str(ttl), "--dev", router.ifname, "--count", str(count),
            "--interval", str(interval)]  # fmt: skip
    return lab.python(router, args)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lab.inject", description=__doc__.splitlines()[0])
    parser.add_argument("--src", required=True)
    parser.add_argument("--dst", required=True)
    parser.add_argument("--hex", required=True, help="the VRRP message, hex")
    parser.add_argument("--ttl", type=int, default=255)
    parser.add_argument("--dev", default="eth0")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--interval", type=float, default=0.0)
    args = parser.parse_args(argv)
    send(
        bytes.fromhex(args.hex),
        src=args.src,
        dst=args.dst,
        ttl=args.ttl,
        dev=args.dev,
        count=args.count,
        interval=args.interval,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
