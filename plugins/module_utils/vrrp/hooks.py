"""Notify hooks: programs run on state changes, without a shell, in order.

Each instance has its own lane: a bounded queue and one worker task, so the
hooks of one instance run strictly one after the other in the order their
transitions happened, while different instances do not wait for each other.
:meth:`HookRunner.submit` never blocks and never raises for a bad hook: a
missing program, a failure or a hang is recorded as that hook's result and
logged, and a flood beyond the queue's bound is dropped and counted. The
advert rhythm of the runner never waits for a hook.

Arguments, like keepalived's ``notify_*`` scripts: the configured argv
followed by ``TYPE NAME STATE PRIORITY`` (``TYPE`` is ``INSTANCE`` or
``GROUP``), so a keepalived notify script works unchanged. A sync group's
hooks run once per change of the group's state (:func:`group_state_word`),
in a lane of their own, with priority 0 as keepalived passes for a group. The environment
adds ``VRRP_TYPE``, ``VRRP_INSTANCE``, ``VRRP_STATE``, ``VRRP_OLD_STATE``,
``VRRP_CAUSE`` and ``VRRP_PRIORITY`` for scripts that want more.

A hook runs in its own session (process group) with stdin from /dev/null; on
timeout the whole group is killed (``SIGKILL`` to ``-pid``), so a hook's own
children do not outlive it. The last bytes of its output are kept with its
result.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Union

log = logging.getLogger("failover-vrrp.hooks")

DEFAULT_TIMEOUT: Final = 10.0
QUEUE_LIMIT: Final = 32
RESULTS_KEPT: Final = 20
OUTPUT_KEPT: Final = 4096
CLOSE_TIMEOUT: Final = 5.0
_OUTPUT_GRACE: Final = 1.0  # after exit, for a pipe still held by a stray child

Outcome = Union[int, str]  # exit status (negative: killed by that signal), "timeout", "error: …"


@dataclass(frozen=True)
class HookResult:
    """How one hook run ended."""

    argv: tuple[str, ...]
    outcome: Outcome
    duration: float
    started: float  # Unix time
    output: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "argv": list(self.argv),
            "outcome": self.outcome,
            "duration": round(self.duration, 6),
            "time": self.started,
            "output": self.output,
        }


@dataclass(frozen=True)
class _Job:
    argv: tuple[str, ...]
    env: Mapping[str, str]
    timeout: float


@dataclass
class _Lane:
    queue: asyncio.Queue[_Job]
    results: deque[HookResult]
    counts: Counter[str] = field(default_factory=Counter)
    task: asyncio.Task[None] | None = None
    process: asyncio.subprocess.Process | None = None


# systemd's variables for the runner itself: a child that called sd_notify
# would speak for the runner (READY=1, WATCHDOG=1 from a hung runner's hook).
_SYSTEMD_ONLY: Final = ("NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES")


def child_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a hook or track script: ours without systemd's, plus ``extra``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in _SYSTEMD_ONLY and not key.startswith("WATCHDOG_")
    }
    env.update(extra or {})
    return env


def transition_args(
    *,
    name: str,
    new_state: str,
    priority: int,
    old_state: str | None = None,
    cause: str = "",
    kind: str = "INSTANCE",
) -> tuple[list[str], dict[str, str]]:
    """Trailing arguments (keepalived's ``TYPE NAME STATE PRIORITY``) and environment."""
    env = {
        "VRRP_TYPE": kind,
        "VRRP_INSTANCE": name,
        "VRRP_STATE": new_state,
        "VRRP_OLD_STATE": old_state or "",
        "VRRP_CAUSE": cause,
        "VRRP_PRIORITY": str(priority),
    }
    return [kind, name, new_state, str(priority)], env


GROUP_LANE_PREFIX: Final = "group:"


def group_state_word(members: Iterable[tuple[str, bool]]) -> str | None:
    """keepalived's word for a sync group, from its members' ``(state, enabled)``.

    MASTER, BACKUP or FAULT once every member is in it; STOP once every member
    is stopped (Initialize, disabled); None while the members differ or are
    on their way (Initialize after a fault cleared): no group hook then.
    """
    states = set(members)
    if len(states) != 1:
        return None
    ((state, enabled),) = states
    if state == "INIT":
        return None if enabled else "STOP"
    return state


class HookRunner:
    """Run each instance's hooks in order, bounded in queue length and time."""

    def __init__(
        self,
        *,
        queue_limit: int = QUEUE_LIMIT,
        results_kept: int = RESULTS_KEPT,
        default_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.queue_limit = queue_limit
        self.results_kept = results_kept
        self.default_timeout = default_timeout
        self._lanes: dict[str, _Lane] = {}
        self._closed = False

    # ------------------------------------------------------------- submitting

    def submit(
        self,
        instance: str,
        argv: Sequence[str],
        *,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> bool:
        """Queue ``argv + args`` for ``instance``; False if it was dropped.

        Must be called from the running loop. Never blocks and never raises
        for the hook's sake.
        """
        lane = self._lane(instance)
        if self._closed:
            lane.counts["dropped"] += 1
            log.warning("%s: hook %s dropped: the runner is stopping", instance, _show(argv))
            return False
        job = _Job(
            argv=(*argv, *args),
            env=child_environment(env),
            timeout=self.default_timeout if timeout is None else timeout,
        )
        try:
            lane.queue.put_nowait(job)
        except asyncio.QueueFull:
            lane.counts["dropped"] += 1
            log.warning(
                "%s: hook %s dropped: %d hooks already waiting",
                instance,
                _show(job.argv),
                lane.queue.qsize(),
            )
            return False
        if lane.task is None or lane.task.done():
            lane.task = asyncio.get_running_loop().create_task(self._work(instance, lane))
        return True

    def submit_transition(
        self,
        instance: str,
        argv: Sequence[str],
        *,
        new_state: str,
        priority: int,
        old_state: str | None = None,
        cause: str = "",
        kind: str = "INSTANCE",
        timeout: float | None = None,
    ) -> bool:
        """:meth:`submit` with keepalived's trailing arguments and the VRRP_* environment."""
        args, env = transition_args(
            name=instance,
            new_state=new_state,
            priority=priority,
            old_state=old_state,
            cause=cause,
            kind=kind,
        )
        return self.submit(instance, argv, args=args, env=env, timeout=timeout)

    def submit_group_transition(
        self,
        group: str,
        argv: Sequence[str],
        *,
        new_state: str,
        old_state: str | None = None,
        cause: str = "",
        timeout: float | None = None,
    ) -> bool:
        """A sync group's hook: ``GROUP <name> <STATE> 0``, in the group's own lane."""
        args, env = transition_args(
            name=group,
            new_state=new_state,
            priority=0,
            old_state=old_state,
            cause=cause,
            kind="GROUP",
        )
        return self.submit(f"{GROUP_LANE_PREFIX}{group}", argv, args=args, env=env, timeout=timeout)

    def _lane(self, instance: str) -> _Lane:
        lane = self._lanes.get(instance)
        if lane is None:
            lane = _Lane(
                queue=asyncio.Queue(self.queue_limit),
                results=deque(maxlen=self.results_kept),
            )
            self._lanes[instance] = lane
        return lane

    # -------------------------------------------------------------- reporting

    def results(self, instance: str) -> list[HookResult]:
        """The last results of an instance's hooks, oldest first."""
        lane = self._lanes.get(instance)
        return [] if lane is None else list(lane.results)

    def stats(self) -> dict[str, dict[str, int]]:
        """Counts per instance: run, ok, failed, timeout, error, dropped, queued."""
        return {
            name: {**lane.counts, "queued": lane.queue.qsize()}
            for name, lane in sorted(self._lanes.items())
        }

    def pending(self) -> int:
        """Hooks queued or running, over every instance."""
        return sum(lane.queue.qsize() + (lane.process is not None) for lane in self._lanes.values())

    # --------------------------------------------------------------- running

    async def _work(self, instance: str, lane: _Lane) -> None:
        # Ends when the queue is empty; submit() starts a new worker on demand.
        while not lane.queue.empty():
            job = lane.queue.get_nowait()
            result = await self._run(lane, job)
            lane.results.append(result)
            lane.counts["run"] += 1
            lane.counts[_category(result.outcome)] += 1
            if result.ok:
                log.info("%s: hook %s done in %.3f s", instance, _show(job.argv), result.duration)
            else:
                log.warning(
                    "%s: hook %s: %s after %.3f s%s",
                    instance,
                    _show(job.argv),
                    _describe(result.outcome),
                    result.duration,
                    f"; output: {result.output.strip()[-500:]}" if result.output.strip() else "",
                )

    async def _run(self, lane: _Lane, job: _Job) -> HookResult:
        started, t0 = time.time(), time.monotonic()

        def done(outcome: Outcome, output: bytes = b"") -> HookResult:
            text = output[-OUTPUT_KEPT:].decode("utf-8", "replace")
            return HookResult(job.argv, outcome, time.monotonic() - t0, started, text)

        if not job.argv or not job.argv[0]:
            return done("error: empty argv")
        output = _Output()
        try:
            proc = await asyncio.create_subprocess_exec(
                *job.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output.write_fd,
                stderr=output.write_fd,
                env=dict(job.env),
                start_new_session=True,
            )
        except (OSError, ValueError) as exc:  # ValueError: a NUL in argv
            output.close()
            reason = getattr(exc, "strerror", None) or exc
            return done(f"error: {reason}: {job.argv[0].split(chr(0))[0]}")
        output.start()
        lane.process = proc
        try:
            try:
                await asyncio.wait_for(proc.wait(), job.timeout)
            except asyncio.TimeoutError:
                _kill_group(proc)
                await proc.wait()
                return done("timeout", output.data)
            # A stray child of the hook may hold the pipe open: wait only a little.
            remaining = job.timeout - (time.monotonic() - t0)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(output.eof.wait(), max(0.0, min(remaining, _OUTPUT_GRACE)))
            return done(
                proc.returncode if proc.returncode is not None else "error: no status", output.data
            )
        except asyncio.CancelledError:
            lane.results.append(done("error: killed at shutdown", output.data))
            lane.counts["run"] += 1
            lane.counts["error"] += 1
            if proc.returncode is None:
                _kill_group(proc)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(proc.wait(), 1.0)
            raise
        finally:
            lane.process = None
            output.close()

    # --------------------------------------------------------------- closing

    async def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Refuse new hooks, let queued ones finish for ``timeout`` s, then kill the rest."""
        self._closed = True
        tasks = [lane.task for lane in self._lanes.values() if lane.task and not lane.task.done()]
        late: set[asyncio.Task[None]] = set()
        if tasks:
            _unused, late = await asyncio.wait(tasks, timeout=timeout)
        for lane in self._lanes.values():
            while not lane.queue.empty():
                lane.queue.get_nowait()
                lane.counts["dropped"] += 1
        if late:
            log.warning("killing %d notify hook(s) still running at shutdown", len(late))
        while late:
            # Again until done: before Python 3.12 wait_for() can swallow a
            # cancellation that races with the hook's own exit.
            for task in late:
                task.cancel()
            _unused, late = await asyncio.wait(late, timeout=0.5)


class _Output:
    """The tail of a hook's stdout and stderr, read from our own pipe.

    Our own pipe rather than the subprocess transport's: it is closed when the
    hook ends even if a stray child of the hook still holds the write end.
    """

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        self.buffer = bytearray()
        self.eof = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        os.close(self.write_fd)
        self.write_fd = -1
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.read_fd, self._readable)

    def _readable(self) -> None:
        try:
            chunk = os.read(self.read_fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self.eof.set()
            if self._loop is not None:
                self._loop.remove_reader(self.read_fd)
            return
        self.buffer += chunk
        del self.buffer[:-OUTPUT_KEPT]

    @property
    def data(self) -> bytes:
        return bytes(self.buffer)

    def close(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self.read_fd)
            self._loop = None
        for fd in (self.read_fd, self.write_fd):
            if fd >= 0:
                os.close(fd)
        self.read_fd = self.write_fd = -1


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    # The hook leads its own session (start_new_session), so -pid is its group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _category(outcome: Outcome) -> str:
    if outcome == 0:
        return "ok"
    if outcome == "timeout":
        return "timeout"
    return "error" if isinstance(outcome, str) else "failed"


def _describe(outcome: Outcome) -> str:
    if isinstance(outcome, str):
        return outcome
    if outcome < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-outcome).name}"
    return f"exit status {outcome}"


def _show(argv: Sequence[str]) -> str:
    return " ".join(argv) if argv else "<empty>"
