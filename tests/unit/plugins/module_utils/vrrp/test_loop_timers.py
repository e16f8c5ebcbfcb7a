"""LoopTimers: a timer fires when a fresh loop handle per request would, with fewer handles.

The reference is the obvious way (cancel the handle, make a new one on every
request) on a hand-run loop; random seeded sequences of requests, cancels and
clock moves must give the same expiries, at the same loop times.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

from hypothesis import given, settings
from hypothesis import strategies as st

from support.fakeloop import FakeLoop
from vrrp.fsm_types import Timer
from vrrp.loop_timers import LoopTimers

TIMERS = (Timer.ADVER, Timer.MASTER_DOWN, Timer.PREEMPT_DELAY)


class HandlePerRequest:
    """The reference: every request cancels the handle and makes a new one."""

    def __init__(self, loop: FakeLoop, expired: Callable[[Timer], None]) -> None:
        self.loop, self.expired = loop, expired
        self.handles: dict[Timer, Any] = {}

    def arm(self, timer: Timer, at: float) -> None:
        self.cancel(timer)
        self.handles[timer] = self.loop.call_at(at, self._fire, timer)

    def cancel(self, timer: Timer) -> None:
        handle = self.handles.pop(timer, None)
        if handle is not None:
            handle.cancel()

    def _fire(self, timer: Timer) -> None:
        del self.handles[timer]
        self.expired(timer)


class Counting(FakeLoop):
    made = 0

    def call_at(self, when: float, callback: Callable[..., None], *args: Any) -> Any:
        self.made += 1
        return super().call_at(when, callback, *args)


def fired_log(loop: FakeLoop) -> tuple[list[tuple[float, Timer]], Callable[[Timer], None]]:
    log: list[tuple[float, Timer]] = []
    return log, lambda timer: log.append((loop.time(), timer))


step = st.tuples(
    st.sampled_from(["arm", "arm", "arm", "cancel"]),
    st.sampled_from(TIMERS),
    st.floats(min_value=0.0, max_value=5.0),  # deadline from now
    st.floats(min_value=0.0, max_value=2.0),  # then the clock moves this far
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(step, max_size=60))
def test_expiries_match_a_handle_per_request(steps: list[tuple[str, Timer, float, float]]) -> None:
    ref_loop, loop = FakeLoop(), FakeLoop()
    ref_log, ref_expired = fired_log(ref_loop)
    log, expired = fired_log(loop)
    ref = HandlePerRequest(ref_loop, ref_expired)
    timers = LoopTimers(cast(asyncio.AbstractEventLoop, loop), expired)
    for op, timer, ahead, move in steps:
        if op == "arm":
            ref.arm(timer, ref_loop.time() + ahead)
            timers.arm(timer, loop.time() + ahead)
        else:
            ref.cancel(timer)
            timers.cancel(timer)
        assert timers.armed() == {t: h.when() for t, h in ref.handles.items()}
        ref_loop.run(ref_loop.time() + move)
        loop.run(loop.time() + move)
        assert sorted(log) == sorted(ref_log)
    ref_loop.run(ref_loop.time() + 10)
    loop.run(loop.time() + 10)
    assert sorted(log) == sorted(ref_log)
    assert timers.armed() == {}


def test_a_steady_backup_makes_a_handle_every_few_adverts_not_every_one() -> None:
    loop = Counting()
    log, expired = fired_log(loop)
    timers = LoopTimers(cast(asyncio.AbstractEventLoop, loop), expired)
    adverts = 300
    for _round in range(adverts):  # an advert a second; Master_Down_Interval 3.6 s
        timers.arm(Timer.MASTER_DOWN, loop.time() + 3.6)
        loop.run(loop.time() + 1.0)
    assert log == []
    assert loop.made <= adverts / 2
    loop.run(loop.time() + 3.6)  # the Master went quiet: on time, not early
    assert log == [(adverts - 1 + 3.6, Timer.MASTER_DOWN)]


def test_an_earlier_deadline_is_never_missed() -> None:
    loop = FakeLoop()
    log, expired = fired_log(loop)
    timers = LoopTimers(cast(asyncio.AbstractEventLoop, loop), expired)
    timers.arm(Timer.MASTER_DOWN, 3.6)
    timers.arm(Timer.MASTER_DOWN, 0.6)  # a priority-0 advert: Skew_Time
    loop.run(1.0)
    assert log == [(0.6, Timer.MASTER_DOWN)]
    timers.arm(Timer.ADVER, 2.0)
    timers.close()
    loop.run(5.0)
    assert log == [(0.6, Timer.MASTER_DOWN)]
