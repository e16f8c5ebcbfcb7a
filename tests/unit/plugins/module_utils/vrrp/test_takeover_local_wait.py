"""A mass takeover of IPv6 instances never blocks the loop waiting for its VIPs.

Linux makes a NODAD IPv6 address local only when its DAD work has run, a
little after the netlink ACK; the unsolicited NA must not go out before (the
traffic it moves here would be dropped: tests/netns/test_runner_handover_flow.py).
Each instance's takeover waited for that with time.sleep on the loop thread,
one after the other (issue 14 §5): here N instances take over in one loop
turn on a fake loop and a fake rtnetlink whose addresses become local a few
route lookups late, and time.sleep is forbidden. Each instance still adds
its VIPs, then announces them (once local), then advertises, then records.
"""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import ip_address
from typing import Any

import pytest

from support.fake_rtnetlink import INDEXES, FakeKernel
from support.fakeloop import FakeLoop
from vrrp import hostio
from vrrp.config import load_config
from vrrp.errors import NetlinkError
from vrrp.fsm import PriorityChanged, Startup, State, Timer, Transition
from vrrp.instance import Instance
from vrrp.linux import address_channel, addresses, netlink
from vrrp.packet import Advertisement

N = 40


def index_of(ifname: str) -> int:
    if ifname not in INDEXES:
        raise NetlinkError(f"interface {ifname!r} does not exist")
    return INDEXES[ifname]


class RecordingIo(hostio.KernelIo):
    """KernelIo for the VIPs; adverts, announcements and records go to ``log``."""

    def __init__(self, kernel: FakeKernel, loop: Any) -> None:
        super().__init__(loop=loop, on_datagrams=lambda key: None)
        self.kernel = kernel
        self.log: list[tuple[str, str, bool]] = []  # (instance, what, its VIP local)

    def _is_local(self, instance: Instance) -> bool:
        vip = str(instance.virtual_interfaces[1].ip)
        there = any(ip == vip for _i, ip, _l in self.kernel.table)
        return there and self.kernel.late.get(vip, 0) == 0

    def add_addresses(self, instance: Instance, vips: Any = None, **kw: Any) -> None:
        super().add_addresses(instance, vips, **kw)
        self.log.append((instance.name, "add", self._is_local(instance)))

    def send_advert(self, instance: Instance, advert: Advertisement) -> None:
        self.log.append((instance.name, "advert", self._is_local(instance)))

    def announce(self, instance: Instance) -> None:
        self.log.append((instance.name, "announce", self._is_local(instance)))

    def transition(self, instance: Instance, transition: Transition) -> None:
        self.log.append((instance.name, "record", self._is_local(instance)))


@pytest.fixture
def kernel(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKernel]:
    fake = FakeKernel()
    monkeypatch.setattr(netlink, "open_socket", fake.open)
    monkeypatch.setattr(address_channel, "ifname_to_index", index_of)
    monkeypatch.setattr(addresses, "ifname_to_index", index_of)
    monkeypatch.setattr(hostio.accept_filter, "apply", lambda addrs: None)

    def no_sleep(seconds: float) -> None:
        raise AssertionError(f"time.sleep({seconds}) on the loop thread")

    monkeypatch.setattr(addresses.time, "sleep", no_sleep)
    yield fake


def firsts(whats: list[str]) -> list[str]:
    """Each kind of call once, where it came first (a GARP burst repeats)."""
    return [what for at, what in enumerate(whats) if what not in whats[:at]]


def instances(io: RecordingIo, loop: FakeLoop) -> list[Instance]:
    objs = [
        {
            "name": f"v{vrid}",
            "interface": "eth0",
            "vrid": vrid,
            "priority": 200,
            "advert_interval": 1,
            "virtual_addresses": [f"fe80::{vrid:x}/64", f"2001:db8::{vrid:x}/64"],
        }
        for vrid in range(1, N + 1)
    ]
    out = []
    for cfg in load_config({"instances": objs}).instances:

        def feed(inst: Instance, event: Any) -> None:
            inst.execute(inst.router.handle(event, loop.time()))

        out.append(
            Instance(cfg=cfg, primary=ip_address("fe80::11"), loop=loop, io=io, feed=feed)  # type: ignore[arg-type]
        )
    return out


