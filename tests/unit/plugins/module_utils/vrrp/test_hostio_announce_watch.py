"""KernelIo's listeners for a successor's gratuitous ARP / NA (issue 13).

A resigned Master's hold ends once every advertised VIP was announced by
another node; a VIP declared on another interface (its ``dev``) is announced
there (hostio.announce, held_elsewhere), so that is where it must be heard.
The packet sockets are replaced by a fake recording where each listens and
for what; a real loop's reader table tells what is still watched.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Collection, Iterator
from typing import Any, ClassVar

import pytest

from support.fakeinstance import fake_instance
from vrrp import hostio
from vrrp.errors import NetlinkError


class FakeWatch:
    opened: ClassVar[list[FakeWatch]] = []
    refuse: ClassVar[set[str]] = set()

    def __init__(
        self, *, ifname: str, version: int, own_mac: bytes, addresses: Collection[Any]
    ) -> None:
        if ifname in self.refuse:
            raise NetlinkError(f"announcement watch on {ifname}: No such device")
        self.ifname, self.own_mac = ifname, own_mac
        self.addresses = frozenset(str(a) for a in addresses)
        self._sock, self._peer = socket.socketpair()
        self.closed = False
        FakeWatch.opened.append(self)

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        self.closed = True
        self._sock.close()
        self._peer.close()


@pytest.fixture
def io(monkeypatch: pytest.MonkeyPatch) -> Iterator[hostio.KernelIo]:
    FakeWatch.opened, FakeWatch.refuse = [], set()
    monkeypatch.setattr(hostio, "AnnounceWatch", FakeWatch)
    monkeypatch.setattr(hostio, "interface_mac", lambda ifname: ifname.encode().ljust(6, b"\0"))
    loop = asyncio.new_event_loop()
    yield hostio.KernelIo(loop=loop, on_datagrams=lambda key: None)
    loop.close()


def open_watches() -> dict[str, frozenset[str]]:
    return {w.ifname: w.addresses for w in FakeWatch.opened if not w.closed}


def test_a_vip_on_another_interface_is_listened_for_there(io: hostio.KernelIo) -> None:
    web = fake_instance("web", 9, "192.0.2.9/24", {"address": "198.51.100.9/24", "dev": "eth1"})
    io.watch_announcements(web, on=True)
    assert open_watches() == {
        "eth0": frozenset({"192.0.2.9"}),
        "eth1": frozenset({"198.51.100.9"}),
    }
    assert {w.own_mac for w in FakeWatch.opened} == {b"eth0\0\0", b"eth1\0\0"}
    io.watch_announcements(web, on=False)
    assert open_watches() == {}


def test_listeners_are_closed_at_stop_and_one_refused_spares_the_others(
    io: hostio.KernelIo,
) -> None:
    FakeWatch.refuse.add("gone0")
    gone = fake_instance(
        "gone", 10, "192.0.2.10/24", {"address": "198.51.100.10/24", "dev": "gone0"}
    )
    with pytest.raises(NetlinkError, match="gone0"):
        io.watch_announcements(gone, on=True)
    assert open_watches() == {"eth0": frozenset({"192.0.2.10"})}
    io.close()
    assert open_watches() == {}
