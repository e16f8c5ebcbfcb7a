"""Address events for virtual addresses re-check no advert source.

A VIP is never an advert source (``source.primary_address`` skips it), so its
coming and going cannot change any instance's choice: a host taking over N
virtual routers must not dump the interface's addresses (and collect the
garbage the dump leaves) once per VIP it adds itself (issue 14's mass
takeover: most of the Backup's time). Other addresses still are re-checked,
and a VIP another program removes is still put back.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from test_runner_apply import config, instance, masters

from support.fakehost import FakeHost
from vrrp.linux.watch import AddressChanged
from vrrp.runner import Runner


class EventWatcher:
    def __init__(self, events: list[Any]) -> None:
        self.events = events

    def link(self, ifname: str) -> Any:
        return SimpleNamespace(up=True, carrier=True)

    def read(self) -> list[Any]:
        out, self.events = self.events, []
        return out


def dumps_for(runner: Runner, kernel: FakeHost, events: list[Any]) -> int:
    calls = 0
    dump = kernel.usable_addresses

    def counting(ifname: str, version: int) -> list[str]:
        nonlocal calls
        calls += 1
        return dump(ifname, version)

    kernel.usable_addresses = counting  # type: ignore[method-assign]
    runner.watcher = EventWatcher(events)  # type: ignore[assignment]
    runner.fleet.on_netlink()
    return calls


def test_own_vips_added_dump_nothing_and_others_still_do(
    runner: Runner, kernel: FakeHost, loop: asyncio.AbstractEventLoop
) -> None:
    masters(runner, loop, config(*(instance(name) for name in "abcdefgh")))
    vips = [str(v.ip) for inst in runner.instances.values() for v in inst.virtual_interfaces]
    added = [AddressChanged("eth0", vip, True, 2, 24) for vip in vips]
    assert dumps_for(runner, kernel, added) == 0
    assert dumps_for(runner, kernel, [AddressChanged("eth0", "192.0.2.250", True, 2, 24)]) > 0
    sources = {str(inst.router.params.primary_address) for inst in runner.instances.values()}
    assert sources == {"192.0.2.11"}


def test_an_own_vip_removed_by_another_program_is_put_back(
    runner: Runner, kernel: FakeHost, loop: asyncio.AbstractEventLoop
) -> None:
    masters(runner, loop, config(instance("a")))
    inst = runner.instances["a"]
    vip = inst.virtual_interfaces[0]
    kernel.vips.discard(("eth0", str(vip)))
    dumps_for(runner, kernel, [AddressChanged("eth0", str(vip.ip), False, 2, 24)])
    assert ("eth0", str(vip)) in kernel.vips
    assert inst.stats["vip_restored"] == 1


class CountingInstances(dict):  # type: ignore[type-arg]
    """The fleet's instances, counting the walks over all of them."""

    walks = 0

    def values(self) -> Any:
        self.walks += 1
        return super().values()

    def items(self) -> Any:
        self.walks += 1
        return super().items()

    def __iter__(self) -> Any:
        self.walks += 1
        return super().__iter__()


def test_own_vips_added_walk_no_instance(
    runner: Runner, kernel: FakeHost, loop: asyncio.AbstractEventLoop
) -> None:
    """A takeover of N instances brings N of its own address events: handling
    one must not walk the N instances (O(N²) over the takeover)."""
    masters(runner, loop, config(*(instance(name) for name in "abcdefgh")))
    vips = [str(v.ip) for inst in runner.instances.values() for v in inst.virtual_interfaces]
    added = [AddressChanged("eth0", vip, True, 2, 24) for vip in vips]
    dumps_for(runner, kernel, added[:1])  # the VIPs of eth0, known once
    counting = CountingInstances(runner.fleet.instances)
    runner.fleet.instances = counting
    for event in added:
        dumps_for(runner, kernel, [event])
    assert counting.walks == 0
