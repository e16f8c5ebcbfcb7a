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
from collections.abc import Callable
from typing import Any, Final

log = logging.getLogger("failover-vrrp")

FILE_POLL_INTERVAL: Final = 1.0


def read_track_file(path: str) -> int:
    """The integer a tracked file holds; a missing, empty or garbled file is 0.

    keepalived reads the file the same way; the reason is logged by the caller.
    """
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            text = handle.read(64).strip()
    except OSError:
        return 0
    try:
        return int(text.split()[0]) if text else 0
    except ValueError:
        return 0


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
                start_new_session=True,
            )
        except OSError as exc:
            self.last_result = f"error: {exc.strerror or exc}"
            return False
        try:
            code = await asyncio.wait_for(proc.wait(), timeout=self.spec.timeout)
        except asyncio.TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            self.last_result = "timeout"
            return False
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


class FileTracker(_Periodic):
    """Polls the tracked files of the runner once a second."""

    def __init__(self, *, paths: set[str], report: Callable[[str, int], None]) -> None:
        self.paths = paths
        self.report = report
        self.values: dict[str, int] = {}

    def poll(self) -> None:
        for path in sorted(self.paths):
            value = read_track_file(path)
            if self.values.get(path) != value:
                self.values[path] = value
                self.report(path, value)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(FILE_POLL_INTERVAL)
            self.poll()
