"""Fixtures shared by the runner's unit tests: a Runner over a fake HostIo.

The kernel the runner asks (addresses, VRRP sockets, GARP senders, link
probes) is :class:`support.fakehost.FakeHost`; the link state comes from a fake
watcher; the event loop and the timers are real. No root, no namespaces.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from support.fakehost import FakeHost
from vrrp.runner import Runner


class FakeWatcher:
    def link(self, ifname: str) -> Any:
        return SimpleNamespace(up=True, carrier=True)


@pytest.fixture
def kernel() -> FakeHost:
    return FakeHost()


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    loop.close()
    asyncio.set_event_loop(None)


@pytest.fixture
def runner(tmp_path: Path, kernel: FakeHost, loop: asyncio.AbstractEventLoop) -> Iterator[Runner]:
    r = Runner(
        config_path=str(tmp_path / "config.json"),
        state_dir=str(tmp_path / "run"),
        lib_dir=str(tmp_path / "lib"),
        io=kernel,
    )
    r.watcher = FakeWatcher()  # type: ignore[assignment]
    yield r
    for name in list(r.instances):
        r.fleet.remove_instance(name)
