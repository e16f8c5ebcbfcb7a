"""The fleet's receive path: datagram -> decode -> instance -> core, over a fake kernel.

A Backup hears the same advert from its Master every interval; the fleet
decodes a datagram once and reuses the result while the next one of that
instance is the same (bytes, source, destination, TTL). Whatever the
sequence, what the core sees and what is counted must be what decoding every
datagram gives. No root, no namespaces.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Iterator
from ipaddress import ip_address
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support.fakehost import FakeHost
from vrrp import fleet as fleet_module
from vrrp.config import load_config
from vrrp.errors import PacketError, VRRPError
from vrrp.fsm import AdvertReceived
from vrrp.linux.sockets import Received
from vrrp.packet import VRRP_MCAST_V4, Advertisement, decode, encode
from vrrp.runner import Runner

MASTER = "192.0.2.12"
KEY = ("eth0", 4)


class FakeWatcher:
    def link(self, ifname: str) -> Any:
        return SimpleNamespace(up=True, carrier=True)


class Kernel(FakeHost):
    """FakeHost whose VRRP socket hands over a queue."""

    def __init__(self) -> None:
        super().__init__()
        self.queue: list[Received] = []

    def receive(self, key: Any) -> list[Received]:
        out, self.queue = self.queue, []
        return out


def datagram(
    *, priority: int = 200, src: str = MASTER, dst: str = VRRP_MCAST_V4, ttl: int = 255
) -> Received:
    advert = Advertisement(
        version=3,
        vrid=7,
        priority=priority,
        interval_cs=100,
        addresses=(ip_address("198.51.100.7"),),
    )
    payload = encode(advert, src=MASTER, dst=VRRP_MCAST_V4)  # a checksum for the group
    return Received(payload=payload, src=src, dst=dst, ttl=ttl, ifindex=2)


def garbled(rx: Received) -> Received:
    payload = bytearray(rx.payload)
    payload[-1] ^= 0x01  # the checksum no longer matches
    return rx._replace(payload=bytes(payload))


VARIANTS = [
    datagram(),
    datagram(),  # equal, another object
    datagram(priority=150),
    datagram(priority=0),
    datagram(ttl=64),
    datagram(src="192.0.2.13"),  # a checksum made for another source
    datagram(dst="192.0.2.11"),  # unicast to us: checksum for the group
    garbled(datagram()),
]


def make_runner(tmp: Path, loop: asyncio.AbstractEventLoop, kernel: Kernel) -> Runner:
    runner = Runner(
        config_path=str(tmp / "config.json"),
        state_dir=str(tmp / "run"),
        lib_dir=str(tmp / "lib"),
        io=kernel,
    )
    runner.watcher = FakeWatcher()  # type: ignore[assignment]
    cfg = {
        "name": "v4",
        "interface": "eth0",
        "vrid": 7,
        "priority": 100,
        "advert_interval": 1,
        "virtual_addresses": ["198.51.100.7/32"],
    }
    runner.fleet.apply(load_config({"instances": [cfg], "sync_groups": []}), previous=None)
    return runner


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    loop.close()
    asyncio.set_event_loop(None)


def reference_feed(runner: Runner, rx: Received) -> None:
    """What the fleet does with one datagram, decoding it every time."""
    inst = runner.instances["v4"]
    try:
        advert = decode(rx.payload, src=rx.src, dst=rx.dst, ttl=rx.ttl)
    except PacketError as exc:
        inst.stats[f"drop.{exc.reason}"] += 1
        return
    inst.stats["adverts_received"] += 1
    if advert.priority == 0:
        inst.stats["priority_zero_received"] += 1
    runner.feed(inst, AdvertReceived(advert, ip_address(rx.src)))


def seen(runner: Runner) -> tuple[Any, ...]:
    router = runner.instances["v4"].router
    return (
        router.state,
        router.master_address,
        router.master_priority,
        dict(router.timers),
        collections.Counter(runner.instances["v4"].stats),
    )


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(range(len(VARIANTS))), max_size=30))
def test_reusing_a_decode_changes_nothing_the_core_sees(
    tmp_path_factory: pytest.TempPathFactory, picks: list[int]
) -> None:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    clock = [loop.time()]
    loop.time = lambda: clock[0]  # type: ignore[method-assign]
    made: list[Runner] = []
    try:
        mine, theirs = Kernel(), FakeHost()
        ours = make_runner(tmp_path_factory.mktemp("ours"), loop, mine)
        made.append(ours)
        oracle = make_runner(tmp_path_factory.mktemp("oracle"), loop, theirs)
        made.append(oracle)
        for pick in picks:
            clock[0] += 0.25  # never a Master_Down_Interval without an advert
            mine.queue = [VARIANTS[pick]]
            ours.fleet.on_datagrams(KEY)
            reference_feed(oracle, VARIANTS[pick])
            assert seen(ours) == seen(oracle)
    finally:
        for runner in made:
            for name in list(runner.instances):
                runner.fleet.remove_instance(name)
        loop.close()
        asyncio.set_event_loop(None)


def test_the_same_advert_again_is_not_decoded_again(
    tmp_path: Path, loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    kernel = Kernel()
    runner = make_runner(tmp_path, loop, kernel)
    calls = []

    def counting(*args: Any, **kwargs: Any) -> Advertisement:
        calls.append(args)
        return decode(*args, **kwargs)

    monkeypatch.setattr(fleet_module, "decode", counting)
    try:
        for _round in range(5):
            kernel.queue = [datagram()]  # a new bytes object each time, as from the kernel
            runner.fleet.on_datagrams(KEY)
        assert len(calls) == 1
        assert runner.instances["v4"].stats["adverts_received"] == 5
        kernel.queue = [datagram(ttl=64)]
        runner.fleet.on_datagrams(KEY)
        assert len(calls) == 2
        assert runner.instances["v4"].stats["drop.ttl"] == 1
    finally:
        for name in list(runner.instances):
            runner.fleet.remove_instance(name)


def test_a_core_error_on_the_backup_fast_path_spares_the_batch(
    tmp_path: Path, loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in ``VirtualRouter.heard_again`` is what ``Runner.feed`` makes of
    one in ``handle``: counted as core_errors, logged, and the datagrams after
    it are still heard; the advert itself goes the general way (``handle``)."""
    kernel = Kernel()
    runner = make_runner(tmp_path, loop, kernel)
    router = runner.instances["v4"].router

    def broken(event: Any, now: float) -> float | None:
        raise VRRPError("a bug on the fast path")

    try:
        kernel.queue = [datagram()]  # accepted by handle(): heard_again's next
        runner.fleet.on_datagrams(KEY)
        monkeypatch.setattr(router, "heard_again", broken)
        before = dict(router.timers)
        kernel.queue = [datagram(), datagram(), datagram(priority=0)]
        runner.fleet.on_datagrams(KEY)  # raised out of the batch before the fix
        stats = runner.instances["v4"].stats
        assert stats["adverts_received"] == 4 and stats["priority_zero_received"] == 1
        assert runner.counters["core_errors"] == 2
        assert router.timers != before  # handle() moved the Master_Down_Timer
    finally:
        for name in list(runner.instances):
            runner.fleet.remove_instance(name)
