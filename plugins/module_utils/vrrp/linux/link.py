"""The classic link probes: MII BMSR, ETHTOOL_GLINK and SIOCGIFFLAGS.

Netlink events (:mod:`vrrp.linux.watch`) are the primary source of link
state. These ioctls back them up: the runner polls the best one a driver
supports, so a driver that never sends a carrier event is still caught. Every
probe answers ``up``, ``down`` or ``unsupported`` (with the errno named); a
driver's refusal (veth answers EOPNOTSUPP to MII) is never an exception. A
probe the kernel would not even try for this process (EPERM/EACCES: the MII
ioctls need CAP_NET_ADMIN, checked before the driver is asked) answers
``denied``: that says nothing about the driver, and the caller needs root.
"""

from __future__ import annotations

import array
import errno
import fcntl
import socket
import struct
from dataclasses import dataclass, field
from typing import Final

SIOCGIFFLAGS: Final = 0x8913
SIOCETHTOOL: Final = 0x8946
SIOCGMIIPHY: Final = 0x8947
SIOCGMIIREG: Final = 0x8948
ETHTOOL_GLINK: Final = 0x0000000A
MII_BMSR: Final = 0x01
BMSR_LSTATUS: Final = 0x0004
IFF_UP: Final = 0x1
IFF_RUNNING: Final = 0x40
IFNAMSIZ: Final = 16
_IFREQ_SIZE: Final = 40

UP: Final = "up"
DOWN: Final = "down"
UNSUPPORTED: Final = "unsupported"
DENIED: Final = "denied"
NEEDS_ROOT: Final = "needs root (CAP_NET_ADMIN)"

# Best first: ethtool asks the driver for link; MII reads the PHY directly
# (not every NIC has one reachable); IFF_RUNNING is the kernel's operstate view.
METHODS: Final = ("ethtool", "mii", "iff_running")
NETLINK: Final = "netlink"


@dataclass(frozen=True)
class ProbeResult:
    """One probe's answer: ``result`` is up / down / unsupported / denied."""

    method: str
    result: str
    detail: str = ""

    @property
    def supported(self) -> bool:
        """The probe read the link (a denied probe is not known to work)."""
        return self.result in (UP, DOWN)


@dataclass(frozen=True)
class ProbeReport:
    """Per interface: every method's answer and the one the runner polls."""

    ifname: str
    results: dict[str, ProbeResult] = field(default_factory=dict)
    best: str | None = None

    def as_dict(self) -> dict[str, object]:
        methods: dict[str, object] = {
            NETLINK: {"supported": True, "result": "events", "detail": "primary event source"}
        }
        for name, result in self.results.items():
            methods[name] = {
                "supported": result.supported,
                "result": result.result,
                "detail": result.detail,
            }
        return {"interface": self.ifname, "methods": methods, "best": self.best}


def _ifreq(ifname: str, tail: bytes = b"") -> bytearray:
    name = ifname.encode()
    if not name or len(name) >= IFNAMSIZ:
        raise ValueError(f"bad interface name {ifname!r}")
    buf = bytearray(_IFREQ_SIZE)
    buf[: len(name)] = name
    buf[IFNAMSIZ : IFNAMSIZ + len(tail)] = tail
    return buf


def errno_name(code: int | None) -> str:
    """``EOPNOTSUPP`` for 95 (Python's table says ENOTSUP, the same number on Linux)."""
    if code == errno.EOPNOTSUPP:
        return "EOPNOTSUPP"
    return errno.errorcode.get(code or 0, f"errno {code}")


def _refusal(method: str, exc: OSError) -> ProbeResult:
    if exc.errno in (errno.EPERM, errno.EACCES):
        return ProbeResult(method, DENIED, f"{errno_name(exc.errno)}: {NEEDS_ROOT}")
    return ProbeResult(method, UNSUPPORTED, errno_name(exc.errno))


def _ioctl_socket() -> socket.socket:
    return socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)


def probe_iff_running(ifname: str) -> ProbeResult:
    """SIOCGIFFLAGS: up when both IFF_UP and IFF_RUNNING are set."""
    try:
        with _ioctl_socket() as sock:
            buf = _ifreq(ifname)
            fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, buf)
    except (OSError, ValueError) as exc:
        if isinstance(exc, ValueError):
            return ProbeResult("iff_running", UNSUPPORTED, "EINVAL")
        return _refusal("iff_running", exc)
    (flags,) = struct.unpack_from("=H", buf, IFNAMSIZ)
    running = flags & IFF_UP and flags & IFF_RUNNING
    return ProbeResult("iff_running", UP if running else DOWN, f"flags=0x{flags:x}")


def probe_ethtool(ifname: str) -> ProbeResult:
    """ETHTOOL_GLINK through SIOCETHTOOL: the driver's link indication."""
    value = array.array("I", [ETHTOOL_GLINK, 0])
    pointer, _count = value.buffer_info()
    try:
        with _ioctl_socket() as sock:
            buf = _ifreq(ifname, struct.pack("P", pointer))
            fcntl.ioctl(sock.fileno(), SIOCETHTOOL, buf)
    except ValueError:
        return ProbeResult("ethtool", UNSUPPORTED, "EINVAL")
    except OSError as exc:
        return _refusal("ethtool", exc)
    return ProbeResult("ethtool", UP if value[1] else DOWN, f"link={value[1]}")


def probe_mii(ifname: str) -> ProbeResult:
    """SIOCGMIIPHY then SIOCGMIIREG of BMSR: the PHY's link status bit."""
    try:
        with _ioctl_socket() as sock:
            buf = _ifreq(ifname)
            fcntl.ioctl(sock.fileno(), SIOCGMIIPHY, buf)
            (phy_id,) = struct.unpack_from("=H", buf, IFNAMSIZ)
            bmsr = 0
            # BMSR's link bit latches low (IEEE 802.3 22.2.4.2.13): the first
            # read reports a past failure, the second the present state.
            for _read in range(2):
                buf = _ifreq(ifname, struct.pack("=HHHH", phy_id, MII_BMSR, 0, 0))
                fcntl.ioctl(sock.fileno(), SIOCGMIIREG, buf)
                (bmsr,) = struct.unpack_from("=H", buf, IFNAMSIZ + 6)
    except ValueError:
        return ProbeResult("mii", UNSUPPORTED, "EINVAL")
    except OSError as exc:
        return _refusal("mii", exc)
    return ProbeResult(
        "mii", UP if bmsr & BMSR_LSTATUS else DOWN, f"phy={phy_id} bmsr=0x{bmsr:04x}"
    )


PROBES: Final = {"ethtool": probe_ethtool, "mii": probe_mii, "iff_running": probe_iff_running}


def probe(ifname: str, method: str) -> ProbeResult:
    """Run one probe by name (``ethtool``, ``mii``, ``iff_running``)."""
    func = PROBES.get(method)
    if func is None:
        return ProbeResult(method, UNSUPPORTED, "unknown method")
    return func(ifname)


def probe_report(ifname: str) -> ProbeReport:
    """Every probe on ``ifname`` and the best supported one (None: none is)."""
    results = {name: PROBES[name](ifname) for name in METHODS}
    best = next((name for name in METHODS if results[name].supported), None)
    return ProbeReport(ifname=ifname, results=results, best=best)
