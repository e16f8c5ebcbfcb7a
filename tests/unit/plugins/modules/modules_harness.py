"""Harness for the module tests: the collection importable, a runner on a tmp socket.

The modules import the engine as ``ansible_collections.failover.vrrp.plugins
.module_utils...`` (what AnsiballZ bundles). Outside an ``ansible_collections``
tree this conftest links the repository into a temporary one and puts it on
``sys.path``. Everything here, the fake runner included, uses that import
path: the same classes the modules see (the engine is also importable as
``vrrp``, whose error classes would be different ones).

``run_module(main, args)`` runs a module's ``main()`` the way Ansible does
(``patch_module_args``, ``_ansible_check_mode``/``_ansible_diff``) and returns
its JSON result. ``runner`` is a real ``ControlServer`` on a tmp socket, its
own asyncio loop in a thread, with a :class:`FakeRunner` handler that reloads
by loading the config directory with the engine, as the runner does.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[4]


def _collection_path() -> str:
    if ROOT.parts[-3:] == ("ansible_collections", "failover", "vrrp"):
        return str(ROOT.parents[2])
    base = tempfile.mkdtemp(prefix="failover-vrrp-collections.")
    atexit.register(shutil.rmtree, base, True)
    os.makedirs(os.path.join(base, "ansible_collections", "failover"))
    os.symlink(ROOT, os.path.join(base, "ansible_collections", "failover", "vrrp"))
    return base


COLLECTIONS_PATH = _collection_path()
sys.path.insert(0, COLLECTIONS_PATH)

from ansible.module_utils.testing import patch_module_args  # noqa: E402
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.config import (  # noqa: E402
    load_dir,
)
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.control import (  # noqa: E402
    ControlServer,
)
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.errors import (  # noqa: E402
    ConfigError,
    ControlError,
)


def run_module(
    main: Callable[[], None],
    args: dict[str, Any],
    *,
    check_mode: bool = False,
    diff: bool = False,
    capsys: pytest.CaptureFixture[str],
) -> dict[str, Any]:
    """Run ``main()`` with ``args``; its result, ``failed`` set on failure."""
    full = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    capsys.readouterr()
    with patch_module_args(full), pytest.raises(SystemExit) as exit_info:
        main()
    out = capsys.readouterr().out
    result: dict[str, Any] = json.loads(out)
    assert bool(result.get("failed")) == (exit_info.value.code != 0), result
    return result


def instance_state(name: str, **values: Any) -> dict[str, Any]:
    """An instance as the runner's ``state`` reports it."""
    state = {
        "state": "MASTER",
        "priority": 150,
        "effective_priority": 150,
        "master": "192.0.2.1",
        "master_priority": 150,
        "preempt": True,
        "preempt_delay": 0.0,
        "advert_interval": 1.0,
        "master_advert_interval": 1.0,
        "since": 1_700_000_000.0,
        "vrid": 51,
        "version": 3,
        "interface": "lo",
        "virtual_addresses": ["192.0.2.10/24"],
        "link_probe": "iff_running",
        "faults": [],
        "demoted": None,
        "group": None,
    }
    state.update(values)
    state["name"] = name
    return state


class FakeRunner:
    """A ControlHandler with the runner's answers, scripted by the tests.

    ``reload`` loads ``config_dir`` with the engine (so a bad directory is
    refused with the runner's own error) unless ``refuse`` is set. A demotion
    to priority 0 hands over to ``peer`` after ``handover_polls`` state reads.
    """

    def __init__(self, config_dir: str) -> None:
        self.config_dir = config_dir
        self.calls: list[tuple[Any, ...]] = []
        self.refuse: Exception | None = None
        self.instances: dict[str, dict[str, Any]] = {}
        self.peer = "192.0.2.2"
        self.handover_polls = 2
        self._countdown: dict[str, int] = {}

    def state(self) -> dict[str, Any]:
        self.calls.append(("state",))
        for name, left in list(self._countdown.items()):
            if left <= 0:
                self.instances[name].update(
                    state="BACKUP", master=self.peer, master_priority=100, effective_priority=1
                )
                del self._countdown[name]
            else:
                self._countdown[name] = left - 1
        return {
            "version": "0.1.0",
            "pid": 4242,
            "uptime": 12.5,
            "instances": {
                n: {k: v for k, v in i.items() if k != "name"}
                for n, i in sorted(self.instances.items())
            },
        }

    def stats(self) -> dict[str, Any]:
        return {"runner": {}, "hooks": {}, "instances": {}}

    def history(self, instance: str | None = None, limit: int = 20) -> dict[str, Any]:
        self.calls.append(("history", instance, limit))
        entries = [
            {"from": "INIT", "to": "BACKUP", "cause": "startup", "time": 1.0},
            {"from": "BACKUP", "to": "MASTER", "cause": "master_down timer", "time": 2.0},
        ]
        return {name: entries[-limit:] for name in sorted(self.instances)}

    async def reload(self) -> dict[str, Any]:
        self.calls.append(("reload",))
        if self.refuse is not None:
            raise self.refuse
        config = load_dir(self.config_dir)
        return {"added": [i.name for i in config.instances], "changed": [], "removed": []}

    def _select(self, instance: str | None) -> list[str]:
        if instance is None:
            return sorted(self.instances)
        if instance not in self.instances:
            raise ControlError(f"no instance named {instance!r}")
        return [instance]

    def demote(self, instance: str | None = None, priority: int = 0) -> dict[str, Any]:
        self.calls.append(("demote", instance, priority))
        done = {}
        for name in self._select(instance):
            self.instances[name]["demoted"] = priority
            if priority == 0 and self.instances[name]["state"] == "MASTER":
                self._countdown[name] = self.handover_polls
            done[name] = priority
        return {"demoted": done}

    def restore(self, instance: str | None = None) -> dict[str, Any]:
        self.calls.append(("restore", instance))
        done = []
        for name in self._select(instance):
            if self.instances[name]["demoted"] is not None:
                done.append(name)
            self.instances[name]["demoted"] = None
        return {"restored": done}

    def version(self) -> dict[str, Any]:
        return {"version": "0.1.0", "pid": 4242}


class Runner:
    """A FakeRunner served on a real control socket."""

    def __init__(self, handler: FakeRunner, socket_path: str) -> None:
        self.handler = handler
        self.socket = socket_path
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server = ControlServer(socket_path, handler)

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(5)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


__all__ = ["ConfigError", "FakeRunner", "Runner", "instance_state", "run_module"]
