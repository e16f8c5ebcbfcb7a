"""Notify hooks: real processes, ordering, timeouts, floods and shutdown."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from vrrp.hooks import HookRunner, transition_args

T = TypeVar("T")
PY = sys.executable


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, 30))


def script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return str(path)


async def settle(hooks: HookRunner, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while hooks.pending() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is dead for our purpose.
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().split(") ")[1][0] != "Z"


def test_hooks_run_in_order_per_instance(tmp_path: Path) -> None:
    log = tmp_path / "log"
    # The first hook is slow: a later one must still not overtake it.
    hook = script(tmp_path, "h", f'sleep "$1"; echo "$2" >> {log}')

    async def go() -> HookRunner:
        hooks = HookRunner()
        for i, delay in enumerate(["0.3", "0", "0.1", "0"]):
            assert hooks.submit("web", [hook, delay, str(i)])
        await settle(hooks)
        return hooks

    hooks = run(go())
    assert log.read_text().split() == ["0", "1", "2", "3"]
    results = hooks.results("web")
    assert [r.outcome for r in results] == [0, 0, 0, 0]
    assert results[0].duration >= 0.3
    assert results[0].started <= results[1].started
    assert hooks.stats() == {"web": {"run": 4, "ok": 4, "queued": 0}}


def test_instances_do_not_wait_for_each_other(tmp_path: Path) -> None:
    async def go() -> tuple[HookRunner, float]:
        hooks = HookRunner()
        hooks.submit("slow", ["sleep", "1"])
        t0 = time.monotonic()
        hooks.submit("fast", ["true"])
        while not hooks.results("fast"):
            await asyncio.sleep(0.01)
        elapsed = time.monotonic() - t0
        await hooks.close()
        return hooks, elapsed

    hooks, elapsed = run(go())
    assert elapsed < 0.8
    assert hooks.results("slow")[0].outcome == 0


def test_submit_never_blocks_the_loop(tmp_path: Path) -> None:
    async def go() -> float:
        hooks = HookRunner()
        t0 = time.monotonic()
        for _unused in range(10):
            hooks.submit("web", ["sleep", "5"], timeout=0.2)
        elapsed = time.monotonic() - t0
        await hooks.close(timeout=0.1)
        return elapsed

    assert run(go()) < 0.05


def test_arguments_and_environment_like_keepalived(tmp_path: Path) -> None:
    out = tmp_path / "out"
    hook = script(
        tmp_path,
        "h",
        f'echo "$@" > {out}; echo "$VRRP_INSTANCE|$VRRP_STATE|$VRRP_OLD_STATE|'
        f'$VRRP_CAUSE|$VRRP_PRIORITY|$VRRP_TYPE" >> {out}',
    )

    async def go() -> None:
        hooks = HookRunner()
        hooks.submit_transition(
            "web",
            [hook, "--flag"],
            new_state="MASTER",
            old_state="BACKUP",
            cause="master_down timer",
            priority=150,
        )
        await settle(hooks)

    run(go())
    assert out.read_text().splitlines() == [
        "--flag INSTANCE web MASTER 150",
        "web|MASTER|BACKUP|master_down timer|150|INSTANCE",
    ]
    args, env = transition_args(name="g", new_state="FAULT", priority=0, kind="GROUP")
    assert args == ["GROUP", "g", "FAULT", "0"]
    assert env["VRRP_OLD_STATE"] == ""


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    # The hook starts a child of its own and both hang.
    hook = script(tmp_path, "h", f"sleep 60 & echo $! > {pidfile}; echo started; wait")

    async def go() -> HookRunner:
        hooks = HookRunner()
        hooks.submit("web", [hook], timeout=0.5)
        hooks.submit("web", ["true"])
        await settle(hooks)
        return hooks

    t0 = time.monotonic()
    hooks = run(go())
    assert time.monotonic() - t0 < 5
    first, second = hooks.results("web")
    assert first.outcome == "timeout"
    assert 0.5 <= first.duration < 3
    assert first.output == "started\n"
    assert second.outcome == 0, "the next hook runs after a timeout"
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 2
    while pid_alive(child) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not pid_alive(child), "the hook's child was killed with it"
    assert hooks.stats()["web"]["timeout"] == 1


def test_failures_are_recorded_not_raised(tmp_path: Path) -> None:
    async def go() -> HookRunner:
        hooks = HookRunner()
        hooks.submit("web", [str(tmp_path / "missing")])
        hooks.submit("web", [str(tmp_path)])  # a directory: permission denied
        hooks.submit("web", [])
        hooks.submit("web", [PY, "-c", "import sys; print('bad thing'); sys.exit(3)"])
        hooks.submit("web", [PY, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"])
        hooks.submit("web", ["true"])
        await settle(hooks)
        return hooks

    hooks = run(go())
    outcomes = [r.outcome for r in hooks.results("web")]
    assert outcomes[0] == f"error: No such file or directory: {tmp_path / 'missing'}"
    assert outcomes[1] == f"error: Permission denied: {tmp_path}"
    assert outcomes[2] == "error: empty argv"
    assert outcomes[3] == 3
    assert outcomes[4] == -15
    assert outcomes[5] == 0
    assert hooks.results("web")[3].output == "bad thing\n"
    assert hooks.stats()["web"] == {"run": 6, "error": 3, "failed": 2, "ok": 1, "queued": 0}
    as_dict = hooks.results("web")[3].as_dict()
    assert as_dict["outcome"] == 3
    assert as_dict["argv"][0] == PY
    assert set(as_dict) == {"argv", "outcome", "duration", "time", "output"}


def test_output_keeps_only_the_tail(tmp_path: Path) -> None:
    async def go() -> HookRunner:
        hooks = HookRunner()
        hooks.submit("web", [PY, "-c", "print('x' * 100000 + 'END')"])
        await settle(hooks)
        return hooks

    result = run(go()).results("web")[0]
    assert result.outcome == 0
    assert len(result.output) == 4096
    assert result.output.endswith("xEND\n")


def test_stray_child_holding_the_pipe_does_not_hold_the_hook(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    hook = script(tmp_path, "h", f"sleep 30 & echo $! > {pidfile}; echo bye")

    async def go() -> HookRunner:
        hooks = HookRunner()
        hooks.submit("web", [hook], timeout=20)
        await settle(hooks)
        return hooks

    t0 = time.monotonic()
    hooks = run(go())
    try:
        assert time.monotonic() - t0 < 3
        assert hooks.results("web")[0].outcome == 0
        assert hooks.results("web")[0].output == "bye\n"
    finally:
        os.kill(int(pidfile.read_text()), 9)


def test_flood_is_bounded_and_counted(tmp_path: Path) -> None:
    async def go() -> tuple[HookRunner, list[bool]]:
        hooks = HookRunner(queue_limit=3, results_kept=2)
        accepted = [hooks.submit("web", ["true"]) for _unused in range(10)]
        await settle(hooks)
        return hooks, accepted

    hooks, accepted = run(go())
    # The worker takes the first job at once, so three wait and the rest drop.
    assert accepted.count(True) in (3, 4)
    stats = hooks.stats()["web"]
    assert stats["dropped"] == accepted.count(False)
    assert stats["run"] == accepted.count(True)
    assert len(hooks.results("web")) == 2, "only the last results are kept"


def test_close_waits_then_kills_and_drops_the_rest(tmp_path: Path) -> None:
    async def go() -> tuple[HookRunner, float, bool]:
        hooks = HookRunner()
        hooks.submit("web", ["sleep", "30"], timeout=60)
        hooks.submit("web", ["true"])
        hooks.submit("db", ["true"])
        await asyncio.sleep(0.2)
        t0 = time.monotonic()
        await hooks.close(timeout=0.3)
        elapsed = time.monotonic() - t0
        late = hooks.submit("web", ["true"])
        return hooks, elapsed, late

    hooks, elapsed, late = run(go())
    assert 0.25 < elapsed < 3
    assert late is False
    assert hooks.results("db")[0].outcome == 0
    stats = hooks.stats()["web"]
    assert stats["dropped"] == 2  # the queued "true" and the one after close
    assert [r.outcome for r in hooks.results("web")] == ["error: killed at shutdown"]
    assert stats["error"] == 1
    assert hooks.pending() == 0
    assert hooks.results("unknown") == []


def test_close_lets_quick_hooks_finish(tmp_path: Path) -> None:
    out = tmp_path / "out"
    hook = script(tmp_path, "h", f"sleep 0.1; echo done >> {out}")

    async def go() -> None:
        hooks = HookRunner()
        for _unused in range(3):
            hooks.submit("web", [hook])
        await hooks.close(timeout=5)

    run(go())
    assert out.read_text().split() == ["done"] * 3


@pytest.mark.parametrize(
    ("outcome", "category", "described"),
    [
        (0, "ok", "exit status 0"),
        (1, "failed", "exit status 1"),
        (-9, "failed", "killed by SIGKILL"),
        (-200, "failed", "exit status -200"),
        ("timeout", "timeout", "timeout"),
        ("error: x", "error", "error: x"),
    ],
)
def test_result_categories(outcome: Any, category: str, described: str) -> None:
    from vrrp.hooks import _category, _describe

    assert _category(outcome) == category
    assert _describe(outcome) == described


SYSTEMD_VARIABLES = {
    "NOTIFY_SOCKET": "/run/systemd/notify",
    "WATCHDOG_PID": "1",
    "WATCHDOG_USEC": "20000000",
    "LISTEN_FDS": "1",
    "LISTEN_PID": "1",
}


def test_hooks_do_not_inherit_systemd_notify_or_watchdog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A hook that called sd_notify would speak for the runner (READY, WATCHDOG=1).
    for key, value in SYSTEMD_VARIABLES.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("KEPT_FOR_HOOKS", "yes")
    out = tmp_path / "env"
    hook = script(tmp_path, "h", f"env > {out}")

    async def go() -> None:
        hooks = HookRunner()
        hooks.submit_transition("web", [hook], new_state="MASTER", priority=100)
        await settle(hooks)

    run(go())
    seen = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
    assert not set(SYSTEMD_VARIABLES) & set(seen)
    assert seen["KEPT_FOR_HOOKS"] == "yes"
    assert seen["VRRP_STATE"] == "MASTER"


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_hook_with_a_nul_is_an_error_and_leaks_nothing(tmp_path: Path) -> None:
    async def go() -> tuple[HookRunner, int, int]:
        hooks = HookRunner()
        before = open_descriptors()
        for _round in range(5):
            assert hooks.submit("web", ["/bin/true", "a\x00b"])
            await settle(hooks)
        after = open_descriptors()
        assert hooks.submit("web", ["true"])
        await settle(hooks)
        return hooks, before, after

    hooks, before, after = run(go())
    assert after == before
    results = hooks.results("web")
    assert [r.outcome for r in results[:5]] == ["error: embedded null byte: /bin/true"] * 5
    assert results[5].outcome == 0, "the lane keeps running"
