"""What the runner needs to follow interfaces: renames and the end of IPv6 DAD."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from test_watch import IFINDEX, RUNNING, UP, link_msg

from vrrp.linux import netlink
from vrrp.linux.addresses import IFA_F_DADFAILED, IFA_F_TENTATIVE, address_from_message
from vrrp.linux.watch import AddressChanged, LinkChanged, LinkWatcher

LL = "fe80::1"


def addr_msg(msg_type: int, address: str, *, flags: int = 0) -> bytes:
    msg: Any = netlink.new_addr_msg()
    msg["family"] = socket.AF_INET6
    msg["index"] = IFINDEX
    msg["prefixlen"] = 64
    msg["flags"] = flags
    msg["attrs"] = [("IFA_ADDRESS", address)]
    msg["header"]["type"] = msg_type
    msg.encode()
    return bytes(msg.data)


@pytest.fixture
def watcher() -> Iterator[LinkWatcher]:
    with LinkWatcher() as the_watcher:
        the_watcher.feed(link_msg(netlink.RTM_NEWLINK, flags=UP | RUNNING))
        yield the_watcher


def test_a_renamed_link_is_gone_for_its_old_name(watcher: LinkWatcher) -> None:
    renamed = link_msg(netlink.RTM_NEWLINK, flags=UP | RUNNING, ifname="vrrptest9")
    assert watcher.feed(renamed) == [
        LinkChanged("vrrptest0", IFINDEX, up=False, carrier=False),
        LinkChanged("vrrptest9", IFINDEX, up=True, carrier=True),
    ]
    assert watcher.link("vrrptest0") is None
    assert watcher.index_of("vrrptest9") == IFINDEX


def test_the_end_of_dad_is_a_change(watcher: LinkWatcher) -> None:
    tentative = addr_msg(netlink.RTM_NEWADDR, LL, flags=IFA_F_TENTATIVE)
    assert watcher.feed(tentative) == [
        AddressChanged("vrrptest0", LL, True, IFINDEX, 64, usable=False)
    ]
    assert watcher.feed(tentative) == []
    assert watcher.feed(addr_msg(netlink.RTM_NEWADDR, LL)) == [
        AddressChanged("vrrptest0", LL, True, IFINDEX, 64, usable=True)
    ]
    assert watcher.feed(addr_msg(netlink.RTM_NEWADDR, LL, flags=IFA_F_DADFAILED)) == [
        AddressChanged("vrrptest0", LL, True, IFINDEX, 64, usable=False)
    ]
    assert watcher.feed(addr_msg(netlink.RTM_DELADDR, LL)) == [
        AddressChanged("vrrptest0", LL, False, IFINDEX, 64, usable=True)
    ]


@pytest.mark.parametrize(
    ("flags", "usable"), [(0, True), (IFA_F_TENTATIVE, False), (IFA_F_DADFAILED, False)]
)
def test_usable_addresses(flags: int, *, usable: bool) -> None:
    msg = netlink.decode(netlink.RTM_NEWADDR, addr_msg(netlink.RTM_NEWADDR, LL, flags=flags))
    addr = address_from_message(msg)
    assert addr is not None and addr.usable is usable
