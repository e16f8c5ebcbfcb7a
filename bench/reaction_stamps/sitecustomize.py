"""Stamps on a runner's takeover path, for ``bench/reaction.py`` (nothing here otherwise).

Python imports ``sitecustomize`` at start-up from ``PYTHONPATH``; with
``REACTION_STAMPS`` naming a file, every process started so (the lab's
runners) wraps, before the runner imports them, the steps between the
Master_Down deadline and the VIP's netlink request and writes one JSON line per
step with ``CLOCK_MONOTONIC`` stamps (the loop's own clock): the loop callback
that expires the timer, the instance's ``_expire`` (core step and actions), the
Transition's record (log line, notifier), ``KernelIo.add_addresses`` and the
``AddressChannel.add`` netlink requests inside it, the first announce.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from typing import Any

_PATH = os.environ.get("REACTION_STAMPS")
_DUE: dict[int, tuple[float, float]] = {}  # id(LoopTimers) -> (callback ran, deadline)


def _write(out: Any, **fields: Any) -> None:
    out.write(json.dumps({"pid": os.getpid(), **fields}) + "\n")


def _timed(out: Any, step: str, func: Any) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.monotonic()
        try:
            return func(*args, **kwargs)
        finally:
            _write(out, step=step, start=start, end=time.monotonic())

    return wrapper


def _install(out: Any) -> None:
    from vrrp import hostio, instance, loop_timers  # noqa: PLC0415
    from vrrp.fsm_types import Timer  # noqa: PLC0415
    from vrrp.linux import address_channel  # noqa: PLC0415

    fire = loop_timers.LoopTimers._fire

    def stamped_fire(self: Any, timer: Timer) -> None:
        now = time.monotonic()
        at = self._deadlines.get(timer)
        if timer is Timer.MASTER_DOWN and at is not None and at <= now:
            _DUE[id(self)] = (now, at)
        fire(self, timer)

    expire = instance.Instance._expire

    def stamped_expire(self: Any, timer: Timer) -> None:
        start = time.monotonic()
        expire(self, timer)
        due = _DUE.pop(id(self._timers), None)
        if due is not None:
            _write(out, step="expire", fired=due[0], deadline=due[1], start=start,
                   end=time.monotonic(), state=self.router.state.value)  # fmt: skip

    loop_timers.LoopTimers._fire = stamped_fire  # type: ignore[method-assign]
    instance.Instance._expire = stamped_expire  # type: ignore[method-assign]
    instance.Instance._record = _timed(out, "record", instance.Instance._record)  # type: ignore[method-assign]
    hostio.KernelIo.add_addresses = _timed(out, "add_addresses", hostio.KernelIo.add_addresses)  # type: ignore[method-assign]
    hostio.KernelIo.announce = _timed(out, "announce", hostio.KernelIo.announce)  # type: ignore[method-assign]
    channel = address_channel.AddressChannel
    channel.add = _timed(out, "add_vip", channel.add)  # type: ignore[method-assign]


if _PATH:
    # A process without the engine on its path (the bench itself) is left alone.
    with contextlib.suppress(ImportError):
        _install(open(_PATH, "a", buffering=1, encoding="utf-8"))  # noqa: SIM115 - open for the process's life
