"""Sync groups: virtual routers that move together (keepalived's design).

A sync group binds virtual routers of one host, typically the two sides of a
router (outside and inside VRIDs), so that the host is Master for all of them
or for none. Sans-IO like :mod:`.fsm`: :meth:`SyncGroup.handle` feeds one
event to one member, watches what happened (the :class:`~.fsm.Transition`
and :class:`~.fsm.RequestMaster` actions) and drives the other members; it
returns every member's actions, each tagged with the member's name, for the
runner (or the simulated LAN of the tests) to carry out in order.

The rules:

- **Fault.** While any member holds a fault of its own (link, address,
  tracker), every other member holds the fault ``group:<name>`` and so sits
  in Fault too. The rule is level-triggered on the members' fault sets, not
  on transitions, so a fault reported before Startup counts as well, and the
  group fault is withdrawn from all once the last real fault clears: each
  member then starts again from Initialize (RFC 9568 §6.4.1).
- **Backup.** A Master that leaves Master for Backup (it heard a better
  Master) or for Initialize (shutdown) pulls the other Masters back to Backup
  (:class:`~.fsm.GroupBackup`): the host's peer takes the whole group over.
  Each member pulled down sends a priority-0 advert as it leaves, so that its
  peer member re-announces (a healed split brain) or takes over after
  Skew_Time. Except in maintenance: a resigning member that hands over
  (:class:`~.fsm.Resign`) pulls no other resigning Master; each keeps its
  addresses until its own new Master's advert arrives (make before break).
- **Master by request.** A member whose Master_Down_Timer expired (or whose
  preempt delay ended) only *asks* (:class:`~.fsm.RequestMaster`). The group
  lets it go only when every member can: each other member is Master, or is
  Backup and wants Master too. Then every Backup member gets
  :class:`~.fsm.GroupMaster` at the same instant. Otherwise nobody moves; the
  asker re-armed its timer and asks again later, and its ``wants_master``
  stays set so that a later request from another member finds it willing.
  This is keepalived's ``vrrp_sync_can_goto_master``: prefer Backup to
  thrashing.
- **Master by any other path.** The FSM takes one path to Master that does
  not ask: an address owner (priority 255) leaving Initialize. The group then
  pulls along only the Backup members that want Master. A member still hearing
  a better Master on its own LAN is left in Backup on purpose: forced to
  Master it would hear that Master's next advert, step down, and by the
  Backup rule drag the owner down with it (an owner in Backup hears no better
  Master, so the owner's addresses would stay unserved until the group next
  agreed). Left alone it comes up by request as soon as its own Master goes
  quiet, and the request is granted because the owner is already Master.
- **Initialize blocks.** A member that is not running (before Startup, after
  Shutdown) is neither Backup-wanting-Master nor Master, so it holds the group
  in Backup. Letting a half-stopped group come up would fight the peer host,
  whose group is complete and Master.

:meth:`SyncGroup.stop` shuts every member down at once, without the Backup
rule in between, so that each Master sends its priority-0 advert (RFC 9568
§6.4.3) and the peer host takes over after Skew_Time: the runner's graceful
stop. Shutting one member down with :meth:`SyncGroup.handle` instead hands the
whole group over the normal way.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Final, NamedTuple

from . import faults
from .errors import StateError, VRRPError
from .fsm import (
    Action,
    Event,
    FaultCleared,
    FaultRaised,
    GroupBackup,
    GroupMaster,
    RequestMaster,
    Shutdown,
    State,
    Transition,
    VirtualRouter,
)

# Each member moves at most a few times per input event; far more rounds than
# that means two rules feed each other: a bug, not input.
_ROUNDS_PER_MEMBER: Final = 16

TaggedAction = tuple[str, Action]


class _Work(NamedTuple):
    """One event for one member. ``pulled``: the group moves the member itself
    (GroupMaster, GroupBackup, stop), so its transitions start no rule again."""

    member: str
    event: Event
    pulled: bool


class SyncGroup:
    """Members that are Master together or not at all; see the module docstring."""

    def __init__(self, name: str, routers: Mapping[str, VirtualRouter]) -> None:
        if not name:
            raise VRRPError("a sync group needs a name")
        if not routers:
            raise VRRPError(f"sync group {name}: no members")
        if len({id(router) for router in routers.values()}) != len(routers):
            raise VRRPError(f"sync group {name}: one virtual router listed twice")
        self.name = name
        self.fault_reason = faults.group(name)
        self.routers: dict[str, VirtualRouter] = dict(routers)
        for router in self.routers.values():
            router.in_sync_group = True

    # -- queries ------------------------------------------------------------------

    @property
    def state(self) -> State | None:
        """The members' common state, or None while they differ."""
        states = {router.state for router in self.routers.values()}
        return states.pop() if len(states) == 1 else None

    def real_faults(self, member: str) -> frozenset[str]:
        """The member's own faults (all but the group fault)."""
        return frozenset(self._router(member).faults - {self.fault_reason})

    def can_go_master(self, member: str) -> bool:
        """Whether every other member is Master or a Backup that wants Master."""
        self._router(member)
        return all(
            router.state is State.MASTER or (router.state is State.BACKUP and router.wants_master)
            for other, router in self.routers.items()
            if other != member
        )

    # -- entry points -------------------------------------------------------------

    def handle(self, member: str, event: Event, now: float) -> list[TaggedAction]:
        """Feed ``event`` to ``member`` at ``now``; return every member's actions."""
        actions = self._router(member).handle(event, now)
        out = [(member, action) for action in actions]
        follow = self._react(member, actions, pulled=False)
        if follow or self._any_fault():
            out.extend(self._run(deque(follow), now))
        return out

    def sync(self, now: float) -> list[TaggedAction]:
        """Apply the fault rule to the members as they are (after building a group
        from routers that already run, as a reload does)."""
        return self._run(deque(self._fault_work()), now)

    def stop(self, now: float) -> list[TaggedAction]:
        """Shut every member down together (graceful stop; see the module docstring)."""
        return self._run(deque(_Work(name, Shutdown(), pulled=True) for name in self.routers), now)

    # -- the rules ----------------------------------------------------------------

    def _router(self, member: str) -> VirtualRouter:
        router = self.routers.get(member)
        if router is None:
            raise VRRPError(f"sync group {self.name}: no member {member!r}")
        return router

    def _run(self, work: deque[_Work], now: float) -> list[TaggedAction]:
        out: list[TaggedAction] = []
        budget = _ROUNDS_PER_MEMBER * len(self.routers) + len(work)
        while True:
            while work:
                budget -= 1
                if budget < 0:
                    raise StateError(f"sync group {self.name}: the rules do not settle")
                item = work.popleft()
                actions = self.routers[item.member].handle(item.event, now)
                member = item.member
                out.extend([(member, action) for action in actions])
                work.extend(self._react(member, actions, pulled=item.pulled))
            # Faults last: a transition above may have raised or cleared one.
            faults = self._fault_work()
            if not faults:
                return out
            work.extend(faults)

    def _react(self, member: str, actions: list[Action], *, pulled: bool) -> list[_Work]:
        """Group events that follow from one member's actions."""
        follow: list[_Work] = []
        for action in actions:
            if isinstance(action, RequestMaster):
                follow.extend(self._on_request(member, action.cause))
            elif isinstance(action, Transition) and not pulled:
                follow.extend(self._on_transition(member, action))
        return follow

    def _any_fault(self) -> bool:
        return any(router.faults for router in self.routers.values())

    def _on_request(self, member: str, cause: str) -> list[_Work]:
        if not self.can_go_master(member):
            return []
        why = f"{member}: {cause}"
        return [
            _Work(name, GroupMaster(why), pulled=True)
            for name, router in self.routers.items()
            if router.state is State.BACKUP
        ]

    def _on_transition(self, member: str, move: Transition) -> list[_Work]:
        if move.old is State.MASTER and move.new in (State.BACKUP, State.INIT):
            why = f"{member} left MASTER: {move.cause}"
            # A resigning member handed over: the other resigning Masters
            # hand over on their own new Master's advert (make before break).
            handed_over = move.new is State.BACKUP and self.routers[member].resigning
            return [
                _Work(name, GroupBackup(why), pulled=True)
                for name, router in self.routers.items()
                if name != member
                and router.state is State.MASTER
                and not (handed_over and router.resigning)
            ]
        if move.new is State.MASTER:
            why = f"{member} became MASTER: {move.cause}"
            return [
                _Work(name, GroupMaster(why), pulled=True)
                for name, router in self.routers.items()
                if name != member and router.state is State.BACKUP and router.wants_master
            ]
        return []

    def _fault_work(self) -> list[_Work]:
        """Raise or clear the group fault so that it matches the real faults."""
        work: list[_Work] = []
        if not self._any_fault():
            return work
        faulty = [name for name in self.routers if self.real_faults(name)]
        for name, router in self.routers.items():
            others = [other for other in faulty if other != name]
            held = self.fault_reason in router.faults
            if others and not held:
                work.append(_Work(name, FaultRaised(self.fault_reason), pulled=False))
            elif not others and held:
                work.append(_Work(name, FaultCleared(self.fault_reason), pulled=False))
        return work
