"""The address channel: batches of VIP changes over one netlink socket (no root needed).

The socket is a fake rtnetlink that keeps a table of addresses and answers
each request as the kernel does (0, EEXIST, EADDRNOTAVAIL), and that can fail
at any send or receive: what every change reports is checked against what the
fake kernel really did.
"""

from __future__ import annotations

import socket
from ipaddress import ip_interface
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support.fake_rtnetlink import INDEXES, FakeKernel
from vrrp.errors import NetlinkError
from vrrp.linux import address_channel, addresses, netlink
from vrrp.linux.address_channel import AddressChange, AddressChannel


def index_of(ifname: str) -> int:
    if ifname not in INDEXES:
        raise NetlinkError(f"interface {ifname!r} does not exist")
    return INDEXES[ifname]


@pytest.fixture
def kernel(monkeypatch: pytest.MonkeyPatch) -> FakeKernel:
    fake = FakeKernel()
    monkeypatch.setattr(netlink, "open_socket", fake.open)
    monkeypatch.setattr(address_channel, "ifname_to_index", index_of)
    return fake


def vips(*addresses: str, ifname: str = "eth0") -> list[AddressChange]:
    return [AddressChange.vip(ifname, a, vmac=False) for a in addresses]


def test_one_socket_for_many_batches_and_each_answer_its_own(kernel: FakeKernel) -> None:
    channel = AddressChannel()
    assert channel.add(vips("192.0.2.1/24", "2001:db8::1/64")) == [True, True]
    got = channel.add(
        vips("192.0.2.1/24", "192.0.2.2/24") + vips("192.0.2.3/24", ifname="gone0")
        + vips("not-an-address")
    )  # fmt: skip
    assert got[:2] == [False, True]
    assert str(got[2]) == "interface 'gone0' does not exist"
    assert str(got[3]) == "not an IP address: 'not-an-address'"
    assert channel.remove(vips("192.0.2.1/24", "192.0.2.9/24")) == [True, False]
    assert len(kernel.sockets) == 1 and not kernel.sockets[0].closed
    channel.close()
    assert kernel.sockets[0].closed


def test_a_refusal_names_the_address_and_the_kernels_reason(kernel: FakeKernel) -> None:
    channel = AddressChannel()
    kernel.refuse.add("192.0.2.5")
    got = channel.add(vips("192.0.2.4/24", "192.0.2.5/24", "192.0.2.6/24"))
    assert got[0] is True and got[2] is True
    assert str(got[1]) == "add 192.0.2.5/24 on eth0: Operation not permitted"
    got = channel.remove(vips("192.0.2.5/24"))
    assert str(got[0]) == "remove 192.0.2.5/24 from eth0: Operation not permitted"
    assert len(kernel.sockets) == 1  # a refusal is an answer: the socket stays


def test_a_batch_larger_than_a_chunk_never_leaves_more_answers_waiting(
    kernel: FakeKernel,
) -> None:
    channel = AddressChannel()
    many = [f"198.51.100.{i}/24" for i in range(1, 201)]
    assert channel.add(vips(*many)) == [True] * 200
    assert kernel.sockets[0].max_pending <= netlink.BATCH_CHUNK
    assert len(kernel.table) == 200


@settings(max_examples=200, deadline=None)
@given(
    ops=st.lists(
        st.tuples(
            st.booleans(),
            st.lists(
                st.tuples(st.sampled_from(["eth0", "eth1", "gone0"]), st.integers(1, 6)),
                max_size=40,
            ),
        ),
        min_size=1,
        max_size=5,
    ),
    fail_send_at=st.integers(-1, 120),
    fail_recv_at=st.integers(-1, 120),
)
def test_no_change_is_reported_done_that_the_kernel_did_not_do(
    ops: list[tuple[bool, list[tuple[str, int]]]], fail_send_at: int, fail_recv_at: int
) -> None:
    kernel = FakeKernel()
    kernel.fail_send_at, kernel.fail_recv_at = fail_send_at, fail_recv_at
    # unittest.mock, not pytest.MonkeyPatch (pytest 6.2+): the engine's tests
    # also run under Debian 11's Python 3.9 and pytest 6.0 (make py39).
    with (
        mock.patch.object(netlink, "open_socket", kernel.open),
        mock.patch.object(address_channel, "ifname_to_index", index_of),
    ):
        channel = AddressChannel()
        for add, items in ops:
            changes = [AddressChange.vip(i, f"192.0.2.{n}/24", vmac=False) for i, n in items]
            before = set(kernel.table)
            results = (channel.add if add else channel.remove)(changes)
            assert len(results) == len(changes)
            keys = [(INDEXES.get(c.ifname), c.address.split("/")[0], 24) for c in changes]
            for key, change, result in zip(keys, changes, results):
                if isinstance(result, NetlinkError):
                    # Every error names the address it is about.
                    assert change.address.split("/")[0] in str(result) or change.ifname in str(
                        result
                    )
                    continue
                # Done (True) or no change (False): the kernel now agrees.
                assert (key in kernel.table) == add
                if result is False:
                    assert (key in before) == add or changes.count(change) > 1
            if any(isinstance(r, NetlinkError) and "netlink" in str(r) for r in results):
                # A socket that failed is not used again.
                assert kernel.sockets[-1].closed
        opened = len(kernel.sockets)
        channel.close()
        assert all(s.closed for s in kernel.sockets) and len(kernel.sockets) == opened


