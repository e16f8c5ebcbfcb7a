"""Reading tracked files and running tracked scripts for the runner.

Results go to a callback; :mod:`vrrp.tracking` turns them into priorities and
faults. Scripts are argv lists run without a shell, each with a timeout, and
follow keepalived's ``rise`` / ``fall``: a script must succeed ``rise`` times
in a row to count as up and fail ``fall`` times in a row to count as down.
A script that cannot start, or runs past its timeout, has failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import stat
from collections.abc import Callable
from typing import Any, Final

from .hooks import child_environment

log = logging.getLogger("failover-vrrp")

FILE_POLL_INTERVAL: Final = 1.0
TRACK_FILE_READ: Final = 64  # bytes: a number and some white space


def read_track_value(path: str) -> tuple[int, str | None]:
    """(the integer a tracked file holds, why it could not be read or None).

    A missing, empty, garbled or non-regular file is 0, as in keepalived. The
    file may sit where others can write, so nothing put at ``path`` may block
    the runner's loop: the file is opened non-blocking (a FIFO opens at once
    and is not read; a symlink to a regular file is followed, an admin's
    setup), only a regular file is read, and only its first 64 bytes.
    """
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return 0, "not a regular file"
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        try:
            # Checked again on what was opened: the path may have changed since.
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return 0, "not a regular file"
            raw = os.read(fd, TRACK_FILE_READ)
        finally:
            os.close(fd)
    except FileNotFoundError:
        return 0, None
    except OSError as exc:
        return 0, exc.strerror or str(exc)
    text = raw.decode("ascii", "replace").strip()
    try:
        return (int(text.split()[0]) if text else 0), None
    except ValueError:
        return 0, None


def read_track_file(path: str) -> int:
    """The integer a tracked file holds (see :func:`read_track_value`)."""
    return read_track_value(path)[0]


class _Periodic:
    """A background task the runner starts and stops."""

    _task: asyncio.Task[None] | None = None

    async def _loop(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._loop())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class ScriptTracker(_Periodic):
    """Runs one tracked script periodically and reports up/down changes."""

    def __init__(self, *, spec: Any, report: Callable[[str, bool], None]) -> None:
        self.spec = spec
        self.name: str = spec.name
        self.report = report
        self.ok: bool | None = None
        self._streak = 0
        self._streak_ok: bool | None = None
        self.runs = 0
        self.last_result = ""

    async def run_once(self) -> bool:
        """Run the script once; True when it exits 0 within its timeout."""
        self.runs += 1
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.spec.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
                env=child_environment(),
                start_new_session=True,
            )
        except (OSError, ValueError) as exc:  # ValueError: a NUL in argv
            self.last_result = f"error: {getattr(exc, 'strerror', None) or exc}"
            return False
        try:
            code = await asyncio.wait_for(proc.wait(), timeout=self.spec.timeout)
        except asyncio.TimeoutError:
            _kill_group(proc.pid)
            await proc.wait()
            self.last_result = "timeout"
            return False
        except asyncio.CancelledError:
            # The tracker is closed (reload, instance removed, shutdown): the
            # script and its own children go with it, and it is reaped.
            _kill_group(proc.pid)
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(proc.wait()), 5.0)
            raise
        self.last_result = f"exit {code}"
        return code == 0

    def _count(self, success: bool) -> None:
        if success is self._streak_ok:
            self._streak += 1
        else:
            self._streak_ok, self._streak = success, 1
        needed = self.spec.rise if success else self.spec.fall
        if self._streak >= needed and self.ok is not success:
            self.ok = success
            log.info(
                "track script %s is %s (%s)",
                self.name,
                "up" if success else "down",
                self.last_result,
            )
            self.report(self.name, success)

    async def _loop(self) -> None:
        while True:
            self._count(await self.run_once())
            await asyncio.sleep(self.spec.interval)


def _kill_group(pid: int) -> None:
    # The script leads its own session (start_new_session), so -pid is its group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


class FileTracker(_Periodic):
    """Polls the tracked files of the runner once a second."""

    def __init__(self, *, paths: set[str], report: Callable[[str, int], None]) -> None:
        self.paths = paths
        self.report = report
        self.values: dict[str, int] = {}
        self.problems: dict[str, str] = {}  # path -> the read failure last logged

    def poll(self) -> None:
        for path in sorted(self.paths):
            value, problem = read_track_value(path)
            if problem is None:
                self.problems.pop(path, None)
            elif self.problems.get(path) != problem:
                self.problems[path] = problem
                log.warning("tracked file %s: %s; counted as 0", path, problem)
            if self.values.get(path) != value:
                self.values[path] = value
                self.report(path, value)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(FILE_POLL_INTERVAL)
            self.poll()
