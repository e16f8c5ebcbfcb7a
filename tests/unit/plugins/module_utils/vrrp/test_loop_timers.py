"""LoopTimers: a timer fires when a fresh loop handle per request would, with fewer handles.

The reference is the obvious way (cancel the handle, make a new one on every
request) on a hand-run loop; random seeded sequences of requests, cancels and
clock moves must give the same expiries, at the same loop times.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support.fakeloop import FakeLoop
from vrrp.fsm_types import Timer
from vrrp.linux import timerfd
from vrrp.loop_timers import PRECISE_NET, PRECISE_TIMERS, LoopTimers, TimerFdWake, precise_wake

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


# --------------------------------------------- precise timers (Master_Down, Preempt_Delay)

LOOP_LATE = 0.0015  # a real loop's handle: up to 1 ms of epoll rounding and some more
WAKE_LATE = 0.00005  # a timerfd: the kernel's timer slack for a normal task


class FakeWake:
    """:class:`~vrrp.loop_timers.PreciseWake` on a FakeLoop: at the instant, plus a slack."""

    def __init__(self, loop: FakeLoop, rng: random.Random) -> None:
        self.loop, self.rng = loop, rng

    def wake_at(self, at: float, callback: Callable[[], None]) -> Any:
        return self.loop.call_exactly(at + self.rng.uniform(0, WAKE_LATE), callback)


precise_step = st.tuples(
    st.sampled_from(["arm", "arm", "arm", "cancel"]),
    st.sampled_from(TIMERS),
    st.floats(min_value=0.0, max_value=0.01),  # deadline from now
    st.floats(min_value=0.0, max_value=0.006),  # then the clock moves this far
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(precise_step, max_size=60), st.integers(0, 2**32 - 1))
def test_expiry_never_early_and_precise_timers_on_time_on_an_idle_loop(
    steps: list[tuple[str, Timer, float, float]], seed: int
) -> None:
    """The core never sees TimerExpired before its deadline; on a loop whose
    handles run up to LOOP_LATE late, Master_Down and Preempt_Delay expire
    within the wake's slack of it, the others within the loop's lateness."""
    rng = random.Random(seed)
    loop = FakeLoop(lateness=lambda: rng.uniform(0, LOOP_LATE))
    wake = FakeWake(loop, rng)
    asked: dict[Timer, float] = {}
    seen: list[tuple[Timer, float, float]] = []  # timer, deadline, expired at

    def expired(timer: Timer) -> None:
        seen.append((timer, asked.pop(timer), loop.time()))

    timers = LoopTimers(cast(asyncio.AbstractEventLoop, loop), expired, precise=lambda _l: wake)
    for op, timer, ahead, move in steps:
        if op == "arm":
            asked[timer] = loop.time() + ahead
            timers.arm(timer, asked[timer])
        else:
            asked.pop(timer, None)
            timers.cancel(timer)
        assert timers.armed() == asked
        loop.run(loop.time() + move)
    loop.run(loop.time() + 1)
    assert asked == {}  # every deadline asked and not cancelled expired
    for timer, deadline, at in seen:
        assert at >= deadline, f"{timer.name} expired {deadline - at:.6f} s early"
        late = WAKE_LATE if timer in PRECISE_TIMERS else LOOP_LATE
        assert at <= deadline + late, f"{timer.name} expired {at - deadline:.6f} s late"


def test_a_steady_backup_never_waits_precisely() -> None:
    """Adverts keep moving Master_Down: no precise wait, handles as without one."""
    loop = Counting(lateness=lambda: LOOP_LATE)
    waits: list[float] = []
    wake = FakeWake(loop, random.Random(1))

    def wake_at(at: float, callback: Callable[[], None]) -> Any:
        waits.append(at)
        return FakeWake.wake_at(wake, at, callback)

    wake.wake_at = wake_at  # type: ignore[method-assign]
    log, expired = fired_log(loop)
    timers = LoopTimers(cast(asyncio.AbstractEventLoop, loop), expired, precise=lambda _l: wake)
    adverts = 300
    for _round in range(adverts):
        timers.arm(Timer.MASTER_DOWN, loop.time() + 3.6)
        loop.run(loop.time() + 1.0)
    assert (log, waits) == ([], [])
    assert loop.made <= adverts / 2
    deadline = loop.time() - 1.0 + 3.6
    loop.run(loop.time() + 3.6)  # the Master went quiet
    assert waits == [deadline]
    assert log and deadline <= log[0][0] <= deadline + WAKE_LATE


class LostWake:
    """A precise wake that never comes (a timerfd whose settime failed silently), or
    refuses outright."""

    def __init__(self, *, refuse: bool) -> None:
        self.refuse = refuse

    def wake_at(self, at: float, callback: Callable[[], None]) -> Any:
        if self.refuse:
            raise OSError(22, "timerfd_settime: Invalid argument")

        class Never:
            def cancel(self) -> None:
                pass

        return Never()


@pytest.mark.parametrize("refuse", [False, True])
def test_a_precise_wake_that_never_comes_delays_the_takeover_never_loses_it(
    refuse: bool,
) -> None:
    """Master_Down must expire whatever the timerfd does: the loop's handle backs it up."""
    loop = FakeLoop(lateness=lambda: LOOP_LATE)
    log, expired = fired_log(loop)
    timers = LoopTimers(
        cast(asyncio.AbstractEventLoop, loop), expired, precise=lambda _l: LostWake(refuse=refuse)
    )
    deadline = loop.time() + 3.6
    timers.arm(Timer.MASTER_DOWN, deadline)
    loop.run(loop.time() + 5)
    assert [timer for _at, timer in log] == [Timer.MASTER_DOWN]
    assert deadline <= log[0][0] <= deadline + PRECISE_NET + LOOP_LATE
    assert timers.armed() == {}


def test_on_a_real_loop_expiry_is_never_early() -> None:
    """The timerfd path end to end: random re-arms, every expiry at or after its
    deadline by the loop's own clock (lateness only bounded generously: CI is loaded)."""
    loop = asyncio.new_event_loop()
    asked: dict[Timer, float] = {}
    seen: list[tuple[Timer, float, float]] = []

    def expired(timer: Timer) -> None:
        seen.append((timer, asked.pop(timer), loop.time()))

    timers = LoopTimers(loop, expired)
    try:
        if timerfd.available():
            assert isinstance(precise_wake(loop), TimerFdWake)
        rng = random.Random(14)

        async def drive() -> None:
            for _n in range(150):
                timer = rng.choice(TIMERS)
                asked[timer] = loop.time() + rng.uniform(0, 0.006)
                timers.arm(timer, asked[timer])
                await asyncio.sleep(rng.uniform(0, 0.003))
            for _n in range(500):  # "eventually": 5 s, whatever the load
                if not asked:
                    return
                await asyncio.sleep(0.01)

        loop.run_until_complete(drive())
        assert asked == {}
        assert len(seen) >= 40
        for timer, deadline, at in seen:
            assert at >= deadline, f"{timer.name} expired {deadline - at:.6f} s early"
            assert at - deadline < 2.0
    finally:
        timers.close()
        loop.close()