def test_an_unanswered_change_is_an_error_and_the_next_batch_has_a_new_socket(
    kernel: FakeKernel,
) -> None:
    channel = AddressChannel()
    kernel.fail_recv_at = 4  # three sends, then the first read fails
    got = channel.add(vips("192.0.2.1/24", "192.0.2.2/24", "192.0.2.3/24"))
    assert all(isinstance(r, NetlinkError) for r in got)
    assert str(got[0]).startswith("add 192.0.2.1/24 on eth0: netlink receive:")
    assert kernel.sockets[0].closed
    # Done by the kernel though reported failed: a retry finds them there.
    assert channel.add(vips("192.0.2.1/24", "192.0.2.4/24")) == [False, True]
    assert len(kernel.sockets) == 2


def test_an_af_netlink_socket_for_real_answers_a_batch() -> None:
    """Unprivileged: removing addresses that are not there answers each one."""
    try:
        socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, netlink.NETLINK_ROUTE).close()
    except OSError:
        pytest.skip("no netlink here")
    channel = AddressChannel()
    try:
        got = channel.remove(vips("192.0.2.201/32", "192.0.2.202/32", ifname="lo"))
    finally:
        channel.close()
    # Not there: no change; or, without CAP_NET_ADMIN, a refusal that names each.
    assert got == [False, False] or all("192.0.2.20" in str(r) for r in got)


def test_parsed_addresses_are_taken_as_they_are_and_each_interface_looked_up_once(
    kernel: FakeKernel, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked: list[str] = []
    monkeypatch.setattr(
        address_channel, "ifname_to_index", lambda name: looked.append(name) or index_of(name)
    )
    many = [AddressChange.vip("eth0", ip_interface(f"198.51.100.{n}/24"), vmac=False)
            for n in range(1, 41)]  # fmt: skip
    assert AddressChannel().add([*many, *vips("192.0.2.1/24", ifname="eth1")]) == [True] * 41
    assert looked == ["eth0", "eth1"]


def test_a_new_ipv6_vip_is_local_before_the_batch_returns(
    kernel: FakeKernel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The NA and the first advert follow the add at once, so each IPv6 VIP the
    batch added is waited for until the kernel delivers it here (addresses.LOCAL_WAIT),
    on the channel's own socket; an IPv4 VIP, or one that was there already, is not."""
    waited: list[tuple[str, str, bool]] = []

    def wait(targets: list[tuple[str, object]], *, rtnl: netlink.Rtnl | None = None) -> list[bool]:
        waited.extend((ifname, str(address), rtnl is not None) for ifname, address in targets)
        return [True] * len(targets)

    monkeypatch.setattr(address_channel, "wait_until_all_local", wait)
    channel = AddressChannel()
    assert channel.add(vips("2001:db8::1/64")) == [True]
    waited.clear()
    got = channel.add(vips("192.0.2.1/24", "2001:db8::1/64", "fe80::5/64", "2001:db8::2/128"))
    assert got == [True, False, True, True]
    assert waited == [("eth0", "fe80::5/64", True), ("eth0", "2001:db8::2/128", True)]
    assert channel.remove(vips("2001:db8::2/128")) == [True]
    assert len(waited) == 2


def test_the_wait_for_a_new_ipv6_vip_asks_the_kernel_on_the_channels_socket(
    kernel: FakeKernel,
) -> None:
    channel = AddressChannel()
    assert channel.add(vips("192.0.2.1/24", "2001:db8::7/64")) == [True, True]
    assert kernel.route_lookups == ["2001:db8::7"]
    assert len(kernel.sockets) == 1 and not kernel.sockets[0].closed


class FakeClock:
    """time.monotonic and time.sleep for linux.addresses: a sleep moves the clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@settings(max_examples=20, deadline=None)
@given(
    lates=st.lists(st.sampled_from([0, 1, 3, 40, 10**6]), min_size=1, max_size=8),
    vmac=st.booleans(),
)
def test_a_batch_of_ipv6_vips_waits_one_shared_cap_not_one_per_vip(
    lates: list[int], vmac: bool
) -> None:
    """Each new IPv6 VIP whose local route comes late (after ``late`` lookups;
    10**6: never) is waited for, all of them together: the batch costs at most
    one LOCAL_WAIT whatever its size, and every VIP the kernel makes local
    within it is local before the batch returns."""
    kernel = FakeKernel()
    clock = FakeClock()
    added = [f"2001:db8::{n + 1:x}" for n in range(len(lates))]
    kernel.late = dict(zip(added, lates))
    with (
        mock.patch.object(netlink, "open_socket", kernel.open),
        mock.patch.object(address_channel, "ifname_to_index", index_of),
        mock.patch.object(addresses, "time", clock),
    ):
        channel = AddressChannel()
        start = clock.now
        changes = [AddressChange.vip("eth0", f"{a}/64", vmac=vmac) for a in added]
        assert channel.add(changes) == [True] * len(added)
        spent = clock.now - start
    assert spent <= addresses.LOCAL_WAIT + 2 * addresses._LOCAL_POLL
    for address, late in zip(added, lates):
        if late < 10**6:  # local within the cap: found local before the return
            assert kernel.late[address] == 0
            assert kernel.route_lookups.count(address) == late + 1
    if max(lates) == 10**6:
        assert spent >= addresses.LOCAL_WAIT  # gave up at the shared cap only
    assert not kernel.sockets[0].closed
