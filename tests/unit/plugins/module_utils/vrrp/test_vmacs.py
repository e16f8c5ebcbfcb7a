"""vmacs.VmacKeeper's retry schedule, on a recording loop (no time passes).

1 s after a failure, doubling up to 30 s while anything still fails, back to
1 s once everything is set up or at a reload; a retry that raises (a bug)
neither ends the retries nor reaches the event loop.
"""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace
from typing import Any

import pytest

from vrrp.errors import NetlinkError
from vrrp.vmacs import RETRY_FIRST, RETRY_MAX, VmacKeeper


class Handle:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class RecordingLoop:
    def __init__(self) -> None:
        self.calls: list[tuple[float, Any, Handle]] = []

    def call_later(self, delay: float, callback: Any) -> Handle:
        handle = Handle()
        self.calls.append((delay, callback, handle))
        return handle

    def fire(self) -> float:
        """Run the one pending timer; its delay."""
        pending = [(d, cb) for d, cb, h in self.calls if not h.cancelled]
        assert len(pending) == 1, pending
        self.calls.clear()
        delay, callback = pending[0]
        callback()
        return delay


class Io:
    def __init__(self) -> None:
        self.error: str | None = "sysctl refused"
        self.index = 7

    def kernel_index(self, ifname: str) -> int | None:
        return self.index

    def create_vmac(self, instance: Any, *, ours: int | None = None) -> None:
        if self.error is not None:
            raise NetlinkError(self.error)


def inst() -> Any:
    return SimpleNamespace(name="vm", address_ifname="vrrp.5", ifname="eth0", stats=Counter())


@pytest.fixture
def setup() -> tuple[RecordingLoop, Io, VmacKeeper, list[list[str]]]:
    loop, io, retried = RecordingLoop(), Io(), []
    vm = inst()

    def retry(names: list[str]) -> None:
        retried.append(names)
        keeper.set_up(vm)

    keeper = VmacKeeper(loop=loop, io=io, retry=retry)  # type: ignore[arg-type]
    assert keeper.set_up(vm) is False and keeper.failing == {"vm": "vmac:sysctl refused"}
    return loop, io, keeper, retried


def test_the_backoff_doubles_to_its_cap_and_restarts_after_success(setup: Any) -> None:
    loop, io, keeper, retried = setup
    delays = [loop.fire() for _round in range(8)]
    assert delays == [RETRY_FIRST, 2, 4, 8, 16, RETRY_MAX, RETRY_MAX, RETRY_MAX]
    assert retried == [["vm"]] * 8
    io.error = None
    loop.fire()
    assert not keeper.failing and not [c for c in loop.calls if not c[2].cancelled]
    io.error, io.index = "again", 8  # made again: a new failure starts at 1 s
    keeper.set_up(inst())
    assert loop.fire() == RETRY_FIRST


def test_a_reload_retries_at_once_and_starts_the_backoff_again(setup: Any) -> None:
    loop, _io, keeper, retried = setup
    for _round in range(4):
        loop.fire()
    keeper.retry_now()
    assert retried[-1] == ["vm"] and len(retried) == 5
    assert loop.fire() == RETRY_FIRST


def test_a_retry_that_raises_does_not_end_the_retries(setup: Any) -> None:
    loop, _io, keeper, _retried = setup

    def broken(names: list[str]) -> None:
        raise RuntimeError("bug")

    keeper._retry = broken
    assert loop.fire() == RETRY_FIRST  # no exception out of the callback
    assert loop.fire() == 2 and keeper.failing
