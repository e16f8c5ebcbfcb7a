"""The notifier: what the outside world is told when virtual routers change state.

An instance's transition runs its own notify hook (keepalived's words:
MASTER, BACKUP, FAULT, and STOP for a stopped instance) and updates the
sd_notify status line; a sync group's hooks run once per change of the
group's own state (:func:`~vrrp.hooks.group_state_word`), not per member.
It only reports: it never feeds an event nor touches the kernel.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import Counter
from collections.abc import Iterable, Mapping

from . import sdnotify
from .config_types import Notify, SyncGroupConfig
from .fsm import State, Transition
from .group import SyncGroup
from .hooks import HookRunner, group_state_word
from .instance import Instance

log = logging.getLogger("failover-vrrp")


class Notifier:
    """Hooks and sd_notify status for the running set of instances."""

    def __init__(
        self,
        *,
        instances: Mapping[str, Instance],
        hooks: HookRunner,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.instances = instances  # the running set (read only)
        self.hooks = hooks
        self.loop = loop  # None: the status line is sent at each transition
        self._status_due = False
        self.group_notify: dict[str, Notify] = {}
        self._group_words: dict[str, str] = {}  # group -> the state its hooks last saw

    def status(self) -> str:
        """The one-line summary for systemd: how many instances in each state."""
        counts = Counter(inst.router.state.value for inst in self.instances.values())
        return ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no instances"

    def set_groups(self, groups: Iterable[SyncGroupConfig]) -> None:
        """The sync groups as configured now; a group gone forgets its last state."""
        self.group_notify = {g.name: g.notify for g in groups}
        self._group_words = {g: w for g, w in self._group_words.items() if g in self.group_notify}

    def transition(self, instance: Instance, transition: Transition) -> None:
        notify = instance.cfg.notify
        stopping = transition.new is State.INIT and not instance.router.enabled
        # keepalived's words: MASTER, BACKUP, FAULT, and STOP for a stopped instance
        word = "STOP" if stopping else transition.new.value
        argv = getattr(notify, word.lower(), None)
        if argv:
            self.hooks.submit_transition(
                instance.name,
                list(argv),
                new_state=word,
                old_state=transition.old.value,
                priority=instance.router.effective_priority,
                cause=transition.cause,
                timeout=notify.timeout,
            )
        if not os.environ.get("NOTIFY_SOCKET"):
            return
        if self.loop is None:
            sdnotify.status(self.status())
        elif not self._status_due:
            # O(instances) to build: once the loop has carried out the burst
            # (a takeover of N instances), not at each of its N transitions.
            self._status_due = True
            self.loop.call_soon(self._send_status)

    def _send_status(self) -> None:
        self._status_due = False
        sdnotify.status(self.status())

    def group_transition(self, group: SyncGroup, cause: str) -> None:
        """Run a sync group's own hooks once per change of the group's state."""
        name = group.name
        word = group_state_word(
            (router.state.value, router.enabled) for router in group.routers.values()
        )
        old = self._group_words.get(name)
        if word is None or word == old:
            return
        self._group_words[name] = word
        log.info("sync group %s: %s -> %s: %s", name, old or "INIT", word, cause)
        notify = self.group_notify.get(name)
        argv = getattr(notify, word.lower(), None) if notify is not None else None
        if notify is not None and argv:
            self.hooks.submit_group_transition(
                name, list(argv), new_state=word, old_state=old, cause=cause, timeout=notify.timeout
            )
