"""The control API over a runner built without root: demote, restore, state, bounds.

The runner is built as in test_runner_group_notify (no link watcher: every
instance starts in FAULT on a missing interface; a fake loop; kernel calls
a fake HostIo). What is checked is the API's own part: the bound, the
persisted record, and that a demotion reaches the core as events.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.fakehost import FakeHost
from support.fakeloop import FakeLoop
from vrrp.config import load_config
from vrrp.control import COMMANDS
from vrrp.control_api import override_of, resigns
from vrrp.errors import ControlError
from vrrp.persist import RuntimeState
from vrrp.priorities import MAX_DEMOTION, MIN_DEMOTION
from vrrp.runner import Runner

CONFIG = {
    "instances": [
        {
            "name": n,
            "interface": "eth0",
            "vrid": v,
            "priority": 150,
            "advert_interval": 1,
            "virtual_addresses": [f"192.0.2.{v}/24"],
        }
        for n, v in (("web", 10), ("db", 20))
    ]
}


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[Runner]:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        runner = Runner(
            config_path=str(tmp_path / "config.json"),
            state_dir=str(tmp_path / "run"),
            lib_dir=str(tmp_path / "lib"),
            io=FakeHost(),
            loop=FakeLoop(),  # type: ignore[arg-type]
        )
        (tmp_path / "lib").mkdir()
        runner.fleet.apply(load_config(CONFIG), previous=None)
        yield runner
    finally:
        asyncio.set_event_loop(None)
        loop.close()


@pytest.mark.parametrize("priority", [MIN_DEMOTION - 1, MAX_DEMOTION + 1, 255, -5])
def test_a_demotion_out_of_bounds_is_refused_naming_the_bound(
    runner: Runner, priority: int
) -> None:
    with pytest.raises(ControlError, match=f"{MIN_DEMOTION}..{MAX_DEMOTION}, not {priority}"):
        runner.api.demote("web", priority)
    assert runner.api.runtime.demotions == {}


def test_the_socket_checks_the_same_bound() -> None:
    arg = COMMANDS["demote"]["priority"]
    assert (arg.minimum, arg.maximum) == (MIN_DEMOTION, MAX_DEMOTION)


def test_demote_and_restore_reach_the_core_and_the_record(runner: Runner, tmp_path: Path) -> None:
    web = runner.instances["web"]
    assert runner.api.demote("web", 0) == {"demoted": {"web": 0}}
    assert web.router.resigning and web.router.effective_priority == 1
    assert not runner.instances["db"].router.resigning
    record: Any = json.loads((tmp_path / "lib" / "runtime.json").read_text())
    assert record["demotions"] == {"web": 0}
    assert RuntimeState.load(str(tmp_path / "lib")).demotion_for("web") == 0
    assert runner.api.state()["instances"]["web"]["demoted"] == 0
    assert runner.api.demote(None, 100) == {"demoted": {"db": 100, "web": 100}}
    assert not web.router.resigning and web.router.effective_priority == 100
    assert sorted(runner.api.restore()["restored"]) == ["db", "web"]
    assert web.router.effective_priority == 150
    with pytest.raises(ControlError, match="no instance named 'nope'"):
        runner.api.restore("nope")


@pytest.mark.parametrize(
    ("demotion", "override", "resigning"),
    [(None, None, False), (0, 1, True), (1, 1, False), (254, 254, False)],
)
def test_what_a_demotion_means(demotion: int | None, override: int | None, resigning: bool) -> None:
    assert (override_of(demotion), resigns(demotion)) == (override, resigning)
