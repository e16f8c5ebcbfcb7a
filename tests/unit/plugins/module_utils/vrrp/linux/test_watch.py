"""The watcher's view: synthetic netlink messages in, only real changes out.

The watcher is built in the test's own namespace (an unprivileged netlink
subscription and dump); nothing is changed there: the messages are fed to it.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from vrrp.linux import netlink
from vrrp.linux.watch import AddressChanged, LinkChanged, LinkWatcher

IFINDEX = 999_999  # no real interface has it


def link_msg(msg_type: int, *, flags: int, ifname: str = "vrrptest0", mac: str = "") -> bytes:
    msg = netlink.new_link_msg()
    msg["index"] = IFINDEX
    msg["flags"] = flags
    msg["attrs"] = [("IFLA_IFNAME", ifname)] + ([("IFLA_ADDRESS", mac)] if mac else [])
    msg["header"]["type"] = msg_type
    msg.encode()
    return bytes(msg.data)


def addr_msg(msg_type: int, address: str, prefixlen: int) -> bytes:
    msg: Any = netlink.new_addr_msg()
    msg["family"] = socket.AF_INET6 if ":" in address else socket.AF_INET
    msg["index"] = IFINDEX
    msg["prefixlen"] = prefixlen
    msg["attrs"] = [("IFA_ADDRESS", address)] + ([] if ":" in address else [("IFA_LOCAL", address)])
    msg["header"]["type"] = msg_type
    msg.encode()
    return bytes(msg.data)


@pytest.fixture
def watcher() -> Iterator[LinkWatcher]:
    with LinkWatcher() as the_watcher:
        yield the_watcher


UP, RUNNING = 0x1, 0x10000


def test_link_changes_only_when_state_changes(watcher: LinkWatcher) -> None:
    assert watcher.feed(link_msg(netlink.RTM_NEWLINK, flags=UP | RUNNING)) == [
        LinkChanged("vrrptest0", IFINDEX, up=True, carrier=True)
    ]
    assert watcher.feed(link_msg(netlink.RTM_NEWLINK, flags=UP | RUNNING)) == []  # stats, MTU, ...
    assert watcher.feed(link_msg(netlink.RTM_NEWLINK, flags=UP)) == [
        LinkChanged("vrrptest0", IFINDEX, up=True, carrier=False)
    ]
    assert watcher.link("vrrptest0") == LinkChanged("vrrptest0", IFINDEX, up=True, carrier=False)
    assert watcher.feed(link_msg(netlink.RTM_DELLINK, flags=UP)) == [
        LinkChanged("vrrptest0", IFINDEX, up=False, carrier=False)
    ]
    assert watcher.link("vrrptest0") is None
    assert watcher.feed(link_msg(netlink.RTM_DELLINK, flags=0)) == []


def test_a_changed_mac_is_a_change_and_is_reported(watcher: LinkWatcher) -> None:
    """Another program re-MACing a VMAC must reach the runner (see vrrp.vmacs)."""
    vmac, other = "00:00:5e:00:01:54", "02:00:00:00:00:54"
    (first,) = watcher.feed(link_msg(netlink.RTM_NEWLINK, flags=UP | RUNNING, mac=vmac))
    assert first.mac == vmac
    assert watcher.feed(link_msg(netlink.RTM_NEWLINK, flags=UP | RUNNING, mac=vmac)) == []
    (changed,) = watcher.feed(link_msg(netlink.RTM_NEWLINK, flags=UP | RUNNING, mac=other))
    assert (changed.up, changed.carrier, changed.mac) == (True, True, other)
    link = watcher.link("vrrptest0")
    assert link is not None and link.mac == other


def test_addresses_added_and_removed_once(watcher: LinkWatcher) -> None:
    watcher.feed(link_msg(netlink.RTM_NEWLINK, flags=UP | RUNNING))
    both = addr_msg(netlink.RTM_NEWADDR, "192.0.2.100", 24) + addr_msg(
        netlink.RTM_NEWADDR, "2001:db8::100", 64
    )
    assert watcher.feed(both) == [
        AddressChanged("vrrptest0", "192.0.2.100", True, IFINDEX, 24),
        AddressChanged("vrrptest0", "2001:db8::100", True, IFINDEX, 64),
    ]
    assert (
        watcher.feed(addr_msg(netlink.RTM_NEWADDR, "2001:db8::100", 64)) == []
    )  # DAD done, flags only
    assert watcher.addresses("vrrptest0") == ["192.0.2.100", "2001:db8::100"]
    assert watcher.feed(addr_msg(netlink.RTM_DELADDR, "192.0.2.100", 24)) == [
        AddressChanged("vrrptest0", "192.0.2.100", False, IFINDEX, 24)
    ]
    assert watcher.feed(addr_msg(netlink.RTM_DELADDR, "192.0.2.100", 24)) == []
    # A deleted link takes its addresses with it.
    watcher.feed(link_msg(netlink.RTM_DELLINK, flags=0))
    assert watcher.addresses("vrrptest0") == []


def test_garbage_and_foreign_messages_are_ignored(watcher: LinkWatcher) -> None:
    assert watcher.feed(b"") == []
    assert watcher.feed(b"\x01\x02\x03") == []
    assert watcher.feed(link_msg(netlink.RTM_NEWLINK, flags=UP)[:12]) == []
    done = link_msg(netlink.RTM_NEWLINK, flags=UP)
    done = done[:4] + netlink.NLMSG_DONE.to_bytes(2, "little") + done[6:]
    assert watcher.feed(done) == []


def test_resync_against_the_real_namespace_reports_the_fed_ghosts(watcher: LinkWatcher) -> None:
    watcher.feed(link_msg(netlink.RTM_NEWLINK, flags=UP | RUNNING))
    watcher.feed(addr_msg(netlink.RTM_NEWADDR, "192.0.2.100", 24))
    events = watcher.resync()
    assert watcher.resyncs == 1
    assert LinkChanged("vrrptest0", IFINDEX, up=False, carrier=False) in events
    assert AddressChanged("vrrptest0", "192.0.2.100", False, IFINDEX, 24) in events
    assert watcher.link("vrrptest0") is None and watcher.link("lo") is not None
