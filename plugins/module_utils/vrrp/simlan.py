"""A simulated LAN: VRRP state machines, a fake clock and a lossy wire.

Part of the engine because the election planner (:mod:`.plan`) runs the very
state machines of the hosts on it, on the controller; the tests use it too
(``tests/support/simlan.py`` re-exports it).

Each *node* is one host: a single :class:`~vrrp.fsm.VirtualRouter` or a
:class:`~vrrp.group.SyncGroup` of them. The clock is a heap of
``(time, seq, callback, arg)``; equal times run in the order they were
scheduled. The LAN carries out the actions the engine returns, as the runner
will:

- ``ArmTimer`` / ``CancelTimer`` schedule and cancel ``TimerExpired`` events
  (each arm gets a token; a cancelled or re-armed timer's old entry is skipped);
- ``SendAdvert`` reaches every other node's routers with the same VRID and IP
  family on the same segment (:meth:`SimLAN.add`'s ``segments``, one
  segment unless given) after ``latency`` (+ a uniform ``jitter``, in order
  per link), unless a partition separates the two nodes or the per-link loss
  draw (seeded RNG) drops it; with
  ``codec=True`` the advert goes through the real codec: ``encode`` once at the
  sender, ``decode`` with TTL 255 at each receiver;
- ``Transition`` is logged (:attr:`SimLAN.history`) and keeps the index of
  current Masters per VRID;
- ``Announce`` is logged (:attr:`SimLAN.announcements`): the last announcer of
  a VRID is where a client's neighbour cache points (:meth:`SimLAN.announcer`).

Every scenario step (start, graceful stop, crash, restart, priority change,
maintenance demotion, fault, partition, heal, loss) takes an ``at=`` time; without it, it happens
now. A crashed node stops dead: no priority-0 advert, its timers vanish, it
hears nothing, and its routers count as gone (a ``crash`` record in the
history). A restart builds fresh routers from the same parameters.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Union

from .errors import PacketError
from .fsm import (
    Action,
    AdvertReceived,
    Announce,
    Anomaly,
    ArmTimer,
    CancelTimer,
    Drop,
    Event,
    FaultCleared,
    FaultRaised,
    IPAddress,
    PriorityChanged,
    Resign,
    SendAdvert,
    Shutdown,
    Startup,
    State,
    Timer,
    TimerExpired,
    Transition,
    VirtualRouter,
)
from .group import SyncGroup
from .packet import VRRP_MCAST_V4, VRRP_MCAST_V6, VRRP_TTL, Advertisement, decode, encode

Unit = Union[VirtualRouter, SyncGroup]
Endpoint = tuple[str, str]  # (node, member)


@dataclass(frozen=True)
class TransitionRecord:
    at: float
    node: str
    member: str
    vrid: int
    old: State
    new: State
    cause: str
    priority: int  # the effective priority at the time


@dataclass(frozen=True)
class AnnounceRecord:
    at: float
    node: str
    member: str
    vrid: int
    refresh: bool


@dataclass
class _Node:
    name: str
    unit: Unit
    up: bool = True

    @property
    def members(self) -> dict[str, VirtualRouter]:
        if isinstance(self.unit, SyncGroup):
            return self.unit.routers
        return {self.name: self.unit}


@dataclass
class Stats:
    events: int = 0  # events fed to the engine
    sent: int = 0
    delivered: int = 0
    lost: int = 0
    blocked: int = 0  # by a partition
    drops: Counter[str] = field(default_factory=Counter)  # FSM Drop reasons
    codec_errors: Counter[str] = field(default_factory=Counter)  # PacketError reasons
    anomalies: Counter[str] = field(default_factory=Counter)


def _fresh(unit: Unit) -> Unit:
    """New routers with the same parameters (a restarted host)."""
    if isinstance(unit, SyncGroup):
        return SyncGroup(unit.name, {m: VirtualRouter(r.params) for m, r in unit.routers.items()})
    return VirtualRouter(unit.params)


class SimLAN:
    def __init__(
        self,
        *,
        latency: float = 0.001,
        jitter: float = 0.0,
        loss: float = 0.0,
        seed: int = 0,
        codec: bool = False,
    ) -> None:
        self.now = 0.0
        self.latency = latency
        self.jitter = jitter
        self.default_loss = loss
        self.link_loss: dict[tuple[str, str], float] = {}
        self.rng = random.Random(seed)  # noqa: S311 (simulated loss, not secrets)
        self.codec = codec
        self.nodes: dict[str, _Node] = {}
        self.history: list[TransitionRecord] = []
        self.announcements: list[AnnounceRecord] = []
        self.stats = Stats()
        self._queue: list[tuple[float, int, Callable[[Any], None], Any]] = []
        self._seq = 0
        self._timers: dict[tuple[str, str, Timer], int] = {}
        self._listeners: dict[tuple[str, int, int], list[Endpoint]] = {}
        self._segment: dict[Endpoint, str] = {}
        self._masters: dict[int, set[Endpoint]] = {}
        self._side: dict[str, int] = {}
        self._last: dict[tuple[str, str], float] = {}  # last arrival per link (FIFO)

    # -- building -------------------------------------------------------------------

    def add(self, name: str, unit: Unit, *, segments: Mapping[str, str] | None = None) -> None:
        """Add a host (not started: call :meth:`start`).

        ``segments``: the segment (an interface's LAN) of each member, by
        member name; a member not named is on the one default segment.
        """
        if name in self.nodes:
            raise ValueError(f"node {name} exists")
        node = _Node(name, unit)
        self.nodes[name] = node
        for member, router in node.members.items():
            segment = (segments or {}).get(member, "")
            self._segment[(name, member)] = segment
            key = (segment, router.params.vrid, router.params.primary_address.version)
            self._listeners.setdefault(key, []).append((name, member))

    def router(self, node: str, member: str | None = None) -> VirtualRouter:
        return self.nodes[node].members[member or node]

    # -- the clock --------------------------------------------------------------------

    def schedule(self, at: float | None, callback: Callable[[Any], None], arg: Any = None) -> None:
        when = self.now if at is None else at
        if when < self.now:
            raise ValueError(f"cannot schedule at {when} before now ({self.now})")
        self._seq += 1
        heapq.heappush(self._queue, (when, self._seq, callback, arg))

    def run_until(self, until: float) -> None:
        queue = self._queue
        while queue and queue[0][0] <= until:
            when, _unused, callback, arg = heapq.heappop(queue)
            self.now = when
            callback(arg)
        self.now = max(self.now, until)

    def run_for(self, duration: float) -> None:
        self.run_until(self.now + duration)

    # -- scenario steps ---------------------------------------------------------------

    def start(
        self,
        name: str,
        *,
        at: float | None = None,
        startup: Mapping[str, Startup] | None = None,
    ) -> None:
        """Start a host; ``startup``: the Startup event of each member (by member
        name: what the host knows then, such as its effective priority)."""
        self.schedule(at, self._do_start, (name, dict(startup or {})))

    def stop(self, name: str, *, at: float | None = None) -> None:
        """Graceful stop: Masters send priority 0 (a group stops as a whole)."""
        self.schedule(at, self._do_stop, name)

    def crash(self, name: str, *, at: float | None = None) -> None:
        self.schedule(at, self._do_crash, name)

    def restart(self, name: str, *, at: float | None = None) -> None:
        self.schedule(at, self._do_restart, name)

    def set_priority(
        self, name: str, priority: int, *, member: str | None = None, at: float | None = None
    ) -> None:
        self.schedule(at, self._do_feed, (name, member or name, PriorityChanged(priority)))

    def demote(
        self,
        name: str,
        priority: int | None,
        *,
        member: str | None = None,
        at: float | None = None,
    ) -> None:
        """Maintenance as the runner applies it: 1..254 runs at that priority, 0
        resigns (at priority 1), None restores the configured priority."""
        router = self.router(name, member)
        restored = router.params.priority if priority is None else max(priority, 1)
        events = (PriorityChanged(restored), Resign(active=priority == 0))
        for event in events:
            self.schedule(at, self._do_feed, (name, member or name, event))

    def fault(
        self, name: str, reason: str, *, member: str | None = None, at: float | None = None
    ) -> None:
        self.schedule(at, self._do_feed, (name, member or name, FaultRaised(reason)))

    def clear_fault(
        self, name: str, reason: str, *, member: str | None = None, at: float | None = None
    ) -> None:
        self.schedule(at, self._do_feed, (name, member or name, FaultCleared(reason)))

    def partition(self, sides: Iterable[Iterable[str]], *, at: float | None = None) -> None:
        """Nodes hear each other only within one side; unlisted nodes form one more."""
        side = {node: i for i, names in enumerate(sides) for node in names}
        self.schedule(at, self._do_partition, side)

    def heal(self, *, at: float | None = None) -> None:
        """End every partition and every loss."""
        self.schedule(at, self._do_heal)

    def set_loss(
        self,
        probability: float,
        *,
        src: str | None = None,
        dst: str | None = None,
        at: float | None = None,
    ) -> None:
        """Loss on the link ``src`` → ``dst`` (both None: the default for all links)."""
        if (src is None) != (dst is None):
            raise ValueError("give both src and dst, or neither")
        link = None if src is None or dst is None else (src, dst)
        self.schedule(at, self._do_loss, (link, probability))

    # -- questions --------------------------------------------------------------------

    def masters(self, vrid: int) -> list[Endpoint]:
        """The routers that are Master for ``vrid`` now (crashed hosts excluded)."""
        return sorted(self._masters.get(vrid, ()))

    def master_count(self, vrid: int) -> int:
        return len(self._masters.get(vrid, ()))

    def transitions(
        self, *, vrid: int | None = None, since: float = float("-inf")
    ) -> list[TransitionRecord]:
        return [r for r in self.history if r.at >= since and (vrid is None or r.vrid == vrid)]

    def master_timeline(self, vrid: int) -> list[tuple[float, frozenset[Endpoint]]]:
        """The set of Masters of ``vrid`` after each change, from the history."""
        current: set[Endpoint] = set()
        timeline: list[tuple[float, frozenset[Endpoint]]] = [(0.0, frozenset())]
        for record in self.history:
            if record.vrid != vrid:
                continue
            endpoint = (record.node, record.member)
            if record.new is State.MASTER:
                current.add(endpoint)
            else:
                current.discard(endpoint)
            snapshot = frozenset(current)
            if timeline[-1][0] == record.at:
                timeline[-1] = (record.at, snapshot)
            else:
                timeline.append((record.at, snapshot))
        return timeline

    def announcer(self, vrid: int, at: float) -> str | None:
        """The node whose announcement for ``vrid`` came last by ``at``."""
        last = None
        for record in self.announcements:
            if record.at > at:
                break
            if record.vrid == vrid:
                last = record.node
        return last

    def master_throughout(self, node: str, member: str, start: float, end: float) -> bool:
        """Whether ``node``/``member`` was Master over the whole of [start, end]."""
        state = State.INIT
        for record in self.history:
            if record.node != node or record.member != member:
                continue
            if record.at > start:
                if state is State.MASTER and record.at <= end:
                    return False
                break
            state = record.new
        return state is State.MASTER

    # -- carrying out -----------------------------------------------------------------

    def _do_start(self, arg: tuple[str, dict[str, Startup]]) -> None:
        name, startup = arg
        node = self.nodes[name]
        node.up = True
        for member in list(node.members):
            self._feed(node, member, startup.get(member, Startup()))

    def _do_stop(self, name: str) -> None:
        node = self.nodes[name]
        if not node.up:
            return
        if isinstance(node.unit, SyncGroup):
            self._apply(node, node.unit.stop(self.now))
        else:
            self._feed(node, name, Shutdown())

    def _do_crash(self, name: str) -> None:
        node = self.nodes[name]
        if not node.up:
            return
        node.up = False
        for member, router in node.members.items():
            for timer in Timer:
                self._timers.pop((name, member, timer), None)
            if router.state is not State.INIT:
                self._record(node, member, router, old=router.state, new=State.INIT, cause="crash")

    def _do_restart(self, name: str) -> None:
        node = self.nodes[name]
        self._do_crash(name)
        node.unit = _fresh(node.unit)
        self._do_start((name, {}))

    def _do_feed(self, arg: tuple[str, str, Event]) -> None:
        name, member, event = arg
        node = self.nodes[name]
        if node.up:
            self._feed(node, member, event)

    def _do_partition(self, side: dict[str, int]) -> None:
        self._side = side

    def _do_heal(self, _unused: None) -> None:
        self._side = {}
        self.link_loss.clear()
        self.default_loss = 0.0

    def _do_loss(self, arg: tuple[tuple[str, str] | None, float]) -> None:
        link, probability = arg
        if link is None:
            self.default_loss = probability
        else:
            self.link_loss[link] = probability

    def _feed(self, node: _Node, member: str, event: Event) -> None:
        self.stats.events += 1
        unit = node.unit
        if isinstance(unit, SyncGroup):
            self._apply(node, unit.handle(member, event, self.now))
        else:
            self._apply(node, [(member, a) for a in unit.handle(event, self.now)])

    def _apply(self, node: _Node, tagged: list[tuple[str, Action]]) -> None:
        members = node.members
        for member, action in tagged:
            if isinstance(action, SendAdvert):
                self._send(node, member, action.advert)
            elif isinstance(action, ArmTimer):
                self._arm(node.name, member, action)
            elif isinstance(action, CancelTimer):
                self._timers.pop((node.name, member, action.timer), None)
            elif isinstance(action, Transition):
                self._record(
                    node,
                    member,
                    members[member],
                    old=action.old,
                    new=action.new,
                    cause=action.cause,
                )
            elif isinstance(action, Announce):
                vrid = members[member].params.vrid
                self.announcements.append(
                    AnnounceRecord(self.now, node.name, member, vrid, action.refresh)
                )
            elif isinstance(action, Drop):
                self.stats.drops[action.reason] += 1
            elif isinstance(action, Anomaly):
                self.stats.anomalies[action.kind] += 1

    def _record(
        self,
        node: _Node,
        member: str,
        router: VirtualRouter,
        *,
        old: State,
        new: State,
        cause: str,
    ) -> None:
        vrid = router.params.vrid
        self.history.append(
            TransitionRecord(
                self.now, node.name, member, vrid, old, new, cause, router.effective_priority
            )
        )
        masters = self._masters.setdefault(vrid, set())
        if new is State.MASTER:
            masters.add((node.name, member))
        else:
            masters.discard((node.name, member))

    def _arm(self, name: str, member: str, arm: ArmTimer) -> None:
        self._seq += 1
        token = self._seq
        key = (name, member, arm.timer)
        self._timers[key] = token
        heapq.heappush(self._queue, (max(arm.at, self.now), token, self._fire, (key, token)))

    def _fire(self, arg: tuple[tuple[str, str, Timer], int]) -> None:
        key, token = arg
        if self._timers.get(key) != token:
            return  # cancelled, re-armed, or its host crashed
        del self._timers[key]
        name, member, timer = key
        self._feed(self.nodes[name], member, TimerExpired(timer))

    def _send(self, node: _Node, sender: str, advert: Advertisement) -> None:
        self.stats.sent += 1
        router = node.members[sender]
        src = router.params.primary_address
        src_text = str(src)
        dst = VRRP_MCAST_V4 if src.version == 4 else VRRP_MCAST_V6
        payload: Advertisement | bytes = advert
        if self.codec:
            payload = encode(advert, src=src_text, dst=dst)
        side = self._side
        here = side.get(node.name, -1)
        segment = self._segment[(node.name, sender)]
        for name, member in self._listeners[(segment, advert.vrid, src.version)]:
            if name == node.name:
                continue
            if side and side.get(name, -1) != here:
                self.stats.blocked += 1
                continue
            loss = self.link_loss.get((node.name, name), self.default_loss)
            if loss and self.rng.random() < loss:
                self.stats.lost += 1
                continue
            arrival = self.now + self.latency
            if self.jitter:
                # A link delivers in order: jitter never swaps two messages.
                link = (node.name, name)
                arrival = max(arrival + self.rng.random() * self.jitter, self._last.get(link, 0.0))
                self._last[link] = arrival
            self._seq += 1
            heapq.heappush(
                self._queue,
                (arrival, self._seq, self._deliver, (name, member, payload, src, dst)),
            )

    def _deliver(self, arg: tuple[str, str, Advertisement | bytes, IPAddress, str]) -> None:
        name, member, payload, src, dst = arg
        node = self.nodes[name]
        if not node.up:
            return
        if isinstance(payload, bytes):
            try:
                advert = decode(payload, src=str(src), dst=dst, ttl=VRRP_TTL)
            except PacketError as error:
                self.stats.codec_errors[error.reason] += 1
                return
        else:
            advert = payload
        self.stats.delivered += 1
        self._feed(node, member, AdvertReceived(advert, src))
