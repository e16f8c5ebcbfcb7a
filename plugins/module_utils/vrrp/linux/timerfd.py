"""timerfd(2): a file descriptor that becomes readable at a CLOCK_MONOTONIC instant.

asyncio's epoll selector waits in whole milliseconds, rounded up
(``selectors.EpollSelector.select``: ``math.ceil(timeout * 1e3) * 1e-3``), so a
loop timer runs on average about half a millisecond, and up to a whole one,
after its time. A timerfd armed at an absolute instant wakes the same epoll
wait at that instant to the timer slack (50 µs for a normal task): the loop
sees it readable and runs its reader then. ``os.timerfd_*`` exist from Python
3.13 only; the engine runs on 3.9, so libc is called through ctypes.

``asyncio``'s ``loop.time()`` is ``time.monotonic()``, which is
``clock_gettime(CLOCK_MONOTONIC)`` on Linux: the same clock as the timerfd's.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import time
import weakref
from typing import Any, Final

CLOCK_MONOTONIC: Final = 1
TFD_TIMER_ABSTIME: Final = 1
TFD_NONBLOCK: Final = os.O_NONBLOCK
TFD_CLOEXEC: Final = os.O_CLOEXEC
_NS: Final = 1_000_000_000


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.timerfd_create.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.timerfd_create.restype = ctypes.c_int
        libc.timerfd_settime.argtypes = [
            ctypes.c_int,
            ctypes.c_int,
            ctypes.POINTER(_Itimerspec),
            ctypes.POINTER(_Itimerspec),
        ]
        libc.timerfd_settime.restype = ctypes.c_int
    except (OSError, AttributeError):  # no libc, or one without timerfd
        return None
    return libc


_LIBC: Final = _libc()


def available() -> bool:
    """Whether a :class:`TimerFd` can be made here and shares ``time.monotonic()``'s clock."""
    if _LIBC is None:
        return False
    return time.get_clock_info("monotonic").implementation == "clock_gettime(CLOCK_MONOTONIC)"


class TimerFd:
    """One non-blocking, close-on-exec CLOCK_MONOTONIC timerfd (closed when collected)."""

    __slots__ = ("__weakref__", "_close", "_fd", "_settime_fn", "_spec")

    def __init__(self) -> None:
        if _LIBC is None:
            raise OSError("timerfd_create is not available")
        fd = _LIBC.timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"timerfd_create: {os.strerror(err)}")
        self._fd = int(fd)
        self._settime_fn: Any = _LIBC.timerfd_settime
        self._spec = _Itimerspec()
        self._close = weakref.finalize(self, os.close, fd)

    def fileno(self) -> int:
        return self._fd

    def set_at(self, at: float) -> None:
        """Become readable when CLOCK_MONOTONIC reaches ``at`` (seconds; at once if past).

        Rounded up to the next nanosecond: never before ``at``.
        """
        ns = max(1, math.ceil(at * _NS))  # 0 would disarm
        self._settime(ns // _NS, ns % _NS)

    def disarm(self) -> None:
        self._settime(0, 0)

    def _settime(self, sec: int, nsec: int) -> None:
        self._spec.it_value.tv_sec = sec
        self._spec.it_value.tv_nsec = nsec
        if self._settime_fn(self._fd, TFD_TIMER_ABSTIME, ctypes.byref(self._spec), None) < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"timerfd_settime: {os.strerror(err)}")

    def drain(self) -> None:
        """Read the expiry count (readable again only at the next expiry)."""
        with contextlib.suppress(BlockingIOError):
            os.read(self._fd, 8)

    def close(self) -> None:
        self._close()
