"""KernelIo's virtual addresses: one netlink socket, an instance's VIPs as one batch.

Over a fake rtnetlink (``support.fake_rtnetlink``) that keeps the kernel's
table of addresses: a refused VIP is named in the error the instance counts
and retries, the others are taken all the same, and nothing is reported done
that the kernel did not do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from support.fake_rtnetlink import INDEXES, FakeKernel
from support.fakeinstance import fake_instance
from vrrp import hostio
from vrrp.errors import NetlinkError
from vrrp.linux import address_channel, netlink


def inst(name: str, vrid: int, *vips: Any) -> Any:
    return fake_instance(name, vrid, *vips)


def index_of(ifname: str) -> int:
    if ifname not in INDEXES:
        raise NetlinkError(f"interface {ifname!r} does not exist")
    return INDEXES[ifname]


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[hostio.KernelIo, FakeKernel]]:
    kernel = FakeKernel()
    monkeypatch.setattr(netlink, "open_socket", kernel.open)
    monkeypatch.setattr(address_channel, "ifname_to_index", index_of)
    monkeypatch.setattr(hostio.accept_filter, "apply", lambda addrs: None)
    loop = asyncio.new_event_loop()
    yield hostio.KernelIo(loop=loop, on_datagrams=lambda key: None), kernel
    loop.close()


def table(kernel: FakeKernel) -> set[tuple[int, str]]:
    return {(index, ip) for index, ip, _length in kernel.table}


def test_many_instances_share_one_socket_closed_at_stop(host: Any) -> None:
    io, kernel = host
    for vrid in range(1, 41):
        io.add_addresses(inst(f"v{vrid}", vrid, f"198.51.100.{vrid}/24", f"192.0.2.{vrid}/24"))
    assert len(kernel.table) == 80
    assert len(kernel.sockets) == 1 and not kernel.sockets[0].closed
    io.remove_addresses(inst("v1", 1, "198.51.100.1/24", "192.0.2.1/24"))
    assert len(kernel.table) == 78
    io.close()
    assert kernel.sockets[0].closed


def test_a_refused_vip_is_named_and_the_others_are_taken(host: Any) -> None:
    io, kernel = host
    kernel.refuse.add("192.0.2.2")
    three = inst("web", 7, "192.0.2.1/24", "192.0.2.2/24", "192.0.2.3/24")
    with pytest.raises(NetlinkError) as raised:
        io.add_addresses(three)
    assert str(raised.value) == "add 192.0.2.2/24 on eth0: Operation not permitted"
    assert table(kernel) == {(2, "192.0.2.1"), (2, "192.0.2.3")}
    kernel.refuse.clear()
    io.add_addresses(three)  # the instance's retry: the rest is "no change"
    assert len(table(kernel)) == 3
    kernel.refuse.add("192.0.2.1")
    with pytest.raises(NetlinkError, match=r"^remove 192\.0\.2\.1/24 from eth0: Operation"):
        io.remove_addresses(three)
    assert table(kernel) == {(2, "192.0.2.1")}


def test_vips_on_other_interfaces_go_in_the_same_batch_each_on_its_own(host: Any) -> None:
    io, kernel = host
    web = inst("web", 9, "192.0.2.9/24", {"address": "198.51.100.9/24", "dev": "eth1"})
    gone = inst("gone", 10, "192.0.2.10/24", {"address": "198.51.100.10/24", "dev": "gone0"})
    io.add_addresses(web)
    assert table(kernel) == {(2, "192.0.2.9"), (3, "198.51.100.9")}
    with pytest.raises(NetlinkError, match=r"^interface 'gone0' does not exist$"):
        io.add_addresses(gone)
    assert (2, "192.0.2.10") in table(kernel)


def test_a_socket_failure_is_reported_for_every_vip_left_unanswered(host: Any) -> None:
    io, kernel = host
    kernel.fail_recv_at = 3  # two requests sent, then the read fails
    two = inst("pair", 11, "192.0.2.11/24", "192.0.2.12/24")
    with pytest.raises(NetlinkError) as raised:
        io.add_addresses(two)
    assert "add 192.0.2.11/24 on eth0: netlink receive" in str(raised.value)
    assert "add 192.0.2.12/24 on eth0: netlink receive" in str(raised.value)
    io.add_addresses(two)  # the retry, on a new socket
    assert len(kernel.sockets) == 2 and kernel.sockets[0].closed
    assert len(table(kernel)) == 2


def test_a_vip_put_back_goes_over_the_same_socket_and_says_what_it_did(host: Any) -> None:
    """put_back (a VIP another program removed): True when added, False when it
    was there, the kernel's refusal raised naming the address."""
    io, kernel = host
    assert io.put_back("eth0", "192.0.2.9/24", vmac=False) is True
    assert io.put_back("eth0", "192.0.2.9/24", vmac=False) is False
    kernel.refuse.add("192.0.2.10")
    with pytest.raises(NetlinkError, match=r"^add 192\.0\.2\.10/24 on eth0: Operation"):
        io.put_back("eth0", "192.0.2.10/24", vmac=False)
    assert table(kernel) == {(2, "192.0.2.9")}
    assert len(kernel.sockets) == 1
