"""Effective priority from tracked objects (keepalived's tracking semantics).

Sans-IO: the runner probes interfaces, reads files and runs scripts, then
reports each result here; :class:`Tracking` answers with the effective
priority and the set of faults, which the runner feeds to the state machine
as :class:`~vrrp.fsm.PriorityChanged` and :class:`~vrrp.fsm.FaultRaised` /
:class:`~vrrp.fsm.FaultCleared`.

Rules, per tracked object with weight ``w`` (−253…+253):

============  =======================  ==========================================
kind          ``w > 0``                ``w < 0``                 ``w == 0``
============  =======================  ==========================================
interface     +w while up              −|w| while down           Fault while down
script        +w while it succeeds     −|w| while it fails       Fault while failing
file          + value × w              + value × w               Fault while value ≠ 0
============  =======================  ==========================================

The sum is added to the configured priority and clamped to 1…254. An address
owner (configured priority 255) keeps 255 whatever its trackers say: only a
weight-0 tracker can take it down, into Fault. A maintenance demotion
(:meth:`Tracking.set_override`) replaces the computed priority until cleared.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from . import faults
from .errors import VRRPError
from .priorities import MAX_BACKUP_PRIORITY, MIN_PRIORITY, OWNER_PRIORITY

MAX_WEIGHT: Final = 253


class TrackKind(str, enum.Enum):
    INTERFACE = "interface"
    SCRIPT = "script"
    FILE = "file"


# The value of a tracked object before its first result: up, succeeding, 0.
_UNKNOWN: Final = {TrackKind.INTERFACE: 1, TrackKind.SCRIPT: 1, TrackKind.FILE: 0}


@dataclass(frozen=True)
class Tracker:
    kind: TrackKind
    name: str
    weight: int

    def __post_init__(self) -> None:
        if not -MAX_WEIGHT <= self.weight <= MAX_WEIGHT:
            raise VRRPError(
                f"track {self.kind.value} {self.name}: weight {self.weight} not in -253..253"
            )

    @property
    def key(self) -> tuple[TrackKind, str]:
        return (self.kind, self.name)

    @property
    def fault_reason(self) -> str:
        return faults.track(self.kind.value, self.name)


@dataclass(frozen=True)
class TrackResult:
    effective_priority: int
    faults: frozenset[str]


def clamp_priority(priority: int) -> int:
    """Clamp a computed priority of a non-owner to 1…254 (RFC 9568 §5.2.4)."""
    return max(MIN_PRIORITY, min(MAX_BACKUP_PRIORITY, priority))


class Tracking:
    """Tracked objects of one virtual router and their latest results.

    Until a result arrives an interface or script counts as up and a file as
    0, as in keepalived; the runner reports real results before it starts the
    router.
    """

    def __init__(self, *, base_priority: int, trackers: Iterable[Tracker]) -> None:
        self.base_priority, self.trackers = self._checked(base_priority, trackers)
        self._values: dict[tuple[TrackKind, str], int] = {
            key: _UNKNOWN[key[0]] for key in self.trackers
        }
        self.override: int | None = None

    @staticmethod
    def _checked(
        base_priority: int, trackers: Iterable[Tracker]
    ) -> tuple[int, dict[tuple[TrackKind, str], Tracker]]:
        if not 1 <= base_priority <= OWNER_PRIORITY:
            raise VRRPError(f"priority {base_priority} not in 1..255")
        checked: dict[tuple[TrackKind, str], Tracker] = {}
        for tracker in trackers:
            if tracker.key in checked:
                raise VRRPError(f"track {tracker.kind.value} {tracker.name} listed twice")
            checked[tracker.key] = tracker
        return base_priority, checked

    def reconfigure(self, *, base_priority: int, trackers: Iterable[Tracker]) -> TrackResult:
        """A reload in place: a new configured priority and set of tracked objects.

        The latest result of every object still tracked is kept (a new weight
        applies to it at once); a newly tracked one counts as unknown until
        its first result, as at start. A maintenance demotion stays. Nothing
        changes when the arguments are refused.
        """
        base_priority, checked = self._checked(base_priority, trackers)
        self.base_priority, self.trackers = base_priority, checked
        self._values = {key: self._values.get(key, _UNKNOWN[key[0]]) for key in checked}
        return self.result()

    def _set(self, kind: TrackKind, name: str, value: int) -> TrackResult:
        key = (kind, name)
        if key not in self.trackers:
            raise VRRPError(f"{kind.value} {name!r} is not tracked")
        self._values[key] = value
        return self.result()

    def set_interface(self, name: str, *, up: bool) -> TrackResult:
        return self._set(TrackKind.INTERFACE, name, int(up))

    def set_script(self, name: str, *, ok: bool) -> TrackResult:
        return self._set(TrackKind.SCRIPT, name, int(ok))

    def set_file(self, name: str, *, value: int) -> TrackResult:
        return self._set(TrackKind.FILE, name, value)

    def set_override(self, priority: int | None) -> TrackResult:
        """A runtime priority (maintenance demotion) or None to restore."""
        if priority is not None and not 1 <= priority <= OWNER_PRIORITY:
            raise VRRPError(f"override priority {priority} not in 1..255")
        self.override = priority
        return self.result()

    def statuses(self) -> list[tuple[Tracker, int]]:
        """Each tracked object with its latest value (1/0: up/down, ok/failing; a file's number)."""
        return [(tracker, self._values[key]) for key, tracker in self.trackers.items()]

    def result(self) -> TrackResult:
        delta = 0
        faults: set[str] = set()
        for key, tracker in self.trackers.items():
            value = self._values[key]
            weight = tracker.weight
            if tracker.kind is TrackKind.FILE:
                if weight == 0:
                    if value != 0:
                        faults.add(tracker.fault_reason)
                else:
                    delta += value * weight
            elif weight == 0:
                if not value:
                    faults.add(tracker.fault_reason)
            elif weight > 0:
                delta += weight if value else 0
            else:
                delta += 0 if value else weight
        if self.override is not None:
            priority = self.override
        elif self.base_priority == OWNER_PRIORITY:
            priority = OWNER_PRIORITY
        else:
            priority = clamp_priority(self.base_priority + delta)
        return TrackResult(priority, frozenset(faults))
