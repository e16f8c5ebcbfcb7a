"""A virtual router's timers on the event loop: one loop handle per core timer.

The core says when each of its timers is due (``ArmTimer``/``CancelTimer``);
this class makes the loop call back at that moment. A Backup hears an advert
every Advertisement_Interval and each one moves its Master_Down timer forward
(RFC 9568 §6.4.2): cancelling the loop's handle and making a new one per
advert costs a TimerHandle, a heap push with Python-level comparisons, and
cancelled handles the loop must sweep out of its heap, for 510 instances 510
times a second. So a handle that is due before the new deadline is kept while
it is still at least a third of the way there; when it fires before the
deadline it is armed again for the deadline itself.

The timers that decide a takeover (Master_Down, Preempt_Delay) are also
precise. asyncio's epoll wait is in whole milliseconds rounded up, so a loop
handle runs on average half a millisecond, and up to a whole one, late: for
these, the handle is armed :data:`PRECISE_LEAD` before the deadline and, when
it runs with the deadline still ahead, the last stretch is waited on a
timerfd (:class:`TimerFdWake`), which wakes the same epoll wait at the
instant. Nothing spins: the loop sleeps in epoll throughout, and a Backup
whose Master is alive never gets there (its deadline has moved on when the
handle runs). Without a timerfd (another loop, another OS) the handle is
armed at the deadline itself.

Either way the owner's ``expired`` is called when the loop's clock has
reached the latest deadline asked, never before: the core sees the same
``TimerExpired`` as with a handle per request, only closer to its deadline.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import weakref
from collections.abc import Callable
from typing import Final, Protocol

from .fsm_types import Timer
from .linux import timerfd

# asyncio's epoll rounding (≤ 1 ms) and a millisecond of scheduling on top.
PRECISE_LEAD: Final = 0.002
PRECISE_TIMERS: Final = frozenset({Timer.MASTER_DOWN, Timer.PREEMPT_DELAY})
# How late the loop's own handle backs a precise wait up (one that never came).
PRECISE_NET: Final = 0.005


class Wait(Protocol):
    def cancel(self) -> None: ...


class PreciseWake(Protocol):
    """Calls back when the loop's clock has reached an instant, to well under a millisecond."""

    def wake_at(self, at: float, callback: Callable[[], None]) -> Wait: ...


