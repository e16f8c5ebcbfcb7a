"""The control API: what the control socket's commands do in the runner.

``state``, ``stats``, ``history``, ``demote``, ``restore``, ``version`` (and
``reload``, handed to the reactor), with the runtime state they persist
(:class:`~vrrp.persist.RuntimeState`: maintenance demotions survive a
restart, an unreadable record fails safe). A demotion changes nothing by
itself: it becomes a tracking override and a :class:`~vrrp.fsm.Resign`
event, fed to the instance like any other.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from .errors import ControlError
from .fsm import Event, Resign
from .instance import Instance
from .notifier import Notifier
from .persist import RuntimeState
from .priorities import MAX_DEMOTION, MIN_DEMOTION, MIN_PRIORITY
from .tracking import TrackResult
from .version import __version__


def override_of(demotion: int | None) -> int | None:
    """The priority a demotion runs at: 1..254 as given, 0 (resign) at the lowest."""
    return None if demotion is None else max(demotion, MIN_PRIORITY)


def resigns(demotion: int | None) -> bool:
    """A demotion to 0 resigns (see :class:`~vrrp.fsm.Resign`)."""
    return demotion == MIN_DEMOTION


class ControlApi:
    """Implements :class:`~vrrp.control.ControlHandler` over the running set."""

    def __init__(
        self,
        *,
        instances: Mapping[str, Instance],
        runtime: RuntimeState,
        counters: Counter[str],
        socket_drops: Callable[[], Mapping[str, int]],
        notifier: Notifier,
        now: Callable[[], float],
        feed: Callable[[Instance, Event], None],
        tracked: Callable[[Instance, TrackResult], None],
        reload: Callable[[], Awaitable[dict[str, Any]]],
    ) -> None:
        self.instances = instances
        self.runtime = runtime
        self.counters = counters
        self._socket_drops = socket_drops
        self._notifier = notifier
        self._now = now
        self._feed = feed
        self._tracked = tracked
        self._reload = reload
        self.started = time.time()

    def _select(self, instance: str | None) -> list[Instance]:
        if instance is None:
            return list(self.instances.values())
        if instance not in self.instances:
            raise ControlError(f"no instance named {instance!r}")
        return [self.instances[instance]]

    def state(self) -> dict[str, Any]:
        now = self._now()
        return {
            "version": __version__,
            "pid": os.getpid(),
            "uptime": time.time() - self.started,
            "runtime_fail_safe": self.runtime.fail_safe,
            "instances": {
                name: inst.state_dict(now=now, demoted=self.runtime.demotion_for(name))
                for name, inst in sorted(self.instances.items())
            },
        }

    def stats(self) -> dict[str, Any]:
        runner = dict(self.counters)
        runner.update(self._socket_drops())
        return {
            "runner": runner,
            "hooks": self._notifier.hooks.stats(),
            "instances": {
                name: dict(sorted(inst.stats.items()))
                for name, inst in sorted(self.instances.items())
            },
        }

    def details(self) -> dict[str, Any]:
        """Per instance, its address family and tracked objects (for vrrp.metrics)."""
        return {name: inst.details() for name, inst in self.instances.items()}

    def history(self, instance: str | None = None, limit: int = 20) -> dict[str, Any]:
        return {
            inst.name: [h.as_dict() for h in list(inst.history)[-limit:]]
            for inst in self._select(instance)
        }

    async def reload(self) -> dict[str, Any]:
        return await self._reload()

    def _override(self, inst: Instance, demotion: int | None) -> None:
        """Apply a demotion: 1..254 runs at that priority; 0 resigns (see fsm.Resign)."""
        self._tracked(inst, inst.tracking.set_override(override_of(demotion)))
        self._feed(inst, Resign(active=resigns(demotion)))

    def demote(self, instance: str | None = None, priority: int = 0) -> dict[str, Any]:
        if not MIN_DEMOTION <= priority <= MAX_DEMOTION:
            raise ControlError(
                f"demotion priority must be {MIN_DEMOTION}..{MAX_DEMOTION}, not {priority}"
            )
        done = {}
        for inst in self._select(instance):
            self.runtime.demotions[inst.name] = priority
            self._override(inst, priority)
            done[inst.name] = priority
        self.runtime.save()
        return {"demoted": done}

    def restore(self, instance: str | None = None) -> dict[str, Any]:
        done = []
        for inst in self._select(instance):
            if self.runtime.restore(inst.name):
                done.append(inst.name)
            self._override(inst, None)
        if instance is None:
            self.runtime.end_fail_safe()
        self.runtime.save()
        return {"restored": done}

    def version(self) -> dict[str, Any]:
        return {"version": __version__, "pid": os.getpid()}
