"""Host-side helpers of the lab: commands, namespace listing and sweeping, waiting.

Nothing here creates anything; ``lab.core`` builds the topology on top of it.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from typing import Final, TypeVar

T = TypeVar("T")


def run_cmd(
    argv: Sequence[str], *, check: bool = True, timeout: float = 30.0
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, list(argv), proc.stdout, proc.stderr)
    return proc


_B36: Final = "0123456789abcdefghijklmnopqrstuvwxyz"
_prefix_counter = itertools.count(1)


def base36(n: int) -> str:
    digits = ""
    while True:
        n, rem = divmod(n, 36)
        digits = _B36[rem] + digits
        if n == 0:
            return digits


# "fv" + the last three base-36 digits of our PID: distinct among concurrent runs,
# short enough that "{prefix}{counter}-{router}" stays a short name.
SESSION_PREFIX: Final = "fv" + base36(os.getpid())[-3:].rjust(3, "0")


def unique_prefix() -> str:
    """A lab prefix unique per process and per call: ``SESSION_PREFIX`` + a counter."""
    return SESSION_PREFIX + base36(next(_prefix_counter))


def ensure_tool(binary: str, package: str) -> str:
    """Path of ``binary``; installs the Debian ``package`` when it is missing.

    ``make deps`` installs them all; this covers a bare ``pytest`` run as root.
    """
    sbin = ("/usr/sbin", "/sbin")
    found = shutil.which(binary) or next(
        (f"{d}/{binary}" for d in sbin if os.access(f"{d}/{binary}", os.X_OK)), None
    )
    if found:
        return found
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package]
    if subprocess.run(install, env=env, capture_output=True, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, check=True)
        subprocess.run(install, env=env, capture_output=True, check=True)
    found = shutil.which(binary) or next(
        (f"{d}/{binary}" for d in sbin if os.access(f"{d}/{binary}", os.X_OK)), None
    )
    if not found:
        raise RuntimeError(f"{binary} is missing and apt-get could not install {package}")
    return found


def netns_list() -> list[str]:
    """Names of all named network namespaces (``ip -j netns list``)."""
    out = run_cmd(["ip", "-j", "netns", "list"]).stdout.strip()
    if not out:
        return []
    return [str(entry["name"]) for entry in json.loads(out)]


def kill_ns_processes(ns: str) -> None:
    """Kill what still runs inside a namespace of ours (a crashed run's leftovers)."""
    pids = run_cmd(["ip", "netns", "pids", ns], check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


def sweep(prefix: str) -> list[str]:
    """Remove every namespace named ``{prefix}-*`` and the processes inside it.

    Returns the names removed. Deleting a namespace removes its veth ends, and
    with them their peers in the other namespaces.
    """
    removed = []
    for ns in netns_list():
        if ns.startswith(prefix + "-"):
            kill_ns_processes(ns)
            run_cmd(["ip", "netns", "del", ns], check=False)
            removed.append(ns)
    return removed


def wait_for(
    predicate: Callable[[], T],
    *,
    timeout: float = 5.0,
    interval: float = 0.01,
    what: str = "condition",
) -> T:
    """Poll until ``predicate()`` is truthy; raise ``TimeoutError`` naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