def test_n_ipv6_takeovers_in_one_turn_share_one_wait_off_the_loop(kernel: FakeKernel) -> None:
    loop = FakeLoop()
    io = RecordingIo(kernel, loop)
    insts = instances(io, loop)
    for inst in insts:
        kernel.late[str(inst.virtual_interfaces[1].ip)] = 3  # the DAD work runs late
        inst.feed(inst, Startup())
    io.log.clear()  # the records of Initialize -> Backup
    due = {inst.router.timers[Timer.MASTER_DOWN] for inst in insts}
    assert len(due) == 1  # one loop turn takes them all over
    at = due.pop()
    loop.run(until=at)
    assert all(inst.router.state is State.MASTER for inst in insts)
    assert [e for e in io.log if e[1] == "add"] and not [e for e in io.log if e[1] != "add"]
    loop.run(until=at + 0.2)  # within LOCAL_WAIT of the takeover
    for inst in insts:
        assert not [k for k in inst.stats if k.startswith("io_error")], inst.stats
        mine = [(what, local) for name, what, local in io.log if name == inst.name]
        assert firsts([what for what, _step in mine]) == ["add", "announce", "advert", "record"]
        assert mine[1][1], f"{inst.name}: NA before its VIP was local"
    # One shared wait: the lookups are far fewer than a poll per instance per address.
    assert len(kernel.sockets) <= 2
    io.close()


def test_a_vip_never_local_is_announced_when_the_cap_runs_out(kernel: FakeKernel) -> None:
    loop = FakeLoop()
    io = RecordingIo(kernel, loop)
    (inst,) = instances(io, loop)[:1]
    kernel.late[str(inst.virtual_interfaces[1].ip)] = 10**9
    inst.feed(inst, Startup())
    io.log.clear()
    at = inst.router.timers[Timer.MASTER_DOWN]
    loop.run(until=at + addresses.LOCAL_WAIT / 2)
    assert [what for _n, what, _l in io.log] == ["add"]
    loop.run(until=at + addresses.LOCAL_WAIT + 0.05)
    assert firsts([what for _n, what, _l in io.log]) == ["add", "announce", "advert", "record"]
    io.close()


def test_a_refresh_round_never_announces_a_vip_still_waiting_to_be_local(
    kernel: FakeKernel,
) -> None:
    """A GARP/NA round of an older chain (the refresh, a delayed burst) that
    comes due while the instance waits for new IPv6 VIPs announces nothing:
    the pending announcement runs once they are local and restarts the burst."""
    loop = FakeLoop()
    io = RecordingIo(kernel, loop)
    (inst,) = instances(io, loop)[:1]
    kernel.late[str(inst.virtual_interfaces[1].ip)] = 10**9
    inst.feed(inst, Startup())
    io.log.clear()
    at = inst.router.timers[Timer.MASTER_DOWN]
    loop.run(until=at + addresses.LOCAL_WAIT / 2)
    assert [what for _n, what, _l in io.log] == ["add"]
    inst._announce_now(1, 1.0)  # pylint: disable=protected-access  # a refresh round due now
    assert [what for _n, what, _l in io.log] == ["add"]
    loop.run(until=at + addresses.LOCAL_WAIT + 0.05)
    assert firsts([what for _n, what, _l in io.log]) == ["add", "announce", "advert", "record"]
    io.close()


def test_an_instance_given_something_while_it_waits_announces_only_once_local(
    kernel: FakeKernel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What an instance is given while its new IPv6 VIPs wait (a tracker moved
    its priority) comes after its held-back NA, advert and record: those go at
    once then, but the NA still only once the VIPs are local (a short wait on
    the loop, LOCAL_WAIT at most, as before the wait left the loop)."""
    loop = FakeLoop()
    io = RecordingIo(kernel, loop)
    (inst,) = instances(io, loop)[:1]
    kernel.late[str(inst.virtual_interfaces[1].ip)] = 3
    inst.feed(inst, Startup())
    io.log.clear()
    at = inst.router.timers[Timer.MASTER_DOWN]
    loop.run(until=at)
    assert [what for _n, what, _l in io.log] == ["add"]
    monkeypatch.setattr(addresses.time, "sleep", lambda seconds: None)  # this one may wait
    inst.feed(inst, PriorityChanged(150))
    assert firsts([what for _n, what, _l in io.log]) == ["add", "announce", "advert", "record"]
    announces = [local for _n, what, local in io.log if what == "announce"]
    assert all(announces), "NA before its VIP was local"
    loop.run(until=at + 0.2)
    io.close()
