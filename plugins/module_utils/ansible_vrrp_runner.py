"""Runner queries over the control socket: facts, instance selection, waits.

The backend of ``vrrp_state`` (and of the waits of ``vrrp_maintenance``): a
wait polls the runner until a verdict (a function of one instance, see
:mod:`ansible_vrrp_verdicts`) is satisfied for every selected instance.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from ansible_collections.failover.vrrp.plugins.module_utils.vrrp import control
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.errors import (
    ControlError,
    VRRPError,
)

DEFAULT_SOCKET: Final = control.DEFAULT_SOCKET
STATES: Final = ("MASTER", "BACKUP", "FAULT", "INIT")
POLL_INTERVAL: Final = 0.2


class SelectionError(VRRPError):
    """The module named an instance the runner does not run."""


def read_state(
    socket_path: str, *, timeout: float = 10.0, wall_clock: Callable[[], float] = time.time
) -> dict[str, Any]:
    """The runner's ``state``, each instance with ``state_age``: seconds in its state.

    The age is this host's: its wall clock read before the call, less the
    runner's ``since`` (the same clock). Read before, it is never more than
    the true age (the verdicts wait on it, :func:`ansible_vrrp_verdicts.settled`);
    the controller's clock never enters.
    """
    before = wall_clock()
    facts: dict[str, Any] = control.call(socket_path, "state", timeout=timeout)
    if not isinstance(facts, dict) or not isinstance(facts.get("instances"), dict):
        raise ControlError(f"the runner on {socket_path} sent a state without instances")
    for instance in facts["instances"].values():
        since = instance.get("since") if isinstance(instance, dict) else None
        if isinstance(since, (int, float)):
            instance["state_age"] = math.floor(max(0.0, before - since) * 1000) / 1000
    return facts


def gather_facts(socket_path: str, *, history: int = 0, timeout: float = 10.0) -> dict[str, Any]:
    """``ansible_facts.vrrp``: the runner's state, each instance with its last transitions."""
    facts = read_state(socket_path, timeout=timeout)
    transitions: Mapping[str, Any] = {}
    if history > 0 and facts["instances"]:
        transitions = control.call(socket_path, "history", limit=history, timeout=timeout)
    for name, instance in facts["instances"].items():
        instance["history"] = list(transitions.get(name, ()))
    return facts


def select(facts: Mapping[str, Any], names: Iterable[str] | None) -> list[str]:
    """The instances named (all when ``names`` is None), checked against the runner's."""
    known = sorted(facts["instances"])
    if names is None:
        return known
    wanted = list(dict.fromkeys(names))
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise SelectionError(
            f"the runner has no instance named {', '.join(map(repr, unknown))} "
            f"(it runs: {', '.join(known) or 'none'})"
        )
    return wanted


Verdict = Callable[[str, Mapping[str, Any]], "str | None"]


def wait_for_instances(
    socket_path: str,
    names: list[str] | None,
    verdict: Verdict,
    *,
    timeout: float,
    what: str,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[dict[str, Any], list[str], float]:
    """Poll the runner until ``verdict`` is None (satisfied) for every selected instance.

    ``verdict(name, instance)`` says why an instance is not there yet. Returns
    the last state, the instances waited for and the time taken; raises
    :class:`WaitTimeoutError` (with the last state) when ``timeout`` runs out.
    """
    start = clock()
    while True:
        facts = read_state(socket_path)
        selected = select(facts, names)
        if not selected:
            raise SelectionError(f"the runner on {socket_path} runs no instances to wait for")
        pending = {name: verdict(name, facts["instances"][name]) for name in selected}
        waiting = {name: why for name, why in pending.items() if why is not None}
        elapsed = clock() - start
        if not waiting:
            return facts, selected, elapsed
        if elapsed >= timeout:
            detail = "; ".join(f"{name} {why}" for name, why in sorted(waiting.items()))
            raise WaitTimeoutError(
                f"timed out after {timeout:g} s waiting for {what}: {detail}", facts=facts
            )
        sleep(min(POLL_INTERVAL, max(0.0, timeout - elapsed)))


class WaitTimeoutError(VRRPError):
    """The instances did not get where they were awaited; ``facts`` is the last state."""

    def __init__(self, message: str, *, facts: dict[str, Any]) -> None:
        super().__init__(message)
        self.facts = facts


def describe(instance: Mapping[str, Any]) -> str:
    """``is BACKUP (master 192.0.2.2, priority 100)`` for a wait's message."""
    text = f"is {instance.get('state')}"
    master = instance.get("master")
    if master is not None:
        text += f" (master {master}, priority {instance.get('master_priority')})"
    else:
        text += " (no master heard)"
    return text
