"""KernelIo's listeners for a successor's gratuitous ARP / NA (issue 13).

A VIP declared on another interface (its ``dev``) is announced by the
successor on that interface, so it is heard there: one listener per
interface the instance's VIPs live on, each for the VIPs on it, all opened
and closed together, none left open when one cannot be.
"""

from __future__ import annotations

import asyncio
import collections
import socket
from collections.abc import Collection, Iterator
from ipaddress import ip_address
from typing import Any, ClassVar

import pytest

from support.fakeinstance import fake_instance
from vrrp import hostio
from vrrp.errors import NetlinkError
from vrrp.fsm_types import SuccessorAnnounced
from vrrp.linux.announce_watch import IPAddress


class FakeWatch:
    """An AnnounceWatch over a socketpair: ``hear`` queues what ``read`` returns."""

    opened: ClassVar[list[FakeWatch]] = []
    refuse: ClassVar[set[str]] = set()

    def __init__(
        self, *, ifname: str, version: int, own_mac: bytes, addresses: Collection[IPAddress]
    ) -> None:
        if ifname in self.refuse:
            raise NetlinkError(f"announcement watch on {ifname}: No such device")
        self.ifname, self.addresses = ifname, frozenset(addresses)
        self.own = self.ignored = 0
        self._rx, self._tx = socket.socketpair()
        self._rx.setblocking(False)
        self.closed = False
        self.heard: list[IPAddress] = []
        self.opened.append(self)

    def fileno(self) -> int:
        return self._rx.fileno()

    def hear(self, address: str) -> None:
        self.heard.append(ip_address(address))
        self._tx.send(b".")

    def read(self) -> list[IPAddress]:
        self._rx.recv(64)
        found = [a for a in self.heard if a in self.addresses]
        self.heard = []
        return found

    def close(self) -> None:
        self.closed = True
        self._rx.close()
        self._tx.close()


@pytest.fixture
def io(monkeypatch: pytest.MonkeyPatch) -> Iterator[hostio.KernelIo]:
    FakeWatch.opened, FakeWatch.refuse = [], set()
    monkeypatch.setattr(hostio, "AnnounceWatch", FakeWatch)
    monkeypatch.setattr(hostio, "interface_mac", lambda ifname: b"\x02\x00\x00\x00\x00\x01")
    loop = asyncio.new_event_loop()
    kernel = hostio.KernelIo(loop=loop, on_datagrams=lambda key: None)
    yield kernel
    kernel.close()
    loop.close()


def web() -> Any:
    inst = fake_instance(
        "web",
        9,
        "192.0.2.9/24",
        {"address": "198.51.100.9/24", "dev": "eth1"},
        {"address": "198.51.100.10/24", "dev": "eth1"},
    )
    inst.fed = []
    inst.stats = collections.Counter()
    inst.feed = lambda target, event: inst.fed.append(event)
    return inst


def test_each_interface_of_the_vips_gets_a_listener_for_its_vips(io: hostio.KernelIo) -> None:
    inst = web()
    io.watch_announcements(inst, on=True)
    assert {w.ifname: w.addresses for w in FakeWatch.opened} == {
        "eth0": {ip_address("192.0.2.9")},
        "eth1": {ip_address("198.51.100.9"), ip_address("198.51.100.10")},
    }
    FakeWatch.opened[1].hear("198.51.100.9")
    FakeWatch.opened[1].hear("192.0.2.9")  # not announced on eth1: not ours there
    io.loop.run_until_complete(asyncio.sleep(0.01))
    assert inst.fed == [SuccessorAnnounced((ip_address("198.51.100.9"),))]
    io.watch_announcements(inst, on=False)
    assert all(w.closed for w in FakeWatch.opened)


def test_one_interface_that_cannot_be_watched_leaves_none_open(io: hostio.KernelIo) -> None:
    FakeWatch.refuse.add("eth1")
    with pytest.raises(NetlinkError, match="eth1"):
        io.watch_announcements(web(), on=True)
    assert FakeWatch.opened and all(w.closed for w in FakeWatch.opened)
    FakeWatch.refuse.clear()
    io.watch_announcements(web(), on=True)  # a later try opens them all
    assert sum(not w.closed for w in FakeWatch.opened) == 2


def test_stop_closes_every_listener(io: hostio.KernelIo) -> None:
    io.watch_announcements(web(), on=True)
    io.close()
    assert len(FakeWatch.opened) == 2 and all(w.closed for w in FakeWatch.opened)
