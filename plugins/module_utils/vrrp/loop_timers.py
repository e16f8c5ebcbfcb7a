"""A virtual router's timers on the event loop: one loop handle per core timer.

The core says when each of its timers is due (``ArmTimer``/``CancelTimer``);
this class makes the loop call back at that moment. A Backup hears an advert
every Advertisement_Interval and each one moves its Master_Down timer forward
(RFC 9568 §6.4.2): cancelling the loop's handle and making a new one per
advert costs a TimerHandle, a heap push with Python-level comparisons, and
cancelled handles the loop must sweep out of its heap, for 510 instances 510
times a second. So a handle that is due before the new deadline is kept while
it is still at least a third of the way there; when it fires before the
deadline it is armed again for the deadline itself. The owner's ``expired``
is called when the loop's clock reaches the latest deadline asked, never
before and never later than a fresh handle would have fired: the core sees
the same ``TimerExpired`` at the same time as with a handle per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from .fsm_types import Timer


class LoopTimers:
    """The loop handles of one instance's timers (see the module docstring)."""

    __slots__ = ("_deadlines", "_expired", "_handles", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, expired: Callable[[Timer], None]) -> None:
        self._loop = loop
        self._expired = expired
        self._handles: dict[Timer, asyncio.TimerHandle] = {}
        self._deadlines: dict[Timer, float] = {}

    def arm(self, timer: Timer, at: float) -> None:
        """Have ``expired(timer)`` called at loop time ``at`` (replacing any earlier ask)."""
        self._deadlines[timer] = at
        handle = self._handles.get(timer)
        if handle is not None:
            when = handle.when()
            now = self._loop.time()
            if when <= at and 3 * (when - now) >= at - now:
                # Due first, far enough off that the next advert will most
                # likely move the deadline again before it fires: _fire re-arms.
                return
            handle.cancel()
        self._handles[timer] = self._loop.call_at(at, self._fire, timer)

    def cancel(self, timer: Timer) -> None:
        self._deadlines.pop(timer, None)
        handle = self._handles.pop(timer, None)
        if handle is not None:
            handle.cancel()

    def close(self) -> None:
        """Cancel every timer."""
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()
        self._deadlines.clear()

    def __contains__(self, timer: object) -> bool:
        """Whether ``timer`` is armed."""
        return timer in self._deadlines

    def armed(self) -> dict[Timer, float]:
        """The deadline of each armed timer (a copy)."""
        return dict(self._deadlines)

    def _fire(self, timer: Timer) -> None:
        handle = self._handles.pop(timer, None)
        at = self._deadlines.get(timer)
        if at is None:  # cancelled (its handle too: not reached)
            return
        if handle is not None and at > handle.when():
            # The deadline moved on since this handle was made.
            self._handles[timer] = self._loop.call_at(at, self._fire, timer)
            return
        del self._deadlines[timer]
        self._expired(timer)