class _Entry:
    __slots__ = ("callback", "cancelled")

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class TimerFdWake:
    """:class:`PreciseWake` for one asyncio selector loop: one timerfd, armed for the next wait.

    Holds the few waits in their last :data:`PRECISE_LEAD` (a heap); the loop
    reads the timerfd when the first is due and this runs every wait due then.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: timerfd.TimerFd) -> None:
        self._loop = weakref.ref(loop)  # the loop keeps this (its reader), not the reverse
        self._fd = fd
        self._waits: list[tuple[float, int, _Entry]] = []
        self._order = itertools.count()
        self._armed = math.inf  # the instant the timerfd is set for
        loop.add_reader(fd.fileno(), self._ready)

    def wake_at(self, at: float, callback: Callable[[], None]) -> Wait:
        entry = _Entry(callback)
        heapq.heappush(self._waits, (at, next(self._order), entry))
        if at < self._armed:
            self._fd.set_at(at)
            self._armed = at
        return entry

    def _ready(self) -> None:
        self._fd.drain()
        loop = self._loop()
        if loop is None:
            return
        now = loop.time()
        waits, due = self._waits, []
        while waits and (waits[0][0] <= now or waits[0][2].cancelled):
            entry = heapq.heappop(waits)[2]
            if not entry.cancelled:
                due.append(entry)
        # Woken a hair before ``now`` reads the instant: set again, it fires at once.
        self._armed = waits[0][0] if waits else math.inf
        if waits:
            self._fd.set_at(self._armed)
        for entry in due:
            try:
                entry.callback()
            except Exception as exc:  # one wait's failure must not lose the others
                loop.call_exception_handler({"message": "precise wait callback", "exception": exc})


_WAKES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, TimerFdWake | None] = (
    weakref.WeakKeyDictionary()
)


def precise_wake(loop: asyncio.AbstractEventLoop) -> PreciseWake | None:
    """The loop's :class:`TimerFdWake` (made at the first ask); None where there is none:
    not an asyncio selector loop on ``time.monotonic()``, or no timerfd."""
    try:
        return _WAKES[loop]
    except KeyError:
        pass
    wake = None
    if (
        isinstance(loop, asyncio.SelectorEventLoop)
        and type(loop).time is asyncio.BaseEventLoop.time
        and timerfd.available()
    ):
        try:
            wake = TimerFdWake(loop, timerfd.TimerFd())
        except OSError:  # out of file descriptors: loop handles only
            wake = None
    _WAKES[loop] = wake
    return wake


class LoopTimers:
    """The loop handles of one instance's timers (see the module docstring)."""

    __slots__ = (
        "_deadlines",
        "_expired",
        "_handles",
        "_loop",
        "_precise",
        "_precise_timers",
        "_waits",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        expired: Callable[[Timer], None],
        *,
        precise: Callable[[asyncio.AbstractEventLoop], PreciseWake | None] = precise_wake,
    ) -> None:
        self._loop = loop
        self._expired = expired
        self._handles: dict[Timer, asyncio.TimerHandle] = {}
        self._deadlines: dict[Timer, float] = {}
        self._precise = precise(loop)
        self._precise_timers = PRECISE_TIMERS if self._precise is not None else frozenset()
        self._waits: dict[Timer, Wait] = {}  # timers in their last stretch, on the PreciseWake

    def _lead(self, timer: Timer) -> float:
        return PRECISE_LEAD if timer in self._precise_timers else 0.0

    def arm(self, timer: Timer, at: float) -> None:
        """Have ``expired(timer)`` called at loop time ``at`` (replacing any earlier ask)."""
        # Run for every advert a Backup hears: kept as cheap as the plain handle's.
        self._deadlines[timer] = at
        if self._waits:
            self._cancel_wait(timer)
        lead = PRECISE_LEAD if timer in self._precise_timers else 0.0
        target = at - lead
        handle = self._handles.get(timer)
        if handle is not None:
            when = handle.when()
            now = self._loop.time()
            if when <= target and 3 * (when - now) >= target - now:
                # Due first, far enough off that the next advert will most
                # likely move the deadline again before it fires: _fire re-arms.
                return
            handle.cancel()
            del self._handles[timer]
        if lead and target <= self._loop.time():  # already in the last stretch
            self._wait_precisely(timer, at)
        else:
            self._handles[timer] = self._loop.call_at(target, self._fire, timer)

    def _cancel_wait(self, timer: Timer) -> None:
        wait = self._waits.pop(timer, None)
        if wait is not None:
            wait.cancel()

    def _wait_precisely(self, timer: Timer, at: float) -> None:
        if self._precise is not None:
            try:
                self._waits[timer] = self._precise.wake_at(at, lambda: self._fire(timer))
            except OSError:  # timerfd_settime refused: the loop's handle alone
                pass
            else:
                # A net under the wake: should it never come, the takeover is
                # a few milliseconds late, never lost.
                self._handles[timer] = self._loop.call_at(at + PRECISE_NET, self._fire, timer)
                return
        self._handles[timer] = self._loop.call_at(at, self._fire, timer)

    def cancel(self, timer: Timer) -> None:
        self._deadlines.pop(timer, None)
        handle = self._handles.pop(timer, None)
        if handle is not None:
            handle.cancel()
        self._cancel_wait(timer)

    def close(self) -> None:
        """Cancel every timer."""
        for timer in list(self._deadlines):
            self.cancel(timer)

    def __contains__(self, timer: object) -> bool:
        """Whether ``timer`` is armed."""
        return timer in self._deadlines

    def armed(self) -> dict[Timer, float]:
        """The deadline of each armed timer (a copy)."""
        return dict(self._deadlines)

    def _fire(self, timer: Timer) -> None:
        """The timer's loop handle or precise wait is due: expire, or wait on."""
        handle = self._handles.pop(timer, None)
        if handle is not None:  # the net under a precise wait that came first
            handle.cancel()
        if self._waits:
            self._cancel_wait(timer)
        at = self._deadlines.get(timer)
        if at is None:  # cancelled (its handle too: not reached)
            return
        now = self._loop.time()
        if at <= now:
            del self._deadlines[timer]
            self._expired(timer)
            return
        lead = self._lead(timer)
        if lead and at - now <= lead:
            self._wait_precisely(timer, at)
        else:
            # The deadline moved on since this handle was made (or the loop
            # ran it a hair early): a handle for the deadline, less the lead.
            self._handles[timer] = self._loop.call_at(at - lead, self._fire, timer)
