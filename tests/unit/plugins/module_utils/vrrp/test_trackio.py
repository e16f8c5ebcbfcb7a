"""Tracked files and scripts against a hostile local user.

A tracked file may sit in a directory others can write: whatever is put at its
path (a FIFO, a device, a huge file, a symlink) must never block the runner's
loop. A track script is a process group of its own and dies with its tracker.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

import pytest
from test_hooks import SYSTEMD_VARIABLES, pid_alive, script

from vrrp.trackio import FileTracker, ScriptTracker, read_track_file

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, 30))


@pytest.fixture
def no_hang() -> Iterator[None]:
    """Turn a blocked system call in this test into a failure after 20 s."""

    def expired(_signum: int, _frame: Any) -> None:
        raise TimeoutError("blocked for 20 s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(20)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def read_in_thread(path: str, timeout: float = 10.0) -> int | None:
    """read_track_file(path), or None if it was still blocked after ``timeout``."""
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(read_track_file(path)), daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        # Unblock it (the old code sat in open() waiting for a writer).
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        thread.join(5)
        return None
    return result[0]


def test_a_fifo_at_a_tracked_path_does_not_block(tmp_path: Path) -> None:
    fifo = tmp_path / "track"
    os.mkfifo(fifo)
    assert read_in_thread(str(fifo)) == 0


def test_a_fifo_with_a_writer_is_not_read_either(tmp_path: Path) -> None:
    fifo = tmp_path / "track"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    writer = os.open(fifo, os.O_WRONLY)
    try:
        os.write(writer, b"42\n")
        assert read_in_thread(str(fifo)) == 0
    finally:
        os.close(writer)
        os.close(reader)


def test_regular_files_and_symlinks_to_them_are_read(tmp_path: Path) -> None:
    target = tmp_path / "real"
    target.write_text("  17 extra words\n")
    link = tmp_path / "link"
    link.symlink_to(target)
    assert read_track_file(str(target)) == 17
    assert read_track_file(str(link)) == 17, "a symlink to a regular file is an admin's setup"
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    assert read_track_file(str(tmp_path / "dangling")) == 0


def test_a_directory_a_device_or_a_huge_file_is_a_failed_read(tmp_path: Path) -> None:
    assert read_track_file(str(tmp_path)) == 0
    assert read_in_thread("/dev/zero") == 0
    huge = tmp_path / "huge"
    with huge.open("wb") as fh:
        fh.write(b"5" + b"0" * (1 << 20))
    assert read_track_file(str(huge)) == int("5" + "0" * 63), "only the first 64 bytes are read"


def test_a_non_regular_file_is_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, no_hang: None
) -> None:
    fifo = tmp_path / "track"
    os.mkfifo(fifo)
    seen: list[tuple[str, int]] = []
    tracker = FileTracker(paths={str(fifo)}, report=lambda p, v: seen.append((p, v)))
    with caplog.at_level(logging.WARNING, logger="failover-vrrp"):
        for _round in range(3):
            tracker.poll()
    assert seen == [(str(fifo), 0)]
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert str(fifo) in warnings[0] and "not a regular file" in warnings[0]
    os.unlink(fifo)
    fifo.write_text("3\n")
    tracker.poll()
    assert seen[-1] == (str(fifo), 3)


def spec(argv: list[str], **overrides: Any) -> Any:
    fields = {"name": "chk", "argv": argv, "interval": 0.05, "timeout": 30.0, "rise": 1, "fall": 1}
    fields.update(overrides)
    return SimpleNamespace(**fields)


def test_a_cancelled_tracker_kills_and_reaps_its_script(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    check = script(tmp_path, "chk", f"sleep 60 & echo $$ $! > {pids}; wait")

    async def go() -> tuple[int, int]:
        tracker = ScriptTracker(spec=spec([check]), report=lambda n, ok: None)
        tracker.start()
        deadline = time.monotonic() + 10
        while not (pids.exists() and pids.read_text().strip()) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        shell, child = map(int, pids.read_text().split())
        await tracker.close()
        return shell, child

    shell, child = run(go())
    deadline = time.monotonic() + 5
    while (pid_alive(shell) or pid_alive(child)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not pid_alive(child), "the script's own child died with the tracker"
    with pytest.raises(ChildProcessError):
        os.waitpid(shell, os.WNOHANG)  # reaped: no zombie left


def test_track_scripts_do_not_inherit_systemd_notify_or_watchdog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in SYSTEMD_VARIABLES.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "env"
    check = script(tmp_path, "chk", f"env > {out}")
    tracker = ScriptTracker(spec=spec([check]), report=lambda n, ok: None)
    assert run(tracker.run_once()) is True
    seen = {line.split("=", 1)[0] for line in out.read_text().splitlines()}
    assert not set(SYSTEMD_VARIABLES) & seen
    assert "PATH" in seen


def test_a_script_that_cannot_start_is_down_not_up() -> None:
    results: list[bool] = []
    tracker = ScriptTracker(spec=spec(["/bin/true", "a\x00b"]), report=lambda n, ok: None)

    async def go() -> None:
        results.append(await tracker.run_once())
        tracker.ok = True  # even from up, a script that cannot start goes down
        tracker._count(await tracker.run_once())

    run(go())
    assert results == [False]
    assert tracker.ok is False
    assert tracker.last_result.startswith("error:")
    assert sys.executable  # the suite's interpreter ran the rest
