"""A hand-run stand-in for the asyncio loop: ``time``, ``call_at``, ``call_later``.

``run(until)`` fires every callback due by ``until`` in time order (moving
``time()`` along), so tests of timer-driven code assert counts and order,
never wall-clock timings. ``lateness`` (optional) models a real loop's: each
handle runs that much after its ``when()`` (asyncio's epoll wait is in whole
milliseconds, rounded up).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any


class Handle:
    def __init__(self, when: float, callback: Callable[..., None], args: tuple[Any, ...]) -> None:
        self._when, self.callback, self.args = when, callback, args
        self._cancelled = False

    def when(self) -> float:
        return self._when

    def cancel(self) -> None:
        self._cancelled = True

    def cancelled(self) -> bool:
        return self._cancelled


class FakeLoop:
    """call_at / call_later / time, run by hand: ``run(until)`` fires due callbacks."""

    def __init__(self, lateness: Callable[[], float] | None = None) -> None:
        self.now = 0.0
        self._lateness = lateness
        self._queue: list[tuple[float, int, Handle]] = []
        self._order = itertools.count()

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[..., None], *args: Any) -> Handle:
        handle = Handle(when, callback, args)
        runs = when if self._lateness is None else max(when, self.now) + self._lateness()
        heapq.heappush(self._queue, (runs, next(self._order), handle))
        return handle

    def call_exactly(self, when: float, callback: Callable[..., None], *args: Any) -> Handle:
        """``call_at`` without the lateness (a timerfd's wake)."""
        handle = Handle(when, callback, args)
        heapq.heappush(self._queue, (when, next(self._order), handle))
        return handle

    def call_later(self, delay: float, callback: Callable[..., None], *args: Any) -> Handle:
        return self.call_at(self.now + delay, callback, *args)

    def call_soon(self, callback: Callable[..., None], *args: Any) -> Handle:
        return self.call_at(self.now, callback, *args)

    def run(self, until: float) -> None:
        while self._queue and self._queue[0][0] <= until:
            when, _seq, handle = heapq.heappop(self._queue)
            self.now = max(self.now, when)
            if not handle.cancelled():
                handle.callback(*handle.args)
        self.now = until
