"""Tests that run in network namespaces: the ``lab`` fixture and the guards around it.

Every test here is marked ``netns``. They are skipped only when they cannot run
(not root, or ``ip netns`` does not work); CI runs as root, so there they run.
A session-end check fails the run if any namespace with this process's prefix
is left behind.
"""

from __future__ import annotations

import functools
import os
import subprocess
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from lab import SESSION_PREFIX, Lab, netns_list, sweep, unique_prefix

_HERE = Path(__file__).resolve().parent


@functools.cache
def netns_unusable() -> str | None:
    """Why namespace tests cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "needs root for network namespaces (CI runs these as root)"
    probe = f"{SESSION_PREFIX}probe-x"
    try:
        add = subprocess.run(
            ["ip", "netns", "add", probe], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        return "iproute2's `ip` is not installed"
    if add.returncode != 0:
        return f"`ip netns add` does not work here: {add.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
    return None


def shard_of(counts: dict[str, int], shards: int) -> dict[str, int]:
    """File -> shard: the files with most tests first, each to the lightest shard
    (by test count, ties by index). Deterministic, so two sessions agree."""
    load = [0] * shards
    out: dict[str, int] = {}
    for name, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        index = min(range(shards), key=lambda i: (load[i], i))
        out[name] = index
        load[index] += count
    return out


def _keep_shard(config: pytest.Config, items: list[pytest.Item]) -> None:
    """NETNS_SHARD=I/N (``make netns`` runs N sessions side by side): keep the
    files of shard I. A file stays whole (its module fixtures are set up once)."""
    spec = os.environ.get("NETNS_SHARD")
    if not spec:
        return
    index, _slash, total = spec.partition("/")
    counts: dict[str, int] = {}
    for item in items:
        counts[str(item.path)] = counts.get(str(item.path), 0) + 1
    shards = shard_of(counts, int(total))
    kept = [item for item in items if shards[str(item.path)] == int(index)]
    config.hook.pytest_deselected(items=[item for item in items if item not in kept])
    items[:] = kept


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _keep_shard(config, items)
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.netns)
            reason = netns_unusable()
            if reason is not None:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[_call_failed] = report.failed
    return report


_call_failed = pytest.StashKey[bool]()


@pytest.fixture
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    """A fresh, empty lab; torn down after the test (also when it fails)."""
    with Lab(prefix=unique_prefix()) as the_lab:
        yield the_lab
        if request.node.stash.get(_call_failed, False):
            for label, text in the_lab.logs().items():
                print(f"----- {label} -----\n{text[-4000:]}")


@pytest.fixture(scope="session", autouse=True)
def _no_namespace_left_behind() -> Iterator[None]:
    yield
    if netns_unusable() is not None:
        return
    left = [ns for ns in netns_list() if ns.startswith(SESSION_PREFIX)]
    for ns in left:
        sweep(ns.split("-")[0])
    assert not left, f"namespaces left behind by this run (now removed): {left}"
