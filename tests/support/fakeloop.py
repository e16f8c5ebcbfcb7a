"""A hand-run stand-in for the asyncio loop: ``time``, ``call_at``, ``call_later``.

``run(until)`` fires every callback due by ``until`` in time order (moving
``time()`` along), so tests of timer-driven code assert counts and order,
never wall-clock timings.
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

    def __init__(self) -> None:
        self.now = 0.0
        self._queue: list[tuple[float, int, Handle]] = []
        self._order = itertools.count()

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[..., None], *args: Any) -> Handle:
        handle = Handle(when, callback, args)
        heapq.heappush(self._queue, (when, next(self._order), handle))
        return handle

    def call_later(self, delay: float, callback: Callable[..., None], *args: Any) -> Handle:
        return self.call_at(self.now + delay, callback, *args)

    def run(self, until: float) -> None:
        while self._queue and self._queue[0][0] <= until:
            when, _seq, handle = heapq.heappop(self._queue)
            self.now = max(self.now, when)
            if not handle.cancelled():
                handle.callback(*handle.args)
        self.now = until
