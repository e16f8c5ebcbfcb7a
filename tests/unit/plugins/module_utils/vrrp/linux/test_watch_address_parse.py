"""Address events read without the codec: the same view as pyroute2's decoding.

A takeover of N virtual routers brings N or more RTM_NEWADDR events back to
the runner's own watcher; decoding each with pyroute2's message classes cost
more than the rest of handling it (issue 14 §5). The watcher reads the few
fields it needs itself; here it must agree with the codec on every message
the codec encodes.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vrrp.linux import netlink, watch

IFA_F_TENTATIVE, IFA_F_DADFAILED, IFA_F_SECONDARY = 0x40, 0x08, 0x01


@st.composite
def address_messages(draw: Any) -> bytes:
    v6 = draw(st.booleans())
    ip = draw(st.ip_addresses(v=6 if v6 else 4))
    msg: Any = netlink.new_addr_msg()
    msg["family"] = socket.AF_INET6 if v6 else socket.AF_INET
    msg["index"] = draw(st.integers(1, 2**31 - 1))
    msg["prefixlen"] = draw(st.integers(0, 128 if v6 else 32))
    msg["flags"] = draw(st.sampled_from([0, IFA_F_TENTATIVE, IFA_F_DADFAILED, IFA_F_SECONDARY]))
    msg["scope"] = draw(st.sampled_from([0, 253, 254]))
    attrs: list[tuple[str, Any]] = []
    other = draw(st.ip_addresses(v=6 if v6 else 4))
    which = draw(st.sampled_from(["local", "address", "both", "both-other"]))
    if which in ("address", "both"):
        attrs.append(("IFA_ADDRESS", str(ip)))
    if which == "both-other":
        attrs.append(("IFA_ADDRESS", str(other)))  # a peer address: IFA_LOCAL wins
    if which != "address":
        attrs.append(("IFA_LOCAL", str(ip)))
    if draw(st.booleans()):
        attrs.insert(0, ("IFA_LABEL", "eth0:vip"))
    if draw(st.booleans()):
        attrs.append(("IFA_FLAGS", draw(st.sampled_from([0, IFA_F_TENTATIVE, 0x100]))))
    msg["attrs"] = attrs
    msg["header"]["type"] = draw(st.sampled_from([netlink.RTM_NEWADDR, netlink.RTM_DELADDR]))
    msg.encode()
    return bytes(msg.data)


@settings(max_examples=400, deadline=None)
@given(message=address_messages())
def test_the_watcher_reads_an_address_message_as_the_codec_does(message: bytes) -> None:
    msg_type = int.from_bytes(message[4:6], "little")
    assert watch.address_key(message) == watch._addr_of(netlink.decode(msg_type, message))


def test_no_address_and_torn_messages_are_nothing() -> None:
    msg: Any = netlink.new_addr_msg()
    msg["family"] = socket.AF_INET
    msg["index"] = 3
    msg["attrs"] = [("IFA_LABEL", "eth0")]
    msg["header"]["type"] = netlink.RTM_NEWADDR
    msg.encode()
    data = bytes(msg.data)
    assert watch.address_key(data) is None
    assert watch.address_key(data[:20]) is None
    for cut in range(len(data)):
        watch.address_key(data[:cut])  # never raises


def test_address_events_reach_the_view_without_the_codec(monkeypatch: pytest.MonkeyPatch) -> None:
    with watch.LinkWatcher() as watcher:
        msg: Any = netlink.new_addr_msg()
        msg["family"] = socket.AF_INET
        msg["index"] = 999_999
        msg["prefixlen"] = 32
        msg["attrs"] = [("IFA_LOCAL", "198.51.100.7"), ("IFA_ADDRESS", "198.51.100.7")]
        msg["header"]["type"] = netlink.RTM_NEWADDR
        msg.encode()

        def refuse(*args: Any) -> Any:
            raise AssertionError("decoded with the codec")

        monkeypatch.setattr(netlink, "decode", refuse)
        (event,) = watcher.feed(bytes(msg.data))
    assert (event.address, event.prefixlen, event.added) == ("198.51.100.7", 32, True)
    assert str(ipaddress.ip_address(event.address)) == event.address
