"""Waiting until a new IPv6 VIP is a local destination (no root needed).

The kernel makes an IPv6 address added with IFA_F_NODAD local only when its DAD
work has run, a little after the RTM_NEWADDR acknowledgement; the new Master
announces the VIP right after adding it, so the address channel waits for the
route (``linux.addresses.LOCAL_WAIT``; which VIPs it waits for:
``test_address_channel.py``). The lab shows the loss it prevents:
``tests/netns/test_runner_handover_flow.py``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from vrrp.linux import addresses, netlink

UNICAST = 1  # RTN_UNICAST: the VIP's prefix route, not yet its local one


class FakeRtnl:
    """Answers route_type from a script of route types (the last one repeats)."""

    looks: list[tuple[str, int]]

    def __init__(self, script: list[int | None]) -> None:
        self.script = script
        self.looks = []

    def __call__(self) -> FakeRtnl:
        return self

    def __enter__(self) -> FakeRtnl:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass

    def route_type(self, address: str, *, ifindex: int = 0) -> int | None:
        self.looks.append((address, ifindex))
        return self.script[min(len(self.looks), len(self.script)) - 1]


@pytest.fixture
def rtnl(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRtnl]:
    fake = FakeRtnl([addresses.RTN_LOCAL])
    monkeypatch.setattr(addresses.netlink, "Rtnl", fake)
    monkeypatch.setattr(addresses, "ifname_to_index", lambda ifname: 7)
    yield fake


def test_waits_until_the_kernel_routes_the_address_here(rtnl: FakeRtnl) -> None:
    rtnl.script = [UNICAST, UNICAST, UNICAST, addresses.RTN_LOCAL]  # the DAD work ran late
    assert addresses.wait_until_all_local([("eth0", "2001:db8::100/64")]) == [True]
    assert rtnl.looks == [("2001:db8::100", 0)] * 4  # a global address: no interface needed


def test_a_link_local_address_is_looked_up_on_its_interface(rtnl: FakeRtnl) -> None:
    assert addresses.wait_until_all_local([("eth0", "fe80::52/64")]) == [True]
    assert rtnl.looks == [("fe80::52", 7)]


def test_no_route_at_all_is_not_waited_for(rtnl: FakeRtnl) -> None:
    rtnl.script = [None]
    assert addresses.wait_until_all_local([("eth0", "2001:db8::100/64")]) == [False]
    assert len(rtnl.looks) == 1


def test_the_wait_is_bounded(rtnl: FakeRtnl) -> None:
    rtnl.script = [UNICAST]  # the prefix route, forever
    assert addresses.wait_until_all_local([("eth0", "2001:db8::100/64")], timeout=0.01) == [False]
    assert len(rtnl.looks) >= 2


class FakeSocket:
    """Answers each request with ``reply(seq)``."""

    def __init__(self, reply: Any) -> None:
        self.reply = reply
        self.sent: list[bytes] = []

    def settimeout(self, _timeout: float) -> None:
        pass

    def setsockopt(self, *_args: int) -> None:
        pass

    def close(self) -> None:
        pass

    def send(self, data: bytes) -> int:
        self.sent.append(bytes(data))
        return len(data)

    def recv(self, _size: int) -> bytes:
        (seq,) = struct.unpack_from("=I", self.sent[-1], 8)
        return bytes(self.reply(seq))


def nlmsg(msg_type: int, body: bytes, *, seq: int) -> bytes:
    length = 16 + len(body)
    return struct.pack("=IHHII", length, msg_type, 0, seq, 0) + body + bytes(-length % 4)


@pytest.fixture
def rtnl_over(monkeypatch: pytest.MonkeyPatch) -> Callable[[FakeSocket], netlink.Rtnl]:
    def make(sock: FakeSocket) -> netlink.Rtnl:
        monkeypatch.setattr(netlink, "open_socket", lambda **_kw: sock)
        return netlink.Rtnl()

    return make


@pytest.mark.parametrize("rtm_type", [1, 2])
def test_route_type_reads_the_type_of_the_route_the_kernel_answers(
    rtnl_over: Callable[[FakeSocket], netlink.Rtnl], rtm_type: int
) -> None:
    # struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
    body = struct.pack("=BBBBBBBBI", 10, 128, 0, 0, 255, 2, 254, rtm_type, 0)

    def reply(seq: int) -> bytes:
        return nlmsg(netlink.RTM_NEWROUTE, body, seq=seq - 1) + nlmsg(
            netlink.RTM_NEWROUTE, body, seq=seq
        )  # an older answer first: skipped

    sock = FakeSocket(reply)
    assert rtnl_over(sock).route_type("2001:db8::100") == rtm_type
    (request,) = sock.sent
    assert struct.unpack_from("=H", request, 4)[0] == netlink.RTM_GETROUTE
    assert request[16] == 10 and request[17] == 128  # AF_INET6, a host route


def test_route_type_is_none_when_the_kernel_has_no_route(
    rtnl_over: Callable[[FakeSocket], netlink.Rtnl],
) -> None:
    unreachable = struct.pack("=i", -101)  # -ENETUNREACH

    def reply(seq: int) -> bytes:
        return nlmsg(netlink.NLMSG_ERROR, unreachable + bytes(16), seq=seq)

    assert rtnl_over(FakeSocket(reply)).route_type("2001:db8::100") is None
