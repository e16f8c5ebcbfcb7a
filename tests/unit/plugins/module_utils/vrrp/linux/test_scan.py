"""vrrp.linux.scan without root: the deadline loop over stand-in sockets, the refusals.

The raw sockets themselves are exercised in tests/netns/test_scan.py; here a
stand-in VrrpSocket backed by a socketpair feeds the real selector loop.
"""

from __future__ import annotations

import socket
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from vrrp.errors import NetlinkError, VRRPError
from vrrp.linux import scan
from vrrp.linux.sockets import Received
from vrrp.scan_report import Heard


class StandIn:
    """A VrrpSocket stand-in: readable once, hands out two datagrams, counts one drop."""

    opened: list[StandIn] = []  # noqa: RUF012 - a test registry

    def __init__(self, *, ifname: str, version: int, source: str) -> None:
        if version == 6 and ifname == "v4only":
            raise NetlinkError("VRRP socket on v4only (IPv6): [Errno 19] No such device")
        self.ifname = ifname
        self.version = version
        self.source = source
        self.drops: Counter[str] = Counter({"ip_short": 1})
        self.mine, self.peer = socket.socketpair()
        self.peer.send(b"x")
        self.closed = False
        StandIn.opened.append(self)

    def fileno(self) -> int:
        return self.mine.fileno()

    def receive(self) -> list[Received]:
        if not self.mine.recv(16, socket.MSG_DONTWAIT):
            return []
        src = "192.0.2.1" if self.version == 4 else "fe80::1"
        return [
            Received(payload=b"vrrp", src=src, dst="224.0.0.18", ttl=255, ifindex=1)
            for _copy in range(2)
        ]

    def close(self) -> None:
        self.closed = True
        self.mine.close()
        self.peer.close()

    def __enter__(self) -> StandIn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[StandIn]]:
    StandIn.opened = []
    monkeypatch.setattr(scan, "VrrpSocket", StandIn)
    monkeypatch.setattr(scan.socket, "if_nametoindex", lambda name: 7)
    yield StandIn


def test_listens_until_the_deadline_and_closes_everything(stand_in: type[StandIn]) -> None:
    heard: list[Heard] = []
    start = time.monotonic()
    listened = scan.listen(["eth0", "v4only", "eth0"], duration=0.3, on_heard=heard.append)
    assert time.monotonic() - start >= 0.3
    assert listened.listening == ["eth0 IPv4", "eth0 IPv6", "v4only IPv4"]
    assert list(listened.skipped) == ["v4only IPv6"]
    assert "No such device" in listened.skipped["v4only IPv6"]
    assert listened.drops == Counter({"ip_short": 3})
    assert len(heard) == 6
    assert {(h.interface, h.src) for h in heard} == {
        ("eth0", "192.0.2.1"),
        ("eth0", "fe80::1"),
        ("v4only", "192.0.2.1"),
    }
    assert all(s.closed for s in stand_in.opened)


def test_no_socket_at_all_is_an_error(stand_in: type[StandIn]) -> None:
    with pytest.raises(NetlinkError, match="could not listen on any interface: v4only IPv6"):
        scan.listen(["v4only"], duration=0.1, on_heard=print, versions=(6,))


def test_permission_refused_names_become(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(**_kwargs: Any) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(scan, "VrrpSocket", refuse)
    monkeypatch.setattr(scan.socket, "if_nametoindex", lambda name: 7)
    with pytest.raises(scan.ScanPermissionError, match=r"needs root \(become: true\)"):
        scan.listen(["eth0"], duration=0.1, on_heard=print)


@pytest.mark.parametrize("duration", [0, -1, 3601, float("nan")])
def test_duration_out_of_range(duration: float) -> None:
    with pytest.raises(VRRPError, match="duration"):
        scan.listen(["lo"], duration=duration, on_heard=print)


def test_unknown_interface() -> None:
    with pytest.raises(NetlinkError, match="interface 'nosuch0' does not exist"):
        scan.listen(["nosuch0"], duration=0.1, on_heard=print)


def test_up_interfaces_skip_loopback_down_and_vanished(monkeypatch: pytest.MonkeyPatch) -> None:
    flags = {"lo": scan.IFF_LOOPBACK | 1, "eth1": 1, "eth0": 1, "down0": 0}

    def interface_flags(name: str) -> int:
        if name == "gone0":
            raise NetlinkError("gone")
        return flags[name]

    names = [(1, "lo"), (2, "eth1"), (3, "eth0"), (4, "down0"), (5, "gone0")]
    monkeypatch.setattr(scan.socket, "if_nameindex", lambda: names)
    monkeypatch.setattr(scan, "interface_flags", interface_flags)
    assert scan.up_interfaces() == ["eth0", "eth1"]


def test_interface_flags_of_lo() -> None:
    assert scan.interface_flags("lo") & scan.IFF_LOOPBACK
    with pytest.raises(NetlinkError, match="nosuch0"):
        scan.interface_flags("nosuch0")
