"""The sd_notify status line under systemd: once per burst of transitions.

The line counts the instances in each state, O(N) to build; built at every
transition, a takeover of N instances built it N times (O(N²)) in the middle
of the takeover. It is sent once the loop has carried out the burst, and
tells the state after it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_runner_group_notify import (  # pylint: disable=unused-import
    member,
    run_until_master,
    runner,  # noqa: F401  # the fixture
)

from vrrp import notifier as notifier_module
from vrrp.config import load_config
from vrrp.fsm import FaultCleared
from vrrp.runner import Runner


def test_a_takeover_of_many_sends_the_status_once_per_burst(
    runner: Runner,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    sent: list[str] = []
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    monkeypatch.setattr(notifier_module.sdnotify, "status", lambda text: sent.append(text) or True)
    config = {"instances": [member(f"i{n}", n + 1, "eth0") for n in range(20)]}
    runner.fleet.apply(load_config(config), previous=None)
    for inst in runner.instances.values():
        for reason in ("link", "address", "socket"):
            runner.feed(inst, FaultCleared(reason))
    runner.loop.run(until=runner.loop.time())  # type: ignore[attr-defined]
    sent.clear()
    run_until_master(runner)
    runner.loop.run(until=runner.loop.time() + 0.001)  # type: ignore[attr-defined]
    assert sent and sent[-1] == "20 MASTER"
    assert len(sent) < 5  # 20 transitions
